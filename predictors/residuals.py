"""Per-horizon residual memory: empirical forecast-error quantiles in bounded memory.

Every update scores the point forecasts made 1..H steps ago against the new
observation, so the quantile band of horizon ``h`` is learned from the model's
own ``h``-step errors (an online split-conformal band). Memory is a fixed ring
per horizon; an update is O(H), independent of the history length. Quantiles
are recomputed lazily, at most once every ``refresh_every`` scored updates,
because one new error barely moves a quantile of the window's hundreds of samples; the
assembled bands are cached until then, so a forecast costs a dictionary lookup.
"""

from __future__ import annotations

import functools
import math
from collections.abc import Sequence
from statistics import NormalDist
from typing import Any

import numpy as np

from predictors.forecast import FloatArray

IntArray = np.ndarray[Any, np.dtype[np.int64]]

_STANDARD_NORMAL = NormalDist()
MIN_ERRORS = 8
#: Errors remembered per horizon, by every model's bands and by the combination's member weights.
DEFAULT_RESIDUAL_WINDOW = 256


@functools.cache
def _due_indices(max_horizon: int, members: int) -> IntArray:
    """Flat indices into a (members, H, H) ring of paths of the entries that predict the next observation,
    for each head position: shape (H, members, H). The same for every ring of one shape, so it is made once
    and shared read-only (it was ~0.1 MB per ring, several rings per workload)."""
    steps = np.arange(max_horizon)
    diagonal = np.array([((head - steps) % max_horizon) * max_horizon + steps for head in range(max_horizon)])
    due = diagonal[:, None, :] + (np.arange(members) * max_horizon * max_horizon)[None, :, None]
    due.setflags(write=False)
    return due


class ResidualBands:
    """Ring buffers of signed errors ``actual - forecast`` for horizons 1..H."""

    def __init__(self, max_horizon: int, window: int = DEFAULT_RESIDUAL_WINDOW, refresh_every: int = 32) -> None:
        if max_horizon < 1:
            raise ValueError(f"max_horizon must be >= 1, got {max_horizon}")
        self.max_horizon = max_horizon
        self.window = window
        self.refresh_every = refresh_every
        self._errors = np.zeros((max_horizon, window))
        self._counts = np.zeros(max_horizon, dtype=np.int64)
        self._steps = np.arange(max_horizon)
        # Ring of the last H forecast paths; row ``_head`` is the newest. For each head position,
        # the flat indices of the entries that predict the next observation (the path made k+1
        # updates ago, at its step k) are precomputed: one ``take`` per update.
        self._pending = np.full((max_horizon, max_horizon), np.nan)
        self._flat = self._pending.reshape(-1)
        self._due = _due_indices(max_horizon, 1)[:, 0, :]
        self._head = 0
        self._pushed = 0
        self._cache: dict[tuple[float, ...], FloatArray] = {}
        self._bands: dict[tuple[int, tuple[float, ...]], dict[float, FloatArray]] = {}
        self._scored_since_refresh = 0
        self._scale_seen = -1.0

    def score_and_push(self, actual: float, path: FloatArray) -> None:
        """Score earlier forecasts against ``actual``, then remember ``path`` (made now)."""
        if math.isfinite(actual) and self._pushed:
            predicted = self._flat.take(self._due[self._head])
            if self._pushed >= self.max_horizon and math.isfinite(predicted.sum()):
                # warm: every horizon has a forecast to score (the common case)
                slots = self._counts % self.window
                self._errors[self._steps, slots] = actual - predicted
                self._counts += 1
            else:
                horizons = np.nonzero(np.isfinite(predicted))[0]
                slots = self._counts[horizons] % self.window
                self._errors[horizons, slots] = actual - predicted[horizons]
                self._counts[horizons] += 1
            self._scored_since_refresh += 1
        self._head = (self._head + 1) % self.max_horizon
        self._pushed += 1
        row = self._pending[self._head]
        n = min(self.max_horizon, path.shape[0])
        row[:n] = path[:n]
        if n < self.max_horizon:
            row[n:] = np.nan

    def count(self, horizon: int) -> int:
        return int(min(self._counts[horizon - 1], self.window))

    def _learned(self, probs: tuple[float, ...]) -> FloatArray:
        """Matrix (len(probs), H) of error quantiles; NaN where a horizon has too few errors."""
        cached = self._cache.get(probs)
        if cached is not None and self._scored_since_refresh < self.refresh_every:
            return cached
        out = np.full((len(probs), self.max_horizon), np.nan)
        filled = np.minimum(self._counts, self.window)
        full = filled >= self.window
        if full.any():
            out[:, full] = np.quantile(self._errors[full], probs, axis=1)
        for h in np.nonzero((filled >= MIN_ERRORS) & ~full)[0]:
            out[:, h] = np.quantile(self._errors[h, : filled[h]], probs)
        self._cache = {probs: out}
        self._bands = {}
        self._scored_since_refresh = 0
        return out

    def quantiles(self, steps: int, probs: Sequence[float], scale: float) -> dict[float, FloatArray]:
        """Error quantiles for horizons 1..steps.

        A horizon with fewer than 8 scored errors borrows the nearest learned
        horizon below it, or a Gaussian guess of ``scale * sqrt(h)`` when none
        has been learned yet.
        """
        key = tuple(probs)
        learned = self._learned(key)
        if scale != self._scale_seen and np.isnan(learned[:, : min(steps, self.max_horizon)]).any():
            self._bands, self._scale_seen = {}, scale  # the Gaussian guess depends on the scale
        cached = self._bands.get((steps, key))
        if cached is not None:
            return cached
        horizons = np.minimum(np.arange(steps), self.max_horizon - 1)
        out: dict[float, FloatArray] = {}
        for i, p in enumerate(key):
            row = learned[i, horizons]
            if np.isnan(row).any():
                guess = _STANDARD_NORMAL.inv_cdf(p) * scale * np.sqrt(horizons + 1.0)
                # forward-fill learned values; before the first learned one, the guess
                valid = ~np.isnan(row)
                idx = np.where(valid, np.arange(steps), -1)
                np.maximum.accumulate(idx, out=idx)
                row = np.where(idx >= 0, row[np.maximum(idx, 0)], guess)
            out[p] = row
        self._bands[(steps, key)] = out
        return out


class MemberErrors:
    """Per-horizon absolute errors of several models' paths, scored together in one pass.

    The same ring as :class:`ResidualBands`, with a leading member axis: a combination
    scores all its members with one ``take`` instead of one call per member.
    """

    def __init__(self, members: int, max_horizon: int, window: int = DEFAULT_RESIDUAL_WINDOW) -> None:
        self.members, self.max_horizon, self.window = members, max_horizon, window
        self._abs = np.zeros((members, max_horizon, window))
        self._counts = np.zeros(max_horizon, dtype=np.int64)
        self._steps = np.arange(max_horizon)
        self._pending = np.full((members, max_horizon, max_horizon), np.nan)
        self._due = _due_indices(max_horizon, members)
        self._flat = self._pending.reshape(-1)
        self._head = 0
        self._pushed = 0

    def score_and_push(self, actual: float, paths: FloatArray) -> None:
        """Score every member's earlier paths against ``actual``; remember ``paths`` (members x H)."""
        if math.isfinite(actual) and self._pushed:
            predicted = self._flat.take(self._due[self._head])  # (members, H)
            ok = np.isfinite(predicted).all(axis=0)
            slots = self._counts % self.window
            if ok.all():
                self._abs[:, self._steps, slots] = np.abs(actual - predicted)
                self._counts += 1
            else:
                horizons = np.nonzero(ok)[0]
                self._abs[:, horizons, slots[horizons]] = np.abs(actual - predicted[:, horizons])
                self._counts[horizons] += 1
        self._head = (self._head + 1) % self.max_horizon
        self._pushed += 1
        self._pending[:, self._head, :] = paths

    def mean_abs_errors(self) -> FloatArray:
        """(members, H) mean absolute errors; NaN where a horizon has too few scored errors."""
        filled = np.minimum(self._counts, self.window)
        total = self._abs.sum(axis=2)
        with np.errstate(invalid="ignore", divide="ignore"):
            out = np.where(filled >= MIN_ERRORS, total / np.maximum(filled, 1), np.nan)
        return np.asarray(out, dtype=np.float64)
