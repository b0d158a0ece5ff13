"""A load ramp through the real path: KEDA's operator calls ``gpuscale serve``, the HPA turns its metric into
``spec.replicas``, and the Deployment's pods (kwok) become Ready after their cold start."""

from __future__ import annotations

import importlib.util
import json
import os
import time
from pathlib import Path
from types import ModuleType

import pytest
import yaml

from tests.e2e.conftest import Stack
from tests.e2e.controlplane import ROOT
from tests.e2e.fleet import PodMirror, wait_scaled_object_ready
from tests.e2e.fleet import recommendation as latest_recommendation

pytestmark = pytest.mark.e2e

NAMESPACE = "llm"
#: seconds a pod takes from creation to Ready (the replica profile's cold start, compressed)
COLD_START_S = 8


def _ramp() -> ModuleType:
    spec = importlib.util.spec_from_file_location("kind_ramp", ROOT / "deploy" / "kind" / "ramp.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


RAMP = _ramp()


def overlay(tmp: Path, scaler_address: str) -> Path:
    """deploy/examples as a user would apply it, with this stack's scaler address, a short cooldown, the
    kind e2e's trigger settings and the kwok cold start: a kustomization over the shipped directory."""
    kind_trigger = next(
        d
        for d in yaml.safe_load_all((ROOT / "deploy" / "kind" / "workload.yaml").read_text())
        if d and d["kind"] == "ScaledObject"
    )["spec"]["triggers"][0]["metadata"]
    metadata = {k: v for k, v in kind_trigger.items() if k not in ("scalerAddress", "deployment", "engine")}
    metadata |= {"scaleDownStabilizationSeconds": "20", "scalerAddress": scaler_address}
    patches = [
        {
            "target": {"kind": "ScaledObject", "name": "llama"},
            "patch": json.dumps(
                [
                    {"op": "replace", "path": "/spec/cooldownPeriod", "value": 30},
                    {"op": "replace", "path": "/spec/pollingInterval", "value": 5},
                    *({"op": "add", "path": f"/spec/triggers/0/metadata/{k}", "value": v} for k, v in metadata.items()),
                ]
            ),
        },
        {
            "target": {"kind": "Deployment", "name": "llama"},
            "patch": json.dumps(
                [
                    {
                        "op": "add",
                        "path": "/spec/template/metadata/annotations",
                        "value": {
                            "pod-create.stage.kwok.x-k8s.io/delay": "0s",
                            "pod-create.stage.kwok.x-k8s.io/jitter-delay": "0s",
                            "pod-ready.stage.kwok.x-k8s.io/delay": f"{COLD_START_S}s",
                            "pod-ready.stage.kwok.x-k8s.io/jitter-delay": "0s",
                        },
                    }
                ]
            ),
        },
    ]
    tmp.mkdir(parents=True, exist_ok=True)
    (tmp / "kustomization.yaml").write_text(
        yaml.safe_dump(
            {
                "apiVersion": "kustomize.config.k8s.io/v1beta1",
                "kind": "Kustomization",
                # kustomize takes a base by relative path only
                "resources": [os.path.relpath(ROOT / "deploy" / "examples", tmp)],
                "patches": patches,
            }
        )
    )
    return tmp


def recommendation(stack: Stack) -> int | None:
    return latest_recommendation(stack.scaler_metrics_port, NAMESPACE)


def spec_replicas(stack: Stack) -> int:
    return int(stack.plane.get_json("deployment", "llama", "-n", NAMESPACE)["spec"]["replicas"])  # type: ignore[index]


def test_a_ramp_scales_the_deployment_up_while_climbing_and_back_to_the_floor(stack: Stack, tmp_path: Path) -> None:
    plane = stack.plane
    plane.kubectl(
        "apply", "--server-side", "--validate=strict", "-k", str(overlay(tmp_path / "overlay", stack.scaler_address))
    )
    wait_scaled_object_ready(plane, NAMESPACE, "the ScaledObject to be Ready")
    mirror = PodMirror(plane, stack.fleet, NAMESPACE, "llama").start()
    timeline: list[tuple[float, str, int | None, int, int]] = []
    start = time.monotonic()

    def record(load: str) -> None:
        timeline.append(
            (round(time.monotonic() - start), load, recommendation(stack), spec_replicas(stack), len(mirror.pods))
        )

    try:
        for step in range(1, RAMP.RAMP_STEPS + 1):
            mirror.set_load(**RAMP.ramp_load(step, max(1, len(mirror.pods))))
            time.sleep(5)
            record(f"ramp {step}")
        climbing = [r for t, load, rec, r, ready in timeline[:-1]]
        assert max(climbing) > 1, timeline
        top = recommendation(stack)
        assert top is not None and top >= 3, timeline
        # the HPA follows the recommendation exactly (tolerance 0 in the example's behaviour)
        plane.wait(
            lambda: spec_replicas(stack) == recommendation(stack), 90, "spec.replicas to equal the recommendation"
        )
        record("top")
        # back to the policy's floor (min_replicas 1 in deploy/base/policies/default.yaml) once gpuscale's own
        # window (20 s here) and then the HPA's (60 s, the example's behaviour) have passed
        for _ in range(60):
            mirror.set_load(**RAMP.idle_load(max(1, len(mirror.pods))))
            time.sleep(5)
            record("idle")
            if spec_replicas(stack) == 1 and len(mirror.pods) == 1:
                break
        assert (recommendation(stack), spec_replicas(stack), len(mirror.pods)) == (1, 1, 1), timeline
        # the HPA never asked for more than gpuscale did while the ramp climbed (it may lag a sync behind)
        assert all(r <= rec for _, load, rec, r, _ in timeline if load.startswith("ramp") and rec is not None), timeline
    finally:
        mirror.stop()
        (plane.root / "ramp-timeline.json").write_text(json.dumps(timeline))
        print(
            "\n".join(
                f"{t:>4}s {load:<8} recommended={rec} spec.replicas={r} ready={ready}"
                for t, load, rec, r, ready in timeline
            )
        )
