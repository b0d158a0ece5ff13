"""Classical forecasting baselines from statsforecast, scored by ``gpuscale backtest --baselines``.

A backtest that compares gpuscale's forecaster only with its own members cannot say whether it is any
good; these are the models a forecasting practitioner would try first. They come from statsforecast
(the optional ``forecast-baselines`` extra, never imported by the scaler) and are adapted to the
backtest's online protocol: ``update`` appends, and each ``forecast`` refits on the most recent window
of history, so a baseline sees exactly what gpuscale's model saw at the same origin and no more.

Seasons follow the step: a day and a week, each used only when the window holds at least two of it.
Seasonal AutoETS is fitted up to a 24-step season and AutoARIMA runs without a seasonal part (both fit
too slowly otherwise); MSTL and seasonal naive carry the long seasons.
"""

from __future__ import annotations

import importlib.util
import math
import warnings
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np

from predictors.forecast import FloatArray, Forecast

#: The extra that brings statsforecast in.
EXTRA = "forecast-baselines"
#: Points a baseline refits on at each origin, at least; more when two of the longest season need more.
MIN_WINDOW = 500
#: ... and at most: AutoARIMA's fit grows with the window.
MAX_WINDOW = 2_100
#: Seasonal AutoETS is fitted up to this season length (the ETS literature's limit).
MAX_ETS_SEASON = 24
#: Interval levels asked of statsforecast: an 80 % interval's upper end is the p90, a 90 % one's the p95.
LEVELS = {0.9: 80, 0.95: 90}

BASELINE_NAMES = ("auto_ets", "auto_arima", "mstl", "damped_es", "seasonal_naive")


class BaselinesUnavailableError(RuntimeError):
    """statsforecast is not installed."""


def require_statsforecast() -> None:
    """Fail with the install command when the extra is missing (before any trace is read)."""
    try:
        found = importlib.util.find_spec("statsforecast") is not None
    except (ImportError, ValueError):  # a module blocked in sys.modules has no spec
        found = False
    if not found:
        raise BaselinesUnavailableError(f"--baselines needs statsforecast: pip install 'gpuscale[{EXTRA}]'")


def seasons(step_s: float, history_steps: int, cycles: int = 2) -> tuple[int, ...]:
    """Season lengths in steps (a day, a week) of which the history and the largest window hold ``cycles``."""
    out = []
    for period_s in (86_400.0, 7 * 86_400.0):
        season = round(period_s / step_s)
        if season >= 2 and cycles * season <= min(history_steps, MAX_WINDOW):
            out.append(season)
    return tuple(out)


def window_for(season_steps: tuple[int, ...], cycles: int = 2) -> int:
    """Points refitted at each origin: MIN_WINDOW, or ``cycles`` and a half of the longest season, capped."""
    longest = max(season_steps, default=0)
    return min(MAX_WINDOW, max(MIN_WINDOW, math.ceil((cycles + 0.5) * longest)))


def _days(cycles: int) -> str:
    return "a day" if cycles == 1 else f"{cycles} days"


@dataclass(frozen=True)
class BaselineSpec:
    """One baseline: its name and how to build the statsforecast model for the seasons that apply."""

    name: str
    build: Callable[[tuple[int, ...]], Any]
    needs_season: bool = False
    #: whole seasons of history the model needs to fit one (seasonal naive repeats the last one)
    cycles: int = 2


def _auto_ets(found: tuple[int, ...]) -> Any:
    from statsforecast.models import AutoETS

    short = [s for s in found if s <= MAX_ETS_SEASON]
    return AutoETS(season_length=short[0] if short else 1)


def _auto_arima(found: tuple[int, ...]) -> Any:
    from statsforecast.models import AutoARIMA

    return AutoARIMA(season_length=1)


def _mstl(found: tuple[int, ...]) -> Any:
    from statsforecast.models import MSTL, AutoETS

    if not found:
        return AutoETS(model="ZZN")
    return MSTL(season_length=list(found), trend_forecaster=AutoETS(model="ZZN"))


def _damped_es(found: tuple[int, ...]) -> Any:
    from statsforecast.models import AutoETS

    return AutoETS(model="AAN", damped=True)


def _seasonal_naive(found: tuple[int, ...]) -> Any:
    from statsforecast.models import SeasonalNaive

    return SeasonalNaive(season_length=found[0] if found else 1)


SPECS = {
    spec.name: spec
    for spec in (
        BaselineSpec("auto_ets", _auto_ets),
        BaselineSpec("auto_arima", _auto_arima),
        BaselineSpec("mstl", _mstl, needs_season=True),
        BaselineSpec("damped_es", _damped_es),
        BaselineSpec("seasonal_naive", _seasonal_naive, needs_season=True, cycles=1),
    )
}


class StatsforecastBaseline:
    """A statsforecast model behind the backtest's online Forecaster protocol (refit at each origin)."""

    def __init__(self, spec: BaselineSpec, step_s: float) -> None:
        self.name = spec.name
        self.step_s = step_s
        self._spec = spec
        self._history: list[float] = []
        self._seen = 0

    def update(self, value: float) -> None:
        self._history.append(value)
        self._seen += 1
        if len(self._history) > 2 * MAX_WINDOW:  # bounded memory; at most MAX_WINDOW points are fitted
            del self._history[:-MAX_WINDOW]

    def forecast(self, steps: int) -> Forecast:
        spec = self._spec
        found = seasons(self.step_s, self._seen, spec.cycles)  # what the history up to this origin holds
        y = _gap_free(np.asarray(self._history[-window_for(found, spec.cycles) :], dtype=np.float64))
        notes: tuple[str, ...] = ()
        if spec.needs_season and not found:
            notes = (f"history shorter than {_days(spec.cycles)}: fitted without a season",)
        try:
            with warnings.catch_warnings(), np.errstate(all="ignore"):
                warnings.simplefilter("ignore")
                out = spec.build(found).forecast(y=y, h=steps, level=sorted(LEVELS.values()))
            mean = np.asarray(out["mean"], dtype=np.float64)
            bands = {q: np.asarray(out[f"hi-{level}"], dtype=np.float64) for q, level in LEVELS.items()}
            if not (np.isfinite(mean).all() and all(np.isfinite(b).all() for b in bands.values())):
                raise FloatingPointError("non-finite forecast")
        except Exception as exc:  # a failed fit is scored as last value, and noted
            mean = np.full(steps, y[-1] if y.size else 0.0)
            bands = {q: mean for q in LEVELS}
            notes = (
                *notes,
                f"fit failed ({type(exc).__name__}): forecasting last value",
            )
        mean = np.maximum(mean, 0.0)
        quantiles: dict[float, FloatArray] = {0.5: mean}
        floor = mean
        for q in sorted(bands):
            floor = np.maximum(np.maximum(bands[q], 0.0), floor)  # ordered in q, never below the mean
            quantiles[q] = floor
        return Forecast(self.step_s, mean, quantiles, self.name, notes)


def _gap_free(y: FloatArray) -> FloatArray:
    """Carry the last value over gaps (statsforecast wants gap-free input); a leading gap becomes 0."""
    if np.isfinite(y).all():
        return y
    idx = np.where(np.isfinite(y), np.arange(y.size), 0)
    np.maximum.accumulate(idx, out=idx)
    return np.nan_to_num(y[idx], nan=0.0, posinf=0.0, neginf=0.0)


def applicable_baselines(step_s: float, history_steps: int) -> tuple[list[str], dict[str, str]]:
    """The baselines that apply to a series, and why each other one does not."""
    usable, skipped = [], {}
    for name, spec in SPECS.items():
        if spec.needs_season and not seasons(step_s, history_steps, spec.cycles):
            skipped[name] = (
                f"needs {_days(spec.cycles)} of history at a {step_s:g} s step within {MAX_WINDOW} points; the"
                f" series has {history_steps}"
            )
        else:
            usable.append(name)
    return usable, skipped


def baseline_factory(name: str, step_s: float) -> Callable[[], StatsforecastBaseline]:
    """A factory of the named baseline on a series of ``step_s``-second steps."""
    spec = SPECS[name]
    return lambda: StatsforecastBaseline(spec, step_s)
