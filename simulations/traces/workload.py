"""What the simulator replays: requests (arrival, prompt tokens, output tokens), from any trace.

Per-request traces replay as they are, optionally windowed and rescaled. Aggregated rate
series replay as a non-homogeneous Poisson process (piecewise-constant rate) with token
lengths sampled from a per-request trace. Everything random takes an explicit generator.
"""

from __future__ import annotations

import functools
import math
from dataclasses import dataclass

import numpy as np

from scaler.snapshot import token_load
from simulations.profiles import TokenDemand
from simulations.traces.base import FloatArray, IntArray, RateSeries, RequestTrace

HISTORY_STEP_S = 10.0


@dataclass(frozen=True)
class TokenHistory:
    """Token rates per step before the replay starts: what Prometheus already holds for a scaler
    that was running before the window, and what gpuscale's forecaster starts from (the live
    scaler bootstraps the same from range queries). Reactive policies have no use for it."""

    step_s: float
    prompt_tps: FloatArray
    output_tps: FloatArray

    @property
    def span_s(self) -> float:
        return float(self.prompt_tps.shape[0] * self.step_s)

    def loads(
        self, generation_tps_target: float, prompt_tps_target: float, step_s: float, rate_window_s: float
    ) -> list[float]:
        """The forecaster's demand series (``scaler.snapshot.demand_load``) at ``step_s``, as a trailing
        ``rate()`` over ``rate_window_s`` would have reported it."""
        factor = round(step_s / self.step_s)
        if factor < 1 or abs(factor * self.step_s - step_s) > 1e-9:
            raise ValueError(f"history step {self.step_s:g} s does not divide the refresh step {step_s:g} s")
        load = token_load(self.output_tps, self.prompt_tps, generation_tps_target, prompt_tps_target)
        window = max(1, round(rate_window_s / self.step_s))
        total = np.cumsum(load)
        earlier = np.concatenate([np.zeros(window), total])[: total.shape[0]]  # the sum up to i - window
        smoothed = (total - earlier) / np.minimum(np.arange(1, total.shape[0] + 1), window)
        usable = smoothed.shape[0] - smoothed.shape[0] % factor
        # the value a refresh at the end of each step would read
        return [float(v) for v in smoothed[factor - 1 : usable : factor]]


@dataclass(frozen=True)
class TraceWorkload:
    """Requests sorted by arrival (seconds from the start of the replay).

    ``scored_from_s`` makes what comes before it a warm-up: replayed, so that the fleet, the scaler's
    windows and its forecaster reach the scored part in the state a running service would be in, but
    neither scored nor paid for. A later window replayed alone would start every policy from a fresh
    fleet, which no running service does.
    """

    name: str
    arrival_s: FloatArray
    prompt_tokens: IntArray
    output_tokens: IntArray
    history: TokenHistory | None = None  # the demand before arrival 0, when the trace has it
    scored_from_s: float = 0.0

    @property
    def requests(self) -> int:
        return int(self.arrival_s.shape[0])

    @functools.cached_property
    def token_mix(self) -> TokenDemand:
        """The trace's prompt and output lengths as one second's demand: what sizes a replica's capacity
        for it (computed once per workload; a day-long trace has millions of requests)."""
        return TokenDemand.of_requests(self.prompt_tokens, self.output_tokens, 1.0)

    @property
    def span_s(self) -> float:
        return float(self.arrival_s[-1]) if self.requests else 0.0

    @property
    def scored(self) -> np.ndarray:
        """Which requests count: those arriving at or after ``scored_from_s``."""
        return np.asarray(self.arrival_s >= self.scored_from_s)

    @property
    def scored_requests(self) -> int:
        return int(np.count_nonzero(self.scored))

    @property
    def scored_span_s(self) -> float:
        return max(0.0, self.span_s - self.scored_from_s)


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


def from_requests(trace: RequestTrace, reshape: Reshape, rng: np.random.Generator) -> TraceWorkload:
    """A per-request trace, windowed and rescaled."""
    end = math.inf if reshape.end_s is None else reshape.end_s
    t = trace.window(reshape.start_s, end) if (reshape.start_s > 0 or reshape.end_s is not None) else trace
    arrival = t.arrival_s * reshape.time_scale
    prompt, output = t.prompt_tokens, t.output_tokens
    if reshape.rate_scale != 1.0:
        factor = np.full(arrival.shape[0], reshape.rate_scale)
        arrival, prompt, output = repeat_requests(arrival, prompt, output, factor, reshape.copy_jitter_s, rng)
    return sorted_workload(f"{trace.name}", arrival, prompt, output)


def repeat_requests(
    arrival: FloatArray,
    prompt: IntArray,
    output: IntArray,
    factor: FloatArray,
    jitter_s: float,
    rng: np.random.Generator,
) -> tuple[FloatArray, IntArray, IntArray]:
    """Each request ``floor(factor)`` times plus once more with probability of the fraction (0 drops it).

    The first copy keeps the original time; the others land up to ``jitter_s`` after it, so a
    burst stays a burst. The result is not sorted."""
    whole = np.floor(factor).astype(np.int64)
    fraction = factor - whole
    copies = whole
    if (fraction > 0).any():  # no draw for whole factors: the same seed gives the same workload as ever
        copies = whole + (rng.random(arrival.shape[0]) < fraction)
    index = np.repeat(np.arange(arrival.shape[0]), copies)
    first = np.zeros(index.shape[0], dtype=bool)
    starts = np.cumsum(copies) - copies
    first[starts[copies > 0]] = True
    jitter = np.where(first, 0.0, rng.random(index.shape[0]) * jitter_s)
    return arrival[index] + jitter, prompt[index], output[index]


def from_rate(
    series: RateSeries,
    tokens: RequestTrace,
    reshape: Reshape,
    rng: np.random.Generator,
) -> TraceWorkload:
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
    return sorted_workload(
        f"{series.name} ({tokens.name} tokens)", arrival, tokens.prompt_tokens[pick], tokens.output_tokens[pick]
    )


def sorted_workload(
    name: str, arrival: FloatArray, prompt: IntArray, output: IntArray, history: TokenHistory | None = None
) -> TraceWorkload:
    """Requests in any order as a workload: sorted by arrival, starting at 0 or later, tokens at least 1."""
    order = np.argsort(arrival, kind="stable")
    arrival = arrival[order]
    if arrival.shape[0]:
        arrival = arrival - min(0.0, float(arrival[0]))
    return TraceWorkload(
        name,
        np.ascontiguousarray(arrival, dtype=np.float64),
        np.ascontiguousarray(np.maximum(prompt[order], 1), dtype=np.int64),
        np.ascontiguousarray(np.maximum(output[order], 1), dtype=np.int64),
        history,
    )


def token_history(workload: TraceWorkload, span_s: float, step_s: float = HISTORY_STEP_S) -> TokenHistory:
    """Prompt and output tokens per second of ``workload``'s first ``span_s`` seconds, per step."""
    bins = max(0, math.floor(span_s / step_s + 1e-9))
    inside = workload.arrival_s < bins * step_s
    index = (workload.arrival_s[inside] // step_s).astype(np.int64)
    prompt = np.bincount(index, weights=workload.prompt_tokens[inside], minlength=bins)[:bins] / step_s
    output = np.bincount(index, weights=workload.output_tokens[inside], minlength=bins)[:bins] / step_s
    return TokenHistory(step_s, prompt.astype(np.float64), output.astype(np.float64))
