"""What the simulator replays: requests (arrival, prompt tokens, output tokens), from any trace.

Per-request traces replay as they are, optionally windowed and rescaled. Aggregated rate
series replay as a non-homogeneous Poisson process (piecewise-constant rate) with token
lengths sampled from a per-request trace. Everything random takes an explicit generator.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from simulations.traces.base import FloatArray, IntArray, RateSeries, RequestTrace


@dataclass(frozen=True)
class Workload:
    """Requests sorted by arrival (seconds from the start of the replay)."""

    name: str
    arrival_s: FloatArray
    prompt_tokens: IntArray
    output_tokens: IntArray

    @property
    def requests(self) -> int:
        return int(self.arrival_s.shape[0])

    @property
    def span_s(self) -> float:
        return float(self.arrival_s[-1]) if self.requests else 0.0


@dataclass(frozen=True)
class Reshape:
    """Window and rescaling applied before replay.

    ``time_scale`` stretches time (2 = the same requests over twice the span);
    ``rate_scale`` multiplies the request rate at the same timing: each request is
    repeated ``floor(rate_scale)`` times plus once more with probability of the fraction,
    copies offset by up to ``copy_jitter_s`` so bursts stay bursts.
    """

    start_s: float = 0.0
    end_s: float | None = None
    time_scale: float = 1.0
    rate_scale: float = 1.0
    copy_jitter_s: float = 1.0

    def __post_init__(self) -> None:
        if self.time_scale <= 0 or not math.isfinite(self.time_scale):
            raise ValueError(f"time_scale must be a positive number, got {self.time_scale}")
        if self.rate_scale <= 0 or not math.isfinite(self.rate_scale):
            raise ValueError(f"rate_scale must be a positive number, got {self.rate_scale}")
        if self.start_s < 0:
            raise ValueError(f"start_s must be >= 0, got {self.start_s}")
        if self.end_s is not None and self.end_s <= self.start_s:
            raise ValueError(f"end_s ({self.end_s}) must be after start_s ({self.start_s})")


def from_requests(trace: RequestTrace, reshape: Reshape, rng: np.random.Generator) -> Workload:
    """A per-request trace, windowed and rescaled."""
    end = math.inf if reshape.end_s is None else reshape.end_s
    t = trace.window(reshape.start_s, end) if (reshape.start_s > 0 or reshape.end_s is not None) else trace
    arrival = t.arrival_s * reshape.time_scale
    prompt, output = t.prompt_tokens, t.output_tokens
    if reshape.rate_scale != 1.0:
        whole = math.floor(reshape.rate_scale)
        frac = reshape.rate_scale - whole
        copies = np.full(arrival.shape[0], whole, dtype=np.int64)
        if frac > 0:
            copies += rng.random(arrival.shape[0]) < frac
        index = np.repeat(np.arange(arrival.shape[0]), copies)
        # The first copy keeps the original time; the others land shortly after it.
        first = np.zeros(index.shape[0], dtype=bool)
        starts = np.cumsum(copies) - copies
        first[starts[copies > 0]] = True
        jitter = np.where(first, 0.0, rng.random(index.shape[0]) * reshape.copy_jitter_s)
        arrival, prompt, output = arrival[index] + jitter, prompt[index], output[index]
    return _sorted(f"{trace.name}", arrival, prompt, output)


def from_rate(
    series: RateSeries,
    tokens: RequestTrace,
    reshape: Reshape,
    rng: np.random.Generator,
) -> Workload:
    """Arrivals from a rate series (NHPP), token lengths drawn from ``tokens`` (pairs kept)."""
    if tokens.requests == 0:
        raise ValueError(f"token trace {tokens.name!r} has no requests to sample lengths from")
    rate = np.nan_to_num(series.requests_per_s, nan=0.0) * reshape.rate_scale
    step = series.step_s * reshape.time_scale
    rate = rate / reshape.time_scale  # same number of requests per window, spread wider
    starts = np.arange(rate.shape[0]) * step
    keep = starts >= reshape.start_s
    if reshape.end_s is not None:
        keep &= starts < reshape.end_s
    rate, starts = rate[keep], starts[keep] - reshape.start_s
    counts = rng.poisson(rate * step)
    arrival = np.repeat(starts, counts) + rng.random(int(counts.sum())) * step
    pick = rng.integers(0, tokens.requests, size=arrival.shape[0])
    return _sorted(
        f"{series.name} ({tokens.name} tokens)", arrival, tokens.prompt_tokens[pick], tokens.output_tokens[pick]
    )


def _sorted(name: str, arrival: FloatArray, prompt: IntArray, output: IntArray) -> Workload:
    order = np.argsort(arrival, kind="stable")
    arrival = arrival[order]
    if arrival.shape[0]:
        arrival = arrival - min(0.0, float(arrival[0]))
    return Workload(
        name,
        np.ascontiguousarray(arrival, dtype=np.float64),
        np.ascontiguousarray(np.maximum(prompt[order], 1), dtype=np.int64),
        np.ascontiguousarray(np.maximum(output[order], 1), dtype=np.int64),
    )
