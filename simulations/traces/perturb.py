"""Perturbed copies of a training window: traffic like it, but not the traffic it happened to contain.

A setting tuned on one window fits that window's particular bursts: on Mooncake the tuned setting met
the SLO on its training window and attained 95.9 % on the next 18 minutes. Tuning on the window plus
copies whose request rate is moved up or down block by block asks every trial to hold the SLO through
bursts and lulls in places the window did not have them, while the daily shape, the token lengths and
the timing within each block stay real.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, replace

import numpy as np

from simulations.traces.workload import TraceWorkload, repeat_requests, sorted_workload


@dataclass(frozen=True)
class Perturbation:
    """How many perturbed copies of each training window a tuning trial also replays, and how they differ."""

    copies: int = 0
    #: each block's rate is multiplied by a factor drawn uniformly from [1 - spread, 1 + spread]
    spread: float = 0.2
    block_s: float = 300.0
    #: copies of a request land up to this long after it (as ``Reshape.copy_jitter_s``)
    jitter_s: float = 1.0

    def __post_init__(self) -> None:
        if not 0 <= self.copies <= 8:
            raise ValueError(f"perturbed copies must be between 0 and 8, got {self.copies}")
        if not (0 < self.spread < 1) or not math.isfinite(self.spread):
            raise ValueError(f"perturbation spread must be above 0 and below 1, got {self.spread}")
        if not (self.block_s >= 1) or not math.isfinite(self.block_s):
            raise ValueError(f"perturbation block must be at least 1 second, got {self.block_s}")

    def describe(self) -> str:
        return f"rate ×[{1 - self.spread:g}, {1 + self.spread:g}] per {self.block_s:g} s block"


def perturbed(
    workload: TraceWorkload, perturbation: Perturbation, rng: np.random.Generator, label: str = ""
) -> TraceWorkload:
    """``workload`` with each block's requests thinned or repeated by that block's own factor.

    The history before the window is kept: the forecaster starts from what it would have seen. So is where
    scoring starts: a held-out window is the whole trace scored from the cut, and so is its copy."""
    blocks = (workload.arrival_s // perturbation.block_s).astype(np.int64)
    count = int(blocks[-1]) + 1 if workload.requests else 0
    factors = rng.uniform(1 - perturbation.spread, 1 + perturbation.spread, size=count)
    arrival, prompt, output = repeat_requests(
        workload.arrival_s,
        workload.prompt_tokens,
        workload.output_tokens,
        factors[blocks],
        perturbation.jitter_s,
        rng,
    )
    name = f"{workload.name} perturbed{f' {label}' if label else ''}"
    copy = sorted_workload(name, arrival, prompt, output, workload.history)
    return replace(copy, scored_from_s=workload.scored_from_s)


def perturbed_copies(
    workload: TraceWorkload, perturbation: Perturbation, seed: int, stream: int = 0
) -> list[TraceWorkload]:
    """``perturbation.copies`` copies of ``workload``, each from its own random stream of ``seed``
    (``stream`` tells apart the windows of one tuning job)."""
    return [
        perturbed(workload, perturbation, np.random.default_rng([seed, stream, copy]), f"#{copy + 1}")
        for copy in range(perturbation.copies)
    ]
