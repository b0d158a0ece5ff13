"""Collection cost: PromQL queries per refresh cycle and CPU per workload, at 10, 100 and 1,000 workloads.

Run: python -m benchmarks.collector_cost (from the project root). A real Prometheus scrapes an emulated fleet of 1,000
Deployments (2 pods each); the collector refreshes all registered workloads several times. CPU time is
this process's (process_time: the collector's threads), so Prometheus's work in its own process is not counted.
"""

from __future__ import annotations

import statistics
import time

from benchmarks._cli import parser
from benchmarks._fleet import start_fleet, workload_names
from scaler.collector import Collector
from scaler.config import ServerConfig
from scaler.metadata import parse_trigger_metadata, resolve_policy
from scaler.policy import PolicySpec
from scaler.telemetry import DecisionTelemetry
from scaler.workloads import Registry, Workload, WorkloadKey

SIZES = (10, 100, 1000)
CYCLES = 5


def measure(prom_url: str, n: int) -> dict[str, float]:
    config = ServerConfig(
        # the longest refresh interval: a cycle waits for its source to finish, so each one is measured whole
        prometheus_url=prom_url,
        refresh_interval_s=300,
        rate_window="30s",
        history_s=600,
        kubernetes="off",
    )
    registry = Registry()
    now = time.time()
    for ns, name in workload_names(n):
        meta = parse_trigger_metadata({"deployment": name})
        registry.add(
            Workload(
                WorkloadKey(ns, name, meta.metric_name), meta, resolve_policy(meta, PolicySpec()), prom_url, now, now
            )
        )
    collector = Collector(registry, config, DecisionTelemetry(), time.time)
    bootstrap = collector.refresh()  # first cycle also reads history (range queries)
    cpu, wall, queries = [], [], []
    for _ in range(CYCLES):
        c0, w0 = time.process_time(), time.perf_counter()
        report = collector.refresh()
        cpu.append(time.process_time() - c0)
        wall.append(time.perf_counter() - w0)
        queries.append(report.queries)
    decided = sum(1 for w in registry.all() if w.latest is not None and w.latest.valid)
    return {
        "workloads": n,
        "decided": decided,
        "bootstrap_queries": bootstrap.queries,
        "queries_per_cycle": statistics.median(queries),
        "cycle_wall_ms": statistics.median(wall) * 1e3,
        "cycle_cpu_ms": statistics.median(cpu) * 1e3,
        "cpu_per_workload_ms": statistics.median(cpu) * 1e3 / n,
    }


def main() -> None:
    parser(__doc__, "benchmarks.collector_cost").parse_args()
    _, emulator, prom = start_fleet(max(SIZES))
    try:
        rows = [measure(prom.url, n) for n in SIZES]
    finally:
        prom.stop()
        emulator.stop()
    print("collector cost per refresh cycle (median of", CYCLES, "cycles; real Prometheus, 2 pods per workload)")
    print(
        f"{'workloads':>9} {'decided':>8} {'queries/cycle':>13} {'bootstrap q':>11} {'wall ms':>9} "
        f"{'CPU ms':>8} {'CPU ms/workload':>15}"
    )
    for r in rows:
        print(
            f"{r['workloads']:>9} {r['decided']:>8} {r['queries_per_cycle']:>13.0f} {r['bootstrap_queries']:>11} "
            f"{r['cycle_wall_ms']:>9.1f} {r['cycle_cpu_ms']:>8.1f} {r['cpu_per_workload_ms']:>15.3f}"
        )
    base = rows[0]["queries_per_cycle"]
    print(f"queries per cycle at {SIZES[-1]} vs {SIZES[0]} workloads: ratio {rows[-1]['queries_per_cycle'] / base:.2f}")


if __name__ == "__main__":
    main()
