"""Irregular samples onto the fixed step forecasters expect: mean per step, NaN for empty steps."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from predictors.forecast import FloatArray


def resample(
    times_s: Sequence[float] | FloatArray,
    values: Sequence[float] | FloatArray,
    step_s: float,
    start_s: float | None = None,
    end_s: float | None = None,
) -> tuple[FloatArray, FloatArray]:
    """Bin ``(time, value)`` samples into steps of ``step_s`` starting at ``start_s``.

    Returns (step start times, mean value per step). Steps with no finite sample are NaN:
    a gap, which models treat as "time passed, nothing observed", never as zero.
    """
    if step_s <= 0:
        raise ValueError(f"step_s must be > 0, got {step_s}")
    t = np.asarray(times_s, dtype=np.float64)
    v = np.asarray(values, dtype=np.float64)
    if t.shape != v.shape:
        raise ValueError(f"times and values differ in length: {t.shape[0]} vs {v.shape[0]}")
    ok = np.isfinite(t) & np.isfinite(v)
    t, v = t[ok], v[ok]
    first = (float(t.min()) if t.size else 0.0) if start_s is None else start_s
    last = (float(t.max()) if t.size else first) if end_s is None else end_s
    bins = max(1, int(np.floor((last - first) / step_s)) + 1)
    grid = (first + step_s * np.arange(bins)).astype(np.float64)
    idx = np.floor((t - first) / step_s).astype(np.int64)
    keep = (idx >= 0) & (idx < bins)
    sums = np.bincount(idx[keep], weights=v[keep], minlength=bins)
    counts = np.bincount(idx[keep], minlength=bins)
    with np.errstate(invalid="ignore", divide="ignore"):
        means = np.where(counts > 0, sums / np.maximum(counts, 1), np.nan).astype(np.float64)
    return grid, means
