"""A new workload's forecaster is fitted on history read with one range query (backfilled TSDB blocks)."""

from __future__ import annotations

import time
from collections.abc import Callable
from pathlib import Path

import pytest

from emulation.emulator import EmulatorServer, FleetEmulator
from emulation.local_prometheus import PrometheusServer
from scaler.decision import Ask
from scaler.rpc import externalscaler_pb2 as pb
from tests.conftest import scaler_config
from tests.support.backfill import Series, create_blocks, write_openmetrics
from tests.support.scaler import RunningScaler, ref

pytestmark = pytest.mark.integration
STEP = 5.0
HISTORY_S = 1800.0


def test_forecaster_starts_fitted_on_backfilled_history(
    tmp_path: Path, start_scaler: Callable[..., RunningScaler]
) -> None:
    """The scaler (re)starts while the pods have served for 30 minutes: their history is in Prometheus."""
    fleet = FleetEmulator()
    dep = fleet.set_load("history", "llama", replicas=2, queue=0, running=10, generation_tps=3000, kv_cache_usage=0.4)
    emulator = EmulatorServer(fleet).start()
    end = time.time()
    times = [end - HISTORY_S + i * STEP for i in range(int(HISTORY_S / STEP) + 1)]
    # The same series the emulator serves (same labels), so scraping continues the backfilled counters.
    # 3000 generated tok/s over two pods = 2.0 replicas of load at 1500 tok/s per replica.
    base = {
        "namespace": "history",
        "engine": "0",
        "model_name": dep.model,
        "job": "fleet",
        "instance": f"127.0.0.1:{emulator.port}",
    }
    series = [
        Series("vllm:generation_tokens", "counter", {**base, "pod": pod}, [(t, 1500.0 * (t - times[0])) for t in times])
        for pod in dep.pod_names()
    ]
    om = tmp_path / "history.om"
    write_openmetrics(om, series)
    create_blocks(om, tmp_path / "data")
    dep.counters["generation"] = [1500.0 * (time.time() - times[0])] * 2
    prom = PrometheusServer([f"127.0.0.1:{emulator.port}"], data_dir=tmp_path / "data").start()
    try:
        prom.wait_for_series('vllm:num_requests_waiting{namespace="history"}')
        window = f"{int(HISTORY_S)}s"
        ranged = prom.query(f'count_over_time(vllm:generation_tokens_total{{namespace="history"}}[{window}])')
        assert len(ranged) == 2  # one continuous series per pod: backfilled history, then live scrapes
        running = start_scaler(
            scaler_config(
                prom.url,
                refresh_interval_s=STEP,
                rate_window="20s",
                history_s=HISTORY_S,
                first_answer_timeout_s=2.0,
                collector="thread",  # the test inspects the collector's forecaster
            )
        )
        # Seen first at GetMetrics: answered from one collection, before any history is read.
        so = ref("llama", "history", deployment="llama")
        running.stub().GetMetrics(pb.GetMetricsRequest(scaledObjectRef=so), timeout=3)
        workload = running.server.registry.all()[0]
        assert not workload.history_loaded
        # A collection cycle bootstraps the forecaster with two range queries (prompt and generation rates).
        report = running.server.engine.collector.refresh()  # type: ignore[attr-defined]
        assert workload.history_loaded
        assert report.queries == 10 + 2  # 10 distinct instant queries for the group + 2 range queries
        assert workload.loop is not None
        predictor = workload.loop.predictor
        assert predictor.observations >= 340  # ~360 steps of 5 s
        decision = workload.latest
        assert decision is not None and decision.forecast_mean is not None
        assert decision.forecast_mean == pytest.approx(2.0, abs=0.1)
        assert decision.asks[Ask.FORECAST] in (2, 3)
        assert not any("history" in note or "Gaussian guess" in note for note in decision.notes)
    finally:
        prom.stop()
        emulator.stop()
