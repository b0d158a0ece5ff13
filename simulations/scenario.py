"""Turn command-line choices (trace file, token source, window, rescaling) into a Workload."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from simulations.traces import TraceError
from simulations.traces.base import RateSeries, RequestTrace
from simulations.traces.loaders import load_trace
from simulations.workload import Reshape, Workload, from_rate, from_requests


def build_workload(
    trace: Path | str,
    reshape: Reshape,
    seed: int,
    tokens: Path | str | None = None,
    column: str | None = None,
) -> Workload:
    """A per-request trace replays as is; a rate series needs ``tokens``, a per-request trace."""
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
    if workload.requests == 0:
        raise TraceError(trace, "no requests in the selected window")
    return workload
