"""Soak: `gpuscale serve` from cold with 1,000 workloads under an open loop of GetMetrics, a collector
restart in the middle, memory sampled throughout, and the bare grpcio server's latency from the same run.

Run: python -m benchmarks.soak [--workloads 1000] [--rate 500] [--minutes 10] (from the project root).

A real Prometheus scrapes an emulated fleet of N Deployments (2 pods each). The scaler starts with no
workload registered; an asyncio client (our generated stubs) calls GetMetrics at RATE calls per second
whatever the answers take (open loop), each call for a workload drawn at random, so all N register within
seconds, as after a scaler restart or a mass onboarding. Halfway through, the collector worker is killed
(SIGKILL); the server starts a new one, which registers every workload again and reads their history.

What is counted: every call by phase and status. An error *before* a workload's first answer is an
onboarding miss (the first answer has a 0.8 s budget); an error *after* it is what KEDA's fallback would
see, and must be zero, the restart included. Memory: resident set of the server and of its worker every
5 s; per workload = (RSS at the end - RSS before the first call) / N. The bare grpcio server (a constant
answer) is then driven by the same client at the same rate for `--bare-seconds`, the scaler still
collecting beside it so the machine is as busy: the p99 ratio compares the two in one run.
"""

from __future__ import annotations

import asyncio
import os
import random
import signal
import threading
import time
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

import grpc

from benchmarks._cli import parser
from benchmarks._fleet import start_fleet
from benchmarks._rpc import (
    children,
    get_metrics_requests,
    percentile_ms,
    rss_bytes,
    start_bare,
    start_scaler,
    stop,
    wait_serving,
)
from emulation.local_prometheus import free_port
from scaler.rpc import externalscaler_pb2 as pb
from scaler.rpc import externalscaler_pb2_grpc as pb_grpc

MIB = 1024 * 1024
CALL_TIMEOUT_S = 5.0


@dataclass
class Phase:
    """Calls of one phase of the soak: answered latencies and errors, split at each workload's first answer."""

    name: str
    latencies: list[float] = field(default_factory=list)
    errors_before_first: Counter[str] = field(default_factory=Counter)
    errors_after_first: Counter[str] = field(default_factory=Counter)
    #: the first message of each error status, to say what happened
    examples: dict[str, str] = field(default_factory=dict)

    @property
    def calls(self) -> int:
        return len(self.latencies) + sum(self.errors_before_first.values()) + sum(self.errors_after_first.values())


@dataclass
class Soak:
    workloads: int
    first_answer_at: list[float | None]
    phases: dict[str, Phase]
    current: str = "soak"

    def record(self, workload: int, latency: float | None, status: str, message: str = "") -> None:
        phase = self.phases[self.current]
        if latency is not None:
            phase.latencies.append(latency)
            if self.first_answer_at[workload] is None:
                self.first_answer_at[workload] = time.monotonic()
            return
        answered_before = self.first_answer_at[workload] is not None
        (phase.errors_after_first if answered_before else phase.errors_before_first)[status] += 1
        phase.examples.setdefault(status, message[:160])


async def open_loop(
    address: str, reqs: list[pb.GetMetricsRequest], rate: float, seconds: float, soak: Soak, at: dict[float, str]
) -> None:
    """``rate`` calls per second for ``seconds``; ``at`` switches the phase at those offsets (seconds)."""
    async with grpc.aio.insecure_channel(address) as channel:
        stub = pb_grpc.ExternalScalerStub(channel)
        pending: set[asyncio.Task[None]] = set()

        async def one(i: int) -> None:
            t0 = time.perf_counter()
            try:
                await stub.GetMetrics(reqs[i], timeout=CALL_TIMEOUT_S)
                soak.record(i, time.perf_counter() - t0, "OK")
            except grpc.aio.AioRpcError as exc:
                soak.record(i, None, exc.code().name, exc.details() or "")

        start = time.perf_counter()
        switches = sorted(at.items())
        for n in range(int(rate * seconds)):
            offset = n / rate
            while switches and offset >= switches[0][0]:
                soak.current = switches.pop(0)[1]
            delay = start + offset - time.perf_counter()
            if delay > 0:
                await asyncio.sleep(delay)
            task = asyncio.create_task(one(random.randrange(len(reqs))))
            pending.add(task)
            task.add_done_callback(pending.discard)
        await asyncio.gather(*pending)


def collector_worker(server_pid: int) -> int | None:
    """The server's collector worker: its child started by multiprocessing's spawn."""
    for pid in children(server_pid):
        try:
            if b"spawn_main" in Path(f"/proc/{pid}/cmdline").read_bytes():
                return pid
        except OSError:
            continue
    return None


@dataclass
class MemorySampler:
    """Resident memory of the server and its worker every ``interval_s``, on a thread."""

    server_pid: int
    interval_s: float = 5.0
    samples: list[tuple[float, int, int]] = field(default_factory=list)  # (seconds since start, server, worker)
    _stop: threading.Event = field(default_factory=threading.Event)

    def sample(self, start: float) -> tuple[float, int, int]:
        worker = collector_worker(self.server_pid)
        return (time.monotonic() - start, rss_bytes(self.server_pid), rss_bytes(worker) if worker else 0)

    def run(self, start: float) -> None:
        while not self._stop.wait(self.interval_s):
            self.samples.append(self.sample(start))

    def start(self, start: float) -> None:
        threading.Thread(target=self.run, args=(start,), daemon=True).start()

    def stop(self) -> None:
        self._stop.set()


def restart_worker(server_pid: int, delay_s: float, killed: list[int]) -> threading.Timer:
    def kill() -> None:
        worker = collector_worker(server_pid)
        if worker is not None:
            os.kill(worker, signal.SIGKILL)
            killed.append(worker)

    timer = threading.Timer(delay_s, kill)
    timer.start()
    return timer


def report(soak: Soak, bare: Phase, memory: list[tuple[float, int, int]], baseline: int, killed: bool) -> None:
    print(f"\nGetMetrics calls by phase ({soak.workloads} workloads):")
    print(f"{'phase':<16} {'calls':>8} {'answered':>9} {'p50 ms':>7} {'p99 ms':>7}  errors before / after first answer")
    for phase in (*soak.phases.values(), bare):
        before = ", ".join(f"{k} {v}" for k, v in phase.errors_before_first.most_common()) or "0"
        after = ", ".join(f"{k} {v}" for k, v in phase.errors_after_first.most_common()) or "0"
        print(
            f"{phase.name:<16} {phase.calls:>8} {len(phase.latencies):>9} {percentile_ms(phase.latencies, 50):>7.2f}"
            f" {percentile_ms(phase.latencies, 99):>7.2f}  {before} / {after}"
        )
        for status, message in phase.examples.items():
            print(f"  {status}: {message}")
    answered = [t for t in soak.first_answer_at if t is not None]
    print(f"workloads answered at least once: {len(answered)}/{soak.workloads}")
    served = [p for p in soak.phases.values() if p.name != "warm-up"]
    after_first = sum(sum(p.errors_after_first.values()) for p in served)
    print(f"errors after a workload's first answer (warm-up excluded): {after_first}")
    if not killed:
        print("the collector worker was not found, so no restart happened")
    print("\nresident memory (MiB): seconds, server, worker, total")
    for t, server, worker in memory[:: max(1, len(memory) // 20)]:
        print(f"  {t:6.0f} {server / MIB:8.1f} {worker / MIB:8.1f} {(server + worker) / MIB:8.1f}")
    if memory:
        end = memory[-1][1] + memory[-1][2]
        print(
            f"RSS per workload: ({end / MIB:.1f} - {baseline / MIB:.1f} MiB before the first call) / {soak.workloads}"
            f" = {(end - baseline) / soak.workloads / MIB:.3f} MiB"
        )
        last_minutes = [s[1] + s[2] for s in memory if s[0] >= memory[-1][0] - 180 and s[2] > 0]
        print(f"RSS over the last 3 minutes: min {min(last_minutes) / MIB:.1f}, max {max(last_minutes) / MIB:.1f} MiB")
    ours = percentile_ms(soak.phases["soak"].latencies + soak.phases["after restart"].latencies, 99)
    base = percentile_ms(bare.latencies, 99)
    print(f"p99 gpuscale (after warm-up) {ours:.2f} ms, bare grpcio {base:.2f} ms: ratio {ours / base:.2f}")


def main() -> None:
    cli = parser(__doc__, "benchmarks.soak")
    cli.add_argument("--workloads", type=int, default=1000, help="emulated Deployments, one trigger each")
    cli.add_argument("--rate", type=float, default=500.0, help="GetMetrics calls per second (open loop)")
    cli.add_argument("--minutes", type=float, default=10.0, help="length of the soak")
    cli.add_argument("--warm-up", type=float, default=60.0, help="seconds counted apart as onboarding")
    cli.add_argument("--bare-seconds", type=float, default=60.0, help="length of the bare server's run")
    cli.add_argument("--refresh", default="10", help="the scaler's refresh interval, seconds")
    args = cli.parse_args()
    random.seed(1)
    seconds = args.minutes * 60
    print(f"starting Prometheus and an emulated fleet of {args.workloads} Deployments ...", flush=True)
    _, emulator, prom = start_fleet(args.workloads)
    scaler_port, bare_port = free_port(), free_port()
    scaler = start_scaler(prom.url, args.refresh, scaler_port, "--max-workloads", str(args.workloads))
    bare = start_bare(bare_port)
    reqs = get_metrics_requests(args.workloads)
    names = ("warm-up", "soak", "after restart")
    soak = Soak(args.workloads, [None] * args.workloads, {n: Phase(n) for n in names}, current="warm-up")
    bare_phase = Phase("bare grpcio")
    killed: list[int] = []
    try:
        wait_serving(scaler_port)
        wait_serving(bare_port, health=False)
        time.sleep(2.0)  # the worker has imported everything
        start = time.monotonic()
        sampler = MemorySampler(scaler.pid)
        baseline = sum(sampler.sample(start)[1:])
        sampler.start(start)
        timer = restart_worker(scaler.pid, seconds / 2, killed)
        print(
            f"soak: {args.rate:.0f} calls/s for {args.minutes:g} min, collector worker killed at {seconds / 2:.0f} s",
            flush=True,
        )
        switches = {args.warm_up: "soak", seconds / 2: "after restart"}
        asyncio.run(open_loop(f"127.0.0.1:{scaler_port}", reqs, args.rate, seconds, soak, switches))
        timer.cancel()
        sampler.stop()
        print(f"bare grpcio: {args.rate:.0f} calls/s for {args.bare_seconds:g} s", flush=True)
        answered: list[float | None] = [0.0] * args.workloads  # a constant server has nothing to onboard
        bare_soak = Soak(args.workloads, answered, {"bare": bare_phase}, current="bare")
        asyncio.run(open_loop(f"127.0.0.1:{bare_port}", reqs, args.rate, args.bare_seconds, bare_soak, {}))
    finally:
        stop(scaler, bare)
        prom.stop()
        emulator.stop()
    report(soak, bare_phase, sampler.samples, baseline, bool(killed))


if __name__ == "__main__":
    main()
