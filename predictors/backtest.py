"""Rolling-origin evaluation: feed a series one step at a time, forecast from every origin, score.

Every model sees exactly the data a live scaler would have had at each origin
(online updates, no look-ahead). Scores per horizon: MASE (scaled by the
in-sample one-step naive error), sMAPE, pinball loss averaged over the
quantiles (scaled like MASE), and the empirical coverage of each quantile.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Protocol

import numpy as np

from predictors.forecast import FloatArray, Forecast


class Forecaster(Protocol):
    @property
    def name(self) -> str: ...

    def update(self, value: float) -> None: ...

    def forecast(self, steps: int) -> Forecast: ...


@dataclass(frozen=True)
class HorizonScore:
    model: str
    horizon_steps: int
    horizon_s: float
    mase: float
    smape: float
    pinball: float
    coverage: dict[float, float]
    points: int


@dataclass(frozen=True)
class BacktestResult:
    model: str
    scores: list[HorizonScore]
    update_us: float  # mean wall time of one update
    forecast_us: float  # mean wall time of one forecast of the longest horizon
    notes: tuple[str, ...] = field(default=())


def naive_scale(series: FloatArray) -> float:
    """Mean absolute one-step change: the error of "last value" one step ahead (MASE's denominator)."""
    diffs = np.abs(np.diff(series))
    diffs = diffs[np.isfinite(diffs)]
    return float(diffs.mean()) if diffs.size else math.nan


def rolling_origin(
    series: Sequence[float] | FloatArray,
    step_s: float,
    factory: Callable[[], Forecaster],
    horizons: Sequence[int],
    quantiles: Sequence[float] = (0.5, 0.9, 0.95),
    warmup: int | None = None,
    stride: int = 1,
    timer: Callable[[], float] = time.perf_counter,
) -> BacktestResult:
    """Score ``factory()`` on ``series`` at each horizon (in steps) from every ``stride``-th origin."""
    y = np.asarray(series, dtype=np.float64)
    n = y.shape[0]
    hmax = max(horizons)
    start = warmup if warmup is not None else max(10, n // 5)
    if start + hmax >= n:
        raise ValueError(f"series of {n} steps is too short for warm-up {start} and horizon {hmax}")
    model = factory()
    preds: dict[int, list[tuple[float, float, dict[float, float]]]] = {h: [] for h in horizons}
    update_time = forecast_time = 0.0
    forecasts = 0
    notes: set[str] = set()
    for t in range(n - 1):
        t0 = timer()
        model.update(float(y[t]))
        update_time += timer() - t0
        if t + 1 < start or (t + 1 - start) % stride or t + hmax >= n:
            continue
        t0 = timer()
        f = model.forecast(hmax)
        forecast_time += timer() - t0
        forecasts += 1
        notes.update(f.notes)
        for h in horizons:
            actual = y[t + h]
            if math.isfinite(actual):
                qs = {q: f.quantile_at(q, h * f.step_s) for q in quantiles}
                preds[h].append((float(actual), float(f.mean[h - 1]), qs))
    scale = naive_scale(y)
    scores = [_score(model.name, h, h * step_s, preds[h], quantiles, scale) for h in horizons]
    return BacktestResult(
        model=model.name,
        scores=scores,
        update_us=update_time / max(n - 1, 1) * 1e6,
        forecast_us=forecast_time / max(forecasts, 1) * 1e6,
        notes=tuple(sorted(n for n in notes if not n.startswith("few scored errors"))),
    )


def _score(
    model: str,
    h: int,
    horizon_s: float,
    rows: list[tuple[float, float, dict[float, float]]],
    quantiles: Sequence[float],
    scale: float,
) -> HorizonScore:
    if not rows:
        nan = math.nan
        return HorizonScore(model, h, horizon_s, nan, nan, nan, {q: nan for q in quantiles}, 0)
    actual = np.array([r[0] for r in rows])
    mean = np.array([r[1] for r in rows])
    err = np.abs(actual - mean)
    denom = np.abs(actual) + np.abs(mean)
    smape = float(np.mean(np.where(denom > 0, 200.0 * err / np.where(denom > 0, denom, 1.0), 0.0)))
    pinball = 0.0
    coverage = {}
    for q in quantiles:
        qv = np.array([r[2][q] for r in rows])
        diff = actual - qv
        pinball += float(np.mean(np.maximum(q * diff, (q - 1) * diff)))
        coverage[q] = float(np.mean(actual <= qv))
    pinball /= len(quantiles)
    ok = scale > 0 and math.isfinite(scale)
    return HorizonScore(
        model=model,
        horizon_steps=h,
        horizon_s=horizon_s,
        mase=float(err.mean() / scale) if ok else math.nan,
        smape=smape,
        pinball=pinball / scale if ok else math.nan,
        coverage=coverage,
        points=len(rows),
    )
