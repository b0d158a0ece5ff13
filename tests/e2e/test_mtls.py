"""mTLS on the real path: ``gpuscale serve`` started with deploy/overlays/tls's arguments and certificates the
test makes for ``gpuscale.gpuscale-system.svc``; KEDA's operator dials it by that name with the client
certificate of deploy/examples' TriggerAuthentication, and the HPA scales the Deployment. A ScaledObject
without TLS, and a client without a certificate, are refused."""

from __future__ import annotations

import base64
import json
import os
import shutil
import ssl
import subprocess
import sys
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import grpc
import pytest
import yaml
from grpc_health.v1 import health_pb2, health_pb2_grpc

from tests.e2e.conftest import SCALER_USER, Stack
from tests.e2e.controlplane import ROOT, Pki
from tests.e2e.dns import LoopbackDns
from tests.e2e.fleet import PodMirror, apply_list, scaled_object_condition, wait_scaled_object_ready, workload
from tests.support.net import free_port

pytestmark = pytest.mark.e2e

SERVICE_NAME = "gpuscale.gpuscale-system.svc"
NAMESPACE = "mtls"
#: generated tokens/s of 2.5 replicas at deploy/base's default policy (4,500 per replica): 3 replicas
LOAD_TPS = 2.5 * 4500


@dataclass
class TlsScaler:
    process: subprocess.Popen[bytes]
    port: int
    metrics_port: int
    pki: Pki
    target: str

    def decisions(self, namespace: str, client_cert: bool = True) -> list[dict[str, Any]]:
        context = ssl.create_default_context(cafile=self.pki.path("ca.crt"))
        context.check_hostname = False  # /metrics is reached by the pod IP, as Prometheus does
        if client_cert:
            context.load_cert_chain(self.pki.path("client.crt"), self.pki.path("client.key"))
        url = f"https://127.0.0.1:{self.metrics_port}/decisions/{namespace}/llama?limit=1"
        with urllib.request.urlopen(url, timeout=3, context=context) as resp:
            (entry,) = json.loads(resp.read())
        decisions: list[dict[str, Any]] = entry["decisions"]
        return decisions


def tls_args(stack: Stack, etc: Path) -> list[str]:
    """deploy/overlays/tls's container arguments with /etc/gpuscale moved to ``etc`` and the in-cluster
    Kubernetes access replaced by the scaler ServiceAccount's kubeconfig."""
    rendered = stack.plane.kubectl("kustomize", str(ROOT / "deploy" / "overlays" / "tls")).stdout
    deployment = next(d for d in yaml.safe_load_all(rendered) if d and d["kind"] == "Deployment")
    (container,) = deployment["spec"]["template"]["spec"]["containers"]
    args: list[str] = [a.replace("/etc/gpuscale", str(etc)) for a in container["args"]]
    assert "--kubernetes=incluster" in args, args
    return ["--kubernetes=kubeconfig" if a == "--kubernetes=incluster" else a for a in args]


@pytest.fixture(scope="module")
def tls_scaler(stack: Stack, tmp_path_factory: pytest.TempPathFactory) -> Iterator[TlsScaler]:
    root = tmp_path_factory.mktemp("mtls")
    pki = Pki(root / "pki")
    pki.dir.mkdir()
    pki.ca("ca")
    pki.leaf("server", "/CN=gpuscale", "ca", f"DNS:{SERVICE_NAME}", "serverAuth")
    pki.leaf("client", "/CN=keda-operator", "ca", usage="clientAuth")
    # what the overlay mounts: the ConfigMaps at /etc/gpuscale and the Secret gpuscale-tls at /etc/gpuscale/tls
    etc = root / "etc-gpuscale"
    (etc / "tls").mkdir(parents=True)
    config = (ROOT / "deploy" / "base" / "config.yaml").read_text()
    (etc / "config.yaml").write_text(config.replace("/etc/gpuscale", str(etc)))
    shutil.copytree(ROOT / "deploy" / "base" / "policies", etc / "policies")
    for source, target in (("server.crt", "tls.crt"), ("server.key", "tls.key"), ("ca.crt", "ca.crt")):
        shutil.copy(pki.dir / source, etc / "tls" / target)
    port, metrics_port = free_port(), free_port()
    kubeconfig = stack.plane.user_kubeconfig("gpuscale-tls", SCALER_USER)
    log = (stack.plane.root / "gpuscale-tls.log").open("ab")
    process = subprocess.Popen(
        [
            sys.executable, "-m", "scaler.cli", *tls_args(stack, etc),
            "--host", "127.0.0.1", "--port", str(port), "--metrics-port", str(metrics_port),
            "--probe-port", str(free_port()), "--prometheus-url", stack.prometheus.url,
        ],
        cwd=ROOT,
        stdout=log,
        stderr=subprocess.STDOUT,
        env={**os.environ, "KUBECONFIG": str(kubeconfig)},
    )  # fmt: skip
    stack.plane.processes["gpuscale-tls"] = process
    dns = LoopbackDns(SERVICE_NAME).start()
    try:
        scaler = TlsScaler(process, port, metrics_port, pki, dns.target(SERVICE_NAME, port))
        stack.plane.wait(lambda: _serving_tls(scaler), 60, "gpuscale serve's gRPC health over mTLS", "gpuscale-tls")
        yield scaler
    finally:
        dns.stop()
        process.terminate()
        process.wait(timeout=20)
        stack.plane.processes.pop("gpuscale-tls", None)


def _channel(scaler: TlsScaler, client_cert: bool) -> grpc.Channel:
    credentials = grpc.ssl_channel_credentials(
        root_certificates=(scaler.pki.dir / "ca.crt").read_bytes(),
        private_key=(scaler.pki.dir / "client.key").read_bytes() if client_cert else None,
        certificate_chain=(scaler.pki.dir / "client.crt").read_bytes() if client_cert else None,
    )
    return grpc.secure_channel(
        f"127.0.0.1:{scaler.port}", credentials, options=[("grpc.ssl_target_name_override", SERVICE_NAME)]
    )


def _health(channel: grpc.Channel) -> str:
    """The health check's status name, or the gRPC error code's name when the call fails."""
    try:
        reply = health_pb2_grpc.HealthStub(channel).Check(health_pb2.HealthCheckRequest(), timeout=2)
    except grpc.RpcError as exc:
        return str(exc.code().name)
    return str(health_pb2.HealthCheckResponse.ServingStatus.Name(reply.status))


def _serving_tls(scaler: TlsScaler) -> bool:
    with _channel(scaler, client_cert=True) as channel:
        return _health(channel) == "SERVING"


def secret_and_authentication(namespace: str, pki: Pki) -> list[dict[str, object]]:
    """KEDA's side, as deploy/examples ships it: the client Secret and the TriggerAuthentication."""
    data = {
        "ca.crt": (pki.dir / "ca.crt").read_bytes(),
        "tls.crt": (pki.dir / "client.crt").read_bytes(),
        "tls.key": (pki.dir / "client.key").read_bytes(),
    }
    secret = {
        "apiVersion": "v1",
        "kind": "Secret",
        "metadata": {"name": "gpuscale-client-tls", "namespace": namespace},
        "data": {k: base64.b64encode(v).decode() for k, v in data.items()},
    }
    authentication = yaml.safe_load((ROOT / "deploy" / "examples" / "triggerauthentication-mtls.yaml").read_text())
    authentication["metadata"]["namespace"] = namespace
    return [secret, authentication]


def spec_replicas(stack: Stack, namespace: str) -> int:
    return int(stack.plane.get_json("deployment", "llama", "-n", namespace)["spec"]["replicas"])  # type: ignore[index]


def test_keda_scales_through_mtls_by_the_service_name(stack: Stack, tls_scaler: TlsScaler) -> None:
    plane = stack.plane
    items = workload(NAMESPACE, tls_scaler.target, authentication="gpuscale-mtls", enableTLS="true")
    apply_list(plane, items[:1] + secret_and_authentication(NAMESPACE, tls_scaler.pki) + items[1:])
    wait_scaled_object_ready(plane, NAMESPACE, "the mTLS ScaledObject to be Ready")
    mirror = PodMirror(plane, stack.fleet, NAMESPACE, "llama").start()
    try:
        mirror.set_load(queue=0.0, running=4.0, generation_tps=LOAD_TPS, kv_cache_usage=0.3)
        plane.wait(
            lambda: spec_replicas(stack, NAMESPACE) == 3 and len(mirror.pods) == 3,
            180,
            "the HPA to scale to 3 replicas on gpuscale's answer over mTLS",
        )
        (latest,) = tls_scaler.decisions(NAMESPACE)
        assert latest["replicas"] == 3, latest
    finally:
        mirror.stop()


def test_the_scaler_refuses_clients_without_a_certificate(stack: Stack, tls_scaler: TlsScaler) -> None:
    with _channel(tls_scaler, client_cert=False) as channel:
        assert _health(channel) == "UNAVAILABLE"
    with grpc.insecure_channel(f"127.0.0.1:{tls_scaler.port}") as channel:
        assert _health(channel) == "UNAVAILABLE"
    # /metrics and /decisions too: TLS 1.3 refuses after the handshake, on the first read
    with pytest.raises(ssl.SSLError, match=r"^\[SSL: TLSV13_ALERT_CERTIFICATE_REQUIRED\]"):
        tls_scaler.decisions(NAMESPACE, client_cert=False)


def test_a_plaintext_scaled_object_never_gets_ready(stack: Stack, tls_scaler: TlsScaler) -> None:
    plane = stack.plane
    apply_list(plane, workload("mtls-plain", tls_scaler.target))
    plane.wait(
        lambda: scaled_object_condition(plane, "mtls-plain", "Ready") == "False",
        60,
        "KEDA to mark the plaintext ScaledObject not Ready",
    )
    status: dict[str, Any] = plane.get_json("scaledobject", "llama", "-n", "mtls-plain")["status"]  # type: ignore[assignment]
    (ready,) = (c for c in status["conditions"] if c["type"] == "Ready")
    # KEDA's plaintext dial fails the handshake, so GetMetricSpec returns nothing and no HPA is made
    assert (ready["reason"], ready["message"]) == (
        "ScaledObjectCheckFailed",
        "failed to ensure HPA is correctly created for ScaledObject: no metric specs returned from scalers for "
        "ScaledObject mtls-plain/llama",
    )
    assert plane.kubectl("get", "hpa", "-n", "mtls-plain", "-o", "name").stdout == ""
