"""Fit a replica profile's serving parameters from a Deployment's own Prometheus history.

vLLM reports what the step model needs: the inter-token latency (one decode step) next to
the running batch and the KV-cache use gives ``step = base + per_seq * batch + per_kv_token *
kv_tokens`` by least squares; prompt tokens over prefill time give the prefill rate;
``cache_config_info`` gives the KV-cache capacity (blocks x block size), which turns the cache's
use into tokens. Where the cache use moves in step with the batch (every sequence about as long),
the two terms cannot be told apart and the KV term is left at 0, with a note. Cold starts, the
sequence limit and prefill's attention term are not in these metrics and are kept from the base
profile. Time is passed in.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np
from scipy.optimize import lsq_linear  # type: ignore[import-untyped]

from scaler.prometheus import PrometheusSource
from simulations.profiles import ReplicaProfile

MIN_POINTS = 10
#: Above this correlation between the batch and the KV tokens held, their costs are not separable.
MAX_SEPARABLE_CORRELATION = 0.95


class FitError(ValueError):
    """Not enough (or inconsistent) history to fit; the message says what is missing."""


@dataclass(frozen=True)
class FitReport:
    profile: ReplicaProfile
    points: int
    batch_range: tuple[float, float]
    rmse_s: float
    notes: list[str] = field(default_factory=list)


@dataclass(frozen=True)
class DecodeFit:
    """``step = base_s + per_seq_s * batch + per_kv_token_s * kv_tokens``, every term non-negative."""

    base_s: float
    per_seq_s: float
    per_kv_token_s: float
    rmse_s: float
    #: why the KV term is 0, when it was not fitted
    kv_note: str = ""


def fit_decode_step(batch: np.ndarray, step_s: np.ndarray, kv_tokens: np.ndarray | None = None) -> DecodeFit:
    """Least squares of the decode step on the batch and, where it varies apart from it, the KV tokens."""
    kv = np.full_like(batch, np.nan) if kv_tokens is None else kv_tokens
    ok = np.isfinite(batch) & np.isfinite(step_s) & (batch > 0) & (step_s > 0)
    batch, step_s, kv = batch[ok], step_s[ok], kv[ok]
    if batch.size < MIN_POINTS:
        raise FitError(f"need at least {MIN_POINTS} samples of batch size and inter-token latency, got {batch.size}")
    if np.ptp(batch) < 1.0:
        raise FitError(f"the batch size barely varied ({batch.min():.1f}-{batch.max():.1f}); cannot separate the terms")
    columns = [np.ones_like(batch), batch]
    note = ""
    if kv_tokens is None or not np.isfinite(kv).all():
        note = "no KV-cache use beside every sample: the KV term is 0"
    elif np.ptp(kv) <= 0.0 or abs(float(np.corrcoef(batch, kv)[0, 1])) > MAX_SEPARABLE_CORRELATION:
        note = "the KV cache's use moved with the batch (sequences of one length): the KV term is 0"
    else:
        columns.append(kv)
    design = np.column_stack(columns)
    solution = lsq_linear(design, step_s, bounds=(0.0, np.inf))
    terms = [float(v) for v in solution.x] + [0.0] * (3 - len(columns))
    rmse = float(np.sqrt(np.mean((design @ solution.x - step_s) ** 2)))
    return DecodeFit(terms[0], terms[1], terms[2], rmse, note)


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
    usage = f"{_name('vllm:kv_cache_usage_perc')}|{_name('vllm:gpu_cache_usage_perc')}"
    per_pod_kv = f'avg by (pod) (avg_over_time({{__name__=~"{usage}",{sel}}}[{window}]))'
    start = now - hours * 3600.0

    def per_pod(query: str) -> dict[str, dict[float, float]]:
        return {s.labels.get("pod", ""): dict(s.points) for s in source.range(query, start, now, step_s)}

    steps, batches, kv_use = per_pod(per_pod_step), per_pod(per_pod_batch), per_pod(per_pod_kv)
    samples = [
        (batches[pod][t], v, kv_use.get(pod, {}).get(t, math.nan))
        for pod, series in steps.items()
        if pod in batches
        for t, v in series.items()
        if t in batches[pod]
    ]
    samples = [(b, v, k) for b, v, k in samples if math.isfinite(b) and math.isfinite(v) and b > 0]
    if not samples:
        raise FitError(
            f"no inter-token latency and running-batch history for {namespace}/{deployment} in the last {hours:g} h"
        )
    capacity = _kv_capacity(source, sel, now)
    batch = np.array([b for b, _, _ in samples])
    step = np.array([v for _, v, _ in samples])
    kv_tokens = np.array([k for _, _, k in samples]) * (capacity or base.kv_capacity_tokens)
    decode = fit_decode_step(batch, step, kv_tokens)
    updates: dict[str, object] = {
        "name": f"{deployment}-fitted",
        "decode_step_base_s": decode.base_s,
        "decode_step_per_seq_s": decode.per_seq_s,
        "decode_step_per_kv_token_s": decode.per_kv_token_s,
    }
    notes = [f"decode step fitted on {batch.size} per-pod samples (batch {batch.min():.1f}-{batch.max():.1f})"]
    if decode.kv_note:
        notes.append(decode.kv_note)
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
    if capacity:
        updates["kv_capacity_tokens"] = capacity
        notes.append("KV-cache capacity = num_gpu_blocks x block_size from cache_config_info")
    else:
        notes.append("no cache_config_info: KV-cache capacity kept from the base profile")
    profile = base.model_validate({**base.model_dump(), **updates})
    return FitReport(profile, int(batch.size), (float(batch.min()), float(batch.max())), decode.rmse_s, notes)


def _kv_capacity(source: PrometheusSource, sel: str, now: float) -> int | None:
    """Tokens the KV cache holds (num_gpu_blocks x block_size of ``cache_config_info``; the smallest pod's)."""
    info = _name("vllm:cache_config_info")
    cache = source.instant(f'max by (num_gpu_blocks, block_size) ({{__name__=~"{info}",{sel}}})', at=now)
    blocks = [(s.labels.get("num_gpu_blocks"), s.labels.get("block_size")) for s in cache]
    sizes = [int(b) * int(z) for b, z in blocks if b and z and b.isdigit() and z.isdigit()]
    return min(sizes) if sizes else None
