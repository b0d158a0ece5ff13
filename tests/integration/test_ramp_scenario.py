"""The kind e2e's load ramp (deploy/kind/ramp.py), driven here against the real scaler, emulator and
Prometheus with a KEDA-like client and an HPA that follows the recommendation at once."""

from __future__ import annotations

import importlib.util
import time
from collections.abc import Callable
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest
import yaml

from emulation.emulator import EmulatorServer, FleetEmulator
from emulation.local_prometheus import PrometheusServer
from tests.conftest import scaler_config
from tests.support.net import wait_for
from tests.support.scaler import RunningScaler, keda_poll, ref

pytestmark = pytest.mark.integration

KIND = Path(__file__).resolve().parents[2] / "deploy" / "kind"


def _ramp_module() -> ModuleType:
    spec = importlib.util.spec_from_file_location("kind_ramp", KIND / "ramp.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _scaled_object() -> dict[str, Any]:
    docs = list(yaml.safe_load_all((KIND / "workload.yaml").read_text(encoding="utf-8")))
    (scaled,) = [d for d in docs if d and d.get("kind") == "ScaledObject"]
    return dict(scaled["spec"])


def _trigger_metadata() -> dict[str, str]:
    """The e2e ScaledObject's own trigger metadata, less KEDA's address, with a short scale-down window."""
    metadata = dict(_scaled_object()["triggers"][0]["metadata"])
    metadata.pop("scalerAddress")
    return metadata | {"scaleDownStabilizationSeconds": "3"}


#: KEDA's clamp: the HPA never goes below the ScaledObject's minReplicaCount.
MIN_REPLICAS = int(_scaled_object()["minReplicaCount"])


RAMP = _ramp_module()


def hpa(recommended: int) -> int:
    return max(MIN_REPLICAS, recommended)


def test_idle_load_is_zero_everywhere() -> None:
    """kv_cache_usage 0.5 after the load stopped kept the KV-cache ask at 2: e2e.sh could never pass."""
    assert RAMP.idle_load(3) == {
        "replicas": 3,
        "queue": 0.0,
        "generation_tps": 0.0,
        "running": 0.0,
        "kv_cache_usage": 0.0,
    }


def test_the_ramp_scales_up_while_climbing_and_back_to_the_minimum(
    emulator: tuple[FleetEmulator, EmulatorServer],
    prometheus: PrometheusServer,
    start_scaler: Callable[..., RunningScaler],
) -> None:
    fleet, _ = emulator
    ns = "ramp-e2e"
    running = start_scaler(scaler_config(prometheus.url))
    stub = running.stub()
    so = ref("llama", ns, **_trigger_metadata())
    ready = 1
    fleet.set_load(ns, "llama", **RAMP.idle_load(ready))
    prometheus.wait_for_series(f'vllm:num_requests_waiting{{namespace="{ns}"}}')
    wait_for(lambda: hpa(keda_poll(stub, so)[2]) == 1, timeout=30, what="one replica before the ramp")
    timeline: list[tuple[int, int]] = []
    for step in range(1, RAMP.RAMP_STEPS + 1):
        fleet.set_load(ns, "llama", **RAMP.ramp_load(step, ready))
        time.sleep(1.0)  # a scrape and two refreshes: the step reaches the decision
        ready = hpa(keda_poll(stub, so)[2])  # the HPA follows the recommendation; pods are ready at once
        timeline.append((step, ready))
    assert any(replicas > 1 for step, replicas in timeline if step < RAMP.RAMP_STEPS), timeline
    assert timeline[-1][1] >= 3, timeline

    def back_to_one() -> bool:
        nonlocal ready
        fleet.set_load(ns, "llama", **RAMP.idle_load(ready))
        ready = hpa(keda_poll(stub, so)[2])
        return ready == MIN_REPLICAS

    wait_for(back_to_one, timeout=60, interval=0.5, what="the minimum after the load stopped")
