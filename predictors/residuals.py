"""Per-horizon residual memory: empirical forecast-error quantiles in bounded memory.

Every update scores the point forecasts made 1..H steps ago against the new
observation, so the quantile band of horizon ``h`` is learned from the model's
own ``h``-step errors (an online split-conformal band). Errors are kept at a few
*anchor* horizons only (1, 2, 3, 4, 6, 8, 12, ... doubling, and H), and a horizon
between two anchors interpolates theirs: errors change smoothly with the horizon,
and keeping all H rings cost ~2.5 MiB per workload at the scaler's 120 steps
(issue 28's budget is 0.5 MiB), the anchors ~0.2 MiB. Memory is a fixed ring per
anchor; an update is O(anchors), independent of the history length. Quantiles
are recomputed lazily, at most once every ``refresh_every`` scored updates,
because one new error barely moves a quantile of the window's hundreds of samples; the
assembled bands are cached until then, so a forecast costs a dictionary lookup.
"""

from __future__ import annotations

import functools
import math
from collections.abc import Sequence
from dataclasses import dataclass
from statistics import NormalDist
from typing import Any

import numpy as np

from predictors.forecast import FloatArray

IntArray = np.ndarray[Any, np.dtype[np.int64]]

_STANDARD_NORMAL = NormalDist()
MIN_ERRORS = 8
#: Errors remembered per horizon, by every model's bands and by the combination's member weights.
DEFAULT_RESIDUAL_WINDOW = 256


def anchor_horizons(max_horizon: int) -> tuple[int, ...]:
    """Horizons (1-based) whose errors are kept: 1 to 4, then each power of two and one and a half times it,
    and H itself (14 anchors at H = 120)."""
    out = {1, 2, 3, 4, max_horizon}
    h = 4
    while h < max_horizon:
        out.update((h, h + h // 2))
        h *= 2
    return tuple(sorted(x for x in out if x <= max_horizon))


@dataclass(frozen=True)
class _Anchors:
    """Where the anchors are and how each horizon 1..H is interpolated from them (shared, read-only)."""

    steps: IntArray  # 0-based steps of the anchors
    low: IntArray  # per horizon: the anchor at or below it
    high: IntArray  # per horizon: the anchor at or above it
    weight: FloatArray  # per horizon: the share of ``high`` in the interpolation
    due: IntArray  # per head position, per member, per anchor: flat index of the path entry now due


@functools.cache
def _anchors(max_horizon: int, members: int) -> _Anchors:
    """The interpolation table and, for each head position of a (members, H, anchors) ring of paths, the
    flat indices of the entries that predict the next observation (the path made k+1 updates ago, at its
    step k). Made once per shape and shared read-only by every ring of that shape."""
    anchors = np.array(anchor_horizons(max_horizon)) - 1
    count = anchors.size
    horizons = np.arange(max_horizon)
    high = np.searchsorted(anchors, horizons)
    low = np.where(anchors[high] == horizons, high, high - 1)
    span = anchors[high] - anchors[low]
    weight = np.where(span > 0, (horizons - anchors[low]) / np.maximum(span, 1), 0.0)
    rows = np.array([(head - anchors) % max_horizon for head in range(max_horizon)])  # (H, anchors)
    diagonal = rows * count + np.arange(count)
    due = diagonal[:, None, :] + (np.arange(members) * max_horizon * count)[None, :, None]
    for array in (anchors, low, high, weight, due):
        array.setflags(write=False)
    return _Anchors(anchors, low, high, weight, due)


def _interpolate(at_anchors: FloatArray, table: _Anchors) -> FloatArray:
    """Values at anchors (last axis) to values at every horizon 1..H, linear between anchors."""
    low, high = at_anchors[..., table.low], at_anchors[..., table.high]
    return np.asarray(low + (high - low) * table.weight)


class _PendingPaths:
    """The anchor entries of the last H forecast paths of ``paths`` models, waiting for the observation
    each predicted: the one ring the bands, the members' weights and the guard's race all score from."""

    def __init__(self, paths: int, max_horizon: int) -> None:
        self.max_horizon = max_horizon
        self.table = _anchors(max_horizon, paths)
        self._pending = np.full((paths, max_horizon, self.table.steps.size), np.nan)
        self._flat = self._pending.reshape(-1)
        self._head = 0
        self.pushed = 0

    def due(self) -> FloatArray:
        """(paths, anchors): what the paths made 1..H updates ago predicted for the observation now."""
        due: FloatArray = self._flat.take(self.table.due[self._head])
        return due

    def push(self, paths: FloatArray) -> None:
        """Remember ``paths`` (paths x steps), made now; anchors past a shorter path are never scored."""
        self._head = (self._head + 1) % self.max_horizon
        self.pushed += 1
        steps = self.table.steps
        if paths.shape[-1] >= self.max_horizon:
            self._pending[:, self._head, :] = paths[:, steps]
            return
        row = self._pending[:, self._head, :]
        row[:] = np.nan
        short = steps < paths.shape[-1]
        row[:, short] = paths[:, steps[short]]


class ResidualBands:
    """Ring buffers of signed errors ``actual - forecast`` at the anchor horizons."""

    def __init__(self, max_horizon: int, window: int = DEFAULT_RESIDUAL_WINDOW, refresh_every: int = 32) -> None:
        if max_horizon < 1:
            raise ValueError(f"max_horizon must be >= 1, got {max_horizon}")
        self.max_horizon = max_horizon
        self.window = window
        self.refresh_every = refresh_every
        self._ring = _PendingPaths(1, max_horizon)
        self._table = self._ring.table
        count = self._table.steps.size
        self._errors = np.zeros((count, window))
        self._counts = np.zeros(count, dtype=np.int64)
        self._slots = np.arange(count)
        self._cache: dict[tuple[float, ...], FloatArray] = {}
        self._bands: dict[tuple[int, tuple[float, ...]], dict[float, FloatArray]] = {}
        self._scored_since_refresh = 0
        self._scale_seen = -1.0

    def score_and_push(self, actual: float, path: FloatArray) -> None:
        """Score earlier forecasts against ``actual``, then remember ``path`` (made now)."""
        if math.isfinite(actual) and self._ring.pushed:
            predicted = self._ring.due()[0]
            if self._ring.pushed >= self.max_horizon and math.isfinite(predicted.sum()):
                # warm: every anchor has a forecast to score (the common case)
                self._errors[self._slots, self._counts % self.window] = actual - predicted
                self._counts += 1
            else:
                scored = np.nonzero(np.isfinite(predicted))[0]
                self._errors[scored, self._counts[scored] % self.window] = actual - predicted[scored]
                self._counts[scored] += 1
            self._scored_since_refresh += 1
        self._ring.push(path[None, :])

    def count(self, horizon: int) -> int:
        """Errors scored at the anchor at or below ``horizon``."""
        anchor = int(self._table.low[min(horizon, self.max_horizon) - 1])
        return int(min(self._counts[anchor], self.window))

    def _learned(self, probs: tuple[float, ...]) -> FloatArray:
        """Matrix (len(probs), anchors) of error quantiles; NaN where an anchor has too few errors."""
        cached = self._cache.get(probs)
        if cached is not None and self._scored_since_refresh < self.refresh_every:
            return cached
        out = np.full((len(probs), self._counts.size), np.nan)
        filled = np.minimum(self._counts, self.window)
        full = filled >= self.window
        if full.any():
            out[:, full] = np.quantile(self._errors[full], probs, axis=1)
        for a in np.nonzero((filled >= MIN_ERRORS) & ~full)[0]:
            out[:, a] = np.quantile(self._errors[a, : filled[a]], probs)
        self._cache = {probs: out}
        self._bands = {}
        self._scored_since_refresh = 0
        return out

    def quantiles(self, steps: int, probs: Sequence[float], scale: float) -> dict[float, FloatArray]:
        """Error quantiles for horizons 1..steps (beyond H: those of H).

        An anchor with fewer than 8 scored errors borrows the nearest learned anchor below it, or a
        Gaussian guess of ``scale * sqrt(h)`` when none has been learned yet; horizons between anchors
        interpolate.
        """
        key = tuple(probs)
        learned = self._learned(key)
        if scale != self._scale_seen and np.isnan(learned).any():
            self._bands, self._scale_seen = {}, scale  # the Gaussian guess depends on the scale
        cached = self._bands.get((steps, key))
        if cached is not None:
            return cached
        anchors = self._table.steps
        valid = ~np.isnan(learned[0])
        last_learned = np.maximum.accumulate(np.where(valid, np.arange(anchors.size), -1))
        horizons = np.minimum(np.arange(steps), self.max_horizon - 1)
        out: dict[float, FloatArray] = {}
        for i, p in enumerate(key):
            row = learned[i]
            if not valid.all():
                guess = _STANDARD_NORMAL.inv_cdf(p) * scale * np.sqrt(anchors + 1.0)
                row = np.where(last_learned >= 0, row[np.maximum(last_learned, 0)], guess)
            out[p] = _interpolate(row, self._table)[horizons]
        self._bands[(steps, key)] = out
        return out


class MemberErrors:
    """Absolute errors of several models' paths at the anchor horizons, scored together in one pass.

    The same ring as :class:`ResidualBands`, with one path per member: a combination scores all its
    members with one ``take`` instead of one call per member.
    """

    def __init__(self, members: int, max_horizon: int, window: int = DEFAULT_RESIDUAL_WINDOW) -> None:
        self.members, self.max_horizon, self.window = members, max_horizon, window
        self._ring = _PendingPaths(members, max_horizon)
        self._table = self._ring.table
        count = self._table.steps.size
        # float32: a mean of hundreds of errors needs no more, and it halves the largest array per workload
        self._abs = np.zeros((members, count, window), dtype=np.float32)
        self._counts = np.zeros(count, dtype=np.int64)
        self._slots = np.arange(count)

    def score_and_push(self, actual: float, paths: FloatArray) -> None:
        """Score every member's earlier paths against ``actual``; remember ``paths`` (members x H)."""
        if math.isfinite(actual) and self._ring.pushed:
            predicted = self._ring.due()  # (members, anchors)
            ok = np.isfinite(predicted).all(axis=0)
            slots = self._counts % self.window
            if ok.all():
                self._abs[:, self._slots, slots] = np.abs(actual - predicted)
                self._counts += 1
            else:
                scored = np.nonzero(ok)[0]
                self._abs[:, scored, slots[scored]] = np.abs(actual - predicted[:, scored])
                self._counts[scored] += 1
        self._ring.push(paths)

    def mean_abs_errors(self) -> FloatArray:
        """(members, H) mean absolute errors; NaN where a horizon's anchors have too few scored errors."""
        filled = np.minimum(self._counts, self.window)
        total = self._abs.sum(axis=2, dtype=np.float64)
        with np.errstate(invalid="ignore", divide="ignore"):
            at_anchors = np.where(filled >= MIN_ERRORS, total / np.maximum(filled, 1), np.nan)
        return _interpolate(np.asarray(at_anchors, dtype=np.float64), self._table)


class SmoothedErrors:
    """Exponentially weighted mean absolute errors of a few paths at the anchor horizons.

    For a choice that must remember further back than the band's window: whether the daily profile's
    guard helps is settled by days of errors, not by the last quiet hour's (which always favour
    persistence). Memory is the ring of pending paths plus one running mean per path and anchor.
    """

    def __init__(self, paths: int, max_horizon: int, halflife_steps: float) -> None:
        if halflife_steps <= 0:
            raise ValueError(f"halflife_steps must be > 0, got {halflife_steps}")
        self.max_horizon = max_horizon
        self._alpha = 1.0 - 0.5 ** (1.0 / halflife_steps)
        self._ring = _PendingPaths(paths, max_horizon)
        self._table = self._ring.table
        count = self._table.steps.size
        self._mean = np.zeros((paths, count))
        self._weight = np.zeros(count)  # how much of the running mean is data rather than its zero start

    def score_and_push(self, actual: float, paths: FloatArray) -> None:
        """Score the paths made 1..H updates ago against ``actual``; remember ``paths`` (paths x H)."""
        if math.isfinite(actual):
            predicted = self._ring.due()  # (paths, anchors)
            if math.isfinite(predicted.sum()):  # warm: every anchor has a forecast to score (the common case)
                change = np.abs(actual - predicted)
                change -= self._mean
                change *= self._alpha
                self._mean += change
                self._weight *= 1.0 - self._alpha
                self._weight += self._alpha
            else:
                ok = np.isfinite(predicted).all(axis=0)
                step = np.where(ok, self._alpha, 0.0)
                self._mean += step * (np.abs(actual - np.where(ok, predicted, actual)) - self._mean)
                self._weight += step * (1.0 - self._weight)
        self._ring.push(paths)

    def mean_abs_errors(self) -> FloatArray:
        """(paths, H) weighted mean absolute errors; NaN at horizons whose anchors have scored nothing."""
        with np.errstate(invalid="ignore", divide="ignore"):
            at_anchors = np.where(self._weight > 0, self._mean / self._weight, np.nan)
        return _interpolate(np.asarray(at_anchors, dtype=np.float64), self._table)
