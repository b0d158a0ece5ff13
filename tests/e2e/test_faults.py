"""Faults on the real path: a dead Prometheus never scales a Deployment down, the stale-data alert's
condition comes true, KEDA's fallback takes over after gpuscale's hold, and everything recovers."""

from __future__ import annotations

import json
import time
import urllib.request
from collections.abc import Callable

import pytest

from tests.e2e.conftest import Stack, alerts_for
from tests.e2e.fleet import FALLBACK_REPLICAS, PodMirror, apply_list, recommendation, scaled_object_condition, workload
from tests.support.net import exposition

pytestmark = pytest.mark.e2e

NAMESPACE = "faults"
MAX_HOLD_S = 130
#: generated tokens/s of 5.5 replicas at deploy/base's default policy (4,500 per replica): more than the
#: fallback's 4, so that the fallback shows as a change
STEADY_TPS = 5.5 * 4500


def spec_replicas(stack: Stack) -> int:
    return int(stack.plane.get_json("deployment", "llama", "-n", NAMESPACE)["spec"]["replicas"])  # type: ignore[index]


def data_age(stack: Stack) -> float | None:
    with urllib.request.urlopen(f"http://127.0.0.1:{stack.scaler_metrics_port}/metrics", timeout=3) as resp:
        samples = exposition(resp.read().decode())
    ages = [
        v
        for (name, labels), v in samples.items()
        if name == "gpuscale_data_age_seconds" and ("namespace", NAMESPACE) in labels
    ]
    return max(ages) if ages else None


def fallback_condition(stack: Stack) -> str:
    return scaled_object_condition(stack.plane, NAMESPACE, "Fallback")


def settled(stack: Stack, namespace: str, mirror: PodMirror) -> int:
    """The replicas once the HPA holds what gpuscale recommends and every pod is Ready (0 until then).

    Not a fixed count: while new pods' counters start, rate() can overshoot for a scrape or two and the
    windows then hold the extra pods for a while."""
    replicas = int(stack.plane.get_json("deployment", "llama", "-n", namespace)["spec"]["replicas"])  # type: ignore[index]
    wanted = recommendation(stack.scaler_metrics_port, namespace)
    return replicas if wanted == replicas == len(mirror.pods) and replicas > FALLBACK_REPLICAS else 0


def wait_settled(stack: Stack, namespace: str, mirror: PodMirror, record: Callable[[str], int]) -> int:
    """Put the steady load on and wait (recording each look) until the HPA holds gpuscale's recommendation."""
    mirror.set_load(queue=0.0, running=8.0, generation_tps=STEADY_TPS, kv_cache_usage=0.3)
    steady = 0

    def settle() -> bool:
        nonlocal steady
        record("steady")
        steady = settled(stack, namespace, mirror)
        return steady > 0

    stack.plane.wait(settle, 300, "the HPA to hold gpuscale's recommendation for the steady load")
    return steady


def test_a_prometheus_outage_holds_then_falls_back_and_recovers(stack: Stack) -> None:
    plane = stack.plane
    apply_list(plane, workload(NAMESPACE, stack.scaler_address, prometheus="faults", maxHoldSeconds=str(MAX_HOLD_S)))
    mirror = PodMirror(plane, stack.fleet, NAMESPACE, "llama").start()
    log: list[tuple[int, str, int, float | None, str, list[str]]] = []
    start = time.monotonic()

    def record(phase: str) -> int:
        replicas = spec_replicas(stack)
        alerts = sorted(alerts_for(stack, NAMESPACE))
        log.append(
            (round(time.monotonic() - start), phase, replicas, data_age(stack), fallback_condition(stack), alerts)
        )
        return replicas

    try:
        steady = wait_settled(stack, NAMESPACE, mirror, record)
        assert log[-1][5] == [], log  # settled: no alert
        stack.faults_prometheus.kill()
        outage = time.monotonic()
        mirror.set_load(queue=0.0, running=0.0, generation_tps=0.0, kv_cache_usage=0.0)  # a blind scaler would scale in
        while time.monotonic() - outage < MAX_HOLD_S - 10:
            assert record("outage, held") == steady, log  # never a scale-down on missing data
            time.sleep(5)
        # past maxHoldSeconds the scaler fails GetMetrics, so KEDA counts failures and applies its fallback (a
        # scale-down to 4, so after the HPA's 60 s window)
        plane.wait(lambda: record("outage, fallback") == FALLBACK_REPLICAS, 180, "KEDA's fallback replicas")
        assert fallback_condition(stack) == "True", log
        # the shipped alert rules, evaluated by a Prometheus scraping gpuscale and KEDA: each condition came true
        outage_alerts = {a for _, phase, *_, alerts in log if phase.startswith("outage") for a in alerts}
        assert outage_alerts == {"GpuscaleStaleInputs", "GpuscaleFallbackActive", "GpuscaleKedaErrors"}, log
        stack.faults_prometheus.start()
        plane.wait(lambda: fallback_condition(stack) == "False", 150, "the fallback to end once Prometheus is back")
        record("recovered")
    finally:
        mirror.stop()
        (plane.root / "faults-timeline.json").write_text(json.dumps(log))
        print(
            "\n".join(
                f"{t:>4}s {phase:<18} spec.replicas={r} data_age={age} fallback={fb} alerts={','.join(alerts)}"
                for t, phase, r, age, fb, alerts in log
            )
        )
