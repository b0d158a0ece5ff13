"""A daily profile at coarse resolution, scaled to today's level.

LLM traffic repeats its day: the morning ramp and the after-lunch step come at
about the same time every day. A per-step seasonal model at a 10 s step keeps
one noisy sample per slot and learns little from one day, so this model keeps
the day in coarse slots (5 minutes by default), each the mean of a day's visit, smoothed across
days, and forecasts ``profile(slot ahead) x level ratio``, where the ratio
compares recent demand with what the profile said before today's visit.
That is what lets a forecast see a step that came at the same time yesterday
before it arrives. Update and memory are O(1) in the history length.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from predictors.base import DEFAULT_QUANTILES, Predictor
from predictors.forecast import FloatArray
from predictors.residuals import DEFAULT_RESIDUAL_WINDOW

#: The level ratio is bounded: a day twice as busy is scaled, a profile slot near zero is not
#: allowed to turn noise into a hundredfold forecast.
RATIO_BOUNDS = (0.2, 5.0)


class DailyProfile(Predictor):
    """Coarse daily profile (exponentially smoothed across days) times a recent level ratio."""

    name = "daily_profile"
    _ready: bool

    def __init__(
        self,
        step_s: float,
        max_horizon: int = 60,
        quantiles: Sequence[float] = DEFAULT_QUANTILES,
        residual_window: int = DEFAULT_RESIDUAL_WINDOW,
        season_s: float = 86_400.0,
        slot_s: float = 300.0,
        day_weight: float = 0.5,
        level_alpha: float = 0.05,
    ) -> None:
        slot = max(step_s, slot_s)
        self.slots = round(season_s / slot)
        if self.slots < 2:
            raise ValueError(f"season_s ({season_s}) must span at least 2 slots of {slot} s")
        if not 0.0 < day_weight <= 1.0:
            raise ValueError(f"day_weight must be in (0, 1], got {day_weight}")
        if not 0.0 < level_alpha <= 1.0:
            raise ValueError(f"level_alpha must be in (0, 1], got {level_alpha}")
        self.steps_per_slot = max(1, round(slot / step_s))
        self.day_weight, self.level_alpha = day_weight, level_alpha
        super().__init__(step_s, max_horizon, quantiles, residual_window)

    @property
    def ready(self) -> bool:
        if not self._ready:  # checked once per step until true, then never again
            self._ready = bool(self._merged.all())
        return self._ready

    def _reset_model(self) -> None:
        self._profile = np.zeros(self.slots)
        self._merged = np.zeros(self.slots, dtype=bool)  # the slot has a whole visit in the profile
        self._seen = 0  # steps since the start, gaps included: the phase of the day
        self._ready = False
        self._visit_slot = -1  # the slot being visited now; its profile value is frozen until the visit ends
        self._visit_sum = 0.0
        self._visit_count = 0
        self._recent = 0.0  # smoothed demand
        self._expected = 0.0  # the same smoothing of what the profile said for those steps
        self._offsets = np.arange(1, self.max_horizon + 1)

    def _slot(self, step: int) -> int:
        return (step // self.steps_per_slot) % self.slots

    def learn(self, value: float) -> None:
        slot = self._slot(self._seen)
        if slot != self._visit_slot:
            self._close_visit()
            self._visit_slot = slot
        self._seen += 1
        super().learn(value)

    def _close_visit(self) -> None:
        """Merge a finished visit into its slot, once: the profile moves a day at a time."""
        slot = self._visit_slot
        if slot < 0 or self._visit_count == 0:
            return
        mean = self._visit_sum / self._visit_count
        if self._merged[slot]:
            self._profile[slot] += self.day_weight * (mean - self._profile[slot])
        else:
            self._profile[slot], self._merged[slot] = mean, True
        self._visit_sum, self._visit_count = 0.0, 0

    def _observe(self, value: float) -> None:
        slot = self._visit_slot
        if self._merged[slot]:  # compare today with what the profile said before today's visit
            self._recent += self.level_alpha * (value - self._recent)
            self._expected += self.level_alpha * (float(self._profile[slot]) - self._expected)
        self._visit_sum += value
        self._visit_count += 1

    def _ratio(self) -> float:
        if self._expected <= 0.0:
            return 1.0
        low, high = RATIO_BOUNDS
        return min(high, max(low, self._recent / self._expected))

    def _history_shortfall(self) -> str:
        return f"{int(self._merged.sum())} of {self.slots} slots of one day seen"

    def _point(self, steps: int) -> FloatArray:
        ahead = (self._seen - 1 + self._offsets[:steps]) // self.steps_per_slot % self.slots
        return np.asarray(self._profile[ahead] * self._ratio())
