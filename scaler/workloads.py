"""Workloads the scaler answers for: identity, pod matching and per-workload memory.

A workload is one ScaledObject trigger: (namespace, ScaledObject name, metric
name). The RPC path only reads ``Workload.latest``; the collector is the only
writer. Plain attribute assignment keeps the swap atomic for readers.
"""

from __future__ import annotations

import re
import threading
from collections import deque
from collections.abc import Iterable
from dataclasses import dataclass, field

from scaler.decision import Decision
from scaler.loop import DecisionLoop
from scaler.metadata import TriggerMetadata, parse_pod_selector
from scaler.policy import PolicySpec

#: Decisions a workload keeps for ``/decisions`` (10 min at the default 10 s refresh); the decision log keeps all.
RECENT_DECISIONS = 60
_NAMESPACE = re.compile(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?$")
#: Deployment pods are named <deployment>-<replicaset hash>-<pod suffix>.
_DEPLOYMENT_POD = re.compile(r"^(?P<deployment>.+)-[a-z0-9]{1,10}-[a-z0-9]{5}$")


def deployment_of(pod: str) -> str | None:
    """The Deployment a pod name belongs to, when it has the <deployment>-<hash>-<suffix> shape."""
    m = _DEPLOYMENT_POD.match(pod)
    return None if m is None else m.group("deployment")


@dataclass(frozen=True)
class WorkloadKey:
    namespace: str
    scaled_object: str
    metric_name: str

    def __str__(self) -> str:
        return f"{self.namespace}/{self.scaled_object}/{self.metric_name}"


def sanitize_label(key: str) -> str:
    """A Kubernetes label key as Prometheus stores it (prometheus-operator's rule)."""
    return re.sub(r"[^a-zA-Z0-9_]", "_", key)


@dataclass
class Workload:
    key: WorkloadKey
    meta: TriggerMetadata
    spec: PolicySpec
    prometheus_url: str
    created_at: float
    last_seen_at: float
    loop: DecisionLoop | None = None  # collector side: forecaster and decision state
    latest: Decision | None = None
    history_loaded: bool = False
    history_attempt_at: float | None = None  # last bootstrap attempt, for back-off
    forgotten: bool = False  # removed (expired or replaced): a cycle still running must not publish it
    #: how many recent decisions to keep: the collector worker keeps none (the server answers /decisions)
    keep_decisions: int = RECENT_DECISIONS
    lock: threading.Lock = field(default_factory=threading.Lock)

    def __post_init__(self) -> None:
        self.decisions: deque[Decision] = deque(maxlen=self.keep_decisions)
        labels, regex = ({}, None) if self.meta.pod_selector is None else parse_pod_selector(self.meta.pod_selector)
        self.pod_labels = {sanitize_label(k): v for k, v in labels.items()}
        self.pod_regex = regex

    @property
    def namespace(self) -> str:
        return self.key.namespace

    def matches(self, pod: str, labels: dict[str, str]) -> bool:
        """Does a series from ``pod`` (with ``labels``) belong to this workload?"""
        if self.meta.deployment is not None:
            return deployment_of(pod) == self.meta.deployment
        if self.pod_regex is not None:
            return self.pod_regex.fullmatch(pod)
        return all(labels.get(k) == v for k, v in self.pod_labels.items())

    def publish_decision(self, decision: Decision) -> None:
        """Read side: what RPCs and /decisions answer from."""
        self.latest = decision
        self.decisions.append(decision)


def valid_namespace(namespace: str) -> bool:
    return bool(_NAMESPACE.match(namespace)) and len(namespace) <= 63


class WorkloadIndex:
    """Finds the workloads a series belongs to, in O(1) for Deployment-named workloads."""

    def __init__(self, workloads: Iterable[Workload]) -> None:
        self._by_deployment: dict[tuple[str, str], list[Workload]] = {}
        self._others: dict[str, list[Workload]] = {}
        for w in workloads:
            if w.meta.deployment is not None:
                self._by_deployment.setdefault((w.namespace, w.meta.deployment), []).append(w)
            else:
                self._others.setdefault(w.namespace, []).append(w)

    def lookup(self, namespace: str, pod: str, labels: dict[str, str]) -> list[Workload]:
        out: list[Workload] = []
        deployment = deployment_of(pod)
        if deployment is not None:
            out.extend(self._by_deployment.get((namespace, deployment), ()))
        out.extend(w for w in self._others.get(namespace, ()) if w.matches(pod, labels))
        return out


class Registry:
    """All workloads by key; safe for one writer thread and many readers."""

    def __init__(self) -> None:
        self._items: dict[WorkloadKey, Workload] = {}
        self._lock = threading.Lock()

    def get(self, key: WorkloadKey) -> Workload | None:
        return self._items.get(key)

    def add(self, workload: Workload) -> Workload:
        """Insert unless present; return the registered workload (first writer wins)."""
        with self._lock:
            return self._items.setdefault(workload.key, workload)

    def remove(self, key: WorkloadKey) -> None:
        with self._lock:
            self._items.pop(key, None)

    def all(self) -> list[Workload]:
        return list(self._items.values())

    def __len__(self) -> int:
        return len(self._items)
