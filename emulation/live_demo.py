"""A live, local run of the whole control loop: emulated GPU pods -> Prometheus -> gpuscale -> "KEDA".

Everything is real but the GPUs: the emulator serves vLLM/DCGM metrics, a real
Prometheus scrapes them, the real scaler decides, and a KEDA-like client polls
it over gRPC. A small fluid model closes the loop: pods requested by the
recommendation become ready after a cold start and drain the queue.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field

from emulation.embedded import EmbeddedScaler
from emulation.emulator import EmulatorServer, FleetEmulator
from emulation.keda_client import KedaLikeClient, scaled_object
from emulation.local_prometheus import PrometheusServer
from scaler.config import ServerConfig
from scaler.policy import PolicySpec

TOKENS_PER_REQUEST = 250.0
REPLICA_CAPACITY_TPS = 1250.0  # tokens/s one emulated replica can serve
TARGET_TPS = 1000.0  # the policy's target: 80 % of capacity


def demand_profile(t: float, seconds: float) -> float:
    """Generated tokens/s asked of the fleet: quiet, a ramp, a plateau, then a drop."""
    f = t / seconds
    if f < 0.15:
        return 600.0
    if f < 0.45:
        return 600.0 + (6000.0 - 600.0) * (f - 0.15) / 0.30
    if f < 0.70:
        return 6000.0
    return 900.0


@dataclass
class FluidFleet:
    """Pods start after ``cold_start_s``; excess demand queues; capacity drains the queue."""

    cold_start_s: float
    ready: int = 1
    starting: list[float] = field(default_factory=list)  # ready-at times
    queue_tokens: float = 0.0

    def scale_to(self, desired: int, now: float) -> None:
        desired = max(desired, 1)
        in_flight = self.ready + len(self.starting)
        if desired > in_flight:
            self.starting.extend([now + self.cold_start_s] * (desired - in_flight))
        elif desired < in_flight:
            drop = in_flight - desired
            cancel = min(drop, len(self.starting))
            self.starting = sorted(self.starting)[: len(self.starting) - cancel]
            self.ready = max(1, self.ready - (drop - cancel))

    def step(self, demand_tps: float, dt: float, now: float) -> tuple[float, float, float]:
        became_ready = [t for t in self.starting if t <= now]
        self.starting = [t for t in self.starting if t > now]
        self.ready += len(became_ready)
        capacity = self.ready * REPLICA_CAPACITY_TPS
        offered = demand_tps + self.queue_tokens / dt
        served = min(offered, capacity)
        self.queue_tokens = max(0.0, self.queue_tokens + (demand_tps - served) * dt)
        return served, self.queue_tokens / TOKENS_PER_REQUEST, served / capacity


@dataclass(frozen=True)
class DemoRow:
    t: float
    demand_tps: float
    served_tps: float
    ready: int
    starting: int
    queue: float
    asks: dict[str, int]
    recommended: int
    active: bool
    reason: str


def run_live_demo(
    seconds: float = 60.0, cold_start_s: float = 8.0, poll_s: float = 2.0, sleep: Callable[[float], None] = time.sleep
) -> Iterator[DemoRow]:
    """Run the loop for ``seconds`` of wall time, yielding one row per KEDA poll."""
    emulator = FleetEmulator()
    metrics = EmulatorServer(emulator).start()
    prometheus = PrometheusServer([f"127.0.0.1:{metrics.port}"])
    scaler: EmbeddedScaler | None = None
    try:
        fleet = FluidFleet(cold_start_s)
        _publish(emulator, fleet, demand_profile(0, seconds), 0.0, 0.3)
        prometheus.start()
        prometheus.wait_for_series('vllm:num_requests_waiting{namespace="demo"}')
        policy = PolicySpec(
            target_generation_tps_per_replica=TARGET_TPS,
            target_queue_per_replica=16,
            forecast_horizon_s=cold_start_s,
            scale_down_stabilization_s=10,
            max_replicas=16,
        )
        config = ServerConfig(
            host="127.0.0.1",
            port=0,
            metrics_port=0,
            probe_port=0,
            prometheus_url=prometheus.url,
            refresh_interval_s=1.0,
            rate_window="5s",
            history_s=0,
            kubernetes="off",
            grace_s=1,
            default_policy=policy,
        )
        scaler = EmbeddedScaler(config).start()
        client = KedaLikeClient.connect(scaler.address)
        so = scaled_object("llama", "demo", deployment="llama")
        start = time.monotonic()
        next_poll = 0.0
        dt = 0.5
        while (t := time.monotonic() - start) < seconds:
            demand = demand_profile(t, seconds)
            served, queue, utilization = fleet.step(demand, dt, t)
            _publish(emulator, fleet, served, queue, min(0.95, 0.15 + 0.8 * utilization))
            if t >= next_poll:
                result = client.poll(so)
                fleet.scale_to(result.value, t)
                latest = scaler.server.registry.all()[0].latest
                yield DemoRow(
                    t=t,
                    demand_tps=demand,
                    served_tps=served,
                    ready=fleet.ready,
                    starting=len(fleet.starting),
                    queue=queue,
                    asks={str(k): v for k, v in (latest.asks if latest else {}).items()},
                    recommended=result.value,
                    active=result.active,
                    reason=str(latest.reason) if latest else "",
                )
                next_poll += poll_s
            sleep(dt)
    finally:
        if scaler is not None:
            scaler.stop()
        prometheus.stop()
        metrics.stop()


def _publish(emulator: FleetEmulator, fleet: FluidFleet, served: float, queue: float, kv: float) -> None:
    running = min(fleet.ready * 32.0, served / 40.0)
    emulator.set_load(
        "demo",
        "llama",
        replicas=fleet.ready,
        queue=math.floor(queue),
        running=running,
        generation_tps=served,
        prompt_tps=served * 4,
        request_rate=served / TOKENS_PER_REQUEST,
        kv_cache_usage=kv,
        gpu_utilization=0.9,
    )
