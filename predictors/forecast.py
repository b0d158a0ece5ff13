"""The typed result of a forecast: a mean path plus quantile paths over future steps."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field

import numpy as np
import numpy.typing as npt

FloatArray = npt.NDArray[np.float64]


@dataclass(frozen=True)
class Forecast:
    """Forecast of ``len(mean)`` future steps of ``step_s`` seconds each.

    ``quantiles`` maps a probability (e.g. 0.9) to a path of the same length as
    ``mean``; quantile paths are non-decreasing in the probability. ``notes``
    records every fallback taken (short history, failed fit), so a decision
    built on this forecast can say why it is less informed than usual.
    """

    step_s: float
    mean: FloatArray
    quantiles: Mapping[float, FloatArray]
    model: str
    notes: tuple[str, ...] = field(default=())

    @property
    def steps(self) -> int:
        return int(self.mean.shape[0])

    def index_for(self, horizon_s: float) -> int:
        """Index of the step that covers ``horizon_s`` seconds ahead (clipped to the path)."""
        if self.steps == 0:
            raise ValueError("forecast has no steps")
        idx = int(np.ceil(horizon_s / self.step_s - 1e-9)) - 1
        return min(max(idx, 0), self.steps - 1)

    def mean_at(self, horizon_s: float) -> float:
        return float(self.mean[self.index_for(horizon_s)])

    def peak_quantile(self, q: float, horizon_s: float) -> float:
        """Highest value of quantile ``q`` over every step up to the horizon: the most a path may need
        before anything started now could be ready."""
        return max(self._quantile_step(q, idx) for idx in range(self.index_for(horizon_s) + 1))

    def quantile_at(self, q: float, horizon_s: float) -> float:
        """Value of quantile ``q`` at the horizon; an unknown ``q`` is interpolated."""
        return self._quantile_step(q, self.index_for(horizon_s))

    def _quantile_step(self, q: float, idx: int) -> float:
        if q in self.quantiles:
            return float(self.quantiles[q][idx])
        probs = sorted(self.quantiles)
        if not probs:
            return float(self.mean[idx])
        values = [float(self.quantiles[p][idx]) for p in probs]
        return float(np.interp(q, probs, values))
