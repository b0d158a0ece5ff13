"""The shipped dashboard's queries over gpuscale's own metrics return series from a running Prometheus that
scrapes ``gpuscale serve`` (not only names on an allow-list, which is how an always-empty panel got in).

KEDA's metrics (``keda_*``) need KEDA's operator and adapter running: the e2e suite has them, not this test.
"""

from __future__ import annotations

from collections.abc import Callable

import pytest

from emulation.emulator import EmulatorServer, FleetEmulator
from emulation.local_prometheus import PrometheusServer
from tests.conftest import scaler_config
from tests.support.dashboard import dashboard_queries
from tests.support.net import wait_for
from tests.support.scaler import RunningScaler, keda_poll, ref

pytestmark = pytest.mark.integration

NAMESPACE, NAME = "panels", "llama"
#: Queries that are empty while nothing fails: they count errors.
EMPTY_WHEN_HEALTHY = {"gpuscale_prometheus_query_errors_total"}


def gpuscale_queries() -> list[str]:
    """The dashboard's queries over gpuscale's metrics, Grafana's variables set to this test's workload."""
    return [
        q
        for q in dashboard_queries(NAMESPACE, NAME)
        if "keda_" not in q and not any(name in q for name in EMPTY_WHEN_HEALTHY)
    ]


def test_the_dashboard_reads_every_gpuscale_metric_it_plots_from_a_running_prometheus(
    emulator: tuple[FleetEmulator, EmulatorServer],
    prometheus: PrometheusServer,
    start_scaler: Callable[..., RunningScaler],
) -> None:
    fleet, _ = emulator
    fleet.set_load(NAMESPACE, NAME, replicas=2, queue=3, generation_tps=900, prompt_tps=3000, kv_cache_usage=0.4)
    scraped = f'count_over_time(vllm:num_requests_waiting{{namespace="{NAMESPACE}"}}[6s]) >= 6'
    wait_for(lambda: len(prometheus.query(scraped)) == 2, timeout=30, what="the workload's two pods scraped")
    running = start_scaler(scaler_config(prometheus.url))
    stub, so = running.stub(), ref(NAME, NAMESPACE, deployment=NAME)
    keda_poll(stub, so)
    scraper = PrometheusServer([f"127.0.0.1:{running.server.metrics_port}"], job="gpuscale").start()
    queries = gpuscale_queries()
    assert len(queries) == 18  # the dashboard has 24 queries: 5 over KEDA's metrics, 1 over errors
    try:
        empty: list[str] = queries

        def every_panel_has_a_series() -> bool:
            nonlocal empty
            keda_poll(stub, so)  # keeps RPCs and decisions coming, as KEDA's polling does
            empty = [q for q in queries if not scraper.query(q)]
            return not empty

        wait_for(every_panel_has_a_series, timeout=60, interval=1.0, what="every gpuscale panel to have a series")
        assert empty == []
        assert scraper.query('up{job="gpuscale"} == 1')  # the alert GpuscaleDown's job matches this one
    finally:
        scraper.stop()
