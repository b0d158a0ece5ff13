"""Is the replayed day like the day before? What a forecaster that starts from yesterday has to go on.

Run: python -m lab.day_over_day (from the project root).

For each day-long headline case (benchmarks/headline.py), from the aggregated trace it replays: the
correlation between the replayed day's hourly request rates and the previous day's (levels, and
hour-to-hour changes), the same at the trace's own resolution, and how often the rate steps by more
than 20 % from one of the trace's windows to the next. A second table asks the same of every day of the
whole trace (hourly levels against the day before and against the same day a week before), so the
replayed day can be told from the trace's habit. The two cases are each other's baseline: where
yesterday's shape returns (BurstGPT), the forecast can provision for a step before it comes; where it
does not (ServeGen), only reacting to it is left, a cold start late.
"""

from __future__ import annotations

import numpy as np

from benchmarks._cli import parser
from benchmarks.headline import CASES, TRACES
from simulations.traces import load_trace
from simulations.traces.base import RateSeries

DAY_S = 86400.0


def _corr(a: np.ndarray, b: np.ndarray) -> float:
    return float(np.corrcoef(a, b)[0, 1])


def day_over_day(series: RateSeries, day_start_s: float) -> dict[str, float]:
    """Correlations of one day's rates with the previous day's, hourly and at the series' own step."""
    per_day = round(DAY_S / series.step_s)
    first = round(day_start_s / series.step_s)
    today = series.requests_per_s[first : first + per_day]
    yesterday = series.requests_per_s[first - per_day : first]
    per_hour = max(1, round(3600.0 / series.step_s))
    hourly_today = today.reshape(-1, per_hour).mean(axis=1)
    hourly_yesterday = yesterday.reshape(-1, per_hour).mean(axis=1)
    steps = np.abs(np.diff(today)) / today[:-1]
    return {
        "hourly_levels": _corr(hourly_today, hourly_yesterday),
        "hourly_changes": _corr(np.diff(hourly_today), np.diff(hourly_yesterday)),
        "levels": _corr(today, yesterday),
        "changes": _corr(np.diff(today), np.diff(yesterday)),
        "big_steps": float(np.sum(steps > 0.2)),
    }


def _hourly_days(series: RateSeries) -> np.ndarray:
    """The series as whole days of hourly mean rates, shape (days, 24); a trailing part day is dropped."""
    per_day = round(DAY_S / series.step_s)
    per_hour = max(1, round(3600.0 / series.step_s))
    days = len(series.requests_per_s) // per_day
    whole = series.requests_per_s[: days * per_day]
    return np.asarray(whole.reshape(days, 24, per_hour).mean(axis=2))


def lagged_correlations(series: RateSeries, lag_days: int) -> list[float]:
    """Hourly-level correlation of every day with the day ``lag_days`` before it, over the whole series.

    A day with a constant rate (a data gap) has no correlation and is left out.
    """
    days = _hourly_days(series)
    out = []
    for i in range(lag_days, len(days)):
        today, before = days[i], days[i - lag_days]
        if np.ptp(today) > 0 and np.ptp(before) > 0:
            out.append(_corr(today, before))
    return out


def _spread(values: list[float]) -> str:
    if not values:
        return f"{'-':>20s}"
    return f"{np.median(values):6.2f} ({min(values):5.2f} to {max(values):4.2f})"


def main() -> None:
    parser(__doc__, "lab.day_over_day").parse_args()
    print(
        f"{'case':32s} {'step':>6s} {'hourly levels':>14s} {'hourly changes':>15s} {'levels':>7s} {'changes':>8s}"
        f" {'steps >20 %':>12s}"
    )
    for case in CASES:
        if case.column is None or case.reshape.start_s < DAY_S:
            continue  # per-request traces span an hour: no day before
        series = load_trace(TRACES / case.trace, column=case.column)
        assert isinstance(series, RateSeries)
        figures = day_over_day(series, case.reshape.start_s)
        print(
            f"{case.name:32s} {series.step_s:5.0f}s {figures['hourly_levels']:14.2f} {figures['hourly_changes']:15.2f}"
            f" {figures['levels']:7.2f} {figures['changes']:8.2f} {figures['big_steps']:12.0f}"
        )
    print()
    print("every day of the trace, hourly levels: median (lowest to highest) correlation")
    print(f"{'trace column':32s} {'days':>5s} {'with the day before':>24s} {'with a week before':>24s}")
    for case in CASES:
        if case.column is None or case.reshape.start_s < DAY_S:
            continue
        series = load_trace(TRACES / case.trace, column=case.column)
        assert isinstance(series, RateSeries)
        days = len(_hourly_days(series))
        print(
            f"{case.column:32s} {days:5d} {_spread(lagged_correlations(series, 1)):>24s}"
            f" {_spread(lagged_correlations(series, 7)):>24s}"
        )


if __name__ == "__main__":
    main()
