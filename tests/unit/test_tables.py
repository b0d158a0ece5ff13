"""The lines the offline commands print, from the summaries they print them from."""

from __future__ import annotations

from typing import Any

import pytest

from simulations.tables import excess_line, tuning_conditions

EXCESS = {"over_gpu_hours": 5.8123, "under_gpu_hours": 1.0, "by_reason": {"hold_stabilization": 5.34, "steady": 0.47}}


@pytest.mark.parametrize(
    ("row", "expected"),
    [
        pytest.param({"name": "knative", "excess_over_oracle": EXCESS}, None, id="only gpuscale is charged"),
        pytest.param({"name": "gpuscale", "excess_over_oracle": None}, None, id="no oracle in the run"),
        pytest.param(
            {"name": "gpuscale", "excess_over_oracle": {**EXCESS, "over_gpu_hours": 0.0}},
            None,
            id="nothing above the oracle",
        ),
        pytest.param(
            {"name": "gpuscale", "excess_over_oracle": {**EXCESS, "by_signal": {"forecast": 3.8, "throughput": 2.01}}},
            "gpuscale paid 5.81 GPU-h above the oracle (1.00 below). By decision: hold_stabilization 5.34, "
            "steady 0.47. By the signal that won: forecast 3.80, throughput 2.01.",
            id="charged by decision and signal",
        ),
    ],
)
def test_excess_line(row: dict[str, Any], expected: str | None) -> None:
    assert excess_line(row) == expected


def test_tuning_conditions_without_copies() -> None:
    summary = {
        "windows": [{"kind": "train"}, {"kind": "train"}, {"kind": "validation"}],
        "perturbation": {"copies": 0, "spread": 0.2, "block_s": 300.0, "tuned_on": "train"},
        "draws": 1,
        "required_attainment": 0.991,
        "scoring_seed": 1,
    }
    assert tuning_conditions(summary) == (
        "tuned on 2 training windows; 1 cold-start draw per trial, each to meet 99.10%; scored on draw 1"
    )
