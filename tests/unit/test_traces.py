"""Trace loaders: the real public traces, and exact errors for malformed files."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from simulations.traces import RateSeries, RequestTrace, TraceError, detect_format, is_rate_series, load_trace
from simulations.traces.demand import demand_series
from tests.conftest import TRACES

needs_traces = pytest.mark.skipif(not TRACES.is_dir(), reason=f"shared traces not found at {TRACES}")


@needs_traces
@pytest.mark.parametrize(
    ("name", "fmt", "requests", "span_s"),
    [
        ("azure2023_code.csv", "azure", 8819, 3435.9),
        ("mooncake_conversation.jsonl", "mooncake", 12031, 3537.0),
    ],
    ids=["azure code 2023", "mooncake conversation"],
)
def test_per_request_traces(name: str, fmt: str, requests: int, span_s: float) -> None:
    path = TRACES / name
    assert detect_format(path) == fmt
    trace = load_trace(path)
    assert isinstance(trace, RequestTrace)
    assert trace.requests == requests
    assert trace.span_s == pytest.approx(span_s, abs=0.1)
    assert trace.arrival_s[0] == 0.0 and np.all(np.diff(trace.arrival_s) >= 0)
    assert trace.prompt_tokens.min() >= 0 and trace.output_tokens.min() >= 0


@needs_traces
@pytest.mark.parametrize(
    ("name", "rate_series"),
    [
        pytest.param("azure2023_code.csv", False, id="azure"),
        pytest.param("mooncake_conversation.jsonl", False, id="mooncake"),
        pytest.param("burstgpt1_hourly_61d.csv", True, id="burstgpt hourly"),
        pytest.param("servegen_rate_10min_14d.csv", True, id="servegen"),
    ],
)
def test_is_rate_series_agrees_with_what_the_loader_returns(name: str, rate_series: bool) -> None:
    path = TRACES / name
    assert is_rate_series(path) is rate_series
    assert isinstance(load_trace(path), RateSeries) is rate_series


@needs_traces
@pytest.mark.parametrize(
    ("name", "options", "step_s", "points", "gaps"),
    [
        ("burstgpt1_hourly_61d.csv", {}, 3600.0, 1464, 0),
        ("burstgpt1_hourly_61d.csv", {"column": "conversation"}, 3600.0, 1464, 0),
        ("servegen_rate_10min_14d.csv", {}, 600.0, 2016, 0),
        ("servegen_rate_10min_14d.csv", {"column": "language/m-mid"}, 600.0, 2016, None),
    ],
    ids=["burstgpt all", "burstgpt conversation", "servegen m-large", "servegen m-mid (gaps)"],
)
def test_rate_series(name: str, options: dict[str, str], step_s: float, points: int, gaps: int | None) -> None:
    trace = load_trace(TRACES / name, **options)
    assert isinstance(trace, RateSeries)
    assert (trace.step_s, trace.requests_per_s.shape[0]) == (step_s, points)
    missing = int(np.isnan(trace.requests_per_s).sum())
    if gaps is None:
        assert missing > 0 and trace.notes == (f"{missing} all-zero windows treated as data gaps",)
    else:
        assert missing == gaps


@needs_traces
def test_binning_keeps_every_request_of_the_complete_bins() -> None:
    """The bin holding the last request ends after the trace does: it is dropped, not read as a lull."""
    trace = load_trace(TRACES / "azure2023_code.csv")
    assert isinstance(trace, RequestTrace)
    series = demand_series(trace, 60.0)
    complete = trace.arrival_s < series.values.shape[0] * 60.0
    assert series.values.shape[0] == int(trace.arrival_s[-1] // 60.0)
    assert series.values.sum() * 60.0 == pytest.approx(complete.sum())
    tokens = demand_series(trace, 10.0, "output_tokens")
    kept = trace.arrival_s < tokens.values.shape[0] * 10.0
    assert tokens.values.sum() * 10.0 == pytest.approx(trace.output_tokens[kept].sum())


def _write(tmp_path: Path, name: str, text: str) -> Path:
    path = tmp_path / name
    path.write_text(text)
    return path


KNOWN_FORMATS = (
    "expected one of azure: TIMESTAMP,ContextTokens,GeneratedTokens; generic: arrival_s,prompt_tokens,output_tokens; "
    "burstgpt_hourly: day,hour,conversation,api,all; BurstGPT (Timestamp,Model,Request tokens,Response tokens,...); "
    "ServeGen (model,window_start_s,...); or a .jsonl Mooncake trace"
)

MALFORMED = [
    (
        "negative tokens",
        "t.csv",
        "arrival_s,prompt_tokens,output_tokens\n0,10,5\n1.5,-3,4\n",
        ", line 3, column 'prompt_tokens': '-3' must be a finite number >= 0",
    ),
    (
        "not a number",
        "t.csv",
        "arrival_s,prompt_tokens,output_tokens\n0,10,5\nsoon,3,4\n",
        ", line 3, column 'arrival_s': 'soon' is not a number",
    ),
    ("short row", "t.csv", "arrival_s,prompt_tokens,output_tokens\n0,10\n", ", line 2: expected 3 fields, got 2"),
    (
        "azure timestamp",
        "a.csv",
        "TIMESTAMP,ContextTokens,GeneratedTokens\n2023-11-16 18:17:03.97,5,6\nyesterday,1,2\n",
        ", line 3, column 'TIMESTAMP': 'yesterday' is not a timestamp like 2023-11-16 18:17:03.9799600",
    ),
    (
        "mooncake json",
        "m.jsonl",
        '{"timestamp": 0, "input_length": 5, "output_length": 3}\n{"timestamp": 1,\n',
        ", line 2: invalid JSON: Expecting property name enclosed in double quotes at character 17",
    ),
    (
        "mooncake field",
        "m.jsonl",
        '{"timestamp": 0, "input_length": 5}\n',
        ", line 1, column 'output_length': missing field",
    ),
    ("unknown header", "x.csv", "when,what\n1,2\n", f", line 1: unrecognised header 'when,what'; {KNOWN_FORMATS}"),
    ("empty", "e.csv", "", ": empty file: no header and no requests"),
    (
        "blank first line",
        "b.csv",
        "\narrival_s,prompt_tokens,output_tokens\n",
        f", line 1: unrecognised header ''; {KNOWN_FORMATS}",
    ),
    ("no rows", "n.csv", "arrival_s,prompt_tokens,output_tokens\n", ": no requests"),
]


@pytest.mark.parametrize(("case", "name", "text", "message"), MALFORMED, ids=[m[0] for m in MALFORMED])
def test_malformed_files_name_file_line_and_column(
    tmp_path: Path, case: str, name: str, text: str, message: str
) -> None:
    path = _write(tmp_path, name, text)
    with pytest.raises(TraceError) as err:
        load_trace(path)
    assert str(err.value) == f"{path}{message}", case


def test_a_header_after_a_byte_order_mark_is_read(tmp_path: Path) -> None:
    """A spreadsheet's CSV export starts with a BOM; it was refused as "unrecognised header '\\ufeffarrival_s,..."."""
    path = tmp_path / "export.csv"
    path.write_text("\ufeffarrival_s,prompt_tokens,output_tokens\n0,10,5\n1.5,20,6\n", encoding="utf-8")
    trace = load_trace(path)
    assert isinstance(trace, RequestTrace)
    assert (trace.arrival_s.tolist(), trace.prompt_tokens.tolist()) == ([0.0, 1.5], [10, 20])


def test_missing_file_and_unknown_format(tmp_path: Path) -> None:
    with pytest.raises(TraceError) as err:
        load_trace(tmp_path / "nope.csv")
    assert str(err.value) == f"{tmp_path / 'nope.csv'}: no such file"
    path = _write(tmp_path, "t.csv", "arrival_s,prompt_tokens,output_tokens\n0,1,1\n")
    with pytest.raises(TraceError) as err:
        load_trace(path, "parquet")
    assert str(err.value) == (
        f"{path}: unknown trace format 'parquet'; valid: azure, burstgpt, burstgpt_hourly, generic, mooncake, "
        "servegen_rate"
    )


def test_an_option_the_format_does_not_take_is_refused(tmp_path: Path) -> None:
    """A column names a series of an aggregated trace; a per-request trace has none to choose."""
    path = _write(tmp_path, "t.csv", "arrival_s,prompt_tokens,output_tokens\n0,1,1\n")
    with pytest.raises(TraceError) as err:
        load_trace(path, column="conversation")
    assert str(err.value) == (
        f"{path}: column 'conversation' does not apply: the generic format has no column option; "
        "only burstgpt_hourly, servegen_rate do"
    )
