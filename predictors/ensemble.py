"""The default forecaster: an online combination of simple models, weighted per horizon.

Each member learns every observation; the weight of a member at horizon ``h`` is
its mean absolute ``h``-step error over the recent window to the power -8,
so last value dominates at short horizons on bursty traffic and the seasonal
model takes over at long horizons once it has seen a full cycle. Members still
in a short-history fallback get no weight. Quantiles come from the combination's
own errors (the base class), so coverage is measured, not assumed. The scaler's
default (``ProfileGuardedEnsemble``) also raises the forecast to the daily profile
at the horizons where doing so has been more accurate.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from predictors.autoregressive import OnlineAutoregressive
from predictors.base import DEFAULT_QUANTILES, Predictor
from predictors.daily_profile import DailyProfile
from predictors.forecast import FloatArray
from predictors.models import DampedTrend, LastValue, SeasonalSmoothing
from predictors.residuals import DEFAULT_RESIDUAL_WINDOW, MemberErrors, SmoothedErrors

#: Refresh member weights every this many updates (they move slowly).
REWEIGHT_EVERY = 8
#: Weight = MAE ** -WEIGHT_POWER: members' errors are highly correlated, so a soft selection of the
#: best member beats a blend (1/MAE^2 lost ~6 % MASE to the best member on Mooncake; see the closing
#: note of the forecasting issue for the sweep over 2, 4, 8, 16).
WEIGHT_POWER = 8
#: The profile guard is judged on errors with a half-life of a day, and of at least this many steps (on an
#: hourly series a day is 24 steps: too few errors to judge by).
GUARD_MIN_HALFLIFE_STEPS = 256


class OnlineEnsemble(Predictor):
    name = "ensemble"
    min_history = 1

    def __init__(
        self,
        step_s: float,
        max_horizon: int = 60,
        quantiles: Sequence[float] = DEFAULT_QUANTILES,
        residual_window: int = DEFAULT_RESIDUAL_WINDOW,
        seasons_s: Sequence[float] = (86_400.0, 7 * 86_400.0),
        max_season_steps: int = 2_000,
    ) -> None:
        self._member_args = (step_s, max_horizon, quantiles, residual_window)
        # A season longer than max_season_steps steps (a day at 10 s) keeps one noisy sample per slot and
        # costs memory and time for little: the coarse daily profile covers the day at fine steps.
        self._seasons = tuple(s for s in seasons_s if 2 <= round(s / step_s) <= max_season_steps)
        self._daily_profile = 86_400.0 in seasons_s and step_s <= 43_200.0
        super().__init__(step_s, max_horizon, quantiles, residual_window)

    def _reset_model(self) -> None:
        step, horizon, quantiles, window = self._member_args
        self.members: list[Predictor] = [
            LastValue(step, horizon, quantiles, window),
            DampedTrend(step, horizon, quantiles, window),
            # a slow level for traffic whose noise averages out (Mooncake-like)
            DampedTrend(step, horizon, quantiles, window, alpha=0.08, beta=0.01, phi=0.95),
            # the long-run mean bursty traffic reverts to at long horizons
            DampedTrend(step, horizon, quantiles, window, alpha=0.02, beta=0.001, phi=0.5),
            # persistence and mean reversion learned from the data (what AutoARIMA finds on bursty series)
            OnlineAutoregressive(step, horizon, quantiles, window),
            *(SeasonalSmoothing(step, horizon, quantiles, window, season_s=s) for s in self._seasons),
            # the day's shape in coarse slots: sees a step that came at this time yesterday
            *([DailyProfile(step, horizon, quantiles, window)] if self._daily_profile else []),
        ]
        self._weights = np.full((len(self.members), horizon), 1.0 / len(self.members))
        self._since_reweight = REWEIGHT_EVERY
        self._errors = MemberErrors(len(self.members), horizon, window)
        self._paths = np.zeros((len(self.members), horizon))
        self._combined: FloatArray | None = None  # the combination of these paths, built once on demand

    def update(self, value: float) -> None:
        for i, member in enumerate(self.members):
            member.learn(value)
            self._paths[i] = member._raw_path(self.max_horizon)[0]
        if not np.isfinite(self._paths).all():  # rare: a member's arithmetic broke; it forecasts flat
            for broken in np.nonzero(~np.isfinite(self._paths).all(axis=1))[0]:
                self._paths[broken] = self.members[int(broken)].last_value
        np.maximum(self._paths, 0.0, out=self._paths)
        self._errors.score_and_push(value, self._paths)
        self._since_reweight += 1
        self._combined = None
        super().update(value)

    def _observe(self, value: float) -> None:
        return  # members learned in update()

    def weights(self) -> FloatArray:
        """Member weights per horizon, shape (members, max_horizon); columns sum to 1."""
        if self._since_reweight >= REWEIGHT_EVERY:
            self._since_reweight = 0
            maes = self._errors.mean_abs_errors()
            ready = np.array([m.ready for m in self.members])[:, None]
            scored = ready & np.isfinite(maes)
            raw = np.where(scored, 1.0 / np.maximum(np.where(scored, maes, 1.0), 1e-9) ** WEIGHT_POWER, 0.0)
            total = raw.sum(axis=0)
            # Horizons with no scored member yet: equal weight over the ready members.
            equal = np.where(ready, 1.0, 0.0) * np.ones_like(maes)
            equal = equal / np.maximum(equal.sum(axis=0), 1.0)
            self._weights = np.where(total > 0, raw / np.where(total > 0, total, 1.0), equal)
        return self._weights

    def _point(self, steps: int) -> FloatArray:
        combined = self._combined
        if combined is None:  # scoring (max horizon) and the caller's forecast share one combination
            combined = self._combined = self._combine()
        return combined[:steps]

    def _combine(self) -> FloatArray:
        return np.asarray(np.einsum("mh,mh->h", self.weights(), self._paths))


class ProfileGuardedEnsemble(OnlineEnsemble):
    """The ensemble, raised to the daily profile's path at the horizons where that has been more accurate.

    Weights follow recent errors, and a quiet hour's errors favour persistence: the plain ensemble then
    forecasts flat through a step that came at this very time yesterday (BurstGPT's 08:00 step, 7x, was
    missed that way). The guard, ``max(ensemble, profile)``, provisions for such a step. It is not a
    floor: both paths are scored at every horizon with errors remembered over about a day (long enough
    to include yesterday's step, not only the last quiet hour), and the guarded path is used where its
    error is no higher. Where the profile misleads (a day unlike yesterday, series with no daily cycle)
    the guard switches itself off; until there is evidence either way the two are tied and it is on.
    """

    name = "profile_guarded"

    def _reset_model(self) -> None:
        super()._reset_model()
        step_s, horizon = self._member_args[0], self._member_args[1]
        halflife = max(GUARD_MIN_HALFLIFE_STEPS, 86_400.0 / step_s)
        self._race = SmoothedErrors(2, horizon, halflife)  # row 0: the ensemble, row 1: the guarded path
        self._raced = np.zeros((2, horizon))
        self._guarded = np.ones(horizon, dtype=bool)

    def update(self, value: float) -> None:
        super().update(value)  # builds this update's paths (``_combine``) after scoring the last ones
        if self._profile_is_ready():
            # Before the profile is ready the two paths are one: scoring them would add the same error to
            # both sides of the comparison, so it is skipped (and costs nothing in a short replay).
            self._race.score_and_push(value, self._raced)

    def weights(self) -> FloatArray:
        if self._since_reweight >= REWEIGHT_EVERY:  # the guard is re-decided as often as the weights
            plain, guarded = self._race.mean_abs_errors()
            self._guarded = ~(plain < guarded)  # a tie, or no errors yet (NaN): guard
        return super().weights()

    def _profile_is_ready(self) -> bool:
        profile = self.members[-1]
        return isinstance(profile, DailyProfile) and profile.ready

    def guarded_horizons(self) -> FloatArray:
        """Per horizon, 1.0 where the guarded path is used, 0.0 where the plain ensemble is."""
        return self._guarded.astype(np.float64)

    def _combine(self) -> FloatArray:
        combined = super()._combine()
        if not self._profile_is_ready():
            return combined
        self._raced[0] = combined
        np.maximum(combined, self._paths[-1], out=self._raced[1])
        return np.asarray(np.where(self._guarded, self._raced[1], combined))
