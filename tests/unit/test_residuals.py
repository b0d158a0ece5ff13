"""Forecast errors kept at anchor horizons: exact at the anchors, interpolated between, small per workload."""

from __future__ import annotations

import numpy as np
import pytest

from predictors.residuals import MemberErrors, ResidualBands, SmoothedErrors, _PendingPaths, anchor_horizons
from scaler.loop import DecisionLoop
from scaler.policy import PolicySpec

WINDOW = 64
HORIZON = 12


@pytest.mark.parametrize(
    ("max_horizon", "anchors"),
    [
        (1, (1,)),
        (6, (1, 2, 3, 4, 6)),
        (12, (1, 2, 3, 4, 6, 8, 12)),
        (30, (1, 2, 3, 4, 6, 8, 12, 16, 24, 30)),
        (120, (1, 2, 3, 4, 6, 8, 12, 16, 24, 32, 48, 64, 96, 120)),
    ],
)
def test_anchor_horizons(max_horizon: int, anchors: tuple[int, ...]) -> None:
    assert anchor_horizons(max_horizon) == anchors


def _forecasts_and_actuals(n: int) -> tuple[np.ndarray, np.ndarray]:
    """Flat forecast paths (value f_t at every step) and noisy actuals, so the h-step error is a_t - f_(t-h)."""
    rng = np.random.default_rng(5)
    return rng.normal(10, 1, n), rng.normal(10, 3, n)


def test_a_band_is_the_empirical_quantile_of_its_anchors_errors_and_interpolates_between() -> None:
    forecasts, actuals = _forecasts_and_actuals(400)
    bands = ResidualBands(HORIZON, WINDOW, refresh_every=1)
    for f, a in zip(forecasts, actuals, strict=True):
        bands.score_and_push(float(a), np.full(HORIZON, f))
    got = bands.quantiles(HORIZON, (0.9,), scale=1.0)[0.9]
    # Errors scored at the last update of each horizon h: actual_t - forecast made h updates earlier.
    n = len(actuals)

    def expected(h: int) -> float:
        errors = [actuals[t] - forecasts[t - h] for t in range(n - WINDOW, n)]
        return float(np.quantile(errors, 0.9))

    for h in (1, 2, 3, 4, 6, 8, 12):
        assert got[h - 1] == pytest.approx(expected(h), abs=1e-12), h
    assert got[4] == pytest.approx((expected(4) + expected(6)) / 2, abs=1e-12)  # horizon 5
    assert got[9] == pytest.approx((expected(8) + expected(12)) / 2, abs=1e-12)  # horizon 10
    assert bands.count(5) == WINDOW


def test_member_errors_are_mean_absolute_errors_at_anchors_interpolated_between() -> None:
    forecasts, actuals = _forecasts_and_actuals(300)
    errors = MemberErrors(members=2, max_horizon=HORIZON, window=WINDOW)
    for f, a in zip(forecasts, actuals, strict=True):
        errors.score_and_push(float(a), np.stack([np.full(HORIZON, f), np.full(HORIZON, 2 * f)]))
    got = errors.mean_abs_errors()
    n = len(actuals)

    def expected(member: int, h: int) -> float:
        scale = 1 + member
        return float(np.mean([abs(actuals[t] - scale * forecasts[t - h]) for t in range(n - WINDOW, n)]))

    for member in (0, 1):
        for h in (1, 6, 8, 12):
            assert got[member, h - 1] == pytest.approx(expected(member, h), rel=1e-6), (member, h)
        assert got[member, 6] == pytest.approx((expected(member, 6) + expected(member, 8)) / 2, rel=1e-6)  # h 7
        assert got[member, 8] == pytest.approx(0.75 * expected(member, 8) + 0.25 * expected(member, 12), rel=1e-6)


def _held_bytes(obj: object, seen: set[int]) -> int:
    """Bytes of the numpy arrays a workload's forecaster owns (views and shared read-only tables excluded)."""
    if id(obj) in seen:
        return 0
    seen.add(id(obj))
    if isinstance(obj, np.ndarray):
        return obj.nbytes if obj.base is None and obj.flags.writeable else 0
    if isinstance(obj, dict):
        return sum(_held_bytes(v, seen) for v in obj.values())
    if isinstance(obj, (list, tuple)):
        return sum(_held_bytes(v, seen) for v in obj)
    if hasattr(obj, "__dict__"):
        return sum(_held_bytes(v, seen) for v in vars(obj).values())
    return 0


def test_a_workloads_forecaster_holds_under_a_quarter_mebibyte() -> None:
    """The scaler's default at its 120-step path, with full error rings (was 2.4 MiB: issue 28)."""
    loop = DecisionLoop(PolicySpec(), step_s=10.0, max_horizon_steps=120)
    loop.fit_history(list(np.random.default_rng(2).gamma(4.0, 1.0, 600)))
    held = _held_bytes(loop, set())
    assert 100_000 < held <= 256 * 1024


@pytest.mark.parametrize(
    ("case", "actuals", "expected"),
    [
        ("nothing scored yet", [], [[float("nan")] * HORIZON] * 2),
        ("constant errors: exact means", [2.0] * 40, [[1.0] * HORIZON, [2.0] * HORIZON]),
        # 200 errors of 1 and 2, then one half-life of errors of 2 and 1: the two spans weigh the same
        ("half-life", [2.0] * 200 + [3.0] * 10, [[1.5] * HORIZON, [1.5] * HORIZON]),
    ],
)
def test_smoothed_errors_weigh_the_last_half_life_as_much_as_everything_before(
    case: str, actuals: list[float], expected: list[list[float]]
) -> None:
    race = SmoothedErrors(2, HORIZON, halflife_steps=10)
    paths = np.array([[1.0] * HORIZON, [4.0] * HORIZON])
    for actual in actuals:
        race.score_and_push(actual, paths)
    np.testing.assert_allclose(race.mean_abs_errors(), expected, rtol=1e-5, err_msg=case)


def test_smoothed_errors_skip_a_gap_and_horizons_not_yet_due() -> None:
    """Three updates in: only horizons 1 and 2 have been scored (h=1 twice, h=2 once); a NaN scores nothing."""
    race = SmoothedErrors(1, 4, halflife_steps=5)
    race.score_and_push(float("nan"), np.array([[3.0, 3.0, 3.0, 3.0]]))
    for _ in range(2):
        race.score_and_push(1.0, np.array([[3.0, 3.0, 3.0, 3.0]]))
    race.score_and_push(float("nan"), np.array([[3.0, 3.0, 3.0, 3.0]]))
    np.testing.assert_allclose(race.mean_abs_errors(), [[2.0, 2.0, np.nan, np.nan]])


@pytest.mark.parametrize(
    ("path_steps", "due_after_one"),
    [
        # anchors at H = 4 are steps 1, 2, 3, 4; one update after a push, only the 1-step entry is due
        pytest.param(4, [[10.0, np.nan, np.nan, np.nan], [20.0, np.nan, np.nan, np.nan]], id="full path"),
        pytest.param(1, [[10.0, np.nan, np.nan, np.nan], [20.0, np.nan, np.nan, np.nan]], id="one step"),
    ],
)
def test_the_pending_ring_gives_each_path_s_entry_for_the_observation_now(
    path_steps: int, due_after_one: list[list[float]]
) -> None:
    """The ring the three error memories share: the path made k updates ago at its step k, per path."""
    ring = _PendingPaths(2, 4)
    paths = np.array([[10.0, 11.0, 12.0, 13.0], [20.0, 21.0, 22.0, 23.0]])[:, :path_steps]
    ring.push(paths)
    np.testing.assert_array_equal(ring.due(), due_after_one)
    ring.push(np.full((2, 4), np.nan))
    ring.push(np.full((2, 4), np.nan))
    # three updates after it, the first push's 3-step entry is due (a one-step path has none)
    expected = [[np.nan, np.nan, 12.0, np.nan], [np.nan, np.nan, 22.0, np.nan]] if path_steps == 4 else np.nan
    np.testing.assert_array_equal(ring.due(), np.broadcast_to(expected, (2, 4)))
