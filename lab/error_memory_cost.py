"""What a longer forecast error memory costs per workload: CPU per decision step and memory held.

Run: python -m lab.error_memory_cost (from the project root). One ``DecisionLoop`` per memory
setting (``forecastErrorMemorySeconds``) learns the same real demand (the bundled Azure code trace, at
the scaler's 10 s refresh and its 120-step forecast path) and decides once per step; CPU per step is the
median over rounds of thread time, and the ratio is to the default memory measured in the same run.
Memory held is the bytes of every error ring in the forecaster (the combination's and each member's).
"""

from __future__ import annotations

import statistics
import time

import numpy as np

from benchmarks._cli import parser
from predictors.base import Predictor
from predictors.ensemble import OnlineEnsemble
from scaler.loop import DecisionLoop, error_window
from scaler.policy import DEFAULT_FORECAST_ERROR_MEMORY_S, PolicySpec
from scaler.snapshot import Replicas, ReplicaSource, Signal, Snapshot
from simulations.demo import DEMO_RATE_SCALE, demo_trace_path
from simulations.traces.base import RequestTrace
from simulations.traces.loaders import load_trace

STEP_S = 10.0
HORIZON_STEPS = 120
MEMORIES_S = (640.0, 1280.0, DEFAULT_FORECAST_ERROR_MEMORY_S, 5120.0, 7200.0)
WARM_STEPS = 800  # past the longest memory's ring (720 errors), so every ring is full
TIMED_STEPS = 200
ROUNDS = 3


def demand_tps(steps: int) -> list[float]:
    """Generated tokens/s per 10 s step of the demo's real trace (x10, as the demo runs it), repeated."""
    trace = load_trace(demo_trace_path())
    assert isinstance(trace, RequestTrace)
    per_step = trace.binned(STEP_S)["output_tps"] * DEMO_RATE_SCALE
    return [float(v) for v in np.resize(per_step, steps)]


def ring_bytes(predictor: Predictor) -> int:
    """Bytes of the error rings: the combination's bands and member weights, and each member's bands."""
    total = predictor._bands._errors.nbytes
    if isinstance(predictor, OnlineEnsemble):
        total += predictor._errors._abs.nbytes
        total += sum(member._bands._errors.nbytes for member in predictor.members)
    return total


def snapshot(at: float, tps: float) -> Snapshot:
    signals = {Signal.QUEUE: 0.0, Signal.GENERATION_TPS: tps, Signal.KV_CACHE_USAGE: 0.3}
    return Snapshot(observed_at=at, signals=signals, replicas=Replicas(4, 4, 0, ReplicaSource.METRICS))


def measure(memory_s: float, demand: list[float]) -> dict[str, float]:
    spec = PolicySpec(forecast_error_memory_s=memory_s, forecast_horizon_s=HORIZON_STEPS * STEP_S)
    loop = DecisionLoop(spec, STEP_S, HORIZON_STEPS)
    for i, tps in enumerate(demand[:WARM_STEPS]):
        loop.step(snapshot(i * STEP_S, tps), now=i * STEP_S + 1)
    per_round = []
    at = WARM_STEPS
    for _ in range(ROUNDS):
        start = time.thread_time()
        for tps in demand[at : at + TIMED_STEPS]:
            loop.step(snapshot(at * STEP_S, tps), now=at * STEP_S + 1)
            at += 1
        per_round.append((time.thread_time() - start) / TIMED_STEPS)
    return {
        "memory_s": memory_s,
        "errors_per_horizon": error_window(spec, STEP_S),
        "step_ms": statistics.median(per_round) * 1e3,
        "ring_mib": ring_bytes(loop.predictor) / 2**20,
    }


def main() -> None:
    parser(__doc__, "lab.error_memory_cost").parse_args()
    demand = demand_tps(WARM_STEPS + ROUNDS * TIMED_STEPS)
    rows = [measure(memory_s, demand) for memory_s in MEMORIES_S]
    default = next(r for r in rows if r["memory_s"] == DEFAULT_FORECAST_ERROR_MEMORY_S)
    print(f"decision step at a {STEP_S:g} s refresh, {HORIZON_STEPS}-step forecast path, real demand (Azure code)")
    print(f"{'memory':>9} {'errors/horizon':>15} {'CPU/step':>10} {'vs default':>11} {'error rings':>12}")
    for r in rows:
        print(
            f"{r['memory_s']:>8.0f}s {r['errors_per_horizon']:>15.0f} {r['step_ms']:>8.2f}ms"
            f" {r['step_ms'] / default['step_ms']:>10.2f}x {r['ring_mib']:>9.1f}MiB"
        )


if __name__ == "__main__":
    main()
