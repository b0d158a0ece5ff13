"""Everything in deploy/ that can be checked without a cluster.

Core resources against the Kubernetes schemas (kubernetes-validate, strict); ScaledObjects against
KEDA's CRD schema in ../shared/keda/ (strict: unknown fields rejected) and KEDA's models;
trigger metadata through the scaler's own parser; kustomizations reference files that exist and
overlays render; server config and policy files load; alert rules and every dashboard query parse
(promtool) and name only metrics and labels that exist.
"""

from __future__ import annotations

import copy
import dataclasses
import json
import re
import shutil
import subprocess
from pathlib import Path
from typing import Any

import jsonschema
import kubernetes_validate
import pytest
import yaml
from cloudcoil.models.keda.v1alpha1 import ScaledObject, TriggerAuthentication
from prometheus_client import CollectorRegistry

from scaler.config import MEMORY_BASE_MIB, MEMORY_PER_WORKLOAD_MIB, load_config
from scaler.metadata import parse_trigger_metadata
from scaler.policy_file import load_policy_file
from scaler.telemetry import DecisionTelemetry, RpcTelemetry
from simulations.fleet.hpa import DEFAULT_SCALE_DOWN, DEFAULT_SCALE_UP, ScalingPolicy, ScalingRules
from simulations.policies.controllers import GPUSCALE_HPA_SCALE_DOWN, GPUSCALE_HPA_SCALE_UP
from tests.deploy.promql_names import names

ROOT = Path(__file__).resolve().parents[2]
DEPLOY = ROOT / "deploy"
KEDA_CRD = ROOT.parent / "shared" / "keda" / "keda.sh_scaledobjects.yaml"
K8S_VERSION = "1.33.0"
CRD_KINDS = {"ScaledObject", "TriggerAuthentication", "ServiceMonitor", "PodMonitor", "PrometheusRule"}
PATCHES = {DEPLOY / "overlays/tls/deployment-tls.yaml", DEPLOY / "kind/scaler/single-replica.yaml"}
NOT_MANIFESTS = {DEPLOY / "monitoring/prometheus-scrape-config.yaml", DEPLOY / "base/config.yaml"}


def yaml_files() -> list[Path]:
    return sorted(p for p in DEPLOY.rglob("*.yaml") if "policies" not in p.parts)


def documents(path: Path) -> list[dict[str, Any]]:
    return [d for d in yaml.safe_load_all(path.read_text()) if d is not None]


def manifests() -> list[tuple[str, dict[str, Any]]]:
    out = []
    for path in yaml_files():
        if path in PATCHES or path in NOT_MANIFESTS or path.name in ("kustomization.yaml", "kind-config.yaml"):
            continue
        for i, doc in enumerate(documents(path)):
            out.append((f"{path.relative_to(DEPLOY)}#{i}:{doc['kind']}", doc))
    return out


MANIFESTS = manifests()
CORE = [(n, d) for n, d in MANIFESTS if d["kind"] not in CRD_KINDS]


def test_every_yaml_file_parses() -> None:
    files = yaml_files()
    assert len(files) >= 20
    for path in files:
        assert documents(path), f"{path} is empty"


@pytest.mark.parametrize(("name", "doc"), CORE, ids=[n for n, _ in CORE])
def test_core_resources_match_the_kubernetes_schema(name: str, doc: dict[str, Any]) -> None:
    assert kubernetes_validate.validate(doc, K8S_VERSION, strict=True) is not None


def test_the_validator_does_reject_a_broken_deployment() -> None:
    doc = next(copy.deepcopy(d) for _, d in CORE if d["kind"] == "Deployment")
    doc["spec"]["replicas"] = "two"
    with pytest.raises(kubernetes_validate.ValidationError) as err:
        kubernetes_validate.validate(doc, K8S_VERSION, strict=True)
    assert "'two' is not of type 'integer'" in str(err.value)


def strict(schema: dict[str, Any]) -> dict[str, Any]:
    """A CRD schema as the API server applies it: fields it does not declare are rejected."""
    schema = dict(schema)
    if (
        schema.get("type") == "object"
        and "properties" in schema
        and not schema.get("x-kubernetes-preserve-unknown-fields")
    ):
        schema.setdefault("additionalProperties", False)
    for key in ("properties", "patternProperties"):
        if key in schema:
            schema[key] = {k: strict(v) for k, v in schema[key].items()}
    for key in ("items", "additionalProperties"):
        if isinstance(schema.get(key), dict):
            schema[key] = strict(schema[key])
    return schema


@pytest.fixture(scope="module")
def scaledobject_schema() -> dict[str, Any]:
    if not KEDA_CRD.is_file():
        pytest.skip(f"KEDA CRD not found at {KEDA_CRD}")
    crd = yaml.safe_load(KEDA_CRD.read_text())
    version = next(v for v in crd["spec"]["versions"] if v["name"] == "v1alpha1")
    schema = strict(version["schema"]["openAPIV3Schema"])
    schema["properties"]["metadata"] = {"type": "object"}
    return schema


SCALED_OBJECTS = [(n, d) for n, d in MANIFESTS if d["kind"] == "ScaledObject"]


@pytest.mark.parametrize(("name", "doc"), SCALED_OBJECTS, ids=[n for n, _ in SCALED_OBJECTS])
def test_scaledobjects_match_kedas_crd(name: str, doc: dict[str, Any], scaledobject_schema: dict[str, Any]) -> None:
    jsonschema.validate(doc, scaledobject_schema)
    ScaledObject.model_validate(doc)
    for trigger in doc["spec"]["triggers"]:
        assert trigger["type"] in ("external", "external-push")
        parse_trigger_metadata(trigger["metadata"])  # the scaler accepts every key


def test_crd_check_rejects_an_unknown_field(scaledobject_schema: dict[str, Any]) -> None:
    doc = copy.deepcopy(SCALED_OBJECTS[0][1])
    doc["spec"]["maxReplicas"] = 3  # the field is maxReplicaCount
    with pytest.raises(jsonschema.ValidationError) as err:
        jsonschema.validate(doc, scaledobject_schema)
    assert "'maxReplicas' was unexpected" in err.value.message


def test_example_scaledobjects_cover_both_trigger_types() -> None:
    kinds = {t["type"] for _, d in SCALED_OBJECTS for t in d["spec"]["triggers"]}
    assert kinds == {"external", "external-push"}
    example = next(d for n, d in SCALED_OBJECTS if n.startswith("examples/scaledobject-external.yaml"))
    assert example["spec"]["fallback"] == {"failureThreshold": 3, "replicas": 4}
    assert example["spec"]["minReplicaCount"] == 0
    assert example["spec"]["advanced"]["horizontalPodAutoscalerConfig"]["behavior"]["scaleUp"]["tolerance"] == "0"


def scaling_rules(block: dict[str, Any], default: ScalingRules) -> ScalingRules:
    """A ScaledObject's scaleUp/scaleDown block read as the simulator's rules (unset: Kubernetes' defaults)."""
    listed = block.get("policies")
    policies = (
        default.policies
        if listed is None
        else tuple(ScalingPolicy(p["type"], int(p["value"]), float(p["periodSeconds"])) for p in listed)
    )
    return ScalingRules(
        float(block.get("stabilizationWindowSeconds", default.stabilization_s)),
        tuple(sorted(policies, key=lambda p: (p.kind, p.value, p.period_s))),
        block.get("selectPolicy", default.select),
        float(block.get("tolerance", default.tolerance)),
    )


@pytest.mark.parametrize(
    ("direction", "default", "simulated"),
    [
        ("scaleUp", DEFAULT_SCALE_UP, GPUSCALE_HPA_SCALE_UP),
        ("scaleDown", DEFAULT_SCALE_DOWN, GPUSCALE_HPA_SCALE_DOWN),
    ],
)
def test_simulator_models_the_example_scaledobjects_hpa_behaviour(
    direction: str, default: ScalingRules, simulated: ScalingRules
) -> None:
    """Tuned policies assume the HPA the example deploys: the two must not drift apart."""
    example = next(d for n, d in SCALED_OBJECTS if n.startswith("examples/scaledobject-external.yaml"))
    behavior = example["spec"]["advanced"]["horizontalPodAutoscalerConfig"]["behavior"]
    in_simulator = dataclasses.replace(
        simulated, policies=tuple(sorted(simulated.policies, key=lambda p: (p.kind, p.value, p.period_s)))
    )
    assert scaling_rules(behavior[direction], default) == in_simulator


def test_trigger_authentication_has_the_mtls_parameters_keda_reads() -> None:
    (doc,) = documents(DEPLOY / "examples/triggerauthentication-mtls.yaml")
    TriggerAuthentication.model_validate(doc)
    assert {r["parameter"] for r in doc["spec"]["secretTargetRef"]} == {"caCert", "tlsClientCert", "tlsClientKey"}


def kustomizations() -> list[Path]:
    return sorted(DEPLOY.rglob("kustomization.yaml"))


@pytest.mark.parametrize("path", kustomizations(), ids=lambda p: str(p.relative_to(DEPLOY)))
def test_kustomization_references_exist(path: Path) -> None:
    (k,) = documents(path)
    here = path.parent
    for resource in k.get("resources", []):
        target = (here / resource).resolve()
        assert target.is_file() or (target / "kustomization.yaml").is_file(), resource
    for patch in k.get("patches", []):
        assert (here / patch["path"]).is_file(), patch["path"]
    for generator in k.get("configMapGenerator", []):
        for file in generator.get("files", []):
            assert (here / file.split("=")[-1]).is_file(), file


def merge(base: Any, patch: Any) -> Any:
    """Strategic merge as kustomize applies it to Deployments: lists of named items merge by
    name, ``null`` deletes a key, anything else replaces."""
    if isinstance(base, dict) and isinstance(patch, dict):
        out = dict(base)
        for key, value in patch.items():
            if value is None:
                out.pop(key, None)
            else:
                out[key] = merge(base.get(key), value) if key in base else value
        return out
    if isinstance(base, list) and isinstance(patch, list) and all(isinstance(i, dict) and "name" in i for i in patch):
        out_list = list(base)
        for item in patch:
            index = next((i for i, b in enumerate(out_list) if b.get("name") == item["name"]), None)
            if index is None:
                out_list.append(item)
            else:
                out_list[index] = merge(out_list[index], item)
        return out_list
    return patch


@pytest.mark.parametrize("patch", sorted(PATCHES), ids=lambda p: str(p.relative_to(DEPLOY)))
def test_overlay_deployments_render_valid(patch: Path) -> None:
    (base,) = documents(DEPLOY / "base/deployment.yaml")
    (change,) = documents(patch)
    rendered = merge(base, change)
    assert kubernetes_validate.validate(rendered, K8S_VERSION, strict=True) is not None
    container = rendered["spec"]["template"]["spec"]["containers"][0]
    if "tls" in str(patch):
        assert "--tls-client-ca=/etc/gpuscale/tls/ca.crt" in container["args"]
        assert container["readinessProbe"]["httpGet"]["path"] == "/readyz" and "grpc" not in container["readinessProbe"]
        assert container["startupProbe"]["httpGet"] == {"path": "/readyz", "port": "probes"}
        assert "grpc" not in container["startupProbe"]
        assert {m["name"] for m in container["volumeMounts"]} == {"config", "policies", "tmp", "tls"}


def test_scaler_runs_hardened() -> None:
    (deployment,) = documents(DEPLOY / "base/deployment.yaml")
    pod = deployment["spec"]["template"]["spec"]
    container = pod["containers"][0]
    assert pod["securityContext"]["runAsNonRoot"] is True
    assert container["securityContext"]["readOnlyRootFilesystem"] is True
    assert container["securityContext"]["capabilities"]["drop"] == ["ALL"]
    # readiness follows the collector (/readyz), start-up the gRPC server
    assert container["readinessProbe"]["httpGet"] == {"path": "/readyz", "port": "probes"}
    assert container["livenessProbe"]["httpGet"] == {"path": "/healthz", "port": "probes"}
    assert {p["name"]: p["containerPort"] for p in container["ports"]} == {
        "grpc": 6000,
        "metrics": 8080,
        "probes": 8081,
    }
    assert container["startupProbe"]["grpc"]["port"] == 6000
    assert container["resources"]["requests"]


def test_rbac_only_lists_pods_and_deployments_in_bound_namespaces() -> None:
    """The scaler's code lists (never gets or watches); a cluster-wide grant read every namespace's pod env."""
    (role,) = documents(DEPLOY / "base/rbac.yaml")
    assert role["kind"] == "ClusterRole"
    granted = {
        (g, r, v) for rule in role["rules"] for g in rule["apiGroups"] for r in rule["resources"] for v in rule["verbs"]
    }
    assert granted == {("", "pods", "list"), ("apps", "deployments", "list")}
    bindings = [d for _, d in MANIFESTS if d["kind"] in ("ClusterRoleBinding", "RoleBinding")]
    assert {d["kind"] for d in bindings} == {"RoleBinding"}
    assert all(d["roleRef"]["name"] == "gpuscale-read-workloads" for d in bindings)


def test_the_kube_source_only_lists() -> None:
    """What RBAC grants is what scaler/kube.py calls: list_namespaced_* and nothing else of the API."""
    source = (Path(__file__).resolve().parents[2] / "scaler" / "kube.py").read_text()
    calls = set(re.findall(r"\.(list|read|watch|get|patch|create|delete)_namespaced_(\w+)\(", source))
    assert calls == {("list", "deployment"), ("list", "pod")}


def test_each_example_kustomization_scales_a_deployment_once() -> None:
    """KEDA refuses a second ScaledObject for one Deployment: polling and push are alternatives."""
    for root in (DEPLOY / "examples", DEPLOY / "examples/push"):
        targets = [d["spec"]["scaleTargetRef"]["name"] for d in _scaled_objects_of(root)]
        assert len(targets) == len(set(targets)) == 1, (root, targets)


def _scaled_objects_of(root: Path) -> list[dict[str, Any]]:
    """The ScaledObjects a kustomization (and the kustomizations it includes) applies."""
    (kustomization,) = documents(root / "kustomization.yaml")
    out: list[dict[str, Any]] = []
    for resource in kustomization.get("resources", []):
        target = (root / resource).resolve()
        if target.is_dir():
            out.extend(_scaled_objects_of(target))
        else:
            out.extend(d for d in documents(target) if d["kind"] == "ScaledObject")
    return out


def test_server_config_and_policies_load_with_the_scalers_schema() -> None:
    config = load_config(DEPLOY / "base/config.yaml", {})
    assert (config.port, config.metrics_port) == (6000, 8080)
    assert str(config.policy_dir) == "/etc/gpuscale/policies"
    policy = load_policy_file(DEPLOY / "base/policies/default.yaml")
    assert policy.name == "default" and policy.policy.target_queue_per_replica == 32


def test_the_memory_limit_holds_max_workloads_at_the_measured_figure() -> None:
    """max_workloads was set without the per-workload figure in view; the pod was OOM-killed at ~120 workloads."""
    config = load_config(DEPLOY / "base/config.yaml", {})
    (deployment,) = [d for d in documents(DEPLOY / "base/deployment.yaml") if d["kind"] == "Deployment"]
    (container,) = deployment["spec"]["template"]["spec"]["containers"]
    limit = container["resources"]["limits"]["memory"]
    assert limit.endswith("Gi") or limit.endswith("Mi"), limit
    limit_mib = float(limit[:-2]) * (1024 if limit.endswith("Gi") else 1)
    needed = MEMORY_BASE_MIB + config.max_workloads * MEMORY_PER_WORKLOAD_MIB
    # three quarters: the rest is for a history read's transient memory and the allocator's slack
    assert needed <= 0.75 * limit_mib, (needed, limit_mib)
    assert config.max_workloads == 1000


def exported_names() -> tuple[set[str], set[str]]:
    """Every sample name and label the scaler exports, read from its own registries."""
    metrics: set[str] = set()
    labels: set[str] = set()
    for telemetry in (RpcTelemetry(), DecisionTelemetry()):
        registry: CollectorRegistry = telemetry.registry
        for family in registry.collect():
            suffixes = {
                "counter": ("_total",),
                "histogram": ("_bucket", "_sum", "_count"),
                "gauge": ("",),
            }[family.type]
            metrics.update(family.name + s for s in suffixes)
        for collector in list(registry._collector_to_names):
            labels.update(getattr(collector, "_labelnames", ()))
    return metrics, labels | {"le"}


#: The KEDA operator's series the dashboard and rules may read, with their types as KEDA declares them
#: (pkg/metricscollector/prommetrics.go): a gauge has no _bucket series to take a quantile of.
KEDA_FAMILIES = {
    "keda_scaler_metrics_value": "gauge",
    "keda_scaler_metrics_latency_seconds": "gauge",
    "keda_scaler_active": "gauge",
    "keda_scaler_detail_errors": "counter",
    "keda_scaled_object_errors": "counter",
}
KEDA_METRICS = {name + ("_total" if kind == "counter" else "") for name, kind in KEDA_FAMILIES.items()}
KEDA_LABELS = {"namespace", "metric", "scaledObject", "scaler", "triggerIndex", "type"}
PROMETHEUS_LABELS = {"job", "instance"}


def dashboard_queries() -> list[str]:
    dashboard = json.loads((DEPLOY / "monitoring/grafana/gpuscale-dashboard.json").read_text())
    return [t["expr"] for p in dashboard["panels"] for t in p["targets"]]


def rule_queries() -> list[str]:
    (rule,) = documents(DEPLOY / "monitoring/prometheusrule.yaml")
    return [r["expr"] for g in rule["spec"]["groups"] for r in g["rules"]]


def test_dashboard_and_rules_name_only_exported_metrics_and_labels() -> None:
    ours, our_labels = exported_names()
    allowed_metrics = ours | KEDA_METRICS | {"up"}
    allowed_labels = our_labels | KEDA_LABELS | PROMETHEUS_LABELS
    queries = dashboard_queries() + rule_queries()
    assert len(queries) >= 20
    for expr in queries:
        metrics, labels = names(expr)
        assert metrics, expr
        assert metrics <= allowed_metrics, f"{expr}: unknown metric(s) {sorted(metrics - allowed_metrics)}"
        assert labels <= allowed_labels, f"{expr}: unknown label(s) {sorted(labels - allowed_labels)}"


def test_keda_latency_is_read_as_the_gauge_keda_exports() -> None:
    """The dashboard once took a quantile of keda_scaler_metrics_latency_seconds_bucket: always empty."""
    assert "keda_scaler_metrics_latency_seconds_bucket" not in KEDA_METRICS
    assert any("keda_scaler_metrics_latency_seconds{" in q for q in dashboard_queries())


def test_the_scalers_service_monitor_keeps_its_namespace_label() -> None:
    """Without honorLabels the Prometheus Operator overwrites our namespace label with gpuscale-system."""
    (monitor,) = documents(DEPLOY / "monitoring/servicemonitor-gpuscale.yaml")
    assert [e.get("honorLabels") for e in monitor["spec"]["endpoints"]] == [True]


def test_metric_name_check_catches_a_typo() -> None:
    ours, _ = exported_names()
    metrics, _ = names('sum(gpuscale_recomended_replicas{namespace="x"})')
    assert metrics - ours == {"gpuscale_recomended_replicas"}


def test_dashboard_shows_every_part_of_a_decision() -> None:
    joined = "\n".join(dashboard_queries())
    for needed in (
        "gpuscale_recommended_replicas",
        "gpuscale_observed_replicas",
        "gpuscale_signal_ask_replicas",
        'kind="forecast_quantile"',
        "gpuscale_dominant_signal",
        "gpuscale_decisions_total",
        "gpuscale_data_age_seconds",
        "gpuscale_rpc_duration_seconds_bucket",
        "gpuscale_prometheus_query_duration_seconds_bucket",
        "keda_scaler_metrics_value",
    ):
        assert needed in joined, needed


@pytest.fixture(scope="module")
def promtool() -> str:
    path = shutil.which("promtool")
    if path is None:
        pytest.fail("promtool is not on PATH: scripts/setup installs Debian's prometheus package")
    return path


def test_alert_rules_pass_promtool(tmp_path: Path, promtool: str) -> None:
    (rule,) = documents(DEPLOY / "monitoring/prometheusrule.yaml")
    rules = tmp_path / "rules.yaml"
    rules.write_text(yaml.safe_dump({"groups": rule["spec"]["groups"]}))
    proc = subprocess.run([promtool, "check", "rules", str(rules)], capture_output=True, text=True, check=False)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "SUCCESS: 5 rules found" in proc.stdout


def test_every_dashboard_query_parses(tmp_path: Path, promtool: str) -> None:
    """Grafana variables replaced by values, each query becomes a recording rule promtool parses."""
    exprs = [re.sub(r"\$\{?(\w+)\}?", "x", e.replace("$__rate_interval", "5m")) for e in dashboard_queries()]
    rules = tmp_path / "dashboard.yaml"
    group = {"name": "dashboard", "rules": [{"record": f"dashboard:q{i}", "expr": e} for i, e in enumerate(exprs)]}
    rules.write_text(yaml.safe_dump({"groups": [group]}))
    proc = subprocess.run([promtool, "check", "rules", str(rules)], capture_output=True, text=True, check=False)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert f"SUCCESS: {len(exprs)} rules found" in proc.stdout


def test_kind_e2e_script_is_valid_bash_and_its_files_exist() -> None:
    script = DEPLOY / "kind/e2e.sh"
    proc = subprocess.run(["bash", "-n", str(script)], capture_output=True, text=True, check=False)
    assert proc.returncode == 0, proc.stderr
    text = script.read_text()
    for rel in re.findall(r'"\$HERE/([\w./-]+)"', text):
        assert (DEPLOY / "kind" / rel).exists(), rel
    for rel in re.findall(r"-f (deploy/[\w./-]+)", text):
        assert (ROOT / rel).is_file(), rel


def test_dockerfile_builds_from_files_that_exist_and_runs_unprivileged() -> None:
    text = (DEPLOY / "docker/Dockerfile").read_text()
    for source in re.findall(r"^COPY (?!--from)(.+) \S+$", text, flags=re.M):
        for item in source.split():
            assert (ROOT / item).exists(), item
    assert re.findall(r"^FROM .* AS ([\w-]+)$", text, flags=re.M) == [
        "build",
        "build-simulator",
        "runtime",
        "emulator",
        "scaler",
    ]
    # The scaler's image is built without the simulator's dependencies (scipy, matplotlib), the emulator's with.
    stages = dict(re.findall(r"^FROM \S+ AS ([\w-]+)\n(.*?)(?=^FROM |\Z)", text, flags=re.M | re.S))
    assert "COPY --from=build /opt/gpuscale" in stages["scaler"]
    assert "COPY --from=build-simulator /opt/gpuscale" in stages["emulator"]
    assert "pip install -c constraints.txt .\n" in stages["build"] + "\n"
    assert '".[simulator]"' in stages["build-simulator"]
    assert "USER 10001:10001" in text
