"""The lines the offline commands print, from the summaries they print them from."""

from __future__ import annotations

import io
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


def test_a_backtest_table_fits_80_columns_without_cutting_a_name_or_a_digit(monkeypatch: pytest.MonkeyPatch) -> None:
    """seasonal_daily and seasonal_naive_daily read alike once cut short; so do 1.511 and 1.5…."""
    from rich.console import Console

    from simulations import tables

    console = Console(width=80, record=True, file=io.StringIO())
    monkeypatch.setattr(tables, "wide_console", lambda: console)
    row = {
        "model": "seasonal_naive_daily",
        "horizon_s": 1800.0,
        "mase": 1.511,
        "smape": 138.2,
        "pinball": 0.512,
        "coverage": {"0.5": 0.56, "0.9": 0.91, "0.95": 0.98},
        "update_us": 140.0,
        "notes": [],
    }
    result = {"series": "trace requests per second", "step_s": 10.0, "points": 344, "skipped_horizons_s": []}
    tables.print_backtest({**result, "results": [row, {**row, "model": "seasonal_daily", "horizon_s": 60.0}]})
    lines = console.export_text().splitlines()
    assert max(len(line) for line in lines) <= 80
    cells = [line.split() for line in lines if line.startswith(" seasonal") or line.startswith("seasonal")]
    assert cells == [
        ["seasonal_naive_daily", "1800", "s", "1.511", "138.2", "0.512", "0.56", "0.91", "0.98", "140"],
        ["seasonal_daily", "60", "s", "1.511", "138.2", "0.512", "0.56", "0.91", "0.98", "140"],
    ]
