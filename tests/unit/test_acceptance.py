"""The tuner's verdicts: out of sample over draws, and on a tuned gpuscale that never left its replica floor."""

from __future__ import annotations

from typing import Any

import pytest

from simulations.tuning.acceptance import acceptance_candidates, floor_advice, verdict
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


def replay(label: str, attainment: float, gpu_hours: float) -> dict[str, Any]:
    return {
        "window": "azure [validation]",
        "replay": label,
        "slo_attainment": attainment,
        "meets_slo": attainment >= 0.99,
        "gpu_hours": gpu_hours,
    }


@pytest.mark.parametrize(
    ("replays", "standing_in", "expected"),
    [
        pytest.param(
            [replay("draw 1", 0.995, 4.1), replay("draw 2", 0.9981, 4.25), replay("rate-perturbed #1", 0.991, 4.4)],
            False,
            "accepted: met the SLO in all 3 replays on the held-out windows; attainment 99.10% to 99.81%, "
            "4.10 to 4.40 GPU-h",
            id="every replay met it",
        ),
        pytest.param(
            [replay("draw 1", 0.995, 4.1), replay("draw 2", 0.97, 3.9), replay("draw 3", 0.985, 4.0)],
            False,
            "not accepted: missed the SLO in 2 of 3 replays on the held-out windows (worst 97.00%, "
            "azure [validation] draw 2); attainment 97.00% to 99.50%, 3.90 to 4.10 GPU-h",
            id="two missed: the worst is named",
        ),
        pytest.param(
            [replay("draw 1", 1.0, 2.0)],
            True,
            "accepted: met the SLO in all 1 replays on the training windows (no held-out part); attainment "
            "100.00% to 100.00%, 2.00 to 2.00 GPU-h",
            id="no held-out part: the training windows stand in",
        ),
    ],
)
def test_verdict(replays: list[dict[str, Any]], standing_in: bool, expected: str) -> None:
    assert verdict(replays, standing_in) == expected
