"""Charging GPU-hours above the oracle to the decision in force: exact figures on small fleets."""

from __future__ import annotations

import numpy as np
import pytest

from simulations.policies.attribution import excess_of, pod_seconds_per_bin
from simulations.reports.html import above_the_oracle

MINUTE = 60.0
#: Two samples per minute, as the replay's 10 s series would give six.
T = np.arange(0.0, 4 * MINUTE, 30.0)


def pods(*per_minute: float) -> np.ndarray:
    return np.repeat(np.array(per_minute), 2)


CASES = {
    # two minutes of 10 pods against 4 after a scale-up, then the window holds 10, then both at 4
    "a scale-up, then a hold for the window": (
        pods(10, 10, 4, 4),
        pods(4, 4, 4, 4),
        [(0.0, "scale_up", "queue"), (MINUTE, "hold_stabilization", "throughput"), (2 * MINUTE, "steady", "forecast")],
        {"over": 12 / 60, "under": 0.0},
        {"scale_up": 6 / 60, "hold_stabilization": 6 / 60},
        {"queue": 6 / 60, "throughput": 6 / 60},
    ),
    "below the oracle is counted apart and charged to nothing": (
        pods(3, 3, 5, 5),
        pods(5, 5, 5, 5),
        [(0.0, "steady", "throughput")],
        {"over": 0.0, "under": 4 / 60},
        {},
        {},
    ),
    "a baseline has no decisions: totals only": (
        pods(6, 6, 6, 6),
        pods(4, 4, 4, 4),
        [],
        {"over": 8 / 60, "under": 0.0},
        {},
        {},
    ),
    "minutes before the first decision": (
        pods(5, 5, 4, 4),
        pods(4, 4, 4, 4),
        [(MINUTE, "steady", "kv_cache")],
        {"over": 2 / 60, "under": 0.0},
        {"before_first_decision": 1 / 60, "steady": 1 / 60},
        {"none": 1 / 60, "kv_cache": 1 / 60},
    ),
}


@pytest.mark.parametrize(
    ("ours", "oracle", "decisions", "totals", "by_reason", "by_signal"), list(CASES.values()), ids=list(CASES)
)
def test_excess_is_charged_to_the_decision_in_force(
    ours: np.ndarray,
    oracle: np.ndarray,
    decisions: list[tuple[float, str, str]],
    totals: dict[str, float],
    by_reason: dict[str, float],
    by_signal: dict[str, float],
) -> None:
    excess = excess_of(T, ours, T, oracle, decisions)
    assert excess.over_gpu_hours == pytest.approx(totals["over"])
    assert excess.under_gpu_hours == pytest.approx(totals["under"])
    assert excess.by_reason == pytest.approx(by_reason)
    assert excess.by_signal == pytest.approx(by_signal)


def test_json_lists_the_largest_share_first() -> None:
    decisions = [(0.0, "steady", "throughput"), (MINUTE, "hold_stabilization", "forecast")]
    shown = excess_of(T, pods(10, 10, 5, 4), T, pods(4, 4, 4, 4), decisions).to_json()
    assert list(shown["by_reason"]) == ["hold_stabilization", "steady"]  # type: ignore[call-overload]
    assert shown == {
        "over_gpu_hours": round(13 / 60, 4),
        "under_gpu_hours": 0.0,
        "by_reason": {"hold_stabilization": round(7 / 60, 4), "steady": 0.1},
        "by_signal": {"forecast": round(7 / 60, 4), "throughput": 0.1},
    }


def test_a_sample_holds_until_the_next_across_bins() -> None:
    t = np.array([0.0, 30.0, 150.0])  # nothing sampled in the second minute; the last sample holds 120 s
    per_bin = pod_seconds_per_bin(t, np.array([2.0, 4.0, 7.0]), MINUTE, 5)
    assert per_bin.tolist() == [2 * 30 + 4 * 30, 4 * 60, 4 * 30 + 7 * 30, 7 * 60, 7 * 30]


def test_gpus_per_replica_multiply_the_hours() -> None:
    excess = excess_of(T, pods(6, 6, 6, 6), T, pods(4, 4, 4, 4), gpus_per_replica=4)
    assert excess.over_gpu_hours == pytest.approx(4 * 8 / 60)


ABOVE = {
    "gpuscale above, with what held it": (
        {"over_gpu_hours": 2.0, "under_gpu_hours": 0.1, "by_reason": {"hold_stabilization": 1.5, "steady": 0.5},
         "by_signal": {"forecast": 1.2, "queue": 0.8}},
        "2.00 (hold_stabilization 75%, forecast 60%)",
    ),
    "a baseline above: no decisions to charge": (
        {"over_gpu_hours": 1.25, "under_gpu_hours": 0.0, "by_reason": {}, "by_signal": {}},
        "1.25",
    ),
    "never above the oracle": (
        {"over_gpu_hours": 0.0, "under_gpu_hours": 0.5, "by_reason": {}, "by_signal": {}},
        "0.00",
    ),
    "a tuning file from before it was recorded": (None, "-"),
}  # fmt: skip


@pytest.mark.parametrize(("excess", "cell"), list(ABOVE.values()), ids=list(ABOVE))
def test_tuning_table_cell(excess: dict[str, object] | None, cell: str) -> None:
    score = {"gpu_hours": 3.0} | ({} if excess is None else {"excess_over_oracle": excess})
    assert above_the_oracle(score) == cell
