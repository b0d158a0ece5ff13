"""The protocol every forecasting model follows, and the shared machinery behind it.

A model keeps O(1) state, learns from one observation at a time (``update``),
and forecasts a path with quantile bands taken from its own past errors.
``fit`` is only a reset followed by ``update`` on each value, so a model fitted
on a history and one fed the same values live are identical by construction.
"""

from __future__ import annotations

import math
from abc import ABC, abstractmethod
from collections.abc import Iterable, Sequence
from typing import ClassVar

import numpy as np

from predictors.forecast import FloatArray, Forecast
from predictors.residuals import DEFAULT_RESIDUAL_WINDOW, ResidualBands

DEFAULT_QUANTILES: tuple[float, ...] = (0.5, 0.9, 0.95)


class Predictor(ABC):
    """A univariate forecaster on a fixed step (the caller resamples to it)."""

    name: ClassVar[str]
    #: Observations needed before the model's own point forecast is used.
    min_history: ClassVar[int] = 1

    def __init__(
        self,
        step_s: float,
        max_horizon: int = 60,
        quantiles: Sequence[float] = DEFAULT_QUANTILES,
        residual_window: int = DEFAULT_RESIDUAL_WINDOW,
    ) -> None:
        if step_s <= 0:
            raise ValueError(f"step_s must be > 0, got {step_s}")
        if any(not 0.0 < q < 1.0 for q in quantiles):
            raise ValueError(f"quantiles must be in (0, 1), got {list(quantiles)}")
        self.step_s = float(step_s)
        self.max_horizon = int(max_horizon)
        self.quantile_probs = tuple(sorted(set(quantiles)))
        self._residual_window = residual_window
        self.reset()

    # --- model-specific hooks -------------------------------------------------
    @abstractmethod
    def _reset_model(self) -> None:
        """Forget everything the model has learned."""

    @abstractmethod
    def _observe(self, value: float) -> None:
        """Learn from one finite observation."""

    @abstractmethod
    def _point(self, steps: int) -> FloatArray:
        """Point forecast for 1..steps ahead (only called once ``min_history`` is reached)."""

    # --- shared behaviour -----------------------------------------------------
    def reset(self) -> None:
        self.observations = 0
        self.last_value = math.nan
        self._scale = 0.0
        self._bands_ring: ResidualBands | None = None  # made on first use: a combination's members never score
        self._reset_model()

    @property
    def _bands(self) -> ResidualBands:
        """The model's own error rings (~0.4 MB at 120 steps): allocated only by a model that is scored itself,
        never by the members of a combination, which only ``learn``."""
        if self._bands_ring is None:
            self._bands_ring = ResidualBands(self.max_horizon, self._residual_window)
        return self._bands_ring

    def fit(self, history: Iterable[float]) -> None:
        """Reset, then learn from ``history`` in order (NaN marks a gap)."""
        self.reset()
        for value in history:
            self.update(float(value))

    def learn(self, value: float) -> None:
        """Update the model's state only (no error scoring): what a combination's members do."""
        if math.isfinite(value):
            if math.isfinite(self.last_value):
                # Robust running scale of step-to-step change: the band before errors are learned.
                self._scale += 0.05 * (abs(value - self.last_value) - self._scale)
            self.last_value = value
            self.observations += 1
            self._observe(value)

    def update(self, value: float) -> None:
        """Learn from the next observation; NaN or inf is a gap that only advances time."""
        self.learn(value)
        path = self._path(self.max_horizon)[0]
        self._bands.score_and_push(value, path)

    def forecast(self, steps: int) -> Forecast:
        """Forecast ``steps`` future steps with the configured quantiles (never NaN, never < 0)."""
        if steps < 1:
            raise ValueError(f"steps must be >= 1, got {steps}")
        point, notes = self._path(steps)
        errors = self._bands.quantiles(steps, self.quantile_probs, self._scale)
        quantiles: dict[float, FloatArray] = {}
        floor = np.zeros(steps)
        for p in self.quantile_probs:
            band = np.maximum(point + errors[p], floor)
            floor = band  # keeps quantile paths ordered in p
            quantiles[p] = band
        if self._bands.count(1) < 8:
            notes = (*notes, f"few scored errors ({self._bands.count(1)}): quantile band is a Gaussian guess")
        return Forecast(step_s=self.step_s, mean=point, quantiles=quantiles, model=self.name, notes=notes)

    @property
    def ready(self) -> bool:
        """True once the model forecasts with its own method (no short-history fallback)."""
        return self.observations >= self.min_history

    def _path(self, steps: int) -> tuple[FloatArray, tuple[str, ...]]:
        point, notes = self._raw_path(steps)
        if not math.isfinite(point.sum()):
            return np.full(steps, self.last_value), (f"{self.name} produced a non-finite path: using last value",)
        return np.maximum(point, 0.0), notes

    def _raw_path(self, steps: int) -> tuple[FloatArray, tuple[str, ...]]:
        """The model's path or its short-history fallback, before the finite check and the clip at 0.

        Models with their own fallback override this; a combination calls it on every member and
        checks and clips all members' paths in one vectorised step.
        """
        if self.observations == 0:
            return np.zeros(steps), ("no history: forecasting 0",)
        if not self.ready:
            return np.full(steps, self.last_value), (f"short history ({self._history_shortfall()}): using last value",)
        return np.asarray(self._point(steps), dtype=np.float64), ()

    def _history_shortfall(self) -> str:
        """What the model still lacks before ``ready``, in its own units (for the fallback note)."""
        return f"{self.observations} < {self.min_history} points"
