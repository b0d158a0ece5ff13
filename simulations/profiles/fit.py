"""Fit a replica profile's serving parameters from a Deployment's own Prometheus history.

vLLM reports what the step model needs: the inter-token latency (one decode step) next to
the running batch gives ``step = base + per_seq * batch`` by least squares; prompt tokens
over prefill time give the prefill rate; ``cache_config_info`` gives the KV-cache capacity
(blocks x block size). Cold starts and the sequence limit are not in these metrics and are
kept from the base profile. Time is passed in.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np
from scipy.optimize import lsq_linear  # type: ignore[import-untyped]

from scaler.prometheus import PrometheusSource
from simulations.profiles import ReplicaProfile

MIN_POINTS = 10


class FitError(ValueError):
    """Not enough (or inconsistent) history to fit; the message says what is missing."""


@dataclass(frozen=True)
class FitReport:
    profile: ReplicaProfile
    points: int
    batch_range: tuple[float, float]
    rmse_s: float
    notes: list[str] = field(default_factory=list)


def fit_decode_step(batch: np.ndarray, step_s: np.ndarray) -> tuple[float, float, float]:
    """(base, per_seq, rmse) of ``step = base + per_seq * batch``, both non-negative."""
    ok = np.isfinite(batch) & np.isfinite(step_s) & (batch > 0) & (step_s > 0)
    batch, step_s = batch[ok], step_s[ok]
    if batch.size < MIN_POINTS:
        raise FitError(f"need at least {MIN_POINTS} samples of batch size and inter-token latency, got {batch.size}")
    if np.ptp(batch) < 1.0:
        raise FitError(f"the batch size barely varied ({batch.min():.1f}-{batch.max():.1f}); cannot separate the terms")
    design = np.column_stack([np.ones_like(batch), batch])
    solution = lsq_linear(design, step_s, bounds=(0.0, np.inf))
    base, per_seq = (float(v) for v in solution.x)
    rmse = float(np.sqrt(np.mean((design @ solution.x - step_s) ** 2)))
    return base, per_seq, rmse


def _sel(namespace: str, deployment: str) -> str:
    return f'namespace="{namespace}",pod=~"{deployment}-[a-z0-9]+-[a-z0-9]+"'


def _name(metric: str) -> str:
    return metric.replace(":", "[:_]")


def fit_from_prometheus(
    source: PrometheusSource,
    namespace: str,
    deployment: str,
    base: ReplicaProfile,
    now: float,
    hours: float = 24.0,
    step_s: float = 60.0,
    window: str = "5m",
) -> FitReport:
    """A copy of ``base`` with decode, prefill and KV-cache parameters fitted from history."""
    sel = _sel(namespace, deployment)
    itl = _name("vllm:inter_token_latency_seconds")
    running = _name("vllm:num_requests_running")
    per_pod_step = (
        f'sum by (pod) (rate({{__name__=~"{itl}_sum",{sel}}}[{window}]))'
        f' / sum by (pod) (rate({{__name__=~"{itl}_count",{sel}}}[{window}]))'
    )
    per_pod_batch = f'avg by (pod) (avg_over_time({{__name__=~"{running}",{sel}}}[{window}]))'
    start = now - hours * 3600.0
    steps = {s.labels.get("pod", ""): dict(s.points) for s in source.range(per_pod_step, start, now, step_s)}
    batches = {s.labels.get("pod", ""): dict(s.points) for s in source.range(per_pod_batch, start, now, step_s)}
    pairs = [(batches[pod][t], v) for pod, series in steps.items() if pod in batches for t, v in series.items()]
    pairs = [(b, v) for b, v in pairs if math.isfinite(b) and math.isfinite(v) and b > 0]
    if not pairs:
        raise FitError(
            f"no inter-token latency and running-batch history for {namespace}/{deployment} in the last {hours:g} h"
        )
    batch = np.array([b for b, _ in pairs])
    step = np.array([v for _, v in pairs])
    base_s, per_seq_s, rmse = fit_decode_step(batch, step)
    updates: dict[str, object] = {
        "name": f"{deployment}-fitted",
        "decode_step_base_s": base_s,
        "decode_step_per_seq_s": per_seq_s,
    }
    notes = [f"decode step fitted on {batch.size} per-pod samples (batch {batch.min():.1f}-{batch.max():.1f})"]
    span = f"{hours * 3600:.0f}s"
    prompt = _name("vllm:prompt_tokens_total")
    prefill = _name("vllm:request_prefill_time_seconds_sum")
    rate_query = (
        f'sum(increase({{__name__=~"{prompt}",{sel}}}[{span}]))'
        f' / sum(increase({{__name__=~"{prefill}",{sel}}}[{span}]))'
    )
    rates = [s.value for s in source.instant(rate_query, at=now) if math.isfinite(s.value) and s.value > 0]
    if rates:
        updates["prefill_tokens_per_s"] = rates[0]
        notes.append("prefill rate = prompt tokens / prefill seconds over the window")
    else:
        notes.append("no prefill history: prefill rate kept from the base profile")
    info = _name("vllm:cache_config_info")
    cache = source.instant(f'max by (num_gpu_blocks, block_size) ({{__name__=~"{info}",{sel}}})', at=now)
    blocks = [(s.labels.get("num_gpu_blocks"), s.labels.get("block_size")) for s in cache]
    sizes = [int(b) * int(z) for b, z in blocks if b and z and b.isdigit() and z.isdigit()]
    if sizes:
        updates["kv_capacity_tokens"] = min(sizes)
        notes.append("KV-cache capacity = num_gpu_blocks x block_size from cache_config_info")
    else:
        notes.append("no cache_config_info: KV-cache capacity kept from the base profile")
    profile = base.model_validate({**base.model_dump(), **updates})
    return FitReport(profile, int(batch.size), (float(batch.min()), float(batch.max())), rmse, notes)
