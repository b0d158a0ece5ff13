"""The tuner's verdict on a tuned gpuscale that never left its replica floor."""

from __future__ import annotations

from typing import Any

import pytest

from simulations.acceptance import floor_advice

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
