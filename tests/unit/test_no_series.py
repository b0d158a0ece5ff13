"""A workload none of whose pods reports: one rule for the live collector and the simulator."""

from __future__ import annotations

import numpy as np
import pytest

from scaler.snapshot import ZERO_LOAD, Replicas, ReplicaSource, Snapshot, no_series_snapshot
from simulations.fleet.model import Fleet
from simulations.fleet.monitoring import Monitor
from simulations.policies.controllers import snapshot_of
from tests.unit.test_fleet import PROFILE, workload

NOW = 1000.0
AT_ZERO = Replicas(0, 0, 0, ReplicaSource.KUBERNETES)
TWO = Replicas(2, 2, 0, ReplicaSource.KUBERNETES)


@pytest.mark.parametrize(
    ("name", "replicas", "last_published", "expected"),
    [
        ("the cluster says zero pods", AT_ZERO, 3, Snapshot(NOW, dict(ZERO_LOAD), AT_ZERO)),
        (
            "zero was recommended, no cluster access",
            None,
            0,
            Snapshot(NOW, dict(ZERO_LOAD), Replicas(0, 0, 0, ReplicaSource.METRICS)),
        ),
        ("pods exist but report nothing: missing", TWO, 2, Snapshot(None, {}, TWO)),
        ("nothing known: missing", None, None, Snapshot(None, {}, None)),
    ],
)
def test_no_series_is_zero_load_only_for_a_fleet_at_zero(
    name: str, replicas: Replicas | None, last_published: int | None, expected: Snapshot
) -> None:
    assert no_series_snapshot(replicas, last_published, NOW, None) == expected, name


def test_the_simulator_sees_a_fleet_at_zero_as_zero_load_not_missing_data() -> None:
    """Its snapshot said "no data" there, so a replayed scale-to-zero held, then expired to KEDA's fallback,
    where the live scaler reads zero load (issue 29)."""
    fleet = Fleet(PROFILE, workload((0.0, 100, 10)), np.random.default_rng(0), tick_s=0.5)
    monitor = Monitor()
    monitor.scrape(fleet, NOW)
    snapshot = snapshot_of(fleet, monitor, NOW, last_published=0)
    assert snapshot == Snapshot(NOW, dict(ZERO_LOAD), Replicas(0, 0, 0, ReplicaSource.SIMULATOR))
