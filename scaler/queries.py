"""Batched PromQL: one query per signal for a whole group of workloads.

Workloads that read the same Prometheus with the same engine profile and label
layout form a group. Each query covers every namespace of the group with one
``namespace=~"a|b"`` matcher and groups by pod; the collector then routes each
per-pod series to its workloads. The number of queries per refresh therefore
depends on the number of groups and signals, never on the number of workloads,
and every query is scoped to namespaces that registered ScaledObjects live in.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field

from scaler.inference_engines import ENGINES, PodAggregate, SignalQuery, with_metric_override
from scaler.snapshot import Signal
from scaler.workloads import Workload

#: Above this many Deployments a pod-name alternation costs Prometheus more than it saves
#: (measured in benchmarks/collector_cost.py): queries then cover whole namespaces.
MAX_POD_FILTER = 100
DEFAULT_NAMESPACE_LABEL = "namespace"
DEFAULT_POD_LABEL = "pod"
#: DCGM exporter behind the chart's ServiceMonitor (honorLabels: false) — see metrics.md B.5.
DEFAULT_GPU_NAMESPACE_LABEL = "exported_namespace"
DEFAULT_GPU_POD_LABEL = "exported_pod"


@dataclass(frozen=True)
class GroupKey:
    prometheus_url: str
    engine: str
    queue_metric: str | None
    kv_cache_metric: str | None
    namespace_label: str
    pod_label: str
    gpu_namespace_label: str
    gpu_pod_label: str
    selector_labels: tuple[str, ...]
    by_deployment: bool  # every member is named by Deployment: queries can filter pods by name


def group_key(w: Workload) -> GroupKey:
    m = w.meta
    return GroupKey(
        prometheus_url=w.prometheus_url,
        engine=m.engine,
        queue_metric=m.queue_metric,
        kv_cache_metric=m.kv_cache_metric,
        namespace_label=m.namespace_label or DEFAULT_NAMESPACE_LABEL,
        pod_label=m.pod_label or DEFAULT_POD_LABEL,
        gpu_namespace_label=m.gpu_namespace_label or DEFAULT_GPU_NAMESPACE_LABEL,
        gpu_pod_label=m.gpu_pod_label or DEFAULT_GPU_POD_LABEL,
        selector_labels=tuple(sorted(w.pod_labels)),
        by_deployment=m.deployment is not None,
    )


@dataclass
class PlannedQuery:
    promql: str
    namespace_label: str
    pod_label: str
    targets: list[tuple[Signal, PodAggregate]] = field(default_factory=list)
    freshness: bool = False


def _signal_queries(key: GroupKey) -> list[SignalQuery]:
    profile = ENGINES[key.engine]
    out = []
    for signal, query in profile.queries.items():
        chosen = query
        if signal is Signal.QUEUE and key.queue_metric is not None:
            chosen = with_metric_override(query, key.queue_metric)
        if signal in (Signal.KV_CACHE_USAGE, Signal.KV_CACHE_USAGE_MAX) and key.kv_cache_metric is not None:
            chosen = with_metric_override(query, key.kv_cache_metric)
        out.append(chosen)
    return out


def namespace_matcher(label: str, namespaces: Iterable[str]) -> str:
    """``label=~"a|b"``; namespaces are validated DNS labels, so no escaping is needed."""
    return f'{label}=~"{"|".join(sorted(set(namespaces)))}"'


def pod_matcher(label: str, deployments: Iterable[str]) -> str:
    """``pod=~"(a|b)-<hash>-<suffix>"``: only the pods of these Deployments (names are DNS labels)."""
    return f'{label}=~"({"|".join(sorted(set(deployments)))})-[a-z0-9]+-[a-z0-9]+"'


def _selectors(key: GroupKey, namespaces: list[str], deployments: Iterable[str] | None) -> tuple[str, str]:
    engine_sel = namespace_matcher(key.namespace_label, namespaces)
    gpu_sel = namespace_matcher(key.gpu_namespace_label, namespaces)
    names = sorted(set(deployments or ()))
    if key.by_deployment and 0 < len(names) <= MAX_POD_FILTER:
        engine_sel += "," + pod_matcher(key.pod_label, names)
        gpu_sel += "," + pod_matcher(key.gpu_pod_label, names)
    return engine_sel, gpu_sel


def plan(
    key: GroupKey, namespaces: Iterable[str], rate_window: str, deployments: Iterable[str] | None = None
) -> list[PlannedQuery]:
    """Instant queries for one group, deduplicated by PromQL text.

    With ``deployments`` (a group named by Deployment), each query also filters pods by name,
    so it returns only the series of registered workloads, not every pod of their namespaces.
    """
    namespaces = sorted(set(namespaces))
    engine_by = ",".join((key.namespace_label, key.pod_label, *key.selector_labels))
    gpu_by = ",".join((key.gpu_namespace_label, key.gpu_pod_label))
    engine_sel, gpu_sel = _selectors(key, namespaces, deployments)
    planned: dict[str, PlannedQuery] = {}
    profile = ENGINES[key.engine]
    freshness = profile.freshness_query(engine_sel, engine_by, metric=key.queue_metric)
    planned[freshness] = PlannedQuery(freshness, key.namespace_label, key.pod_label, freshness=True)
    for q in _signal_queries(key):
        if q.gpu:
            promql = q.render(gpu_sel, gpu_by, rate_window)
            entry = planned.setdefault(promql, PlannedQuery(promql, key.gpu_namespace_label, key.gpu_pod_label))
        else:
            promql = q.render(engine_sel, engine_by, rate_window)
            entry = planned.setdefault(promql, PlannedQuery(promql, key.namespace_label, key.pod_label))
        entry.targets.append((q.signal, q.aggregate))
    return list(planned.values())


def plan_history(
    key: GroupKey, namespaces: Iterable[str], rate_window: str, deployments: Iterable[str] | None = None
) -> dict[Signal, PlannedQuery]:
    """Range queries for the demand series a new workload's forecaster is fitted on."""
    namespaces = sorted(set(namespaces))
    by = ",".join((key.namespace_label, key.pod_label, *key.selector_labels))
    sel, _ = _selectors(key, namespaces, deployments)
    out: dict[Signal, PlannedQuery] = {}
    for q in _signal_queries(key):
        if q.signal in (Signal.PROMPT_TPS, Signal.GENERATION_TPS):
            out[q.signal] = PlannedQuery(
                q.render(sel, by, rate_window), key.namespace_label, key.pod_label, targets=[(q.signal, q.aggregate)]
            )
    return out
