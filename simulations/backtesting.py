"""`gpuscale backtest`: rolling-origin evaluation of forecasters on a trace's demand series."""

from __future__ import annotations

import functools
import math
from collections.abc import Callable, Sequence
from typing import Any

from predictors import create_predictor, predictor_names
from predictors.backtest import BacktestResult, rolling_origin
from simulations.demand import demand_series
from simulations.traces import load_trace

DEFAULT_HORIZONS_S = (60.0, 300.0, 600.0, 1800.0)
DEFAULT_MODELS = ("default", "last_value", "damped_trend", "seasonal_naive_daily", "seasonal_daily")
QUANTILES = (0.5, 0.9, 0.95)


def horizon_steps(horizons_s: Sequence[float], step_s: float) -> list[int]:
    """Whole steps covering each horizon (at least one), without duplicates, in order."""
    steps = sorted({max(1, math.ceil(h / step_s - 1e-9)) for h in horizons_s})
    return steps


def run_backtest(
    trace_path: str,
    step_s: float | None = None,
    horizons_s: Sequence[float] = DEFAULT_HORIZONS_S,
    models: Sequence[str] = DEFAULT_MODELS,
    series: str = "requests",
    trace_format: str | None = None,
    column: str | None = None,
    progress: Callable[[str], None] | None = None,
) -> dict[str, Any]:
    """Backtest ``models`` on the trace; the result is the JSON document ``--json`` prints."""
    unknown = [m for m in models if m not in predictor_names()]
    if unknown:
        raise ValueError(f"unknown model {unknown[0]!r}; valid: {', '.join(predictor_names())}")
    options = {"column": column} if column else {}
    trace = load_trace(trace_path, trace_format, **options)
    demand = demand_series(trace, step_s, series)
    steps = horizon_steps(horizons_s, demand.step_s)
    usable = [h for h in steps if max(10, demand.values.shape[0] // 5) + h < demand.values.shape[0]]
    if not usable:
        raise ValueError(
            f"the series has {demand.values.shape[0]} steps of {demand.step_s:g} s: too short for any horizon "
            f"in {', '.join(f'{h:g}' for h in horizons_s)} s"
        )
    results: list[BacktestResult] = []
    for name in models:
        if progress is not None:
            progress(name)
        results.append(
            rolling_origin(
                demand.values,
                demand.step_s,
                functools.partial(create_predictor, name, demand.step_s, max(usable)),
                usable,
                QUANTILES,
            )
        )
    return {
        "trace": trace_path,
        "series": f"{demand.name} {series} per second",
        "step_s": demand.step_s,
        "points": int(demand.values.shape[0]),
        "default_model": "default",
        "results": [
            {
                "model": models[i],
                "horizon_s": s.horizon_s,
                "mase": _num(s.mase),
                "smape": _num(s.smape),
                "pinball": _num(s.pinball),
                "coverage": {str(q): _num(v) for q, v in s.coverage.items()},
                "points": s.points,
                "update_us": round(r.update_us, 1),
                "forecast_us": round(r.forecast_us, 1),
                "notes": list(r.notes),
            }
            for i, r in enumerate(results)
            for s in r.scores
        ],
        "skipped_horizons_s": [h * demand.step_s for h in steps if h not in usable],
    }


def _num(value: float) -> float | None:
    return None if not math.isfinite(value) else round(value, 4)
