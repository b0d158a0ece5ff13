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


def recommendation(metrics_port: int, namespace: str, scaled_object: str = "llama") -> int | None:
    """gpuscale's latest recommendation for a ScaledObject, from its /decisions endpoint."""
    url = f"http://127.0.0.1:{metrics_port}/decisions/{namespace}/{scaled_object}?limit=1"
    try:
        with urllib.request.urlopen(url, timeout=3) as resp:
            (entry,) = json.loads(resp.read())
    except (OSError, ValueError):
        return None
    decisions: list[dict[str, Any]] = entry["decisions"]
    return decisions[-1]["replicas"] if decisions else None


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
