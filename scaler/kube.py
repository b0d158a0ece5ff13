"""Kubernetes (optional): replica counts of the target and observed cold-start times.

Without cluster access every call answers ``None`` and the decision says the
horizon came from the configured default.
"""

from __future__ import annotations

import logging
from collections import deque
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any

import numpy as np

from scaler.snapshot import Replicas, ReplicaSource
from scaler.workloads import deployment_of

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class KubeObservation:
    replicas: Replicas
    cold_start_s: float | None


#: Cold starts remembered per Deployment: the horizon follows the recent ones.
COLD_START_SAMPLES = 20


class KubeSource:
    """Reads Deployments and Pods, one list call of each per namespace per refresh."""

    def __init__(self, apps: Any, core: Any, timeout_s: float = 2.0, samples: int = COLD_START_SAMPLES) -> None:
        self._apps, self._core, self._timeout = apps, core, timeout_s
        self._samples = samples
        self._cold: dict[tuple[str, str], deque[float]] = {}
        self._seen_pods: set[str] = set()

    @classmethod
    def connect(cls, mode: str) -> tuple[KubeSource | None, str]:
        """Build a source for ``mode`` (auto/incluster/kubeconfig/off); the string says why if None."""
        if mode == "off":
            return None, "kubernetes access disabled"
        from kubernetes import client, config

        loaders: dict[str, list[Callable[..., Any]]] = {
            "incluster": [config.load_incluster_config],
            "kubeconfig": [config.load_kube_config],
        }
        attempts = loaders.get(mode, [config.load_incluster_config, config.load_kube_config])
        errors = []
        for load in attempts:
            try:
                load()
                return cls(client.AppsV1Api(), client.CoreV1Api()), "connected"
            except Exception as exc:  # the kubernetes client raises several unrelated types
                errors.append(f"{load.__name__}: {exc}")
        return None, "no cluster access (" + "; ".join(errors) + ")"

    def observe(self, namespace: str, deployments: set[str]) -> dict[str, KubeObservation]:
        """Replicas and p90 cold start for each named Deployment in ``namespace``."""
        deps = self._apps.list_namespaced_deployment(namespace, _request_timeout=self._timeout)
        pods = self._core.list_namespaced_pod(namespace, _request_timeout=self._timeout)
        starting: dict[str, int] = {}
        for pod in pods.items:
            name = deployment_of(pod.metadata.name or "")
            if name is None or name not in deployments:
                continue
            ready_at = _ready_time(pod)
            if pod.metadata.deletion_timestamp is None and ready_at is None:
                starting[name] = starting.get(name, 0) + 1
            uid = pod.metadata.uid or pod.metadata.name
            if ready_at is not None and uid not in self._seen_pods and pod.metadata.creation_timestamp is not None:
                self._seen_pods.add(uid)
                seconds = (ready_at - pod.metadata.creation_timestamp).total_seconds()
                if seconds > 0:
                    self._cold.setdefault((namespace, name), deque(maxlen=self._samples)).append(seconds)
        out: dict[str, KubeObservation] = {}
        for dep in deps.items:
            name = dep.metadata.name
            if name not in deployments:
                continue
            current = int(dep.spec.replicas or 0)
            ready = int(dep.status.ready_replicas or 0)
            samples = self._cold.get((namespace, name))
            cold = cold_start_p90(samples or ())
            out[name] = KubeObservation(
                replicas=Replicas(
                    current=current, ready=ready, starting=starting.get(name, 0), source=ReplicaSource.KUBERNETES
                ),
                cold_start_s=cold,
            )
        return out


def cold_start_p90(samples: Iterable[float]) -> float | None:
    """The provisioning horizon from observed cold starts: their 90th percentile, or None.

    Used by the Kubernetes source and by the simulator, so both size for the same horizon."""
    values = list(samples)
    return float(np.percentile(values, 90)) if values else None


def _ready_time(pod: Any) -> Any:
    for cond in (pod.status.conditions or []) if pod.status is not None else []:
        if cond.type == "Ready" and cond.status == "True":
            return cond.last_transition_time
    return None
