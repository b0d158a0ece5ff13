"""The lines the offline commands print, from the summaries they print them from."""

from __future__ import annotations

import io
from typing import Any

import numpy as np
import pytest

from simulations.reports.tables import excess_line, format_params, tuning_conditions

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


@pytest.mark.parametrize(
    ("windows", "expected"),
    [
        pytest.param(
            [{"kind": "train"}, {"kind": "train"}, {"kind": "validation"}],
            "tuned on 2 training windows; 1 cold-start draw per trial, each to meet 99.10%; scored on draw 1",
            id="a file from before the warm-up",
        ),
        pytest.param(
            [{"kind": "train", "warm_up_s": 0.0}, {"kind": "validation", "warm_up_s": 2393.5}],
            "tuned on 1 training window; 1 cold-start draw per trial, each to meet 99.10%; scored on draw 1; "
            "held-out windows scored after replaying the trace before them as a warm-up",
            id="held out after a warm-up",
        ),
    ],
)
def test_tuning_conditions_without_copies(windows: list[dict[str, Any]], expected: str) -> None:
    summary = {
        "windows": windows,
        "perturbation": {"copies": 0, "spread": 0.2, "block_s": 300.0, "tuned_on": "train"},
        "draws": 1,
        "required_attainment": 0.991,
        "scoring_seed": 1,
    }
    assert tuning_conditions(summary) == expected


BACKTEST_ROW = {
    "model": "seasonal_naive_daily",
    "horizon_s": 1800.0,
    "mase": 1.511,
    "smape": 138.2,
    "pinball": 0.512,
    "pinball_by_quantile": {"0.5": 0.731, "0.9": 0.412, "0.95": 0.393},
    "coverage": {"0.5": 0.56, "0.9": 0.91, "0.95": 0.98},
    "update_us": 140.0,
    "notes": [],
}
BACKTEST = {
    "series": "trace requests per second",
    "step_s": 10.0,
    "points": 344,
    "skipped_horizons_s": [],
    "results": [BACKTEST_ROW, {**BACKTEST_ROW, "model": "seasonal_daily", "horizon_s": 60.0}],
}
POLICY_ROW = {
    "name": "keda-queue",
    "gpu_hours": 27.7,
    "gpu_hours_vs_oracle": 1.63,
    "slo_attainment": 0.9942,
    "ttft_p50_s": 0.07,
    "ttft_p95_s": 0.43,
    "ttft_p99_s": 1.73,
    "scale_events": 130,
    "flaps": 23,
    "meets_slo": True,
    "excess_over_oracle": None,
}
SIMULATION = {
    "trace": "azure2023_code",
    "profile": "llama3-8b-h100",
    "requests": 88190,
    "slo": {"ttft_s": 2.0, "attainment": 0.99},
    "best_possible_attainment": 1.0,
    "policies": [POLICY_ROW, {**POLICY_ROW, "name": "keda-kv"}],
}
SCORE = {
    "trace": "azure2023_code",
    "kind": "validation",
    "gpu_hours": 4.3063,
    "gpu_hours_vs_oracle": 1.1428,
    "slo_attainment": 0.99616,
    "meets_slo": True,
}
TUNING = {
    "slo": {"ttft_s": 2.0, "attainment": 0.99},
    "windows": [{"kind": "train"}, {"kind": "validation"}],
    "draws": 2,
    "required_attainment": 0.991,
    "scoring_seed": 2,
    "policies": {
        "keda-queue": {
            "scores": [SCORE],
            "params": {"target": 1.57},
            "degradation": {"in_sample_vs_oracle": 1.4, "out_of_sample_vs_oracle": 1.1428},
        }
    },
    "references": {"azure2023_code [validation]": {"fixed": SCORE, "oracle": SCORE}},
}


@pytest.mark.parametrize(
    ("printer", "document", "rows"),
    [
        pytest.param(
            "print_backtest",
            BACKTEST,
            [
                "seasonal_naive_daily 1800 s 1.511 0.731 0.412 0.56 0.91 0.98 140",
                "seasonal_daily 60 s 1.511 0.731 0.412 0.56 0.91 0.98 140",
            ],
            id="backtest: names sharing a prefix",
        ),
        pytest.param(
            "print_simulation",
            SIMULATION,
            [
                "keda-queue 27.7 1.63 99.4% 0.07s 0.43s 1.73s 130 23 yes",
                "keda-kv 27.7 1.63 99.4% 0.07s 0.43s 1.73s 130 23 yes",
            ],
            id="simulate: keda-queue and keda-kv",
        ),
        pytest.param(
            "print_tuning",
            TUNING,
            [
                "keda-queue azure2023_code [validation] 4.31 1.14 99.62% yes",
                "fixed, in hindsight azure2023_code [validation] 4.31 1.14 99.62% yes",
            ],
            id="tune: the longest window label",
        ),
    ],
)
def test_a_table_fits_80_columns_without_cutting_a_name_or_a_digit(
    monkeypatch: pytest.MonkeyPatch, printer: str, document: dict[str, Any], rows: list[str]
) -> None:
    """seasonal_daily and seasonal_naive_daily read alike once cut short; so do 1.511 and 1.5…."""
    from rich.console import Console

    from simulations.reports import tables

    console = Console(width=80, record=True, file=io.StringIO())
    monkeypatch.setattr(tables, "wide_console", lambda: console)
    if printer == "print_simulation":
        tables.print_simulation(document, span_s=3420.0)
    else:
        getattr(tables, printer)(document)
    lines = console.export_text().splitlines()
    assert max(len(line) for line in lines) <= 80
    table_rows = [" ".join(line.split()) for line in lines]
    for row in rows:
        assert row in table_rows


@pytest.mark.parametrize(
    ("params", "shown"),
    [
        ({"replicas": 13.0}, "replicas=13"),
        (
            {"utilization": 0.26565656, "forecast_horizon_s": 203.0, "target_kv_cache_usage": 0.95},
            "utilization=0.266, forecast_horizon_s=203, target_kv_cache_usage=0.95",
        ),
        ({"forecast_model": "default", "queue_drain_s": None}, "forecast_model=default, queue_drain_s=None"),
        (
            {"sized_for_context_tokens": 13513.5, "sized_for_prompt_tokens": 2121.4},
            "sized_for_context_tokens=13514, sized_for_prompt_tokens=2121",
        ),
    ],
    ids=["an integer-valued float", "rounded to three digits", "words and None", "token counts in whole tokens"],
)
def test_tuned_parameters_print_as_name_value_pairs(params: dict[str, Any], shown: str) -> None:
    assert format_params(params) == shown


def _comparison(gpuscale: dict[str, Any] | None, headline: dict[str, Any] | None) -> dict[str, Any]:
    rows = [{**POLICY_ROW, "name": "keda-queue", "gpu_hours": 13.53}, {**POLICY_ROW, "name": "oracle"}]
    if gpuscale is not None:
        rows.insert(0, {**POLICY_ROW, "name": "gpuscale", **gpuscale})
    return {**SIMULATION, "policies": rows, "headline": headline}


HEADLINE = {
    "best_baseline": "keda-queue",
    "best_baseline_gpu_hours": 13.53,
    "gpuscale_vs_oracle": 1.11,
    "gpuscale_vs_best_baseline": 0.8817,
    "gap_closed": 0.5578,
}
SLO = "TTFT within 2 s for 99.0% of requests"


@pytest.mark.parametrize(
    ("case", "gpuscale", "headline", "sentence"),
    [
        (
            "cheaper than the best baseline",
            {"gpu_hours": 11.93, "meets_slo": True},
            HEADLINE,
            f"gpuscale met the SLO ({SLO}) with 11.93 GPU-h: 12% fewer than the cheapest baseline that met it"
            " (keda-queue, 13.53 GPU-h) and 1.11x the clairvoyant oracle, closing 56% of the gap between them.",
        ),
        (
            "dearer than the best baseline: no gap closed",
            {"gpu_hours": 14.2, "meets_slo": True},
            {**HEADLINE, "gpuscale_vs_best_baseline": 1.0495, "gap_closed": -0.1},
            f"gpuscale met the SLO ({SLO}) with 14.20 GPU-h: 5% more than the cheapest baseline that met it"
            " (keda-queue, 13.53 GPU-h) and 1.11x the clairvoyant oracle.",
        ),
        (
            "missed: its attainment is named, no gap is claimed",
            {"gpu_hours": 11.0, "meets_slo": False, "slo_attainment": 0.9583},
            HEADLINE,
            f"gpuscale missed the SLO ({SLO}: 95.83%) with 11.00 GPU-h: 12% fewer than the cheapest baseline that"
            " met it (keda-queue, 13.53 GPU-h) and 1.11x the clairvoyant oracle.",
        ),
        (
            "no baseline met the SLO",
            {"gpu_hours": 11.93, "meets_slo": True},
            None,
            f"gpuscale met the SLO ({SLO}) with 11.93 GPU-h; no baseline met it (keda-queue).",
        ),
        ("gpuscale not replayed", None, None, None),
    ],
)
def test_the_headline_sentence_says_what_the_comparison_shows(
    case: str, gpuscale: dict[str, Any] | None, headline: dict[str, Any] | None, sentence: str | None
) -> None:
    from simulations.reports.tables import headline_sentence

    assert headline_sentence(_comparison(gpuscale, headline)) == sentence, case


def _tuned(floor: int | None, peaks: list[int]) -> dict[str, Any]:
    params = {"target": 4.0} | ({} if floor is None else {"min_replicas": floor})
    return {"params": params, "scores": [{**SCORE, "peak_replicas": p} for p in peaks]}


@pytest.mark.parametrize(
    ("case", "tuned", "floor"),
    [
        ("never above its floor on any window", _tuned(29, [29, 29]), 29),
        ("scaled above it on one window", _tuned(29, [29, 31]), None),
        ("no floor in its setting", _tuned(None, [5, 5]), None),
        ("no windows scored", _tuned(5, []), None),
    ],
)
def test_a_tuned_policy_that_never_left_its_floor_is_a_fixed_fleet(
    case: str, tuned: dict[str, Any], floor: int | None
) -> None:
    from simulations.reports.tables import tuned_floor

    assert tuned_floor(tuned) == floor, case


def test_policies_that_ended_as_the_same_floor_are_named_together() -> None:
    from simulations.reports.tables import same_floor_line

    floors = {"hpa-gpu": 29, "keda-queue": 29, "keda-kv": 29, "knative": 12, "gpuscale": None}
    assert same_floor_line(floors) == (
        "hpa-gpu, keda-queue, keda-kv ended as the same fleet: a floor of 29 replicas that never scaled above it;"
        " on this trace their signals bought nothing over a fixed fleet"
    )
    assert same_floor_line({"knative": 12, "gpuscale": None}) is None  # one floor alone: its row says so


def test_the_tuning_reports_table_has_the_terminals_rows_and_names_a_shared_floor() -> None:
    from simulations.reports.html import _tuning_table

    both = {"keda-queue": _tuned(6, [6]), "keda-kv": _tuned(6, [6])}
    for tuned in both.values():
        tuned["degradation"] = TUNING["policies"]["keda-queue"]["degradation"]
    page = _tuning_table({**TUNING, "policies": both})
    assert "<td>keda-queue (floor 6)</td><td>azure2023_code [validation]</td><td>4.31</td>" in page
    assert "<td>fixed, in hindsight</td><td>azure2023_code [validation]</td><td>4.31</td><td>1.14</td>" in page
    assert "<td>oracle</td><td>azure2023_code [validation]</td>" in page
    assert page.endswith(
        '<p class="note">keda-queue, keda-kv ended as the same fleet: a floor of 6 replicas that never scaled above'
        " it; on this trace their signals bought nothing over a fixed fleet</p>"
    )


def test_p99_per_minute_breaks_the_line_where_no_request_arrived() -> None:
    """Arrivals in minutes 0 and 2 only: minute 1 is NaN (a gap), not a line from minute 0 to 2; an
    unserved request counts as the cap (10,000 s), so minute 2's p99 lies between its two requests."""
    from simulations.reports.html import p99_per_bin

    arrival = np.array([5.0, 10.0, 130.0, 150.0])
    ttft = np.array([0.5, 0.5, 1.0, np.nan])
    xs, ys = p99_per_bin(arrival, ttft, 60.0)
    assert xs.tolist() == [0.0, 60.0, 120.0]
    assert ys[0] == pytest.approx(0.5) and np.isnan(ys[1]) and ys[2] == pytest.approx(1.0 + 0.99 * (1e4 - 1.0))


@pytest.mark.parametrize(
    ("case", "lines", "groups"),
    [
        (
            "two policies with the same ready series",
            {"keda-queue": ([0, 10], [2, 3]), "keda-kv": ([0, 10], [2, 3]), "gpuscale": ([0, 10], [2, 4])},
            [["keda-queue", "keda-kv"], ["gpuscale"]],
        ),
        ("same values at other times", {"a": ([0, 10], [1, 1]), "b": ([0, 20], [1, 1])}, [["a"], ["b"]]),
    ],
)
def test_lines_that_would_hide_each_other_are_grouped(
    case: str, lines: dict[str, tuple[list[float], list[float]]], groups: list[list[str]]
) -> None:
    from simulations.reports.html import same_lines

    arrays = {name: (np.array(x), np.array(y)) for name, (x, y) in lines.items()}
    assert same_lines(arrays) == groups, case


@pytest.mark.parametrize(
    ("case", "misses", "label"),
    [
        ("no run on the floor", [0.002, 0.05], None),
        ("one perfect run", [1e-4, 0.05], "no request missed (1 run, drawn at 0.01%)"),
        ("several", [1e-4, 1e-4, 0.003], "no request missed (2 runs, drawn at 0.01%)"),
    ],
)
def test_runs_that_missed_nothing_are_labelled_on_the_log_axis(
    case: str, misses: list[float], label: str | None
) -> None:
    from simulations.reports.html import no_miss_label

    assert no_miss_label(misses) == label, case
