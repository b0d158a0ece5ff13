"""``external-push`` from zero on the real path: a Deployment at zero replicas has no pod to report a request,
so what wakes it is the forecast. Yesterday's demand, backfilled into Prometheus, returns in two minutes;
gpuscale's forecast sees it within its horizon, StreamIsActive pushes ``true``, and KEDA scales the
Deployment from 0 before the demand arrives. KEDA polls only hourly here, so the push is the only path."""

from __future__ import annotations

import json
import time
from pathlib import Path

import pytest

from tests.e2e.conftest import Stack
from tests.e2e.fleet import apply_list, decisions, scaled_object_condition, workload
from tests.support.backfill import Series, create_blocks, write_openmetrics

pytestmark = pytest.mark.e2e

NAMESPACE = "wake"
DAY_S = 86_400.0
#: yesterday's demand came back this long after the test starts (and so will today's, says the forecast)
RETURNS_IN_S = 150.0
HORIZON_S = 60
STEP_S = 10.0
#: generated tokens/s of yesterday's demand: 2.5 replicas at deploy/base's default policy (4,500 per replica)
DEMAND_TPS = 2.5 * 4500
#: a pod of yesterday's fleet, named as the Deployment's pods are
YESTERDAYS_POD = "llama-7c9d5b6f4-h1st0"


def backfill_yesterday(stack: Stack, tmp: Path, now: float) -> None:
    """A day of one pod's generated-token counter: ``DEMAND_TPS`` for an hour from ``now + RETURNS_IN_S`` a
    day ago, idle otherwise, and no pod in the last ten minutes (the fleet went to zero)."""
    demand = (now + RETURNS_IN_S - DAY_S, now + RETURNS_IN_S - DAY_S + 3600.0)
    points, total, t = [], 0.0, now - DAY_S - 600.0
    while t <= now - 600.0:
        points.append((t, total))
        total += DEMAND_TPS * STEP_S if demand[0] <= t < demand[1] else 0.0
        t += STEP_S
    labels = {"namespace": NAMESPACE, "pod": YESTERDAYS_POD, "engine": "0", "model_name": "llama", "job": "fleet"}
    openmetrics = tmp / "yesterday.om"
    write_openmetrics(openmetrics, [Series("vllm:generation_tokens", "counter", labels, points)])
    create_blocks(openmetrics, stack.history_prometheus.data_dir)


def replicas(stack: Stack) -> int:
    return int(stack.plane.get_json("deployment", "llama", "-n", NAMESPACE)["spec"]["replicas"])  # type: ignore[index]


def test_the_forecast_wakes_a_deployment_at_zero_through_stream_is_active(stack: Stack, tmp_path: Path) -> None:
    plane = stack.plane
    now = time.time()
    backfill_yesterday(stack, tmp_path, now)
    stack.history_prometheus.start()
    items = workload(
        NAMESPACE,
        stack.scaler_address,
        prometheus="history",
        minReplicas="0",
        forecastModel="seasonal_naive_daily",
        forecastHorizonSeconds=str(HORIZON_S),
    )
    deployment, scaled_object = items[2], items[3]
    deployment["spec"]["replicas"] = 0  # type: ignore[index]
    spec: dict[str, object] = scaled_object["spec"]  # type: ignore[assignment]
    spec |= {"minReplicaCount": 0, "pollingInterval": 3600, "cooldownPeriod": 30}
    spec["triggers"][0]["type"] = "external-push"  # type: ignore[index]
    apply_list(plane, items)
    timeline: list[tuple[float, int]] = []

    def woken() -> bool:
        timeline.append((round(time.time() - now, 1), replicas(stack)))
        return timeline[-1][1] > 0

    try:
        plane.wait(woken, RETURNS_IN_S + 60, "the Deployment to wake from zero")
        woke_at = timeline[-1][0]
        # woken by the forecast: after the horizon reached the demand's return, before the demand itself
        assert RETURNS_IN_S - HORIZON_S - 20 <= woke_at < RETURNS_IN_S, timeline
        assert all(r == 0 for _, r in timeline[:-1]), timeline
        assert scaled_object_condition(plane, NAMESPACE, "Active") == "True"
        # what gpuscale decided: no load observed (no pod), active on the forecast alone
        history = decisions(stack.scaler_metrics_port, NAMESPACE, limit=100)
        first_active = next(d for d in history if d["active"])
        assert first_active["demand_load"] == 0.0, first_active
        assert first_active["forecast_quantile_value"] > 0.1, first_active  # activation_forecast_load
    finally:
        (plane.root / "wake-timeline.json").write_text(json.dumps(timeline))
        print("\n".join(f"{t:>6}s replicas={r}" for t, r in timeline))
