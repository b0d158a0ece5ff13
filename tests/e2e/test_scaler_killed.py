"""gpuscale killed on the real path: what KEDA's own code does about an unreachable external scaler.

KEDA counts failures toward ``fallback`` only for GetMetrics/IsActive calls that reach the scaler; with the
scaler unreachable, GetMetricSpec fails first and no failure is counted (kedacore/keda#8056, open; see
../shared/keda-contract.md §3.6). So the HPA keeps the current replica count instead of the fallback's.
"""

from __future__ import annotations

import time

import pytest

from tests.e2e.conftest import Stack, alerts_for, firing_or_pending
from tests.e2e.fleet import PodMirror, apply_list, scaled_object_condition, workload
from tests.e2e.test_faults import wait_settled

pytestmark = pytest.mark.e2e


def test_with_gpuscale_killed_the_hpa_holds_and_keda_does_not_fall_back(stack: Stack) -> None:
    plane = stack.plane
    # its own namespace and the default Prometheus source: independent of test_faults
    apply_list(plane, workload("killed", stack.scaler_address))
    mirror = PodMirror(plane, stack.fleet, "killed", "llama").start()
    log: list[tuple[int, str, int, str, list[str]]] = []
    start = time.monotonic()

    def record(phase: str) -> int:
        replicas = int(plane.get_json("deployment", "llama", "-n", "killed")["spec"]["replicas"])  # type: ignore[index]
        state = scaled_object_condition(plane, "killed", "Fallback")
        alerts = sorted(
            alerts_for(stack, "killed") | ({"GpuscaleDown"} if firing_or_pending(stack, "GpuscaleDown") else set())
        )
        log.append((round(time.monotonic() - start), phase, replicas, state, alerts))
        return replicas

    try:
        steady = wait_settled(stack, "killed", mirror, record)
        stack.kill_scaler()
        mirror.set_load(queue=0.0, running=0.0, generation_tps=0.0, kv_cache_usage=0.0)
        killed = time.monotonic()
        while time.monotonic() - killed < 90:  # fallback would have come after 3 failures, about 30 s
            assert record("gpuscale down") == steady, log
            assert log[-1][3] != "True", log
            time.sleep(5)
        # the shipped rules, evaluated by a Prometheus scraping gpuscale and KEDA: GpuscaleDown holds, and
        # KEDA's error counter stays silent (no call reached the scaler), so GpuscaleKedaErrors does not
        assert log[-1][4] == ["GpuscaleDown"], log
        assert {a for _, phase, _, _, alerts in log if phase == "gpuscale down" for a in alerts} == {"GpuscaleDown"}
    finally:
        if stack.scaler.poll() is not None:
            stack.restart_scaler()
        mirror.stop()
        print(
            "\n".join(
                f"{t:>4}s {phase:<14} spec.replicas={r} fallback={fb} alerts={','.join(alerts)}"
                for t, phase, r, fb, alerts in log
            )
        )
