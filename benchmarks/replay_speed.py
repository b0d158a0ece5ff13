"""Replay speed: requests simulated per second of wall time, with the full control path.

Run: python -m benchmarks.replay_speed [--skip-24h] (from the project root).

For each trace the fast engine replays the whole trace under the gpuscale policy (fleet,
Prometheus scrapes, ``decide()`` every 10 s, KEDA and the HPA). The baseline, measured in
the same run, is the exact per-step discrete-event reference serving the same requests on
a fixed fleet (it does no control at all), on the first 15 minutes, so the ratio is
fast engine requests/s over reference requests/s. Targets (issue 4): any 1-hour trace in
under 2 s; a synthesized 24-hour trace of at least 8 million requests in under 60 s.
The 24-hour trace is ServeGen's m-large daily rate shape, scaled to 8.6 M requests, with
token lengths drawn from the Azure code trace.
"""

from __future__ import annotations

import math
import sys
import time
from pathlib import Path

import numpy as np

from benchmarks._cli import parser
from simulations.fleet.reference import simulate_reference
from simulations.fleet.replay import replay
from simulations.policies.controllers import PolicyContext, create_controller
from simulations.policies.slo import Slo
from simulations.profiles import load_profile
from simulations.traces import load_trace
from simulations.traces.base import RateSeries, RequestTrace
from simulations.traces.workload import Reshape, TraceWorkload, from_rate, from_requests

TRACES = Path(__file__).resolve().parents[2] / "shared" / "traces"
PROFILE = load_profile("llama3-8b-h100")
TARGET_24H_REQUESTS = 8_600_000


def timed_replay(workload: TraceWorkload, replicas: int) -> tuple[float, int]:
    context = PolicyContext(PROFILE, workload, initial_replicas=replicas, max_replicas=400)
    start = time.process_time()
    result = replay(workload, PROFILE, create_controller("gpuscale", context), Slo())
    return time.process_time() - start, result.peak_replicas


def timed_reference(workload: TraceWorkload, replicas: int) -> float:
    window = TraceWorkload(
        workload.name,
        *(a[workload.arrival_s < 900.0] for a in (workload.arrival_s, workload.prompt_tokens, workload.output_tokens)),
    )
    start = time.process_time()
    simulate_reference(PROFILE, window, replicas)
    return window.requests / (time.process_time() - start)


def synthesized_day(rng: np.random.Generator) -> TraceWorkload:
    series = load_trace(TRACES / "servegen_rate_10min_14d.csv", column="language/m-large")
    tokens = load_trace(TRACES / "azure2023_code.csv")
    assert isinstance(series, RateSeries) and isinstance(tokens, RequestTrace)
    day = int(86_400 / series.step_s)
    rate = np.nan_to_num(series.requests_per_s[:day])
    scaled = RateSeries(series.name, series.step_s, rate * TARGET_24H_REQUESTS / (rate.sum() * series.step_s))
    return from_rate(scaled, tokens, Reshape(), rng)


def main(argv: list[str]) -> None:
    cli = parser(__doc__, "benchmarks.replay_speed")
    cli.add_argument("--skip-24h", action="store_true", help="leave out the synthesized 24-hour trace")
    args = cli.parse_args(argv)
    rng = np.random.default_rng(7)
    cases: list[tuple[str, TraceWorkload, int]] = []
    azure = load_trace(TRACES / "azure2023_code.csv")
    mooncake = load_trace(TRACES / "mooncake_conversation.jsonl")
    assert isinstance(azure, RequestTrace) and isinstance(mooncake, RequestTrace)
    cases.append(("azure2023_code (1x)", from_requests(azure, Reshape(), rng), 2))
    cases.append(("azure2023_code (10x rate)", from_requests(azure, Reshape(rate_scale=10), rng), 12))
    cases.append(("mooncake_conversation", from_requests(mooncake, Reshape(), rng), 4))
    if not args.skip_24h:
        cases.append(("synthesized 24 h (ServeGen shape, Azure tokens)", synthesized_day(rng), 40))
    print(
        f"{'trace':50s} {'requests':>10s} {'span':>8s} {'wall s':>8s} {'req/s':>11s} {'ref req/s':>10s} {'ratio':>7s}"
    )
    for name, workload, replicas in cases:
        elapsed, peak = timed_replay(workload, replicas)
        rate = workload.requests / elapsed
        ref_rate = timed_reference(workload, max(replicas, peak // 2)) if workload.span_s <= 7200 else math.nan
        ratio = rate / ref_rate if math.isfinite(ref_rate) else math.nan
        print(
            f"{name:50s} {workload.requests:10d} {workload.span_s / 3600:7.2f}h {elapsed:8.2f} {rate:11.0f} "
            f"{ref_rate:10.0f} {ratio:7.1f}"
        )
    print("wall s is CPU time of one process (one core); ref = exact per-step reference, first 15 min, fixed fleet")


if __name__ == "__main__":
    main(sys.argv[1:])
