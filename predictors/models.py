"""The forecasting models: last value, seasonal naive and damped-trend smoothing."""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np

from predictors.base import DEFAULT_QUANTILES, Predictor
from predictors.forecast import FloatArray
from predictors.residuals import DEFAULT_RESIDUAL_WINDOW


def season_steps(season_s: float, step_s: float) -> int:
    """Steps in one season; a season must span at least two steps."""
    period = round(season_s / step_s)
    if period < 2:
        raise ValueError(f"season_s ({season_s}) must span at least 2 steps of {step_s} s")
    return period


class LastValue(Predictor):
    """Tomorrow looks like now: the baseline every other model must beat."""

    name = "last_value"

    def _reset_model(self) -> None:
        pass

    def _observe(self, value: float) -> None:
        pass

    def _point(self, steps: int) -> FloatArray:
        return np.full(steps, self.last_value)


class DampedState:
    """Level and damped trend (Gardner & McKenzie), the arithmetic shared by the smoothing models."""

    def __init__(self, alpha: float, beta: float, phi: float) -> None:
        self.alpha, self.beta, self.phi = alpha, beta, phi
        self.level = math.nan
        self.trend = 0.0
        self.seen = 0
        self._damp: FloatArray = np.zeros(0)

    def observe(self, value: float) -> None:
        self.seen += 1
        if math.isnan(self.level):
            self.level = value
            return
        previous = self.level
        self.level = self.alpha * value + (1 - self.alpha) * (previous + self.phi * self.trend)
        self.trend = self.beta * (self.level - previous) + (1 - self.beta) * self.phi * self.trend

    def damping(self, steps: int) -> FloatArray:
        """phi + phi^2 + ... + phi^h for h = 1..steps (cached)."""
        if self._damp.shape[0] < steps:
            self._damp = np.cumsum(self.phi ** np.arange(1, steps + 1))
        return self._damp[:steps]

    def point(self, steps: int) -> FloatArray:
        return self.level + self.damping(steps) * self.trend


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
        residual_window: int = DEFAULT_RESIDUAL_WINDOW,
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
        self.state = DampedState(self.alpha, self.beta, self.phi)

    @property
    def _trend(self) -> float:
        return self.state.trend

    def _observe(self, value: float) -> None:
        self.state.observe(value)

    def _point(self, steps: int) -> FloatArray:
        return self.state.point(steps)


class SeasonalNaive(Predictor):
    """The value one season ago (a day or a week at the caller's step)."""

    name = "seasonal_naive"

    def __init__(
        self,
        step_s: float,
        max_horizon: int = 60,
        quantiles: Sequence[float] = DEFAULT_QUANTILES,
        residual_window: int = DEFAULT_RESIDUAL_WINDOW,
        season_s: float = 86_400.0,
    ) -> None:
        self.period = season_steps(season_s, step_s)
        super().__init__(step_s, max_horizon, quantiles, residual_window)

    @property
    def ready(self) -> bool:
        return self._seen >= self.period and self.observations > 0

    def _reset_model(self) -> None:
        self._season = np.full(self.period, np.nan)
        self._seen = 0

    def learn(self, value: float) -> None:
        # The seasonal ring advances on every step, gaps included, to stay phase-aligned.
        self._season[self._seen % self.period] = value if math.isfinite(value) else np.nan
        self._seen += 1
        super().learn(value)

    def _observe(self, value: float) -> None:
        pass

    def _history_shortfall(self) -> str:
        return f"{self._seen} < {self.period} steps of one season"

    def _point(self, steps: int) -> FloatArray:
        idx = (self._seen + np.arange(steps)) % self.period
        path = self._season[idx]
        return np.where(np.isfinite(path), path, self.last_value)


class SeasonalSmoothing(Predictor):
    """Additive Holt-Winters with a damped trend, updated online (one season of memory).

    Until a full season has been seen it forecasts like :class:`DampedTrend` and says so.
    """

    name = "seasonal_smoothing"

    def __init__(
        self,
        step_s: float,
        max_horizon: int = 60,
        quantiles: Sequence[float] = DEFAULT_QUANTILES,
        residual_window: int = DEFAULT_RESIDUAL_WINDOW,
        season_s: float = 86_400.0,
        alpha: float = 0.2,
        beta: float = 0.02,
        gamma: float = 0.15,
        phi: float = 0.9,
    ) -> None:
        self.period = season_steps(season_s, step_s)
        self.alpha, self.beta, self.gamma, self.phi = alpha, beta, gamma, phi
        super().__init__(step_s, max_horizon, quantiles, residual_window)

    @property
    def ready(self) -> bool:
        return self._initialised

    def _reset_model(self) -> None:
        self._seen = 0
        self._first = np.full(self.period, np.nan)
        self._season = np.zeros(self.period)
        self._initialised = False
        self._fallback = DampedState(0.3, 0.05, self.phi)  # until a full season is seen
        self._level = 0.0
        self._trend = 0.0

    def learn(self, value: float) -> None:
        slot = self._seen % self.period
        self._seen += 1
        self._slot = slot
        if math.isfinite(value):
            self._fallback.observe(value)
        if not self._initialised:
            if math.isfinite(value):
                self._first[slot] = value
            if self._seen == self.period:
                self._initialise()
        super().learn(value)

    def _initialise(self) -> None:
        known = np.isfinite(self._first)
        if known.sum() < self.period // 2:
            self._first = np.full(self.period, np.nan)  # too gappy: wait another season
            self._seen = 0
            return
        mean = float(np.nanmean(self._first))
        self._season = np.where(known, self._first - mean, 0.0)
        self._level, self._trend, self._initialised = mean, 0.0, True

    def _observe(self, value: float) -> None:
        if not self._initialised:
            return
        s = self._season[self._slot]
        previous = self._level
        self._level = self.alpha * (value - s) + (1 - self.alpha) * (previous + self.phi * self._trend)
        self._trend = self.beta * (self._level - previous) + (1 - self.beta) * self.phi * self._trend
        self._season[self._slot] = self.gamma * (value - self._level) + (1 - self.gamma) * s

    def _raw_path(self, steps: int) -> tuple[FloatArray, tuple[str, ...]]:
        if not self._initialised:
            if self.observations == 0:
                return np.zeros(steps), ("no history: forecasting 0",)
            note = f"short history ({self._seen} < {self.period} steps of one season): using damped trend"
            return np.maximum(self._fallback.point(steps), 0.0), (note,)
        return super()._raw_path(steps)

    def _point(self, steps: int) -> FloatArray:
        idx = (self._seen + np.arange(steps)) % self.period
        return self._level + self._fallback.damping(steps) * self._trend + self._season[idx]
