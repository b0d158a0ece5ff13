"""Rolling-origin backtests: exact scores where the answer is known, and the CLI's contract."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from predictors import create_predictor
from predictors.rolling_origin import ratio_interval, rolling_origin, summarize_notes
from simulations.forecasting.backtest import horizon_steps
from tests.conftest import TRACES


def test_last_value_on_a_ramp_scores_exactly() -> None:
    ramp = np.arange(200, dtype=float)  # y_t = t: last value is off by h at horizon h; naive scale is 1
    result = rolling_origin(ramp, 10.0, lambda: create_predictor("last_value", 10.0, max_horizon=5), [1, 5], warmup=20)
    assert [s.mase for s in result.scores] == [1.0, 5.0]
    assert [s.points for s in result.scores] == [176, 176]  # origins t = 19..194


def test_damped_trend_reaches_its_analytic_steady_state_on_a_ramp() -> None:
    """On y = t the damped trend converges to beta / (1 - (1 - beta) * phi): damping under-reads ramps."""
    model = create_predictor("damped_trend", 10.0, max_horizon=5)
    for t in range(400):
        model.update(float(t))
    beta, phi = 0.05, 0.9
    assert model._trend == pytest.approx(beta / (1 - (1 - beta) * phi), rel=1e-6)  # type: ignore[attr-defined]


def history_scaled_mase(series: np.ndarray, warmup: int, h: int) -> float:
    """Last value's MASE at horizon ``h``, written out: each origin's error over the mean finite one-step
    change of the history up to that origin (the protocol: no future in the scale)."""
    ratios = []
    for t in range(warmup - 1, series.shape[0] - h):
        history = np.diff(series[: t + 1])
        history = np.abs(history[np.isfinite(history)])
        actual = series[t + h]
        seen = series[: t + 1]
        last = seen[np.isfinite(seen)][-1]  # a gap is not a value: last value keeps the one before it
        if np.isfinite(actual) and history.size and history.mean() > 0:
            ratios.append(abs(actual - last) / history.mean())
    return float(np.mean(ratios))


def test_the_mase_scale_comes_from_the_history_before_each_origin() -> None:
    """A calm ramp, then wild swings: scaled by the whole series (the future's swings included) last value
    would look far better than naive on the calm part; scaled by each origin's own history it is exactly
    what the written-out protocol says."""
    series = np.concatenate([np.arange(100, dtype=float), np.tile([0.0, 1000.0], 50)])
    result = rolling_origin(series, 10.0, lambda: create_predictor("last_value", 10.0, max_horizon=1), [1], warmup=20)
    assert result.scores[0].mase == pytest.approx(history_scaled_mase(series, 20, 1))
    whole_series_scale = np.abs(np.diff(series)).mean()
    origins = range(19, 199)
    old_style = np.mean([abs(series[t + 1] - series[t]) for t in origins]) / whole_series_scale
    assert result.scores[0].mase > 5 * old_style


def test_gaps_in_actuals_are_skipped_and_the_scale_ignores_them() -> None:
    series = np.array([1.0, 2.0, np.nan, 4.0, 5.0] * 20)
    result = rolling_origin(series, 60.0, lambda: create_predictor("last_value", 60.0, max_horizon=2), [1])
    # origins t = 19..98 (warm-up 20), each scored against y[t + 1] unless that is a gap
    assert result.scores[0].points == sum(1 for t in range(19, 99) if not np.isnan(series[t + 1]))
    assert result.scores[0].mase == pytest.approx(history_scaled_mase(series, 20, 1))


def test_too_short_a_series_is_refused() -> None:
    with pytest.raises(ValueError) as err:
        rolling_origin(np.ones(12), 10.0, lambda: create_predictor("last_value", 10.0, max_horizon=5), [5])
    assert str(err.value) == "series of 12 steps is too short for warm-up 10 and horizon 5"


def test_a_fallback_is_noted_once_with_how_many_forecasts_took_it() -> None:
    """A season longer than the series: every forecast falls back, and says so in one line, not one per origin."""
    ramp = np.arange(200, dtype=float)
    result = rolling_origin(
        ramp, 10.0, lambda: create_predictor("seasonal_daily", 10.0, max_horizon=5), [1, 5], warmup=20
    )
    assert result.notes == (
        "short history (195 < 8640 steps of one season): using damped trend (in 176 of 176 forecasts)",
    )


@pytest.mark.parametrize(
    ("case", "per_forecast", "expected"),
    [
        ("no notes", [(), ()], ()),
        (
            "notes differing only in numbers are one kind, the last one shown",
            [
                ("short history (3 < 10 points): using last value",),
                ("short history (4 < 10 points): using last value",),
                (),
            ],
            ("short history (4 < 10 points): using last value (in 2 of 3 forecasts)",),
        ),
        (
            "two kinds, sorted",
            [("no history: forecasting 0",), ("short history (1 < 10 points): using last value",)],
            (
                "no history: forecasting 0 (in 1 of 2 forecasts)",
                "short history (1 < 10 points): using last value (in 1 of 2 forecasts)",
            ),
        ),
        (
            "the quantile band's warm-up is left out",
            [("few scored errors (3): quantile band is a Gaussian guess",)],
            (),
        ),
    ],
)
def test_summarize_notes(case: str, per_forecast: list[tuple[str, ...]], expected: tuple[str, ...]) -> None:
    assert summarize_notes(per_forecast) == expected, case


@pytest.mark.parametrize(
    ("case", "option", "message"),
    [
        (
            "a negative step",
            ["--step", "-3"],
            "error: --step has invalid value -3; allowed: a finite number of seconds above 0",
        ),
        (
            "a zero horizon",
            ["--horizon", "0"],
            "error: --horizon has invalid value 0; allowed: a finite number of seconds above 0",
        ),
        (
            "an infinite horizon after a good one",
            ["--horizon", "60", "--horizon", "inf"],
            "error: --horizon has invalid value inf; allowed: a finite number of seconds above 0",
        ),
    ],
)
def test_backtest_command_rejects_a_bad_duration(tmp_path: Path, case: str, option: list[str], message: str) -> None:
    trace = tmp_path / "ok.csv"
    trace.write_text("arrival_s,prompt_tokens,output_tokens\n0,1,1\n1,1,1\n")
    proc = subprocess.run(
        [sys.executable, "-m", "simulations.cli", "backtest", "--trace", str(trace), *option],
        check=False,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert (proc.returncode, proc.stderr.strip()) == (2, message), case


@pytest.mark.parametrize(
    ("horizons", "step", "expected"),
    [([60, 300, 600], 10.0, [6, 30, 60]), ([60, 300, 3600], 3600.0, [1]), ([601], 600.0, [2])],
    ids=["10 s steps", "hourly collapses short horizons", "rounds up"],
)
def test_horizon_steps(horizons: list[float], step: float, expected: list[int]) -> None:
    assert horizon_steps(horizons, step) == expected


@pytest.mark.skipif(not TRACES.is_dir(), reason=f"shared traces not found at {TRACES}")
def test_backtest_command_json() -> None:
    proc = subprocess.run(
        [
            sys.executable,
            "-m",
            "simulations.cli",
            "backtest",
            "--trace",
            str(TRACES / "azure2023_code.csv"),
            "--horizon",
            "300",
            "--horizon",
            "600",
            "--model",
            "default",
            "--model",
            "last_value",
            "--json",
        ],
        check=False,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert proc.returncode == 0, proc.stderr
    doc = json.loads(proc.stdout)
    # 344 bins of 10 s, the last one incomplete
    assert doc["default_model"] == "default" and doc["step_s"] == 10.0 and doc["points"] == 343
    rows = {(r["model"], r["horizon_s"]) for r in doc["results"]}
    assert rows == {("default", 300.0), ("default", 600.0), ("last_value", 300.0), ("last_value", 600.0)}
    for row in doc["results"]:
        assert set(row) >= {"model", "horizon_s", "mase", "smape", "pinball", "coverage"}
        assert set(row["coverage"]) == {"0.5", "0.9", "0.95"} and 0 < row["mase"] < 5


def test_backtest_command_rejects_a_bad_trace(tmp_path: Path) -> None:
    bad = tmp_path / "bad.csv"
    bad.write_text("arrival_s,prompt_tokens,output_tokens\n0,1,1\nx,1,1\n")
    proc = subprocess.run(
        [sys.executable, "-m", "simulations.cli", "backtest", "--trace", str(bad)],
        check=False,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert proc.returncode == 2
    assert proc.stderr.strip() == f"error: {bad}, line 3, column 'arrival_s': 'x' is not a number"


@pytest.mark.parametrize(
    ("case", "ours", "theirs", "expected"),
    [
        ("identical errors", [1.0, 2.0, 3.0, 4.0], [1.0, 2.0, 3.0, 4.0], (1.0, 1.0)),
        ("twice the error at every origin", [2.0, 4.0, 6.0, 8.0], [1.0, 2.0, 3.0, 4.0], (2.0, 2.0)),
    ],
)
def test_ratio_interval_of_paired_errors(
    case: str, ours: list[float], theirs: list[float], expected: tuple[float, float]
) -> None:
    low, high = ratio_interval(np.array(ours), np.array(theirs), block=2)
    assert (low, high) == pytest.approx(expected), case


def test_ratio_interval_brackets_the_ratio_of_noisy_errors() -> None:
    rng = np.random.default_rng(5)
    theirs = rng.exponential(1.0, 400)
    ours = theirs * 1.1 + rng.exponential(0.05, 400)
    low, high = ratio_interval(ours, theirs, block=5)
    assert low < float(ours.mean() / theirs.mean()) < high
    assert low > 1.05 and high < 1.2


def test_ratio_interval_refuses_unpaired_errors() -> None:
    with pytest.raises(ValueError) as err:
        ratio_interval(np.ones(3), np.ones(4), block=1)
    assert str(err.value) == "need two equal, non-empty error arrays, got (3,) and (4,)"


def test_scores_keep_the_per_origin_scaled_errors_mase_averages() -> None:
    ramp = 2.0 * np.arange(60, dtype=float)  # last value is off by 6 at 3 steps; the naive error is 2
    result = rolling_origin(ramp, 1.0, lambda: create_predictor("last_value", 1.0, 3), [3], warmup=10)
    errors = result.scores[0].scaled_errors
    np.testing.assert_array_equal(errors, np.full(errors.shape[0], 3.0))
    assert (errors.shape[0], float(errors.mean())) == (result.scores[0].points, result.scores[0].mase)


def _daily_rate_series(path: Path, days: int) -> Path:
    """A ServeGen-shaped rate series at 10-minute steps repeating one day exactly: seasonal naive is exact."""
    day = [100.0 + 50.0 * np.sin(2 * np.pi * k / 144) for k in range(144)]
    rows = ["model,window_start_s,clients_active,total_rate_rps,requests_in_window"]
    for i in range(days * 144):
        rate = day[i % 144]
        rows.append(f"language/m-large,{i * 600},10,{rate:.6f},{rate * 600:.1f}")
    path.write_text("\n".join(rows) + "\n")
    return path


def test_backtest_with_baselines_scores_every_model_on_the_same_origins(tmp_path: Path) -> None:
    """Five exact days at 10-minute steps: 720 points, warm-up 144, at most 24 origins -> every 24th step from
    step 144 to 696 for every model; the repeating day makes seasonal naive exact from the first origin."""
    from simulations.forecasting.backtest import run_backtest

    trace = _daily_rate_series(tmp_path / "days.csv", 5)
    doc = run_backtest(str(trace), None, [600, 3600], ["last_value"], baselines=True, origins=24)
    assert (doc["points"], doc["warmup_steps"], doc["origin_stride"], doc["skipped_baselines"]) == (720, 144, 24, {})
    models = [r["model"] for r in doc["results"] if r["horizon_s"] == 600.0]
    assert models == ["last_value", "auto_ets", "auto_arima", "mstl", "damped_es", "seasonal_naive"]
    assert {r["points"] for r in doc["results"]} == {24}
    naive = [r for r in doc["results"] if r["model"] == "seasonal_naive"]
    assert [(r["mase"], r["pinball_by_quantile"]["0.5"], r["coverage"]["0.5"]) for r in naive] == [(0.0, 0.0, 1.0)] * 2
    assert [(b["horizon_s"], b["mase"]) for b in doc["best"]] == [(600.0, 0.0), (3600.0, 0.0)]
    assert all(r["notes"] == [] for r in naive)


def test_backtest_baselines_that_need_a_season_are_skipped_on_a_short_series(tmp_path: Path) -> None:
    from simulations.forecasting.backtest import run_backtest

    trace = _daily_rate_series(tmp_path / "day.csv", 1)
    doc = run_backtest(str(trace), None, [600], ["last_value"], baselines=True, origins=10)
    why = "of history at a 600 s step within 2100 points; the series has 144"
    assert doc["skipped_baselines"] == {"mstl": f"needs 2 days {why}"}
    assert [r["model"] for r in doc["results"]] == [
        "last_value",
        "auto_ets",
        "auto_arima",
        "damped_es",
        "seasonal_naive",
    ]
    assert doc["origin_stride"] == 12 and {r["points"] for r in doc["results"]} == {10}


def test_backtest_baselines_without_statsforecast_name_the_extra(tmp_path: Path) -> None:
    code = (
        "import sys; sys.modules['statsforecast'] = None\n"
        "from simulations.cli import main\n"
        f"sys.argv = ['gpuscale', 'backtest', '--trace', {str(_daily_rate_series(tmp_path / 'd.csv', 1))!r},"
        " '--baselines']\n"
        "main()\n"
    )
    proc = subprocess.run([sys.executable, "-c", code], check=False, capture_output=True, text=True, timeout=60)
    expected = "error: --baselines needs statsforecast: pip install 'gpuscale[forecast-baselines]'"
    assert (proc.returncode, proc.stderr.strip()) == (2, expected)


@pytest.mark.parametrize(
    ("case", "origins", "expected"),
    [
        ("every step by default", None, 1),
        ("fewer origins than steps", 100, 8),  # 1000 points, warm-up 200, horizon 60: 740 steps / 100, rounded up
        ("more origins than steps", 10_000, 1),
    ],
)
def test_origin_stride(case: str, origins: int | None, expected: int) -> None:
    from simulations.forecasting.backtest import origin_stride

    assert origin_stride(1000, 60, origins) == expected, case


def test_backtest_compares_the_default_with_the_best_other_model_on_paired_origins(tmp_path: Path) -> None:
    """The ratio is of the two rows' MASEs; its interval resamples the same origins of both. The plain
    ensemble is the default's own variant, never its yardstick."""
    from simulations.forecasting.backtest import run_backtest

    trace = _daily_rate_series(tmp_path / "days.csv", 5)
    models = ["default", "ensemble", "last_value", "damped_trend"]
    doc = run_backtest(str(trace), None, [600, 3600], models, origins=60)
    mase = {(r["model"], r["horizon_s"]): r["mase"] for r in doc["results"]}
    compared = doc["default_vs_best"]
    assert [c["horizon_s"] for c in compared] == [600.0, 3600.0]
    for c in compared:
        best = min(("last_value", "damped_trend"), key=lambda m: mase[(m, c["horizon_s"])])
        assert c["best_other"] == best
        assert c["ratio"] == pytest.approx(mase[("default", c["horizon_s"])] / mase[(best, c["horizon_s"])], abs=1e-3)
        low, high = c["interval_95"]
        assert low <= c["ratio"] <= high
