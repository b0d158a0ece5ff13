"""Forecast quality and cost: gpuscale's default model against baselines, on every shared trace.

Run: python -m benchmarks.forecast_quality [TRACE-NAME-PART ...] (from the project root). Baselines,
measured in the same run on the same origins: last value, seasonal naive (daily) and, when the optional
`forecast-baselines` extra is installed, the statsforecast models of `gpuscale backtest --baselines`
(simulations/forecasting/baselines.py: AutoETS, AutoARIMA, MSTL, damped ES, seasonal naive). Prints MASE per horizon,
p90 coverage, time per update and per forecast, a paired block-bootstrap interval of the default's MASE
ratio to the best baseline (is a gap more than noise?), the default's quantile coverage on every origin
(not only the shared ones), and the live cost: one update plus a 30-step forecast, against last value.
"""

from __future__ import annotations

import math
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from benchmarks._cli import parser
from predictors import create_predictor
from predictors.rolling_origin import BacktestResult, Forecaster, ratio_interval, rolling_origin
from simulations.forecasting.backtest import origin_stride, warmup_steps
from simulations.forecasting.baselines import (
    BaselinesUnavailableError,
    applicable_baselines,
    baseline_factory,
    require_statsforecast,
)
from simulations.traces import load_trace
from simulations.traces.demand import demand_series

TRACES = Path(__file__).resolve().parents[2] / "shared" / "traces"
MAX_ORIGINS = 60  # external baselines refit at every origin: score all models on the same ~60 origins


@dataclass(frozen=True)
class Case:
    file: str
    options: dict[str, str]
    step_s: float | None
    horizons_s: tuple[float, ...]


CASES = (
    Case("azure2023_code.csv", {}, 10.0, (60, 300, 600, 1800)),
    Case("mooncake_conversation.jsonl", {}, 10.0, (60, 300, 600, 1800)),
    Case("servegen_rate_10min_14d.csv", {}, None, (600, 1800, 3600)),
    Case("burstgpt1_hourly_61d.csv", {"column": "conversation"}, None, (3600, 7200, 21600)),
)


def _has_statsforecast() -> bool:
    try:
        require_statsforecast()
    except BaselinesUnavailableError:
        return False
    return True


def run_case(case: Case) -> tuple[str, float, list[int], list[BacktestResult], BacktestResult]:
    """The comparison on at most MAX_ORIGINS shared origins, and the default alone on every origin."""
    demand = demand_series(load_trace(TRACES / case.file, **case.options), case.step_s)
    steps = sorted({max(1, math.ceil(h / demand.step_s)) for h in case.horizons_s})
    n = demand.values.shape[0]
    warmup = warmup_steps(n)
    stride = origin_stride(n, max(steps), MAX_ORIGINS)  # the same origins rule as gpuscale backtest
    factories: list[Callable[[], Forecaster]] = [
        lambda: create_predictor("default", demand.step_s, max(steps)),
        lambda: create_predictor("last_value", demand.step_s, max(steps)),
        lambda: create_predictor("seasonal_naive_daily", demand.step_s, max(steps)),
    ]
    if _has_statsforecast():
        factories += [baseline_factory(name, demand.step_s) for name in applicable_baselines(demand.step_s, n)[0]]
    results = [rolling_origin(demand.values, demand.step_s, f, steps, warmup=warmup, stride=stride) for f in factories]
    # Coverage from ~60 origins has a standard error of ~0.04; the default is cheap enough to score everywhere.
    everywhere = rolling_origin(demand.values, demand.step_s, factories[0], steps, warmup=warmup)
    return f"{demand.name} ({demand.step_s:g} s)", demand.step_s, steps, results, everywhere


def main() -> None:
    cli = parser(__doc__, "benchmarks.forecast_quality")
    cli.add_argument("traces", nargs="*", help="parts of trace file names to run (default: every case)")
    args = cli.parse_args()
    if not TRACES.is_dir():
        sys.exit(f"shared traces not found at {TRACES}")
    print(
        f"rolling origin, same origins for every model (at most {MAX_ORIGINS} per trace); MASE per horizon,"
        " p90 coverage at the longest horizon, wall time per update and per forecast"
    )
    if not _has_statsforecast():
        print("statsforecast is not installed (pip install 'gpuscale[forecast-baselines]'): its baselines are skipped")
    chosen = [c for c in CASES if not args.traces or any(a in c.file for a in args.traces)]
    for case in chosen:
        start = time.perf_counter()
        title, step, steps, results, everywhere = run_case(case)
        print(f"\n{title}: horizons {', '.join(f'{h * step:g}s' for h in steps)}  [{time.perf_counter() - start:.0f}s]")
        print(
            f"{'model':<22}"
            + "".join(f"{'MASE@' + format(h * step, 'g') + 's':>12}" for h in steps)
            + f"{'p90 cov':>9}{'us/update':>11}{'us/forecast':>13}"
        )
        for r in results:
            mases = "".join(f"{s.mase:>12.3f}" for s in r.scores)
            print(f"{r.model:<22}{mases}{r.scores[-1].coverage[0.9]:>9.2f}{r.update_us:>11.1f}{r.forecast_us:>13.0f}")
        base = [r for r in results[1:]]
        for i, h in enumerate(steps):
            best = min(base, key=lambda r: r.scores[i].mase)
            ours = results[0].scores[i].mase
            points = results[0].scores[i].points
            interval = "too few origins for an interval"
            if h <= points // 3:  # at least three blocks of one horizon each
                low, high = ratio_interval(results[0].scores[i].scaled_errors, best.scores[i].scaled_errors, block=h)
                interval = f"95% block-bootstrap interval {low:.2f}-{high:.2f}"
            print(
                f"  @{h * step:g}s: default {ours:.3f} vs best baseline {best.model} {best.scores[i].mase:.3f}"
                f" (ratio {ours / best.scores[i].mase:.2f}, {interval})"
            )
        print(
            f"  default on all {everywhere.scores[0].points} origins, coverage of p90 / p95: "
            + ", ".join(f"@{s.horizon_s:g}s {s.coverage[0.9]:.2f} / {s.coverage[0.95]:.2f}" for s in everywhere.scores)
        )
    print_cost()


def print_cost(horizon: int = 30, updates: int = 5000, repeats: int = 5) -> None:
    """The live scaler's per-refresh cost: one update plus one forecast of ``horizon`` steps."""
    warm = 9000  # past one day at the 10 s step, so every member of the default (daily profile too) is ready
    values = np.random.default_rng(1).poisson(30.0, warm + updates).astype(float)
    print(
        f"\nupdate + {horizon}-step forecast, max_horizon {horizon}, Poisson(30) series,"
        f" mean of {updates}, best of {repeats} runs:"
    )
    costs = {}
    for name in ("last_value", "damped_trend", "autoregressive", "default"):
        runs = []
        for _ in range(repeats):
            model = create_predictor(name, 10.0, horizon)
            for v in values[:warm]:
                model.update(float(v))
            start = time.perf_counter()
            for v in values[warm:]:
                model.update(float(v))
                model.forecast(horizon)
            runs.append((time.perf_counter() - start) / updates * 1e6)
        costs[name] = min(runs)
        print(f"  {name:<16}{costs[name]:>8.1f} us  ({costs[name] / costs['last_value']:.2f}x last value)")


if __name__ == "__main__":
    main()
