"""`gpuscale backtest`: rolling-origin evaluation of forecasters on a trace's demand series.

The protocol (docs/replay.md): every model is fed the series one step at a time and forecasts from the
same origins (after a warm-up of a fifth of the series, at most ``origins`` of them, evenly spaced);
each error is scaled by the naive error of the history before its origin. With ``baselines``,
statsforecast's classical models are scored on the same origins beside gpuscale's.
"""

from __future__ import annotations

import functools
import math
from collections.abc import Callable, Sequence
from typing import Any

from predictors import create_predictor, predictor_names
from predictors.rolling_origin import BacktestResult, Forecaster, HorizonScore, ratio_interval, rolling_origin
from simulations.traces import load_trace
from simulations.traces.demand import demand_series

DEFAULT_HORIZONS_S = (60.0, 300.0, 600.0, 1800.0)
DEFAULT_MODELS = ("default", "last_value", "damped_trend", "seasonal_naive_daily", "seasonal_daily")
QUANTILES = (0.5, 0.9, 0.95)
#: The default's own variants: no yardstick for it (``profile_guarded`` is the default by another name).
DEFAULT_VARIANTS = frozenset({"default", "ensemble", "profile_guarded"})
#: Origins scored when statsforecast's baselines refit at each one (without them: every step).
BASELINE_ORIGINS = 150


def warmup_steps(points: int) -> int:
    """Steps every model learns from before the first scored origin: a fifth of the series, at least 10."""
    return max(10, points // 5)


def origin_stride(points: int, longest: int, origins: int | None) -> int:
    """Steps between scored origins so that at most ``origins`` fit between the warm-up and the end."""
    if origins is None:
        return 1
    return max(1, -(-(points - warmup_steps(points) - longest) // origins))


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
    baselines: bool = False,
    origins: int | None = None,
) -> dict[str, Any]:
    """Backtest ``models`` (and statsforecast's baselines) on the trace; the result is what ``--json`` prints."""
    unknown = [m for m in models if m not in predictor_names()]
    if unknown:
        raise ValueError(f"unknown model {unknown[0]!r}; valid: {', '.join(predictor_names())}")
    if origins is not None and origins < 1:
        raise ValueError(f"origins has invalid value {origins}; allowed: a whole number above 0")
    if baselines:
        from simulations.forecasting.baselines import require_statsforecast

        require_statsforecast()
        origins = origins or BASELINE_ORIGINS
    options = {"column": column} if column else {}
    trace = load_trace(trace_path, trace_format, **options)
    demand = demand_series(trace, step_s, series)
    steps = horizon_steps(horizons_s, demand.step_s)
    points = int(demand.values.shape[0])
    usable = [h for h in steps if warmup_steps(points) + h < points]
    if not usable:
        raise ValueError(
            f"the series has {demand.values.shape[0]} steps of {demand.step_s:g} s: too short for any horizon "
            f"in {', '.join(f'{h:g}' for h in horizons_s)} s"
        )
    factories: dict[str, Callable[[], Forecaster]] = {
        name: functools.partial(create_predictor, name, demand.step_s, max(usable)) for name in models
    }
    skipped_baselines: dict[str, str] = {}
    if baselines:
        from simulations.forecasting.baselines import applicable_baselines, baseline_factory

        names, skipped_baselines = applicable_baselines(demand.step_s, points)
        factories.update({name: baseline_factory(name, demand.step_s) for name in names})
        for name in skipped_baselines:
            if progress is not None:
                progress(f"{name} (not applicable)")
    stride = origin_stride(points, max(usable), origins)
    results: list[tuple[str, BacktestResult]] = []
    for name, factory in factories.items():
        if progress is not None:
            progress(name)
        result = rolling_origin(
            demand.values, demand.step_s, factory, usable, QUANTILES, warmup=warmup_steps(points), stride=stride
        )
        results.append((name, result))
    rows = [_row(name, r, s) for name, r in results for s in r.scores]
    return {
        "trace": trace_path,
        "series": f"{demand.name} {series} per second",
        "step_s": demand.step_s,
        "points": points,
        "warmup_steps": warmup_steps(points),
        "origin_stride": stride,
        "default_model": "default",
        "results": rows,
        "best": _best_per_horizon(rows),
        "default_vs_best": _default_vs_best(results, stride),
        "skipped_horizons_s": [h * demand.step_s for h in steps if h not in usable],
        "skipped_baselines": skipped_baselines,
    }


def _row(name: str, result: BacktestResult, score: HorizonScore) -> dict[str, Any]:
    return {
        "model": name,
        "horizon_s": score.horizon_s,
        "mase": _num(score.mase),
        "smape": _num(score.smape),
        "pinball": _num(score.pinball),
        "pinball_by_quantile": {str(q): _num(v) for q, v in score.pinball_by_quantile.items()},
        "coverage": {str(q): _num(v) for q, v in score.coverage.items()},
        "points": score.points,
        "update_us": round(result.update_us, 1),
        "forecast_us": round(result.forecast_us, 1),
        "notes": list(result.notes),
    }


def _default_vs_best(results: list[tuple[str, BacktestResult]], stride: int) -> list[dict[str, Any]]:
    """Per horizon, the default's MASE over the best other model's (its own variants left out), with a 95 %
    paired block-bootstrap interval: a gap of a few per cent on ~150 origins is often noise, and this says
    whether it is."""
    scored = dict(results)
    if "default" not in scored or len(scored) < 2:
        return []
    out = []
    for i, ours in enumerate(scored["default"].scores):
        others = [
            (name, r.scores[i])
            for name, r in results
            if name not in DEFAULT_VARIANTS and math.isfinite(r.scores[i].mase)
        ]
        if not others or not math.isfinite(ours.mase):
            continue
        name, best = min(others, key=lambda pair: pair[1].mase)
        entry: dict[str, Any] = {"horizon_s": ours.horizon_s, "best_other": name, "ratio": _num(ours.mase / best.mase)}
        block = -(-ours.horizon_steps // stride)  # origins whose targets overlap are resampled together
        if ours.scaled_errors.shape == best.scaled_errors.shape and ours.scaled_errors.size >= 3 * block:
            low, high = ratio_interval(ours.scaled_errors, best.scaled_errors, block=block)
            entry["interval_95"] = [_num(low), _num(high)]
        out.append(entry)
    return out


def _best_per_horizon(rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The model with the lowest MASE at each horizon (the first listed on a tie)."""
    best: dict[float, dict[str, Any]] = {}
    for row in rows:
        if row["mase"] is None:
            continue
        held = best.get(row["horizon_s"])
        if held is None or row["mase"] < held["mase"]:
            best[row["horizon_s"]] = {"horizon_s": row["horizon_s"], "model": row["model"], "mase": row["mase"]}
    return [best[h] for h in sorted(best)]


def _num(value: float) -> float | None:
    return None if not math.isfinite(value) else round(value, 4)
