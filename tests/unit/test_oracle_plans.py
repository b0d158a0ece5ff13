"""The oracle's schedules: the DP against brute force, and what the violation budget buys."""

from __future__ import annotations

import itertools
import math
from dataclasses import dataclass

import numpy as np
import pytest

from simulations.policies.oracle_plans import budget_plan, cheapest_schedule, demand_peaks, headroom_plan, schedule_cost


def brute_force(
    need: list[int], arrivals: list[float], bin_s: float, start_s: float, penalty: float, floor: int, cap: int
) -> float:
    """Every schedule of ``cap + 1`` levels, priced as the DP prices them: the exact optimum."""
    best = math.inf
    for levels in itertools.product(range(floor, cap + 1), repeat=len(need)):
        schedule = np.asarray(levels)
        short_bins = [a for a, n, x in zip(arrivals, need, levels, strict=True) if x < min(n, cap)]
        if math.isinf(penalty) and short_bins:
            continue
        short = sum(short_bins)
        extra = 0.0 if math.isinf(penalty) else penalty * short
        best = min(best, schedule_cost(schedule, bin_s, start_s) + extra)
    return best


@dataclass(frozen=True)
class DpCase:
    name: str
    need: list[int]
    arrivals: list[float]
    start_s: float
    penalty: float
    floor: int = 0
    cap: int = 4


DP_CASES = [
    DpCase("covering, a short dip is kept (restart costs more)", [3, 1, 3, 1, 2], [5, 1, 5, 1, 2], 25.0, math.inf),
    DpCase("covering, a long dip is drained", [3, 0, 0, 0, 0, 3], [5, 0, 0, 0, 0, 5], 15.0, math.inf),
    DpCase("a cheap spike is left short", [1, 1, 4, 1, 1], [10, 10, 1, 10, 10], 30.0, 5.0),
    DpCase("an expensive spike is covered", [1, 1, 4, 1, 1], [10, 10, 50, 10, 10], 30.0, 5.0),
    DpCase("the floor holds", [0, 0, 2, 0, 0], [0, 0, 3, 0, 0], 5.0, 1.0, floor=1),
    DpCase("need above the cap is met by the cap", [2, 6, 6, 2], [3, 9, 9, 3], 10.0, math.inf, cap=4),
]


@pytest.mark.parametrize("case", DP_CASES, ids=lambda c: c.name)
def test_cheapest_schedule_is_the_brute_force_optimum(case: DpCase) -> None:
    need = np.asarray(case.need)
    arrivals = np.asarray(case.arrivals, dtype=float)
    schedule, short = cheapest_schedule(need, arrivals, 10.0, case.start_s, case.penalty, case.floor, case.cap)
    extra = 0.0 if math.isinf(case.penalty) else case.penalty * short
    assert schedule_cost(schedule, 10.0, case.start_s) + extra == pytest.approx(
        brute_force(case.need, case.arrivals, 10.0, case.start_s, case.penalty, case.floor, case.cap)
    )
    assert short == float(arrivals[schedule < np.minimum(need, case.cap)].sum())
    assert schedule.min() >= case.floor and schedule.max() <= case.cap


def test_random_instances_match_brute_force() -> None:
    rng = np.random.default_rng(7)
    for _ in range(40):
        bins = int(rng.integers(2, 6))
        need = rng.integers(0, 5, bins).tolist()
        arrivals = rng.integers(0, 20, bins).astype(float).tolist()
        start, penalty = float(rng.uniform(0, 40)), float(rng.choice([math.inf, rng.uniform(0.1, 10)]))
        schedule, short = cheapest_schedule(np.asarray(need), np.asarray(arrivals), 10.0, start, penalty, 0, 4)
        extra = 0.0 if math.isinf(penalty) else penalty * short
        assert schedule_cost(schedule, 10.0, start) + extra == pytest.approx(
            brute_force(need, arrivals, 10.0, start, penalty, 0, 4)
        ), (need, arrivals, start, penalty)


def test_the_budget_goes_to_the_spike_that_saves_most() -> None:
    """Two spikes, one of 2 requests that needs 5 more pods and one of 30 that needs 1 more: a budget
    of 2 requests leaves the first short and covers the second. (A bin must also cover the bin before
    it, whose requests are still being served.)"""
    load = np.asarray([1, 1, 6, 1, 1, 1, 2, 1, 1], dtype=float)
    arrivals = np.asarray([20, 20, 1, 1, 20, 20, 30, 20, 20], dtype=float)
    covered = budget_plan(load, arrivals, 10.0, 0.0, 1.0, 0.0, 5.0, 1, 10)
    spent = budget_plan(load, arrivals, 10.0, 0.0, 1.0, 2.0, 5.0, 1, 10)
    assert covered.tolist() == [1, 1, 6, 6, 1, 1, 2, 2, 1]
    assert spent.tolist() == [1, 1, 1, 1, 1, 1, 2, 2, 1]
    too_small = budget_plan(load, arrivals, 10.0, 0.0, 1.0, 1.0, 5.0, 1, 10)
    assert too_small.tolist() == covered.tolist()


def test_budget_plan_scales_and_looks_ahead_like_the_headroom_plan() -> None:
    load = np.asarray([1.0, 1.0, 1.0, 3.0, 1.0, 1.0])
    peaks = demand_peaks(load, 10.0, 10.0)
    assert peaks.tolist() == [1.0, 1.0, 3.0, 3.0, 3.0, 1.0]
    plan = budget_plan(load, np.ones(6), 10.0, 10.0, 1.5, 0.0, 0.0, 1, 10)
    assert plan.tolist() == [2, 2, 5, 5, 5, 2]
    assert headroom_plan(load, 10.0, 1.5, 10.0, 0.0, 10, 1).tolist() == plan.tolist()
