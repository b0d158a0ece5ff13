"""Shared set-up for the scaler benchmarks: an emulated fleet of N Deployments scraped by a real Prometheus."""

from __future__ import annotations

from emulation.emulator import EmulatorServer, FleetEmulator
from emulation.local_prometheus import PrometheusServer

NAMESPACES = 10


def workload_names(n: int) -> list[tuple[str, str]]:
    """(namespace, deployment) pairs spread over ``NAMESPACES`` namespaces."""
    return [(f"team-{i % NAMESPACES}", f"model-{i}") for i in range(n)]


def start_fleet(n: int, pods_per_deployment: int = 2) -> tuple[FleetEmulator, EmulatorServer, PrometheusServer]:
    fleet = FleetEmulator()
    for i, (ns, name) in enumerate(workload_names(n)):
        fleet.set_load(
            ns,
            name,
            replicas=pods_per_deployment,
            queue=float(i % 7),
            running=4.0,
            generation_tps=800.0 + i % 300,
            prompt_tps=4000.0,
            request_rate=3.0,
            kv_cache_usage=0.4,
        )
    server = EmulatorServer(fleet).start()
    prom = PrometheusServer([f"127.0.0.1:{server.port}"], scrape_interval_s=5).start()
    prom.wait_for_series(f"count(vllm:num_requests_waiting) >= {n * pods_per_deployment}", timeout=60)
    return fleet, server, prom
