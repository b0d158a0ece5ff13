"""Models by name: the extension point the scaler's ``forecastModel`` key and the CLI use."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

from predictors.autoregressive import OnlineAutoregressive
from predictors.base import DEFAULT_QUANTILES, Predictor
from predictors.daily_profile import DailyProfile
from predictors.ensemble import OnlineEnsemble, ProfileGuardedEnsemble
from predictors.models import DampedTrend, LastValue, SeasonalNaive, SeasonalSmoothing

Factory = Callable[..., Predictor]

PREDICTORS: dict[str, Factory] = {}


def register(name: str, factory: Factory) -> None:
    """Add a model; registering a name twice is a programming error."""
    if name in PREDICTORS:
        raise ValueError(f"predictor {name!r} is already registered")
    PREDICTORS[name] = factory


def predictor_names() -> list[str]:
    return sorted(PREDICTORS)


def create_predictor(
    name: str,
    step_s: float,
    max_horizon: int = 60,
    quantiles: Sequence[float] = DEFAULT_QUANTILES,
    **options: Any,
) -> Predictor:
    """Build the model registered as ``name``; an unknown name lists the valid ones."""
    try:
        factory = PREDICTORS[name]
    except KeyError:
        raise ValueError(f"unknown predictor {name!r}; valid: {', '.join(predictor_names())}") from None
    return factory(step_s=step_s, max_horizon=max_horizon, quantiles=quantiles, **options)


register("last_value", LastValue)
register("damped_trend", DampedTrend)
register("autoregressive", OnlineAutoregressive)
register("seasonal_naive_daily", lambda **kw: SeasonalNaive(season_s=86_400.0, **kw))
register("seasonal_naive_weekly", lambda **kw: SeasonalNaive(season_s=7 * 86_400.0, **kw))
register("daily_profile", DailyProfile)
register("seasonal_daily", lambda **kw: SeasonalSmoothing(season_s=86_400.0, **kw))
register("seasonal_weekly", lambda **kw: SeasonalSmoothing(season_s=7 * 86_400.0, **kw))
register("ensemble", OnlineEnsemble)
register("profile_guarded", ProfileGuardedEnsemble)
# The default combines them online, weighted per horizon by recent errors, and rises to the daily profile
# where that has been the more accurate: a step that came at this time yesterday is provisioned for.
register("default", ProfileGuardedEnsemble)
