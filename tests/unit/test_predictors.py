"""The contract every registered predictor keeps."""

from __future__ import annotations

import itertools
import math

import numpy as np
import pytest

from predictors import PREDICTORS, create_predictor, predictor_names
from predictors.registry import register

rng = np.random.default_rng(7)
SERIES = {
    "bursty": list(np.maximum(0, 5 + rng.normal(0, 2, 400) + 20 * (rng.random(400) < 0.05))),
    "gappy": [math.nan if i % 7 == 0 else float(i % 30) for i in range(400)],
    "zero-heavy": [0.0 if i % 10 else 3.0 for i in range(400)],
    "constant": [4.0] * 400,
    "idle then busy": [0.0] * 200 + [12.0] * 200,
    "all nan": [math.nan] * 50,
    "short": [1.0, 2.0],
}


def _make(name: str):  # type: ignore[no-untyped-def]
    # a 1-minute step keeps the seasonal models' period (1440 / 10080 steps) cheap enough
    return create_predictor(name, step_s=60.0, max_horizon=30)


@pytest.mark.parametrize("name", predictor_names())
def test_fit_equals_incremental_updates(name: str) -> None:
    data = SERIES["bursty"]
    fitted, online = _make(name), _make(name)
    fitted.fit(data)
    for value in data:
        online.update(value)
    a, b = fitted.forecast(30), online.forecast(30)
    np.testing.assert_array_equal(a.mean, b.mean)
    for q in a.quantiles:
        np.testing.assert_array_equal(a.quantiles[q], b.quantiles[q])


@pytest.mark.parametrize("series", sorted(SERIES))
@pytest.mark.parametrize("name", predictor_names())
def test_forecasts_are_finite_non_negative_and_ordered(name: str, series: str) -> None:
    model = _make(name)
    model.fit(SERIES[series])
    forecast = model.forecast(30)
    assert forecast.mean.shape == (30,) and forecast.model == model.name
    assert np.all(np.isfinite(forecast.mean)) and np.all(forecast.mean >= 0)
    probs = sorted(forecast.quantiles)
    assert probs == [0.5, 0.9, 0.95]
    for lo, hi in itertools.pairwise(probs):
        assert np.all(forecast.quantiles[lo] <= forecast.quantiles[hi])
    for q in probs:
        assert np.all(np.isfinite(forecast.quantiles[q])) and np.all(forecast.quantiles[q] >= 0)


def test_fallbacks_are_visible_in_notes() -> None:
    model = create_predictor("damped_trend", step_s=10, max_horizon=10)
    assert model.forecast(5).notes[0] == "no history: forecasting 0"
    model.fit([3.0, 4.0])
    assert model.forecast(5).notes[0] == "short history (2 < 3 points): using last value"
    daily = create_predictor("seasonal_naive_daily", step_s=600, max_horizon=10)
    daily.fit([1.0] * 10)
    assert daily.forecast(5).notes[0] == "short history (10 < 144 steps of one season): using last value"


def test_seasonal_naive_repeats_the_last_season() -> None:
    model = create_predictor("seasonal_naive_daily", step_s=3600, max_horizon=24)
    day = [float(h) for h in range(24)]
    model.fit(day * 3)
    np.testing.assert_array_equal(model.forecast(24).mean, np.array(day))


def test_quantile_band_learns_coverage_on_noise() -> None:
    model = create_predictor("default", step_s=10, max_horizon=6, quantiles=(0.5, 0.9))
    noise = np.random.default_rng(1).normal(100, 10, 3000)
    hits = 0
    upper = math.inf
    for i, value in enumerate(noise):
        if i >= 500:
            hits += value <= upper
        model.update(float(value))
        upper = model.forecast(1).quantiles[0.9][0]
    assert 0.86 <= hits / 2500 <= 0.94


def test_registry_errors() -> None:
    with pytest.raises(ValueError) as err:
        create_predictor("prophet", step_s=10)
    assert str(err.value) == (
        "unknown predictor 'prophet'; valid: autoregressive, daily_profile, damped_trend, default, ensemble, "
        "last_value, profile_guarded, seasonal_daily, seasonal_naive_daily, seasonal_naive_weekly, seasonal_weekly"
    )
    with pytest.raises(ValueError) as err:
        register("default", PREDICTORS["last_value"])
    assert str(err.value) == "predictor 'default' is already registered"


def test_resample_irregular_samples_to_a_fixed_step() -> None:
    from predictors.resample import resample

    grid, values = resample([0.0, 3.0, 9.9, 25.0, 31.0, float("nan")], [1.0, 3.0, 5.0, 7.0, 9.0, 4.0], 10.0)
    np.testing.assert_array_equal(grid, [0.0, 10.0, 20.0, 30.0])
    np.testing.assert_array_equal(values, [3.0, np.nan, 7.0, 9.0])  # step 10-20 is a gap, not a zero
    model = create_predictor("default", step_s=10.0, max_horizon=3)
    model.fit(values)
    assert np.all(np.isfinite(model.forecast(3).mean))


def _ar2_series(n: int, seed: int = 3) -> list[float]:
    """y = 5 + 0.6 y[-1] - 0.2 y[-2] + N(0, 1): mean 5 / (1 - 0.6 + 0.2) = 8.33."""
    noise = np.random.default_rng(seed).normal(0.0, 1.0, n)
    y = [8.0, 8.0]
    for e in noise[2:]:
        y.append(5.0 + 0.6 * y[-1] - 0.2 * y[-2] + float(e))
    return y


def test_autoregressive_learns_persistence_and_the_mean_it_reverts_to() -> None:
    y = _ar2_series(20_000)
    model = create_predictor("autoregressive", step_s=10, max_horizon=60, order=2, forgetting=1.0)
    model.fit(y)
    path = model.forecast(60).mean
    assert path[0] == pytest.approx(5.0 + 0.6 * y[-1] - 0.2 * y[-2], abs=0.1)
    assert path[-1] == pytest.approx(5.0 / 0.6, abs=0.1)


def test_autoregressive_shrinks_an_explosive_fit() -> None:
    growth = [1.1**t for t in range(80)]  # a fitted root of 1.1 would extrapolate to 1.1 ** 60 times the last value
    model = create_predictor("autoregressive", step_s=10, max_horizon=60, order=1, forgetting=1.0)
    model.fit(growth)
    path = model.forecast(60).mean
    assert path[0] == pytest.approx(0.98 * growth[-1], rel=0.01)  # root shrunk to MAX_ROOT = 0.98
    assert path[-1] == pytest.approx(0.98**60 * growth[-1], rel=0.05)


def test_autoregressive_falls_back_to_last_value_until_it_has_enough_regressions() -> None:
    model = create_predictor("autoregressive", step_s=10, max_horizon=5, order=3)
    model.fit([2.0, 4.0, 6.0, 8.0, 10.0])
    forecast = model.forecast(5)
    assert forecast.notes[0] == "short history (2 < 16 regressions): using last value"
    np.testing.assert_array_equal(forecast.mean, np.full(5, 10.0))


def test_a_member_whose_path_breaks_forecasts_flat_inside_the_combination() -> None:
    model = create_predictor("default", step_s=10, max_horizon=5)
    model.fit([4.0, 5.0, 6.0, 7.0])
    broken = model.members[1]
    broken._raw_path = lambda steps: (np.full(steps, np.nan), ())  # type: ignore[method-assign]
    model.update(8.0)
    np.testing.assert_array_equal(model._paths[1], np.full(5, 8.0))
    assert np.isfinite(model.forecast(5).mean).all()


def _days_with_a_step(days: int, level: float = 2.0, step_at: int = 900, ratio: float = 1.0) -> list[float]:
    """Days of 1-minute steps: ``level`` until minute ``step_at``, then three times it; x ``ratio`` on the last day."""
    noise = np.random.default_rng(11).normal(0.0, 0.1, days * 1440)
    out = []
    for day in range(days):
        scale = ratio if day == days - 1 else 1.0
        out += [scale * (level if m < step_at else 3 * level) for m in range(1440)]
    return list(np.maximum(0.0, np.array(out) + noise))


def test_daily_profile_sees_yesterdays_step_before_it_comes() -> None:
    model = create_predictor("daily_profile", step_s=60, max_horizon=10)
    history = _days_with_a_step(2)
    model.fit(history + _days_with_a_step(1)[:895])  # two days, then today until 5 minutes before the step
    path = model.forecast(10).mean
    assert path[:4] == pytest.approx([2.0] * 4, abs=0.15)  # minutes 896-899
    assert path[5:] == pytest.approx([6.0] * 5, abs=0.3)  # from minute 900 (slot 900-904 and 905-909): the step


def test_daily_profile_scales_the_day_to_todays_level() -> None:
    model = create_predictor("daily_profile", step_s=60, max_horizon=10)
    today = _days_with_a_step(3, ratio=1.5)
    model.fit(today[: 2 * 1440 + 895])
    path = model.forecast(10).mean
    assert path[0] == pytest.approx(3.0, rel=0.05)  # 1.5 x 2
    assert path[-1] == pytest.approx(9.0, rel=0.05)  # 1.5 x 6


def test_daily_profile_waits_for_a_whole_day() -> None:
    model = create_predictor("daily_profile", step_s=60, max_horizon=5)
    model.fit([1.0] * 100)
    assert model.forecast(5).notes[0] == "short history (19 of 288 slots of one day seen): using last value"


def test_profile_guarded_is_the_ensemble_until_the_profile_has_seen_a_day() -> None:
    """Without a day of history (every 1-hour replay) the scaler's default forecasts exactly as the ensemble."""
    series = _days_with_a_step(1)[:1439]
    guarded, plain = create_predictor("profile_guarded", 60, 10), create_predictor("ensemble", 60, 10)
    guarded.fit(series)
    plain.fit(series)
    a, b = guarded.forecast(10), plain.forecast(10)
    np.testing.assert_array_equal(a.mean, b.mean)
    for q in a.quantiles:
        np.testing.assert_array_equal(a.quantiles[q], b.quantiles[q])


def test_profile_guarded_provisions_for_yesterdays_step_that_the_ensemble_forecasts_flat() -> None:
    """Five minutes before a tripling that came at this time on both earlier days."""
    series = _days_with_a_step(3)[: 2 * 1440 + 895]
    guarded, plain = create_predictor("profile_guarded", 60, 10), create_predictor("ensemble", 60, 10)
    guarded.fit(series)
    plain.fit(series)
    profile = plain.members[-1]  # type: ignore[attr-defined]
    assert profile.name == "daily_profile" and profile.ready
    ahead = plain._paths[-1]  # type: ignore[attr-defined]
    flat, step = plain.forecast(10).mean, guarded.forecast(10).mean
    assert max(flat) < 3.0  # the ensemble trusts the quiet hour's persistence
    assert step[5:] == pytest.approx([6.0] * 5, abs=0.3)  # the guard forecasts the step from minute 900
    np.testing.assert_array_equal(step, np.maximum(flat, ahead))


def test_profile_guard_switches_itself_off_once_yesterdays_step_stops_coming() -> None:
    """Two days with the step, then a day without it: the guard's errors at the old step time outweigh
    the day it helped, so five minutes before the old step the default forecasts as the ensemble, though
    the profile (smoothed across days) still expects a step."""
    without = list(np.maximum(0.0, 2.0 + np.random.default_rng(12).normal(0.0, 0.1, 1440 + 895)))
    series = _days_with_a_step(2) + without
    guarded, plain = create_predictor("profile_guarded", 60, 10), create_predictor("ensemble", 60, 10)
    guarded.fit(series)
    plain.fit(series)
    assert guarded.guarded_horizons().tolist() == [0.0] * 10  # type: ignore[attr-defined]
    assert guarded.forecast(10).mean.tolist() == plain.forecast(10).mean.tolist()
    assert max(plain._paths[-1]) == pytest.approx(4.0, abs=0.1)  # type: ignore[attr-defined]
    assert max(guarded.forecast(10).mean) < 2.6


def test_profile_guard_stays_on_while_the_step_keeps_coming() -> None:
    series = _days_with_a_step(5)[: 4 * 1440 + 895]
    guarded = create_predictor("profile_guarded", 60, 10)
    guarded.fit(series)
    assert guarded.guarded_horizons().tolist() == [1.0] * 10  # type: ignore[attr-defined]
    assert guarded.forecast(10).mean[5:] == pytest.approx([6.0] * 5, abs=0.3)


def test_predictors_import_only_numerics_and_the_standard_library() -> None:
    """predictors/ is pure numerics: the scaler and the simulator depend on it, never the reverse."""
    import ast
    import sys
    from pathlib import Path

    package = Path(__file__).resolve().parents[2] / "predictors"
    imported: set[str] = set()
    for source in package.glob("*.py"):
        for node in ast.walk(ast.parse(source.read_text(encoding="utf-8"))):
            if isinstance(node, ast.Import):
                imported.update(alias.name.split(".")[0] for alias in node.names)
            elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
                imported.add(node.module.split(".")[0])
    outside = {name for name in imported if name not in sys.stdlib_module_names}
    assert outside <= {"numpy", "scipy", "predictors"}, sorted(outside)
    assert "numpy" in outside  # the walk found the package's imports
