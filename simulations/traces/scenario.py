"""Turn command-line choices (trace file, token source, window, rescaling) into a replay's TraceWorkload."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import numpy as np

from simulations.traces import TraceError
from simulations.traces.base import RateSeries, RequestTrace
from simulations.traces.loaders import load_trace
from simulations.traces.workload import Reshape, TraceWorkload, from_rate, from_requests, token_history


def build_workload(
    trace: Path | str,
    reshape: Reshape,
    seed: int,
    tokens: Path | str | None = None,
    column: str | None = None,
    history_s: float = 0.0,
) -> TraceWorkload:
    """A per-request trace replays as is; a rate series needs ``tokens``, a per-request trace.

    ``history_s`` seconds of the trace before the window (as far as it has them) become the
    workload's ``history``: the demand a scaler running before the window had already seen.
    """
    if history_s < 0:
        raise ValueError(f"history must be >= 0 seconds, got {history_s}")
    workload = _build(trace, reshape, seed, tokens, column)
    begin = max(0.0, reshape.start_s - history_s)
    if history_s == 0 or begin >= reshape.start_s:
        return workload
    window = replace(reshape, start_s=begin, end_s=reshape.start_s)
    before = _build(trace, window, seed + 1, tokens, column, allow_empty=True)
    return replace(workload, history=token_history(before, (reshape.start_s - begin) * reshape.time_scale))


def _build(
    trace: Path | str,
    reshape: Reshape,
    seed: int,
    tokens: Path | str | None,
    column: str | None,
    allow_empty: bool = False,
) -> TraceWorkload:
    options = {"column": column} if column else {}
    loaded = load_trace(trace, **options)
    rng = np.random.default_rng([seed, 0x7EACE])
    if isinstance(loaded, RequestTrace):
        workload = from_requests(loaded, reshape, rng)
    else:
        assert isinstance(loaded, RateSeries)
        if tokens is None:
            raise TraceError(
                trace,
                "is an aggregated rate series; give --tokens FILE, a per-request trace to draw token lengths from",
            )
        source = load_trace(tokens)
        if not isinstance(source, RequestTrace):
            raise TraceError(tokens, "--tokens must be a per-request trace (arrival, prompt and output tokens)")
        workload = from_rate(loaded, source, reshape, rng)
    if workload.requests == 0 and not allow_empty:
        raise TraceError(trace, "no requests in the selected window")
    return workload
