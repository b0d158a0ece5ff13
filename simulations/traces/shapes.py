"""Synthetic load shapes: the traffic a policy must survive without having been tuned on it.

Real traces are few and a policy (or a default) tuned on them can fit their accidents. These shapes are
the classic stresses of an autoscaler, drawn as a non-homogeneous Poisson process so every seed is a
new draw of the same shape:

- ``ramp``: the low rate for 5 min, a linear rise to 4x over 30 min, 10 min at the top.
- ``step``: the low rate for 15 min, then 3x at once for 30 min.
- ``bursts``: the low rate with a burst of 4x every 5 min, each lasting 10 to 30 s (drawn), for 1 h.
- ``diurnal``: a day from the low rate at midnight to 4x at noon and back (``day_s`` long).

Token lengths are log-normal (prompt median 800, output median 200, both capped) unless the caller
passes its own. The result is a ``RequestTrace``, so it replays, tunes and writes like any trace.
"""

from __future__ import annotations

import math
from enum import StrEnum

import numpy as np

from simulations.traces.base import RequestTrace


class Shape(StrEnum):
    RAMP = "ramp"
    STEP = "step"
    BURSTS = "bursts"
    DIURNAL = "diurnal"


#: How long each shape lasts, seconds (the diurnal day's length is the caller's).
SPANS_S = {Shape.RAMP: 2700.0, Shape.STEP: 2700.0, Shape.BURSTS: 3600.0}
BURST_EVERY_S = 300.0
BURST_SECONDS = (10.0, 30.0)
PEAK_FACTOR = {Shape.RAMP: 4.0, Shape.STEP: 3.0, Shape.BURSTS: 4.0, Shape.DIURNAL: 4.0}
PROMPT_MEDIAN, PROMPT_SIGMA, PROMPT_CAP = 800.0, 0.9, 16_000
OUTPUT_MEDIAN, OUTPUT_SIGMA, OUTPUT_CAP = 200.0, 0.8, 4_000


def span_s(shape: Shape, day_s: float = 86_400.0) -> float:
    return day_s if shape is Shape.DIURNAL else SPANS_S[shape]


def rate_at(shape: Shape, low_rps: float, t: np.ndarray, bursts: np.ndarray, day_s: float = 86_400.0) -> np.ndarray:
    """Requests per second at times ``t``; ``bursts`` holds each burst's length (``Shape.BURSTS``)."""
    peak = PEAK_FACTOR[shape]
    if shape is Shape.RAMP:
        rising = np.clip((t - 300.0) / 1800.0, 0.0, 1.0)
        return low_rps * (1.0 + (peak - 1.0) * rising)
    if shape is Shape.STEP:
        return np.where(t < 900.0, low_rps, peak * low_rps)
    if shape is Shape.BURSTS:
        which = np.minimum((t // BURST_EVERY_S).astype(np.int64), bursts.shape[0] - 1)
        start = which * BURST_EVERY_S + BURST_EVERY_S / 2  # mid-period, so the first comes after a calm
        inside = (t >= start) & (t < start + bursts[which])
        return np.where(inside, peak * low_rps, low_rps)
    phase = (1.0 - np.cos(2.0 * math.pi * t / day_s)) / 2.0  # 0 at midnight, 1 at noon
    return low_rps * (1.0 + (peak - 1.0) * phase)


def synthetic_trace(
    shape: Shape,
    low_rps: float,
    seed: int,
    day_s: float = 86_400.0,
) -> RequestTrace:
    """One draw of ``shape`` at ``low_rps`` (its lowest rate), by thinning a Poisson process at the peak."""
    if low_rps <= 0 or not math.isfinite(low_rps):
        raise ValueError(f"rate must be a positive number of requests per second, got {low_rps}")
    if day_s < 600:
        raise ValueError(f"day must be at least 600 seconds, got {day_s}")
    rng = np.random.default_rng([seed, 0x5A9E])
    span = span_s(shape, day_s)
    bursts = rng.uniform(*BURST_SECONDS, size=max(1, math.ceil(span / BURST_EVERY_S)))
    peak_rps = PEAK_FACTOR[shape] * low_rps
    candidates = np.sort(rng.uniform(0.0, span, size=rng.poisson(peak_rps * span)))
    keep = rng.random(candidates.shape[0]) * peak_rps < rate_at(shape, low_rps, candidates, bursts, day_s)
    arrival = candidates[keep]
    arrival = arrival - arrival[0] if arrival.size else arrival
    n = arrival.shape[0]
    prompt = np.minimum(PROMPT_CAP, np.maximum(1, rng.lognormal(math.log(PROMPT_MEDIAN), PROMPT_SIGMA, n)))
    output = np.minimum(OUTPUT_CAP, np.maximum(1, rng.lognormal(math.log(OUTPUT_MEDIAN), OUTPUT_SIGMA, n)))
    return RequestTrace(
        name=f"{shape.value}",
        arrival_s=arrival.astype(np.float64),
        prompt_tokens=prompt.astype(np.int64),
        output_tokens=output.astype(np.int64),
        source=f"gpuscale synthetic {shape.value}, low {low_rps:g} req/s, seed {seed}",
    )


def write_csv(trace: RequestTrace, path: str) -> None:
    """The generic per-request CSV every gpuscale command reads (``arrival_s,prompt_tokens,output_tokens``)."""
    with open(path, "w", encoding="utf-8") as out:
        out.write("arrival_s,prompt_tokens,output_tokens\n")
        for at, prompt, output in zip(trace.arrival_s, trace.prompt_tokens, trace.output_tokens, strict=True):
            out.write(f"{at:.3f},{prompt},{output}\n")
