"""deploy/monitoring against the running stack: the dashboard's panels over KEDA's own metrics return series
from a Prometheus scraping KEDA's operator, and the shipped alert rules, evaluated by that Prometheus, hold
exactly the alert whose condition this workload creates (the others in test_faults and
test_scaler_killed)."""

from __future__ import annotations

import pytest

from tests.e2e.conftest import Stack, alerts_for, firing_or_pending
from tests.e2e.fleet import PodMirror, apply_list, workload
from tests.support.dashboard import dashboard_queries

pytestmark = pytest.mark.e2e

NAMESPACE = "panels"
#: generated tokens/s of 3.5 replicas at deploy/base's default policy (4,500 per replica), above maxReplicas
LOAD_TPS = 3.5 * 4500
MAX_REPLICAS = 2


def test_keda_panels_have_series_and_a_workload_pinned_at_its_maximum_raises_only_that_alert(stack: Stack) -> None:
    plane = stack.plane
    apply_list(plane, workload(NAMESPACE, stack.scaler_address, maxReplicas=str(MAX_REPLICAS)))
    mirror = PodMirror(plane, stack.fleet, NAMESPACE, "llama").start()
    keda_queries = [q for q in dashboard_queries(NAMESPACE, "llama") if "keda_" in q]
    assert len(keda_queries) == 5
    empty = keda_queries
    try:
        mirror.set_load(queue=0.0, running=4.0, generation_tps=LOAD_TPS, kv_cache_usage=0.3)

        def every_keda_panel_has_a_series() -> bool:
            nonlocal empty
            empty = [q for q in keda_queries if not stack.monitoring.query(q)]
            return not empty

        plane.wait(every_keda_panel_has_a_series, 120, "every panel over KEDA's metrics to have a series")
        assert empty == []
        plane.wait(
            lambda: firing_or_pending(stack, "GpuscalePinnedAtMax", namespace=NAMESPACE, scaledobject="llama"),
            90,
            "GpuscalePinnedAtMax for a workload held at its maxReplicas",
        )
        # KEDA's calls before the workload's first sample failed (no data yet): GpuscaleKedaErrors goes
        # pending for that burst, and must clear well before its `for: 5m` (it stayed 4 min 50 s with a
        # 5-minute rate window, at the edge of firing for nothing)
        plane.wait(
            lambda: alerts_for(stack, NAMESPACE) == {"GpuscalePinnedAtMax"},
            180,
            "the start-up alerts to clear, leaving GpuscalePinnedAtMax alone",
        )
        assert stack.monitoring.query('up{job="keda-operator"} == 1')
    finally:
        mirror.stop()
