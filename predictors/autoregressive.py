"""An online autoregressive model: AR(p) with an intercept, fitted by recursive least squares.

On bursty request series the structure an ARIMA search finds is mostly partial
persistence around a slowly moving mean. Recursive least squares with a
forgetting factor learns those coefficients one observation at a time in
O(p²), with no refit and bounded memory. The h-step forecast of a linear AR is
linear in the last p values, so the map from state to the whole path is
rebuilt every few dozen updates (coefficients under slow forgetting barely move
between rebuilds) and a path then costs one matrix-vector product.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np

from predictors.base import DEFAULT_QUANTILES, Predictor
from predictors.forecast import FloatArray
from predictors.residuals import DEFAULT_RESIDUAL_WINDOW

#: Largest root modulus the forecast map may use: an explosive fit is shrunk to this, so a
#: 30-step path never runs away on a burst the coefficients have not yet absorbed.
MAX_ROOT = 0.98


class OnlineAutoregressive(Predictor):
    """AR(``order``) plus intercept, recursive least squares with exponential forgetting."""

    name = "autoregressive"

    def __init__(
        self,
        step_s: float,
        max_horizon: int = 60,
        quantiles: Sequence[float] = DEFAULT_QUANTILES,
        residual_window: int = DEFAULT_RESIDUAL_WINDOW,
        order: int = 3,
        forgetting: float = 0.999,
        refresh_every: int = 32,
    ) -> None:
        if order < 1:
            raise ValueError(f"order must be >= 1, got {order}")
        if not 0.9 <= forgetting <= 1.0:
            raise ValueError(f"forgetting must be in [0.9, 1], got {forgetting}")
        if refresh_every < 1:
            raise ValueError(f"refresh_every must be >= 1, got {refresh_every}")
        self.order, self.forgetting, self.refresh_every = order, forgetting, refresh_every
        super().__init__(step_s, max_horizon, quantiles, residual_window)

    @property
    def ready(self) -> bool:
        # Enough regressions for the coefficients to mean something (a few per parameter).
        return self._fitted >= 4 * (self.order + 1)

    def _reset_model(self) -> None:
        k = self.order + 1
        self._lags = np.zeros(self.order)  # newest first, in units of _unit
        self._seen_values = 0
        self._fitted = 0
        self._unit = 0.0  # fixed scale: the first non-zero magnitude, so the prior is scale-free
        self._theta = np.zeros(k)
        self._cov = np.eye(k) * 1e4
        self._features = np.ones(k)
        self._map = np.zeros((self.max_horizon, k))
        self._since_refresh = self.refresh_every  # the first forecast builds the map

    def _observe(self, value: float) -> None:
        if self._unit == 0.0:
            if value == 0.0:
                self._shift(0.0)
                return
            self._unit = abs(value)
        y = value / self._unit
        if self._seen_values >= self.order:
            self._regress(y)
        self._shift(y)

    def _shift(self, y: float) -> None:
        self._lags[1:] = self._lags[:-1]
        self._lags[0] = y
        self._seen_values += 1

    def _regress(self, y: float) -> None:
        x = self._features
        x[1:] = self._lags
        px = self._cov @ x
        gain = px / (self.forgetting + float(x @ px))
        self._theta += gain * (y - float(self._theta @ x))
        self._cov -= np.outer(gain, px)
        self._cov /= self.forgetting
        self._fitted += 1
        self._since_refresh += 1

    def _refresh_map(self) -> None:
        """Rows h of the path map: forecast h+1 steps ahead = row · [1, lags]."""
        self._since_refresh = 0
        coefficients = self._theta[1:].copy()
        # Sum |a| <= MAX_ROOT already bounds every root by MAX_ROOT; only then are roots needed.
        if float(np.abs(coefficients).sum()) > MAX_ROOT:
            largest = float(np.abs(np.roots(np.concatenate(([1.0], -coefficients)))).max())
            if largest > MAX_ROOT:
                coefficients *= (MAX_ROOT / largest) ** np.arange(1, self.order + 1)
        k = self.order + 1
        companion = np.zeros((k, k))
        companion[0, 0] = 1.0  # the intercept carries itself forward
        companion[1, 0] = self._theta[0]
        companion[1, 1:] = coefficients
        companion[2:, 1:-1] = np.eye(self.order - 1)
        row = companion[1].copy()
        for h in range(self.max_horizon):
            self._map[h] = row
            row = row @ companion

    def _history_shortfall(self) -> str:
        return f"{self._fitted} < {4 * (self.order + 1)} regressions"

    def _point(self, steps: int) -> FloatArray:
        if self._since_refresh >= self.refresh_every:
            self._refresh_map()
        self._features[1:] = self._lags
        path = self._map[:steps] @ self._features
        return np.asarray(path * self._unit if math.isfinite(self._unit) else path)
