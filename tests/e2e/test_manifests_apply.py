"""Every shipped kustomization applied as a user applies it: ``kubectl apply --server-side --validate=strict
-k``, against the real API server, KEDA's CRDs and the Prometheus Operator's (as kube-prometheus-stack
installs them). A field the API server does not know fails the apply, which a YAML linter cannot see."""

from __future__ import annotations

import json
import os
import re
from pathlib import Path

import pytest
import yaml

from tests.e2e.conftest import Stack
from tests.e2e.controlplane import ROOT, go_module_dir, versions

pytestmark = pytest.mark.e2e

#: The Prometheus Operator's kinds that deploy/monitoring uses.
MONITORING_CRDS = ("servicemonitors", "podmonitors", "prometheusrules")
#: Namespaces the user's cluster already has: kube-prometheus-stack's, and the workloads' (deploy/examples).
USER_NAMESPACES = ("monitoring", "llm")
#: what deploy/base applies, and deploy/overlays/tls (the same objects, its Deployment patched)
SCALER_OBJECTS = [
    "clusterrole.rbac.authorization.k8s.io/gpuscale-read-workloads",
    "configmap/gpuscale-config",
    "configmap/gpuscale-policies",
    "deployment.apps/gpuscale",
    "namespace/gpuscale-system",
    "networkpolicy.networking.k8s.io/gpuscale",
    "service/gpuscale",
    "serviceaccount/gpuscale",
]


def workload_objects(namespace: str) -> list[str]:
    """What deploy/examples and deploy/examples/push apply, moved to ``namespace``."""
    return [
        "deployment.apps/llama",
        f"namespace/{namespace}",
        "rolebinding.rbac.authorization.k8s.io/gpuscale-read-workloads",
        "scaledobject.keda.sh/llama",
    ]


@pytest.fixture(scope="module")
def monitoring_crds(stack: Stack) -> None:
    crds = go_module_dir(
        "github.com/prometheus-operator/prometheus-operator", versions()["PROMETHEUS_OPERATOR_VERSION"]
    ) / "example" / "prometheus-operator-crd"  # fmt: skip
    for kind in MONITORING_CRDS:
        stack.plane.kubectl("apply", "--server-side", "-f", str(crds / f"monitoring.coreos.com_{kind}.yaml"))
    for kind in MONITORING_CRDS:
        stack.plane.kubectl("wait", "--for=condition=Established", f"crd/{kind}.monitoring.coreos.com")
    for namespace in USER_NAMESPACES:
        stack.plane.kubectl("create", "namespace", namespace, check=False)


def in_namespace(tmp: Path, directory: Path, namespace: str) -> Path:
    """A kustomization over ``directory`` that moves it to ``namespace`` (so it does not touch another test's)."""
    tmp.mkdir(parents=True, exist_ok=True)
    (tmp / "kustomization.yaml").write_text(
        yaml.safe_dump({"namespace": namespace, "resources": [os.path.relpath(directory, tmp)]})
    )
    return tmp


def apply(stack: Stack, directory: Path) -> list[str]:
    """``kubectl apply -k`` as a user runs it; the objects it reports, as ``kind/name`` (a generated
    ConfigMap's name without its content hash)."""
    proc = stack.plane.kubectl("apply", "--server-side", "--validate=strict", "-k", str(directory), "-o", "name")
    return sorted(re.sub(r"^(configmap/.+)-[a-z0-9]{10}$", r"\1", name) for name in proc.stdout.split())


def test_the_monitoring_manifests_apply_under_the_prometheus_operators_crds(
    stack: Stack, monitoring_crds: None
) -> None:
    assert apply(stack, ROOT / "deploy" / "monitoring") == [
        "configmap/gpuscale-dashboard",
        "podmonitor.monitoring.coreos.com/vllm",
        "prometheusrule.monitoring.coreos.com/gpuscale",
        "servicemonitor.monitoring.coreos.com/gpuscale",
    ]
    monitor = stack.plane.get_json("servicemonitor", "gpuscale", "-n", "gpuscale-system")
    assert monitor["spec"]["endpoints"][0]["honorLabels"] is True  # type: ignore[index]
    rule = stack.plane.get_json("prometheusrule", "gpuscale", "-n", "gpuscale-system")
    alerts = [r["alert"] for g in rule["spec"]["groups"] for r in g["rules"]]  # type: ignore[index]
    assert alerts == [
        "GpuscaleDown",
        "GpuscaleStaleInputs",
        "GpuscaleFallbackActive",
        "GpuscaleKedaErrors",
        "GpuscalePinnedAtMax",
    ]


def test_strict_apply_refuses_a_field_the_operators_crd_does_not_declare(stack: Stack, monitoring_crds: None) -> None:
    """The check above can fail: a misspelt field of a ServiceMonitor is refused by the API server."""
    monitor = yaml.safe_load((ROOT / "deploy" / "monitoring" / "servicemonitor-gpuscale.yaml").read_text())
    endpoint = monitor["spec"]["endpoints"][0]
    endpoint["honorLabel"] = endpoint.pop("honorLabels")
    monitor["metadata"]["name"] = "misspelt"
    proc = stack.plane.kubectl(
        "apply", "--server-side", "--validate=strict", "-f", "-", input=json.dumps(monitor), check=False
    )
    assert proc.returncode == 1
    assert proc.stderr == (
        "Error from server: failed to create typed patch object (gpuscale-system/misspelt; monitoring.coreos.com/v1,"
        " Kind=ServiceMonitor): .spec.endpoints[0].honorLabel: field not declared in schema\n"
    )


@pytest.mark.parametrize(
    ("directory", "namespace", "expected"),
    [
        pytest.param(
            "deploy/base",
            None,
            SCALER_OBJECTS,
            id="base",
        ),
        pytest.param(
            "deploy/overlays/tls",
            None,
            SCALER_OBJECTS,
            id="overlay-tls",
        ),
        pytest.param(
            "deploy/examples/push",
            "manifests-push",
            workload_objects("manifests-push"),
            id="examples-push",
        ),
        pytest.param(
            "deploy/examples",
            "manifests-poll",
            workload_objects("manifests-poll"),
            id="examples",
        ),
    ],
)
def test_each_kustomization_applies_strictly(
    stack: Stack, tmp_path: Path, directory: str, namespace: str | None, expected: list[str]
) -> None:
    path = ROOT / directory
    if namespace is not None:
        stack.plane.kubectl("create", "namespace", namespace, check=False)
        path = in_namespace(tmp_path / "ns", path, namespace)
    assert apply(stack, path) == expected
