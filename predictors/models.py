"""The forecasting models: last value, seasonal naive and damped-trend smoothing."""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np

from predictors.base import DEFAULT_QUANTILES, Predictor
from predictors.forecast import FloatArray


class LastValue(Predictor):
    """Tomorrow looks like now: the baseline every other model must beat."""

    name = "last_value"

    def _reset_model(self) -> None:
        pass

    def _observe(self, value: float) -> None:
        pass

    def _point(self, steps: int) -> FloatArray:
        return np.full(steps, self.last_value)


class DampedTrend(Predictor):
    """Holt's additive smoothing with a damped trend (Gardner & McKenzie).

    Damping keeps a burst's slope from being extrapolated over a 10-minute
    horizon; on bursty LLM traffic it is as accurate as ETS at a fraction of
    the cost, and each update is a handful of float operations.
    """

    name = "damped_trend"
    min_history = 3

    def __init__(
        self,
        step_s: float,
        max_horizon: int = 60,
        quantiles: Sequence[float] = DEFAULT_QUANTILES,
        residual_window: int = 256,
        alpha: float = 0.3,
        beta: float = 0.05,
        phi: float = 0.9,
    ) -> None:
        for key, value in (("alpha", alpha), ("beta", beta), ("phi", phi)):
            if not 0.0 < value <= 1.0:
                raise ValueError(f"{key} must be in (0, 1], got {value}")
        self.alpha, self.beta, self.phi = alpha, beta, phi
        super().__init__(step_s, max_horizon, quantiles, residual_window)

    def _reset_model(self) -> None:
        self._level = math.nan
        self._trend = 0.0

    def _observe(self, value: float) -> None:
        if math.isnan(self._level):
            self._level = value
            return
        previous = self._level
        self._level = self.alpha * value + (1 - self.alpha) * (previous + self.phi * self._trend)
        self._trend = self.beta * (self._level - previous) + (1 - self.beta) * self.phi * self._trend

    def _point(self, steps: int) -> FloatArray:
        damp = np.cumsum(self.phi ** np.arange(1, steps + 1))
        return self._level + damp * self._trend


class SeasonalNaive(Predictor):
    """The value one season ago (a day or a week at the caller's step)."""

    name = "seasonal_naive"

    def __init__(
        self,
        step_s: float,
        max_horizon: int = 60,
        quantiles: Sequence[float] = DEFAULT_QUANTILES,
        residual_window: int = 256,
        season_s: float = 86_400.0,
    ) -> None:
        period = round(season_s / step_s)
        if period < 2:
            raise ValueError(f"season_s ({season_s}) must span at least 2 steps of {step_s} s")
        self.period = period
        super().__init__(step_s, max_horizon, quantiles, residual_window)

    @property
    def min_history_points(self) -> int:
        return self.period

    def _reset_model(self) -> None:
        self._season = np.full(self.period, np.nan)
        self._seen = 0

    def update(self, value: float) -> None:
        # The seasonal ring advances on every step, gaps included, to stay phase-aligned.
        self._season[self._seen % self.period] = value if math.isfinite(value) else np.nan
        self._seen += 1
        super().update(value)

    def _observe(self, value: float) -> None:
        pass

    def _path(self, steps: int) -> tuple[FloatArray, tuple[str, ...]]:
        if self._seen < self.period and self.observations > 0:
            note = f"short history ({self._seen} < {self.period} steps of one season): using last value"
            return np.full(steps, self.last_value), (note,)
        return super()._path(steps)

    def _point(self, steps: int) -> FloatArray:
        idx = (self._seen + np.arange(steps)) % self.period
        path = self._season[idx]
        return np.where(np.isfinite(path), path, self.last_value)
