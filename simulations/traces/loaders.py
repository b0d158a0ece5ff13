"""Trace loaders by format name, with format detection from the file's first line.

Every loader reads the whole file or raises :class:`TraceError` naming the file,
line and column: nothing half-loads silently.
"""

from __future__ import annotations

import csv
import gzip
import inspect
import json
import math
from collections.abc import Callable, Iterator
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, TextIO, get_type_hints

import numpy as np

from simulations.traces.base import RateSeries, RequestTrace, TraceError

if TYPE_CHECKING:
    from _csv import Reader as CsvReader
else:
    CsvReader = object

Trace = RequestTrace | RateSeries
Loader = Callable[..., Trace]
LOADERS: dict[str, Loader] = {}


def register(name: str) -> Callable[[Loader], Loader]:
    def add(fn: Loader) -> Loader:
        if name in LOADERS:
            raise ValueError(f"trace format {name!r} is already registered")
        LOADERS[name] = fn
        return fn

    return add


def trace_name(path: Path) -> str:
    """``azure2023_code`` for ``azure2023_code.csv`` and ``azure2023_code.csv.gz`` alike."""
    name = path.name[: -len(".gz")] if path.name.endswith(".gz") else path.name
    return Path(name).stem


def open_text(path: Path) -> TextIO:
    """A trace file as text; ``.gz`` files are decompressed on the fly. A UTF-8 byte-order mark (as
    spreadsheets write one) is dropped, so the header reads as it looks."""
    if path.suffix == ".gz":
        return gzip.open(path, "rt", newline="", encoding="utf-8-sig")
    return path.open(newline="", encoding="utf-8-sig")


def _open_csv(path: Path) -> tuple[list[str], CsvReader]:
    try:
        handle = open_text(path)
    except OSError as exc:
        raise TraceError(path, f"cannot open: {exc.strerror or exc}") from None
    reader = csv.reader(handle)
    try:
        header = [h.strip() for h in next(reader)]
    except StopIteration:
        raise TraceError(path, "empty file", line=1) from None
    except (csv.Error, UnicodeDecodeError) as exc:
        raise TraceError(path, f"not a CSV file: {exc}", line=1) from None
    return header, reader


def _number(path: Path, line: int, column: str, raw: str, kind: type = float) -> float:
    try:
        value = float(raw) if kind is float else int(raw)
    except ValueError:
        raise TraceError(path, f"{raw!r} is not a{'n integer' if kind is int else ' number'}", line, column) from None
    if not math.isfinite(value) or value < 0:
        raise TraceError(path, f"{raw!r} must be a finite number >= 0", line, column)
    return value


def _rows(
    path: Path, header: list[str], reader: CsvReader, required: list[str]
) -> Iterator[tuple[int, dict[str, str]]]:
    missing = [c for c in required if c not in header]
    if missing:
        raise TraceError(path, f"missing column(s) {', '.join(missing)}; found {', '.join(header)}", line=1)
    index = {c: header.index(c) for c in required}
    try:
        for row in reader:
            line = reader.line_num
            if not row or all(not cell.strip() for cell in row):
                continue
            if len(row) < len(header):
                raise TraceError(path, f"expected {len(header)} fields, got {len(row)}", line)
            yield line, {c: row[i].strip() for c, i in index.items()}
    except (csv.Error, UnicodeDecodeError) as exc:
        raise TraceError(path, f"malformed CSV: {exc}", reader.line_num) from None


def _request_trace(path: Path, name: str, arrivals: list[float], prompt: list[int], output: list[int]) -> RequestTrace:
    if not arrivals:
        raise TraceError(path, "no requests")
    order = np.argsort(np.asarray(arrivals), kind="stable")
    arrival = np.asarray(arrivals, dtype=np.float64)[order]
    return RequestTrace(
        name=name,
        arrival_s=arrival - arrival[0],
        prompt_tokens=np.asarray(prompt, dtype=np.int64)[order],
        output_tokens=np.asarray(output, dtype=np.int64)[order],
        source=str(path),
    )


def _azure_time(path: Path, line: int, raw: str) -> float:
    # "2023-11-16 18:17:03.9799600": 7 fractional digits (100 ns); datetime takes at most 6.
    text = raw.strip()
    if "." in text:
        head, frac = text.split(".", 1)
        text = f"{head}.{frac[:6]}"
    try:
        return datetime.fromisoformat(text).timestamp()
    except ValueError:
        raise TraceError(
            path, f"{raw!r} is not a timestamp like 2023-11-16 18:17:03.9799600", line, "TIMESTAMP"
        ) from None


@register("azure")
def load_azure(path: Path) -> RequestTrace:
    """Azure LLM inference trace (2023 and 2024): TIMESTAMP,ContextTokens,GeneratedTokens."""
    header, reader = _open_csv(path)
    arrivals, prompt, output = [], [], []
    for line, row in _rows(path, header, reader, ["TIMESTAMP", "ContextTokens", "GeneratedTokens"]):
        arrivals.append(_azure_time(path, line, row["TIMESTAMP"]))
        prompt.append(int(_number(path, line, "ContextTokens", row["ContextTokens"], int)))
        output.append(int(_number(path, line, "GeneratedTokens", row["GeneratedTokens"], int)))
    return _request_trace(path, trace_name(path), arrivals, prompt, output)


@register("burstgpt")
def load_burstgpt(path: Path) -> RequestTrace:
    """BurstGPT per-request CSV: Timestamp,Model,Request tokens,Response tokens,... (session columns optional)."""
    header, reader = _open_csv(path)
    arrivals, prompt, output = [], [], []
    for line, row in _rows(path, header, reader, ["Timestamp", "Request tokens", "Response tokens"]):
        arrivals.append(_number(path, line, "Timestamp", row["Timestamp"]))
        prompt.append(int(_number(path, line, "Request tokens", row["Request tokens"], int)))
        output.append(int(_number(path, line, "Response tokens", row["Response tokens"], int)))
    return _request_trace(path, trace_name(path), arrivals, prompt, output)


@register("generic")
def load_generic(path: Path) -> RequestTrace:
    """Generic CSV: arrival_s,prompt_tokens,output_tokens."""
    header, reader = _open_csv(path)
    arrivals, prompt, output = [], [], []
    for line, row in _rows(path, header, reader, ["arrival_s", "prompt_tokens", "output_tokens"]):
        arrivals.append(_number(path, line, "arrival_s", row["arrival_s"]))
        prompt.append(int(_number(path, line, "prompt_tokens", row["prompt_tokens"], int)))
        output.append(int(_number(path, line, "output_tokens", row["output_tokens"], int)))
    return _request_trace(path, trace_name(path), arrivals, prompt, output)


@register("mooncake")
def load_mooncake(path: Path) -> RequestTrace:
    """Mooncake JSONL: {"timestamp": ms, "input_length", "output_length", "hash_ids"}."""
    arrivals, prompt, output = [], [], []
    try:
        handle = open_text(path)
    except OSError as exc:
        raise TraceError(path, f"cannot open: {exc.strerror or exc}") from None
    with handle:
        for line_no, text in enumerate(handle, start=1):
            if not text.strip():
                continue
            try:
                record = json.loads(text)
            except json.JSONDecodeError as exc:
                raise TraceError(path, f"invalid JSON: {exc.msg} at character {exc.pos}", line_no) from None
            if not isinstance(record, dict):
                raise TraceError(path, "each line must be a JSON object", line_no)
            for key in ("timestamp", "input_length", "output_length"):
                if key not in record:
                    raise TraceError(path, "missing field", line_no, key)
                value = record[key]
                if isinstance(value, bool) or not isinstance(value, int | float) or value < 0:
                    raise TraceError(path, f"{value!r} must be a number >= 0", line_no, key)
            arrivals.append(float(record["timestamp"]) / 1000.0)
            prompt.append(int(record["input_length"]))
            output.append(int(record["output_length"]))
    return _request_trace(path, trace_name(path), arrivals, prompt, output)


@register("burstgpt_hourly")
def load_burstgpt_hourly(path: Path, column: str = "all") -> RateSeries:
    """Hourly request counts: day,hour,conversation,api,all (a column is chosen, default all)."""
    header, reader = _open_csv(path)
    values = []
    for line, row in _rows(path, header, reader, ["day", "hour", column]):
        values.append(_number(path, line, column, row[column]) / 3600.0)
    if not values:
        raise TraceError(path, "no rows")
    return RateSeries(f"{trace_name(path)}:{column}", 3600.0, np.asarray(values), str(path))


@register("servegen_rate")
def load_servegen_rate(path: Path, column: str = "language/m-large") -> RateSeries:
    """ServeGen rate per window: model,window_start_s,clients_active,total_rate_rps,... for one model.

    All-zero windows of a model with traffic elsewhere are data gaps, not idle time: they become NaN.
    """
    header, reader = _open_csv(path)
    starts, rates = [], []
    models: set[str] = set()
    for line, row in _rows(path, header, reader, ["model", "window_start_s", "total_rate_rps"]):
        models.add(row["model"])
        if row["model"] != column:
            continue
        starts.append(_number(path, line, "window_start_s", row["window_start_s"]))
        rates.append(_number(path, line, "total_rate_rps", row["total_rate_rps"]))
    if not starts:
        raise TraceError(path, f"no rows for model {column!r}; models: {', '.join(sorted(models))}")
    step = float(np.median(np.diff(starts))) if len(starts) > 1 else 600.0
    series = np.asarray(rates)
    gaps = int(np.sum(series == 0))
    series = np.where(series == 0, np.nan, series)
    notes = (f"{gaps} all-zero windows treated as data gaps",) if gaps else ()
    return RateSeries(f"{trace_name(path)}:{column}", step, series, str(path), notes)


_SIGNATURES = {
    "TIMESTAMP,ContextTokens,GeneratedTokens": "azure",
    "arrival_s,prompt_tokens,output_tokens": "generic",
    "day,hour,conversation,api,all": "burstgpt_hourly",
}


def detect_format(path: Path) -> str:
    """The loader for ``path``, from its extension and first line."""
    if path.suffix == ".jsonl" or path.name.endswith(".jsonl.gz"):
        return "mooncake"
    try:
        with open_text(path) as handle:
            raw = handle.readline()
    except OSError as exc:
        raise TraceError(path, f"cannot open: {exc.strerror or exc}") from None
    except (UnicodeDecodeError, EOFError):
        raise TraceError(path, "not a text file", line=1) from None
    if not raw:
        raise TraceError(path, "empty file: no header and no requests")
    first = raw.strip()
    columns = [c.strip() for c in first.split(",")]
    for signature, name in _SIGNATURES.items():
        if columns[: len(signature.split(","))] == signature.split(","):
            return name
    if columns[:2] == ["model", "window_start_s"]:
        return "servegen_rate"
    if "Timestamp" in columns and "Request tokens" in columns:
        return "burstgpt"
    known = "; ".join(f"{name}: {sig}" for sig, name in _SIGNATURES.items())
    raise TraceError(
        path,
        f"unrecognised header {first[:120]!r}; expected one of {known}; "
        "BurstGPT (Timestamp,Model,Request tokens,Response tokens,...); ServeGen "
        "(model,window_start_s,...); or a .jsonl Mooncake trace",
        line=1,
    )


def is_rate_series(path: Path | str) -> bool:
    """Whether ``path``'s format loads as an aggregated rate series (which needs token lengths from elsewhere),
    known from the loader's declared return type without reading the whole file."""
    path = Path(path)
    if not path.exists():
        raise TraceError(path, "no such file")
    return get_type_hints(LOADERS[detect_format(path)]).get("return") is RateSeries


def load_trace(path: Path | str, fmt: str | None = None, **options: str) -> Trace:
    """Load ``path`` with the named loader (detected when not given); an unknown name lists the valid ones."""
    path = Path(path)
    if not path.exists():
        raise TraceError(path, "no such file")
    name = fmt or detect_format(path)
    if name not in LOADERS:
        raise TraceError(path, f"unknown trace format {name!r}; valid: {', '.join(sorted(LOADERS))}")
    for key, value in options.items():
        takers = sorted(n for n, loader in LOADERS.items() if key in inspect.signature(loader).parameters)
        if name not in takers:
            raise TraceError(
                path,
                f"{key} {value!r} does not apply: the {name} format has no {key} option; only {', '.join(takers)} do",
            )
    return LOADERS[name](path, **options)
