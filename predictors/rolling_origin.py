"""Rolling-origin evaluation: feed a series one step at a time, forecast from every origin, score.

Every model sees exactly the data a live scaler would have had at each origin
(online updates, no look-ahead). Scores per horizon: MASE (each origin's error
scaled by the one-step naive error of the history before that origin, never the
future's), sMAPE, pinball loss averaged over the quantiles (scaled like MASE),
and the empirical coverage of each quantile.
"""

from __future__ import annotations

import math
import re
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
    pinball: float  # mean over the quantiles
    coverage: dict[float, float]
    points: int
    #: pinball loss of each quantile, scaled like MASE
    pinball_by_quantile: dict[float, float] = field(default_factory=dict)
    #: per-origin absolute errors over that origin's scale, in origin order (origins without a scale left out):
    #: their mean is the MASE, and a paired comparison of two models resamples them
    scaled_errors: FloatArray = field(default_factory=lambda: np.zeros(0), repr=False, compare=False)


@dataclass(frozen=True)
class BacktestResult:
    model: str
    scores: list[HorizonScore]
    update_us: float  # mean wall time of one update
    forecast_us: float  # mean wall time of one forecast of the longest horizon
    notes: tuple[str, ...] = field(default=())


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
    preds: dict[int, list[tuple[float, float, dict[float, float], float]]] = {h: [] for h in horizons}
    update_time = forecast_time = 0.0
    forecasts = 0
    notes: list[tuple[str, ...]] = []
    change_sum, changes = 0.0, 0  # the naive error of the history so far: MASE's scale at this origin
    for t in range(n - 1):
        t0 = timer()
        model.update(float(y[t]))
        update_time += timer() - t0
        if t > 0 and math.isfinite(y[t]) and math.isfinite(y[t - 1]):
            change_sum += abs(float(y[t] - y[t - 1]))
            changes += 1
        if t + 1 < start or (t + 1 - start) % stride or t + hmax >= n:
            continue
        scale = change_sum / changes if changes else math.nan
        t0 = timer()
        f = model.forecast(hmax)
        forecast_time += timer() - t0
        forecasts += 1
        notes.append(f.notes)
        for h in horizons:
            actual = y[t + h]
            if math.isfinite(actual):
                qs = {q: f.quantile_at(q, h * f.step_s) for q in quantiles}
                preds[h].append((float(actual), float(f.mean[h - 1]), qs, scale))
    scores = [_score(model.name, h, h * step_s, preds[h], quantiles) for h in horizons]
    return BacktestResult(
        model=model.name,
        scores=scores,
        update_us=update_time / max(n - 1, 1) * 1e6,
        forecast_us=forecast_time / max(forecasts, 1) * 1e6,
        notes=summarize_notes(notes),
    )


_NUMBER = re.compile(r"\d+(?:\.\d+)?")


def summarize_notes(per_forecast: Sequence[Sequence[str]]) -> tuple[str, ...]:
    """One line per kind of fallback: its last note and how many forecasts took it.

    A fallback's note carries its counts ("short history (98 < 8640 steps of one season)"), so listing
    each distinct note would print one per origin. Notes that differ only in their numbers are one
    kind. "few scored errors" (the quantile band's own warm-up) is left out: every backtest starts so.
    """
    taken: dict[str, int] = {}
    last: dict[str, str] = {}
    for notes in per_forecast:
        kinds = {_NUMBER.sub("#", n): n for n in notes if not n.startswith("few scored errors")}
        for kind, note in kinds.items():
            taken[kind] = taken.get(kind, 0) + 1
            last[kind] = note
    total = len(per_forecast)
    return tuple(sorted(f"{last[kind]} (in {count} of {total} forecasts)" for kind, count in taken.items()))


def _score(
    model: str,
    h: int,
    horizon_s: float,
    rows: list[tuple[float, float, dict[float, float], float]],
    quantiles: Sequence[float],
) -> HorizonScore:
    if not rows:
        nan = math.nan
        return HorizonScore(
            model, h, horizon_s, nan, nan, nan, {q: nan for q in quantiles}, 0, {q: nan for q in quantiles}
        )
    actual = np.array([r[0] for r in rows])
    mean = np.array([r[1] for r in rows])
    err = np.abs(actual - mean)
    denom = np.abs(actual) + np.abs(mean)
    smape = float(np.mean(np.where(denom > 0, 200.0 * err / np.where(denom > 0, denom, 1.0), 0.0)))
    scale = np.array([r[3] for r in rows])
    scaled = np.isfinite(scale) & (scale > 0)  # an origin whose history never changed has no scale
    ok = bool(scaled.any())
    coverage, by_quantile = {}, {}
    for q in quantiles:
        qv = np.array([r[2][q] for r in rows])
        diff = actual - qv
        loss = np.maximum(q * diff, (q - 1) * diff)
        by_quantile[q] = float(np.mean(loss[scaled] / scale[scaled])) if ok else math.nan
        coverage[q] = float(np.mean(actual <= qv))
    return HorizonScore(
        model=model,
        horizon_steps=h,
        horizon_s=horizon_s,
        mase=float(np.mean(err[scaled] / scale[scaled])) if ok else math.nan,
        smape=smape,
        pinball=float(np.mean(list(by_quantile.values()))),
        coverage=coverage,
        points=len(rows),
        pinball_by_quantile=by_quantile,
        scaled_errors=err[scaled] / scale[scaled],
    )


def ratio_interval(
    ours: FloatArray, theirs: FloatArray, block: int, draws: int = 2000, level: float = 0.95, seed: int = 0
) -> tuple[float, float]:
    """Bootstrap interval of mean(ours) / mean(theirs) over the same origins (moving blocks).

    Errors at neighbouring origins share most of their target window, so origins are
    resampled in blocks of ``block`` (the horizon in steps) to keep that dependence; the
    pairing removes what both models find hard. A 1-4 % MASE gap on ~100 origins of a
    bursty series is often inside this interval, which is why the benchmark prints it.
    """
    a, b = np.asarray(ours, dtype=np.float64), np.asarray(theirs, dtype=np.float64)
    if a.shape != b.shape or a.size == 0:
        raise ValueError(f"need two equal, non-empty error arrays, got {a.shape} and {b.shape}")
    n, block = a.size, max(1, min(block, a.size))
    starts = np.random.default_rng(seed).integers(0, n - block + 1, size=(draws, -(-n // block)))
    idx = (starts[:, :, None] + np.arange(block)).reshape(draws, -1)[:, :n]
    with np.errstate(invalid="ignore", divide="ignore"):
        ratios = a[idx].mean(axis=1) / b[idx].mean(axis=1)
    tail = (1.0 - level) / 2.0
    low, high = np.nanquantile(ratios, [tail, 1.0 - tail])
    return float(low), float(high)
