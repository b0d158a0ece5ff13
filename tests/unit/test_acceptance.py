"""The tuner's verdict on a tuned gpuscale that never left its replica floor."""

from __future__ import annotations

from typing import Any

import pytest

from simulations.tuning.acceptance import acceptance_candidates, floor_advice
from simulations.tuning.tuner import Trial

ADVICE = (
    "gpuscale's tuned setting is a floor of 6 replicas that it never left: this trace gives a forecast-driven "
    "policy nothing to gain; run the tuned fixed fleet of 8 instead"
)


@pytest.mark.parametrize(
    ("params", "peaks", "fixed", "expected"),
    [
        pytest.param({"min_replicas": 6.0}, [6, 6], 8, ADVICE, id="never above the floor on any window"),
        pytest.param({"min_replicas": 6.0}, [6, 7], 8, None, id="one window went above it: it scaled"),
        pytest.param({"utilization": 0.7}, [3, 3], 8, None, id="no floor was tuned"),
        pytest.param(
            {"min_replicas": 2.0},
            [2],
            None,
            "gpuscale's tuned setting is a floor of 2 replicas that it never left: this trace gives a "
            "forecast-driven policy nothing to gain; run a fixed fleet instead",
            id="the fixed fleet was not tuned beside it",
        ),
        pytest.param({"min_replicas": 2.0}, [], 8, None, id="no scored window"),
    ],
)
def test_floor_advice(params: dict[str, Any], peaks: list[int], fixed: int | None, expected: str | None) -> None:
    scores = [{"peak_replicas": peak} for peak in peaks]
    assert floor_advice(params, scores, fixed) == expected


def trial(name: str, gpu_hours: float, attainment: float, feasible: bool = True) -> Trial:
    return Trial({"x": float(len(name))} | {"id": gpu_hours}, gpu_hours, attainment, feasible, gpu_hours, feasible)


def test_candidates_are_the_best_then_cheaper_settings_with_more_margin_each() -> None:
    best = trial("best", 10.0, 0.9915)
    trials = [
        best,
        trial("infeasible", 9.0, 0.98, feasible=False),  # never a candidate
        trial("same margin", 10.5, 0.9915),  # no more margin than the best: skipped
        trial("a little more", 11.0, 0.9930),
        trial("less than the last", 11.5, 0.9920),  # more than the best, less than the previous one
        trial("more again", 12.0, 0.9990),
        trial("beyond the limit", 13.0, 0.9999),
    ]
    assert [t.gpu_hours for t in acceptance_candidates(best, trials)] == [10.0, 11.0, 12.0]
    assert [t.gpu_hours for t in acceptance_candidates(best, trials, limit=1)] == [10.0]
