"""The KEDA/HPA model against the hand-worked examples of keda-contract.md (§3.4, §4.4, §5)."""

from __future__ import annotations

import pytest

from simulations.fleet.hpa import (
    DEFAULT_SCALE_DOWN,
    DEFAULT_SCALE_UP,
    HpaConfig,
    HpaState,
    HpaTimeline,
    ScalingRules,
    hpa_sync,
    keda_poll,
    milli,
)

NO_WINDOW = HpaConfig(scale_down=ScalingRules(0.0, DEFAULT_SCALE_DOWN.policies))

SYNC_CASES = [
    ("tolerance swallows 10 -> 11", 10, 11.0, HpaConfig(), 10),
    ("12 at 10 replicas leaves the band", 10, 12.0, HpaConfig(), 12),
    ("small fleets react to +1 (3 -> 4)", 3, 4.0, HpaConfig(), 4),
    ("2.0004 rounds to 2.000", 1, 2.0004, HpaConfig(), 2),
    ("2.0006 rounds to 2.001 and ceil gives 3", 1, 2.0006, HpaConfig(), 3),
    ("target 100: 1250 at 10 replicas -> 13", 10, 1250.0, HpaConfig(target=100.0), 13),
    ("target 100: 1250 at 12 replicas stays", 12, 1250.0, HpaConfig(target=100.0), 12),
    ("default scale-up policy: 4 pods or 100 % per 15 s", 10, 40.0, HpaConfig(), 20),
    ("legacy path without behavior caps at max(2x, 4)", 3, 20.0, HpaConfig(scale_up=None, scale_down=None), 6),
    ("legacy cap from one replica is 4", 1, 20.0, HpaConfig(scale_up=None, scale_down=None), 4),
    ("max clamps", 10, 500.0, HpaConfig(max_replicas=16), 16),
    ("the HPA never goes below 1", 3, 0.0, NO_WINDOW, 1),
    ("minReplicaCount is a floor", 5, 0.0, HpaConfig(min_replicas=2, scale_down=NO_WINDOW.scale_down), 2),
    (
        "tolerance 0 (Kubernetes >= 1.35) acts on +1 at 10",
        10,
        11.0,
        HpaConfig(scale_up=ScalingRules(0.0, DEFAULT_SCALE_UP.policies, tolerance=0.0)),
        11,
    ),
    ("negative and NaN values become 0", 4, float("nan"), NO_WINDOW, 1),
]


@pytest.mark.parametrize(("name", "current", "value", "config", "expected"), SYNC_CASES, ids=[c[0] for c in SYNC_CASES])
def test_one_sync(name: str, current: int, value: float, config: HpaConfig, expected: int) -> None:
    assert hpa_sync([value], HpaState(replicas=current), config, 0.0).replicas == expected


def test_milli_rounding() -> None:
    assert [milli(v) for v in (2.0004, 2.0006, -1.0, float("inf"))] == [2.0, 2.001, 0.0, 0.0]


def test_scale_down_waits_for_the_whole_window_then_drops_at_once() -> None:
    """20 -> 8 with defaults: the recommendation must stay <= 8 for 300 s; then 100 %/15 s allows the full drop."""
    state = hpa_sync([20.0], HpaState(replicas=20), HpaConfig(), -15.0)
    seen = {}
    for t in range(0, 316, 15):
        state = hpa_sync([8.0], state, HpaConfig(), float(t))
        seen[t] = state.replicas
    # the last recommendation of 20 was made at -15 s: it leaves the window 300 s later
    assert seen[0] == 20 and seen[255] == 20 and seen[270] == 20
    assert seen[285] == 8 and seen[300] == 8


def test_scale_down_rate_policy_limits_each_period() -> None:
    config = HpaConfig(scale_down=ScalingRules(0.0, (DEFAULT_SCALE_DOWN.policies[0].__class__("Pods", 2, 60.0),)))
    state = HpaState(replicas=10)
    replicas = []
    for t in (0.0, 15.0, 30.0, 60.0):
        state = hpa_sync([1.0], state, config, t)
        replicas.append(state.replicas)
    assert replicas == [8, 8, 8, 6]  # 2 pods per 60 s


def test_scale_up_stabilization_takes_the_lowest_recommendation() -> None:
    config = HpaConfig(scale_up=ScalingRules(60.0, DEFAULT_SCALE_UP.policies))
    state = hpa_sync([12.0], HpaState(replicas=10), config, 0.0)
    assert state.replicas == 12
    state = hpa_sync([18.0], state, config, 15.0)
    assert state.replicas == 12  # min(12, 18) over the last 60 s
    for t in (30.0, 45.0, 60.0, 75.0):
        state = hpa_sync([18.0], state, config, t)
    assert state.replicas == 18  # the 12 left the window


def test_keda_activation_and_cooldown() -> None:
    config = HpaConfig(min_replicas=0, cooldown_s=300.0)
    asleep = HpaState(replicas=0)
    assert keda_poll(False, asleep, config, 0.0).replicas == 0
    awake = keda_poll(True, asleep, config, 0.0)
    assert (awake.replicas, awake.last_active_at) == (1, 0.0)
    assert hpa_sync([0.0], HpaState(replicas=0), config, 0.0).replicas == 0  # the HPA is off at zero
    running = HpaState(replicas=3, last_active_at=0.0)
    assert keda_poll(False, running, config, 270.0).replicas == 3
    assert keda_poll(False, running, config, 300.0).replicas == 0
    assert keda_poll(False, running, HpaConfig(min_replicas=1), 900.0).replicas == 3  # never to zero with min 1


def test_timeline_runs_polls_and_syncs_on_their_periods() -> None:
    timeline = HpaTimeline(HpaConfig(min_replicas=0), HpaState(replicas=0))
    # The poll at 0 wakes it (0 -> 1); the sync at 0 may add 4 pods (the period started at 0 replicas).
    assert timeline.advance(0.0, 5.0, active=True) == 4
    assert timeline.advance(15.0, 5.0, active=True) == 5
    assert timeline.history == [(0.0, 1), (0.0, 4), (15.0, 5)]
