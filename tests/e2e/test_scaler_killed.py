"""gpuscale killed on the real path: what KEDA's own code does about an unreachable external scaler.

KEDA counts failures toward ``fallback`` only for GetMetrics/IsActive calls that reach the scaler; with the
scaler unreachable, GetMetricSpec fails first and no failure is counted (kedacore/keda#8056, open; see
../shared/keda-contract.md §3.6). So the HPA keeps the current replica count instead of the fallback's.
"""

from __future__ import annotations

import time

import pytest

from tests.e2e.conftest import Stack
from tests.e2e.fleet import PodMirror, apply_list, scaled_object_condition, workload
from tests.e2e.test_faults import wait_settled

pytestmark = pytest.mark.e2e


def test_with_gpuscale_killed_the_hpa_holds_and_keda_does_not_fall_back(stack: Stack) -> None:
    plane = stack.plane
    # its own namespace and the default Prometheus source: independent of test_faults
    apply_list(plane, workload("killed", stack.scaler_address))
    mirror = PodMirror(plane, stack.fleet, "killed", "llama").start()
    log: list[tuple[int, str, int, str]] = []
    start = time.monotonic()

    def record(phase: str) -> int:
        replicas = int(plane.get_json("deployment", "llama", "-n", "killed")["spec"]["replicas"])  # type: ignore[index]
        state = scaled_object_condition(plane, "killed", "Fallback")
        log.append((round(time.monotonic() - start), phase, replicas, state))
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
    finally:
        if stack.scaler.poll() is not None:
            stack.restart_scaler()
        mirror.stop()
        print("\n".join(f"{t:>4}s {phase:<14} spec.replicas={r} fallback={fb}" for t, phase, r, fb in log))
