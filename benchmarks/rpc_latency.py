"""GetMetrics latency and throughput of `gpuscale serve` with 1,000 workloads, next to a bare grpcio server.

Run: python -m benchmarks.rpc_latency [REFRESH] [--pin] (from the project root). Both servers run as subprocesses on
this machine and are driven by the same asyncio client from our generated stubs: a closed loop
(16 callers, 5 s) for throughput, and an open loop at 500 RPC/s (10 s) for latency percentiles. The
scaler reads a real Prometheus scraping an emulated fleet of 1,000 Deployments; its RPCs answer from
memory. An optional argument sets the scaler's refresh interval (default 10 s, so collection cycles
overlap the measurement).
"""

from __future__ import annotations

import asyncio
import os
import random
import time
from collections import Counter
from typing import Any

import grpc

from benchmarks._cli import parser
from benchmarks._fleet import start_fleet
from benchmarks._rpc import get_metrics_requests, percentile_ms, start_bare, start_scaler, stop, wait_serving
from emulation.local_prometheus import free_port
from scaler.rpc import externalscaler_pb2 as pb
from scaler.rpc import externalscaler_pb2_grpc as pb_grpc

WORKLOADS = 1000
RATE = 500
OPEN_LOOP_S = 10.0
CLOSED_LOOP_S = 5.0
CALLERS = 16


async def warm_up(stub: pb_grpc.ExternalScalerStub, reqs: list[pb.GetMetricsRequest]) -> int:
    """Ask every workload once (its first answer registers it); the count that answered."""
    sem = asyncio.Semaphore(32)
    ok = 0

    async def one(r: pb.GetMetricsRequest) -> None:
        nonlocal ok
        async with sem:
            try:
                await stub.GetMetrics(r, timeout=5)
                ok += 1
            except grpc.aio.AioRpcError:
                pass

    await asyncio.gather(*(one(r) for r in reqs))
    return ok


async def closed_loop(stub: pb_grpc.ExternalScalerStub, reqs: list[pb.GetMetricsRequest]) -> tuple[float, Counter[str]]:
    """Answers per second with CALLERS callers back to back; failed calls are counted by status, never fatal."""
    deadline = time.perf_counter() + CLOSED_LOOP_S
    done = 0
    errors: Counter[str] = Counter()

    async def caller() -> None:
        nonlocal done
        while time.perf_counter() < deadline:
            try:
                await stub.GetMetrics(random.choice(reqs), timeout=5)
                done += 1
            except grpc.aio.AioRpcError as exc:
                errors[exc.code().name] += 1

    start = time.perf_counter()
    await asyncio.gather(*(caller() for _ in range(CALLERS)))
    return done / (time.perf_counter() - start), errors


async def open_loop(
    stub: pb_grpc.ExternalScalerStub, reqs: list[pb.GetMetricsRequest]
) -> tuple[list[float], Counter[str]]:
    """RATE calls per second whatever the answers take (an open loop); latencies of the answered ones."""
    latencies: list[float] = []
    errors: Counter[str] = Counter()

    async def one(r: pb.GetMetricsRequest) -> None:
        t0 = time.perf_counter()
        try:
            await stub.GetMetrics(r, timeout=5)
            latencies.append(time.perf_counter() - t0)
        except grpc.aio.AioRpcError as exc:
            errors[exc.code().name] += 1

    tasks = []
    start = time.perf_counter()
    for i in range(int(RATE * OPEN_LOOP_S)):
        delay = start + i / RATE - time.perf_counter()
        if delay > 0:
            await asyncio.sleep(delay)
        tasks.append(asyncio.create_task(one(random.choice(reqs))))
    await asyncio.gather(*tasks)
    return latencies, errors


async def measure(address: str, reqs: list[pb.GetMetricsRequest]) -> dict[str, Any]:
    async with grpc.aio.insecure_channel(address) as channel:
        stub = pb_grpc.ExternalScalerStub(channel)
        warmed = await warm_up(stub, reqs)
        throughput, closed_errors = await closed_loop(stub, reqs)
        latencies, open_errors = await open_loop(stub, reqs)
    return {
        "warmed": warmed,
        "throughput": throughput,
        "p50": percentile_ms(latencies, 50),
        "p99": percentile_ms(latencies, 99),
        "errors": closed_errors + open_errors,
        "answered": len(latencies),
    }


def main() -> None:
    cli = parser(__doc__, "benchmarks.rpc_latency")
    cli.add_argument("refresh", nargs="?", default="10", help="the scaler's refresh interval, seconds (default 10)")
    cli.add_argument(
        "--pin",
        action="store_true",
        help="both servers (and the collector worker) on the last core, the load generator on the others;"
        " unpinned is the headline: the worker process exists to use a core of its own",
    )
    args = cli.parse_args()
    random.seed(1)
    cores = sorted(os.sched_getaffinity(0))
    _, emulator, prom = start_fleet(WORKLOADS)
    scaler_port, bare_port = free_port(), free_port()
    scaler = start_scaler(prom.url, args.refresh, scaler_port)
    bare = start_bare(bare_port)
    if args.pin and len(cores) > 1:
        # Servers on the last core (pinned before they start their worker), the load generator on the others.
        for proc in (scaler, bare):
            os.sched_setaffinity(proc.pid, {cores[-1]})
        os.sched_setaffinity(0, set(cores[:-1]))
    try:
        wait_serving(scaler_port)
        time.sleep(0.5)
        reqs = get_metrics_requests(WORKLOADS)
        ours = asyncio.run(measure(f"127.0.0.1:{scaler_port}", reqs))
        base = asyncio.run(measure(f"127.0.0.1:{bare_port}", reqs))
    finally:
        stop(scaler, bare)
        prom.stop()
        emulator.stop()
    print(f"GetMetrics, {WORKLOADS} registered workloads (answered {ours['warmed']:.0f}/{WORKLOADS} at warm-up);")
    if args.pin:
        print(f"servers pinned to core {cores[-1]}, load generator and Prometheus to cores {cores[:-1]}")
    else:
        print(f"no pinning: servers, collector worker, Prometheus and the load generator share {len(cores)} cores")
    print(f"{'server':<22} {'closed-loop req/s':>17} {'p50 ms @500/s':>13} {'p99 ms @500/s':>13} {'errors':>6}")
    for name, r in (("gpuscale serve", ours), ("bare grpcio (aio)", base)):
        errors = sum(r["errors"].values())
        print(f"{name:<22} {r['throughput']:>17.0f} {r['p50']:>13.2f} {r['p99']:>13.2f} {errors:>6}")
        if errors:
            print(f"  {name} errors by status: " + ", ".join(f"{k} {v}" for k, v in r["errors"].most_common()))
    print(f"throughput ratio gpuscale / bare: {ours['throughput'] / base['throughput']:.2f}")
    print(f"p99 ratio gpuscale / bare: {ours['p99'] / base['p99']:.2f}")


if __name__ == "__main__":
    main()
