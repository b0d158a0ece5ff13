"""Engine metric profiles: how each serving engine's metrics answer each signal.

Each profile maps a :class:`~scaler.snapshot.Signal` to a PromQL template that
returns one value per pod. Templates use ``$sel`` (label matchers, always
including the namespace scope), ``$by`` (grouping labels) and ``$win`` (rate
window). Metric names match both ``vllm:x`` and ``vllm_x``, because a recent
prometheus-client scraped by Prometheus 2.x stores the colon as an underscore.
Exact names come from ``metrics.md`` (vLLM V1, SGLang 0.5, TGI, Triton/TRT-LLM,
DCGM exporter).
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass
from enum import StrEnum
from string import Template
from types import MappingProxyType

from scaler.snapshot import Signal


class PodAggregate(StrEnum):
    """How per-pod values combine into the workload's value."""

    SUM = "sum"
    MEAN = "mean"
    MAX = "max"


def aggregate(values: list[float], how: PodAggregate) -> float:
    """Per-pod values combined into the workload's value (NaN anywhere makes the result NaN).

    The live collector and the simulator's monitoring both combine pods here."""
    if any(math.isnan(v) for v in values):
        return math.nan
    if how is PodAggregate.SUM:
        return float(sum(values))
    if how is PodAggregate.MAX:
        return float(max(values))
    return float(sum(values) / len(values))


class Sampling(StrEnum):
    """How a query reads its series: the simulator evaluates the same kind over its scrapes."""

    GAUGE = "gauge"  # the newest sample
    RATE = "rate"  # per-second rate() of a counter over the rate window
    HISTOGRAM = "histogram"  # a quantile of a histogram's rate over the window


@dataclass(frozen=True)
class SignalQuery:
    signal: Signal
    template: str
    aggregate: PodAggregate
    gpu: bool = False  # DCGM series carry their own namespace/pod label names
    sampling: Sampling = Sampling.GAUGE

    def render(self, sel: str, by: str, win: str) -> str:
        return Template(self.template).substitute(sel=sel, by=by, win=win)


def _names(*names: str) -> str:
    """``__name__`` regex for metric names, accepting ``:`` or ``_`` after the prefix."""
    return "|".join(n.replace(":", "[:_]") for n in names)


def gauge(signal: Signal, *names: str, within_pod: str = "sum", agg: PodAggregate = PodAggregate.SUM) -> SignalQuery:
    return SignalQuery(signal, f'{within_pod} by ($by) ({{__name__=~"{_names(*names)}",$sel}})', agg)


def counter_rate(signal: Signal, *names: str) -> SignalQuery:
    return SignalQuery(
        signal,
        f'sum by ($by) (rate({{__name__=~"{_names(*names)}",$sel}}[$win]))',
        PodAggregate.SUM,
        sampling=Sampling.RATE,
    )


def histogram_p95(signal: Signal, name: str, scale: float = 1.0) -> SignalQuery:
    expr = f'histogram_quantile(0.95, sum by ($by, le) (rate({{__name__=~"{_names(name)}",$sel}}[$win])))'
    if scale != 1.0:
        expr = f"({expr}) * {scale}"
    return SignalQuery(signal, expr, PodAggregate.MAX, sampling=Sampling.HISTOGRAM)


#: Sample-time query: the newest sample per pod, for data age and staleness.
SAMPLE_TIME = "sample_time"


@dataclass(frozen=True)
class EngineProfile:
    name: str
    queries: Mapping[Signal, SignalQuery]
    #: metric whose sample timestamps tell data age (the queue gauge)
    freshness_metric: str

    def freshness_query(self, sel: str, by: str, metric: str | None = None) -> str:
        names = metric if metric is not None else _names(self.freshness_metric)
        return f'max by ({by}) (timestamp({{__name__=~"{names}",{sel}}}))'


_DCGM = (
    SignalQuery(Signal.GPU_UTILIZATION, "avg by ($by) (DCGM_FI_DEV_GPU_UTIL{$sel}) / 100", PodAggregate.MEAN, gpu=True),
    SignalQuery(
        Signal.GPU_MEMORY_USAGE,
        "sum by ($by) (DCGM_FI_DEV_FB_USED{$sel})"
        " / sum by ($by) (DCGM_FI_DEV_FB_USED{$sel} + DCGM_FI_DEV_FB_FREE{$sel})",
        PodAggregate.MEAN,
        gpu=True,
    ),
)


def _profile(name: str, freshness: str, *queries: SignalQuery) -> EngineProfile:
    table = {q.signal: q for q in (*queries, *_DCGM)}
    return EngineProfile(name=name, queries=MappingProxyType(table), freshness_metric=freshness)


VLLM = _profile(
    "vllm",
    "vllm:num_requests_waiting",
    gauge(Signal.QUEUE, "vllm:num_requests_waiting"),
    gauge(Signal.RUNNING, "vllm:num_requests_running"),
    counter_rate(Signal.PROMPT_TPS, "vllm:prompt_tokens_total"),
    counter_rate(Signal.GENERATION_TPS, "vllm:generation_tokens_total"),
    counter_rate(Signal.REQUEST_RATE, "vllm:request_success_total"),
    # 0.9-0.11 emit the old name too; max within the pod never double-counts.
    gauge(
        Signal.KV_CACHE_USAGE,
        "vllm:kv_cache_usage_perc",
        "vllm:gpu_cache_usage_perc",
        within_pod="max",
        agg=PodAggregate.MEAN,
    ),
    gauge(
        Signal.KV_CACHE_USAGE_MAX,
        "vllm:kv_cache_usage_perc",
        "vllm:gpu_cache_usage_perc",
        within_pod="max",
        agg=PodAggregate.MAX,
    ),
    histogram_p95(Signal.TTFT_P95_S, "vllm:time_to_first_token_seconds_bucket"),
)

SGLANG = _profile(
    "sglang",
    "sglang:num_queue_reqs",
    # Only the attention-TP-rank-0 scheduler reports: sum over dp ranks, never over tp_rank.
    gauge(Signal.QUEUE, "sglang:num_queue_reqs"),
    gauge(Signal.RUNNING, "sglang:num_running_reqs"),
    counter_rate(Signal.PROMPT_TPS, "sglang:prompt_tokens_total"),
    counter_rate(Signal.GENERATION_TPS, "sglang:generation_tokens_total"),
    counter_rate(Signal.REQUEST_RATE, "sglang:num_requests_total"),
    gauge(Signal.KV_CACHE_USAGE, "sglang:token_usage", within_pod="max", agg=PodAggregate.MEAN),
    gauge(Signal.KV_CACHE_USAGE_MAX, "sglang:token_usage", within_pod="max", agg=PodAggregate.MAX),
    histogram_p95(Signal.TTFT_P95_S, "sglang:time_to_first_token_seconds_bucket"),
)

TGI = _profile(
    "tgi",
    "tgi_queue_size",
    gauge(Signal.QUEUE, "tgi_queue_size"),
    gauge(Signal.RUNNING, "tgi_batch_current_size"),
    # TGI has no token counters; the length histograms' sums count tokens.
    counter_rate(Signal.PROMPT_TPS, "tgi_request_input_length_sum"),
    counter_rate(Signal.GENERATION_TPS, "tgi_request_generated_tokens_sum"),
    counter_rate(Signal.REQUEST_RATE, "tgi_request_success", "tgi_request_success_total"),
    SignalQuery(
        Signal.KV_CACHE_USAGE,
        "sum by ($by) (tgi_batch_current_max_tokens{$sel}) / sum by ($by) (tgi_batch_max_total_tokens{$sel})",
        PodAggregate.MEAN,
    ),
    SignalQuery(
        Signal.KV_CACHE_USAGE_MAX,
        "sum by ($by) (tgi_batch_current_max_tokens{$sel}) / sum by ($by) (tgi_batch_max_total_tokens{$sel})",
        PodAggregate.MAX,
    ),
    # TGI exposes no TTFT histogram; queue time is the closest guard.
    histogram_p95(Signal.TTFT_P95_S, "tgi_request_queue_duration_bucket"),
)

TRITON = _profile(
    "triton",
    "nv_inference_pending_request_count",
    gauge(Signal.QUEUE, "nv_inference_pending_request_count"),
    SignalQuery(
        Signal.RUNNING, 'sum by ($by) (nv_trt_llm_request_metrics{request_type="scheduled",$sel})', PodAggregate.SUM
    ),
    counter_rate(Signal.REQUEST_RATE, "nv_inference_request_success"),
    # TRT-LLM backend: tokens are not counted by Triton core; generation rate is unavailable.
    SignalQuery(
        Signal.KV_CACHE_USAGE,
        'max by ($by) (nv_trt_llm_kv_cache_block_metrics{kv_cache_block_type="fraction",$sel})',
        PodAggregate.MEAN,
    ),
    SignalQuery(
        Signal.KV_CACHE_USAGE_MAX,
        'max by ($by) (nv_trt_llm_kv_cache_block_metrics{kv_cache_block_type="fraction",$sel})',
        PodAggregate.MAX,
    ),
    histogram_p95(Signal.TTFT_P95_S, "nv_inference_first_response_histogram_ms_bucket", scale=0.001),
)

ENGINES: Mapping[str, EngineProfile] = MappingProxyType({p.name: p for p in (VLLM, SGLANG, TGI, TRITON)})


def engine_names() -> list[str]:
    return sorted(ENGINES)


def get_engine(name: str) -> EngineProfile:
    try:
        return ENGINES[name]
    except KeyError:
        raise ValueError(f"unknown engine {name!r}; valid: {', '.join(engine_names())}") from None


def with_metric_override(query: SignalQuery, metric: str) -> SignalQuery:
    """The same query reading a user-named metric (a name only, so the namespace scope holds)."""
    if query.signal in (Signal.QUEUE,):
        return gauge(query.signal, metric, agg=query.aggregate)
    return gauge(query.signal, metric, within_pod="max", agg=query.aggregate)
