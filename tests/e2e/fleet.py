"""The emulated fleet behind the real control plane: the emulator serves vLLM and DCGM metrics for
exactly the pods kwok reports Ready, under their own names, so the scaler's queries, its pod routing
and its cold-start observer all see the same pods."""

from __future__ import annotations

import json
import threading
import urllib.request
from typing import Any

from emulation.emulator import FleetEmulator
from tests.e2e.controlplane import ControlPlane


def ready_pods(plane: ControlPlane, namespace: str, deployment: str) -> list[str]:
    """Names of the Deployment's pods whose Ready condition is True, sorted."""
    proc = plane.kubectl("get", "pods", "-n", namespace, "-o", "json", check=False)
    if proc.returncode != 0:
        return []
    names = []
    for pod in json.loads(proc.stdout)["items"]:
        name = pod["metadata"]["name"]
        owners = pod["metadata"].get("ownerReferences", [])
        if not name.startswith(f"{deployment}-") or not any(o.get("kind") == "ReplicaSet" for o in owners):
            continue
        if pod["metadata"].get("deletionTimestamp"):
            continue
        conditions = pod.get("status", {}).get("conditions", [])
        if any(c.get("type") == "Ready" and c.get("status") == "True" for c in conditions):
            names.append(name)
    return sorted(names)


class PodMirror:
    """Keeps the emulator's pod list for one Deployment equal to its Ready pods, every ``interval``."""

    def __init__(
        self, plane: ControlPlane, fleet: FleetEmulator, namespace: str, deployment: str, interval: float = 0.5
    ) -> None:
        self.plane, self.fleet = plane, fleet
        self.namespace, self.deployment, self.interval = namespace, deployment, interval
        self.pods: list[str] = []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="pod-mirror", daemon=True)

    def start(self) -> PodMirror:
        self.sync()
        self._thread.start()
        return self

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(timeout=10)

    def sync(self) -> None:
        self.pods = ready_pods(self.plane, self.namespace, self.deployment)
        self.fleet.set_load(self.namespace, self.deployment, pods=self.pods)

    def set_load(self, **load: Any) -> None:
        """The Deployment's load, spread over whichever pods are Ready (``replicas`` is theirs to say)."""
        load.pop("replicas", None)
        self.fleet.set_load(self.namespace, self.deployment, **load)

    def _run(self) -> None:
        while not self._stop.wait(self.interval):
            self.sync()


def decisions(
    metrics_port: int, namespace: str, scaled_object: str = "llama", limit: int = 1, host: str = "127.0.0.1"
) -> list[dict[str, Any]]:
    """gpuscale's latest decisions for a ScaledObject, oldest first, from its /decisions endpoint."""
    url = f"http://{host}:{metrics_port}/decisions/{namespace}/{scaled_object}?limit={limit}"
    try:
        with urllib.request.urlopen(url, timeout=3) as resp:
            (entry,) = json.loads(resp.read())
    except (OSError, ValueError):
        return []
    found: list[dict[str, Any]] = entry["decisions"]
    return found


def recommendation(metrics_port: int, namespace: str, scaled_object: str = "llama") -> int | None:
    """gpuscale's latest recommendation for a ScaledObject."""
    latest = decisions(metrics_port, namespace, scaled_object)
    return latest[-1]["replicas"] if latest else None


def wait_scaled_object_ready(plane: ControlPlane, namespace: str, what: str) -> None:
    """Wait (2 minutes at most) for KEDA to mark the ScaledObject ``llama`` Ready."""
    plane.wait(lambda: scaled_object_condition(plane, namespace, "Ready") == "True", 120, what, "keda-operator")


def scaled_object_condition(plane: ControlPlane, namespace: str, kind: str, name: str = "llama") -> str:
    """The status (True, False, Unknown or empty) of one condition of a ScaledObject."""
    return plane.kubectl(
        "get",
        "scaledobject",
        name,
        "-n",
        namespace,
        "-o",
        f"jsonpath={{.status.conditions[?(@.type=='{kind}')].status}}",
    ).stdout


#: KEDA's fallback replicas in :func:`workload`'s ScaledObject
FALLBACK_REPLICAS = 4


def workload(
    namespace: str, scaler_address: str, *, authentication: str | None = None, **trigger: str
) -> list[dict[str, object]]:
    """A namespace with a Deployment (one replica) and its ScaledObject on gpuscale; ``trigger`` adds to or
    overrides the trigger's metadata, ``authentication`` names a TriggerAuthentication."""
    metadata = {
        "scalerAddress": scaler_address,
        "deployment": "llama",
        "policy": "default",
        "scaleDownStabilizationSeconds": "20",
        "forecastHorizonSeconds": "30",
        # the forecast is not what these tests are about: with the default ensemble's q0.9 band, inflated by
        # the rate() ramp's errors, the steady fleet came out anywhere from 6 to 16 replicas; the last value
        # at its median asks for the load itself
        "forecastModel": "last_value",
        "forecastQuantile": "0.5",
    } | trigger
    external: dict[str, object] = {"type": "external", "metadata": metadata}
    if authentication is not None:
        external["authenticationRef"] = {"name": authentication}
    return [
        {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": namespace}},
        {
            "apiVersion": "rbac.authorization.k8s.io/v1",
            "kind": "RoleBinding",
            "metadata": {"name": "gpuscale-read-workloads", "namespace": namespace},
            "roleRef": {
                "apiGroup": "rbac.authorization.k8s.io",
                "kind": "ClusterRole",
                "name": "gpuscale-read-workloads",
            },
            "subjects": [{"kind": "ServiceAccount", "name": "gpuscale", "namespace": "gpuscale-system"}],
        },
        {
            "apiVersion": "apps/v1",
            "kind": "Deployment",
            "metadata": {"name": "llama", "namespace": namespace},
            "spec": {
                "replicas": 1,
                "selector": {"matchLabels": {"app": "llama"}},
                "template": {
                    "metadata": {"labels": {"app": "llama"}},
                    "spec": {"containers": [{"name": "server", "image": "vllm/vllm-openai:v0.11.0"}]},
                },
            },
        },
        {
            "apiVersion": "keda.sh/v1alpha1",
            "kind": "ScaledObject",
            "metadata": {"name": "llama", "namespace": namespace},
            "spec": {
                "scaleTargetRef": {"name": "llama"},
                "pollingInterval": 5,
                "minReplicaCount": 1,
                "maxReplicaCount": 16,
                "fallback": {"failureThreshold": 3, "replicas": FALLBACK_REPLICAS},
                "advanced": {
                    "horizontalPodAutoscalerConfig": {
                        "behavior": {
                            "scaleUp": {"tolerance": "0"},
                            "scaleDown": {"stabilizationWindowSeconds": 60},
                        }
                    }
                },
                "triggers": [external],
            },
        },
    ]


def apply_list(plane: ControlPlane, items: list[dict[str, object]]) -> None:
    """Objects applied server-side and strict, as one List."""
    plane.kubectl(
        "apply",
        "--server-side",
        "--validate=strict",
        "-f",
        "-",
        input=json.dumps({"apiVersion": "v1", "kind": "List", "items": items}),
    )
