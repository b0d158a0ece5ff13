"""Demand series from traces: what forecasters learn and backtests score."""

from __future__ import annotations

import math
from dataclasses import dataclass

from simulations.traces import RateSeries, RequestTrace, TraceError
from simulations.traces.base import FloatArray

SERIES_KINDS = ("requests", "output_tokens", "prompt_tokens")


@dataclass(frozen=True)
class DemandSeries:
    name: str
    kind: str
    step_s: float
    values: FloatArray


def demand_series(trace: RequestTrace | RateSeries, step_s: float | None, kind: str = "requests") -> DemandSeries:
    """Per-request traces are binned at ``step_s`` (default 10 s), without the incomplete last bin; rate
    series keep (or coarsen) their step."""
    if kind not in SERIES_KINDS:
        raise ValueError(f"unknown series {kind!r}; valid: {', '.join(SERIES_KINDS)}")
    if isinstance(trace, RequestTrace):
        step = step_s or 10.0
        binned = trace.binned(step)
        key = {"requests": "requests_per_s", "output_tokens": "output_tps", "prompt_tokens": "prompt_tps"}[kind]
        # The last bin ends after the trace's last request: it is incomplete and would read as a drop.
        values = binned[key][:-1] if binned[key].shape[0] > 1 else binned[key]
        return DemandSeries(trace.name, kind, step, values)
    if kind != "requests":
        raise TraceError(trace.source, f"an aggregated rate series has no {kind} column; use --series requests")
    if step_s is None or step_s == trace.step_s:
        return DemandSeries(trace.name, kind, trace.step_s, trace.requests_per_s)
    factor = step_s / trace.step_s
    if factor < 1 or not math.isclose(factor, round(factor)):
        raise TraceError(trace.source, f"--step {step_s:g} must be a multiple of the series' step {trace.step_s:g} s")
    k = round(factor)
    usable = trace.requests_per_s[: trace.requests_per_s.shape[0] // k * k].reshape(-1, k)
    return DemandSeries(trace.name, kind, step_s, usable.mean(axis=1))
