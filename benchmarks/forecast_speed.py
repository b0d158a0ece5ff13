"""What the forecaster costs the scaler per workload and cycle: one update plus one quantile forecast.

Run: python -m benchmarks.forecast_speed [--steps N] (from the project root). At the scaler's settings
(10 s step, a 120-step path, the default's quantiles and error memory), each model learns a synthetic
demand series (tokens/s of the ramp, step, bursts and a 4-hour diurnal day, binned to 10 s, repeated)
for a day, as the shipped config bootstraps (every member ready, the daily profile and its guard
included, every error ring full), and is then timed over N steps of update + a 30-step forecast with
every quantile. CPU time per step is the median of 5 rounds; last value, the cheapest model, is measured
in the same run as the baseline.
"""

from __future__ import annotations

import statistics
import time

import numpy as np

from benchmarks._cli import parser
from predictors.base import Predictor
from scaler.loop import DecisionLoop, error_window
from scaler.policy import DEFAULT_REFRESH_INTERVAL_S, PolicySpec
from simulations.traces.shapes import Shape, synthetic_trace

STEP_S = DEFAULT_REFRESH_INTERVAL_S
MAX_HORIZON = 120
FORECAST_STEPS = 30
ROUNDS = 5
MODELS = ("default", "ensemble", "last_value")


#: The diurnal day compressed to 4 hours, so every shape is a few thousand steps.
DAY_S = 4 * 3600.0


def demand(shape: Shape) -> np.ndarray:
    """Generated tokens/s per 10 s step of a synthetic shape (2 requests/s at its lowest, seed 0)."""
    trace = synthetic_trace(shape, low_rps=2.0, seed=0, day_s=DAY_S)
    return np.asarray(trace.binned(STEP_S)["output_tps"], dtype=float)


def model(name: str) -> Predictor:
    """The forecaster exactly as the scaler builds it for a workload (``DecisionLoop``), with model ``name``."""
    return DecisionLoop(PolicySpec(forecast_model=name), STEP_S, MAX_HORIZON).predictor


def per_step_us(name: str, series: np.ndarray, warm: int, timed: int) -> float:
    """Median over rounds of CPU time per (update + forecast), in microseconds."""
    rounds = []
    for _ in range(ROUNDS):
        predictor = model(name)
        for value in series[:warm]:
            predictor.update(float(value))
        values = series[warm : warm + timed]
        start = time.process_time()
        for value in values:
            predictor.update(float(value))
            predictor.forecast(FORECAST_STEPS)
        rounds.append((time.process_time() - start) / len(values) * 1e6)
    return statistics.median(rounds)


def main() -> None:
    cli = parser(__doc__, "benchmarks.forecast_speed")
    cli.add_argument("--steps", type=int, default=300, help="timed steps per round (default 300)")
    args = cli.parse_args()
    # A day of history, as the shipped config bootstraps: every member ready (the daily profile and its guard
    # included), every error ring full. A shape shorter than that repeats.
    warm = round(86_400 / STEP_S) + error_window(PolicySpec(), STEP_S) + MAX_HORIZON
    print(
        f"update + {FORECAST_STEPS}-step forecast, µs of CPU per step (median of {ROUNDS} rounds, {args.steps} steps)"
    )
    print(f"{'shape':<9}" + "".join(f"{m:>12}" for m in MODELS) + f"{'default / last value':>22}")
    errors = 0
    for shape in Shape:
        try:
            series = demand(shape)
            if series.size < warm + args.steps:
                series = np.resize(series, warm + args.steps)
            cost = {m: per_step_us(m, series, warm, args.steps) for m in MODELS}
        except Exception as exc:  # one shape failing must not hide the others
            errors += 1
            print(f"{shape:<9} error: {type(exc).__name__}: {exc}")
            continue
        print(
            f"{shape:<9}"
            + "".join(f"{cost[m]:>12.1f}" for m in MODELS)
            + f"{cost['default'] / cost['last_value']:>22.1f}"
        )
    print(f"errors: {errors}")


if __name__ == "__main__":
    main()
