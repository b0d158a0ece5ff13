"""The e2e stack, started once per session: a real control plane, KEDA, Prometheus, the fleet emulator
and ``gpuscale serve`` with the shipped config, all on loopback (run with ``pytest -m e2e``)."""

from __future__ import annotations

import os
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import grpc
import pytest
import yaml
from grpc_health.v1 import health_pb2, health_pb2_grpc

from emulation.emulator import EmulatorServer, FleetEmulator
from emulation.local_prometheus import PrometheusServer
from tests.e2e.controlplane import ROOT, ControlPlane
from tests.e2e.keda import Keda
from tests.support.net import free_port

#: The identity the scaler's ServiceAccount has in a cluster: RBAC applies to it as it would in-cluster.
SCALER_USER = "/O=system:serviceaccounts/CN=system:serviceaccount:gpuscale-system:gpuscale"


@dataclass
class Stack:
    plane: ControlPlane
    keda: Keda
    fleet: FleetEmulator
    prometheus: PrometheusServer
    #: a second Prometheus, allow-listed as the source "faults": a test may kill it without touching the others
    faults_prometheus: PrometheusServer
    #: a third, allow-listed as the source "history": not started; a test backfills its data and starts it
    history_prometheus: PrometheusServer
    scaler: subprocess.Popen[bytes]
    scaler_port: int
    scaler_metrics_port: int
    #: what kube-prometheus-stack would run beside them: a Prometheus scraping gpuscale (job gpuscale) and
    #: KEDA's operator, evaluating deploy/monitoring's alert rules
    monitoring: PrometheusServer

    @property
    def sources(self) -> dict[str, str]:
        """The scaler's Prometheus sources, by name."""
        return prometheus_sources(self.prometheus, self.faults_prometheus, self.history_prometheus)

    @property
    def scaler_address(self) -> str:
        return f"127.0.0.1:{self.scaler_port}"

    def kill_scaler(self) -> None:
        self.scaler.kill()
        self.scaler.wait(timeout=10)

    def restart_scaler(self) -> None:
        """A new ``gpuscale serve`` on the same ports, as a restarted pod behind the same Service."""
        self.scaler = start_scaler(self.plane, self.sources, self.scaler_port, self.scaler_metrics_port)
        self.plane.processes["gpuscale"] = self.scaler
        self.plane.wait(lambda: serving(self.scaler_port), 60, "gpuscale serve's gRPC health", "gpuscale")


def prometheus_sources(
    default: PrometheusServer, faults: PrometheusServer, history: PrometheusServer
) -> dict[str, str]:
    """The Prometheus sources allow-listed on the scaler, by name."""
    return {"default": default.url, "faults": faults.url, "history": history.url}


def start_scaler(
    plane: ControlPlane,
    sources: dict[str, str],
    port: int,
    metrics_port: int,
    host: str = "127.0.0.1",
    name: str = "gpuscale",
) -> subprocess.Popen[bytes]:
    """``gpuscale serve`` with deploy/base's config and policies, as the scaler's ServiceAccount, logging to
    ``<name>.log``; ``host`` is a loopback address (two scalers on one port are two pods behind a Service)."""
    kubeconfig = plane.user_kubeconfig("gpuscale", SCALER_USER)
    log = (plane.root / f"{name}.log").open("ab")
    return subprocess.Popen(
        [
            sys.executable, "-m", "scaler.cli", "serve",
            "--config", str(ROOT / "deploy" / "base" / "config.yaml"),
            "--policy-dir", str(ROOT / "deploy" / "base" / "policies"),
            "--host", host, "--port", str(port), "--metrics-port", str(metrics_port),
            "--probe-port", str(free_port()),
            "--prometheus-url", sources["default"],
            *(f"--prometheus-source={name}={url}" for name, url in sources.items() if name != "default"),
            "--kubernetes", "kubeconfig",
        ],
        cwd=ROOT,
        stdout=log,
        stderr=subprocess.STDOUT,
        env={**os.environ, "KUBECONFIG": str(kubeconfig)},
    )  # fmt: skip


def alert_rule_groups() -> list[dict[str, object]]:
    """deploy/monitoring's PrometheusRule as a Prometheus rule file's groups."""
    rule = yaml.safe_load((ROOT / "deploy" / "monitoring" / "prometheusrule.yaml").read_text())
    groups: list[dict[str, object]] = rule["spec"]["groups"]
    return groups


def firing_or_pending(stack: Stack, alert: str, **labels: str) -> bool:
    """Whether the monitoring Prometheus holds the alert pending or firing for these labels."""
    matchers = ",".join([f'alertname="{alert}"', *(f'{k}="{v}"' for k, v in labels.items())])
    return bool(stack.monitoring.query(f"ALERTS{{{matchers}}}"))


def alerts_for(stack: Stack, namespace: str) -> set[str]:
    """Names of the alerts the monitoring Prometheus holds pending or firing for a namespace."""
    series = stack.monitoring.query(f'ALERTS{{namespace="{namespace}"}}')
    return {str(s["metric"]["alertname"]) for s in series}  # type: ignore[index]


def serving(port: int, host: str = "127.0.0.1") -> bool:
    try:
        with grpc.insecure_channel(f"{host}:{port}") as channel:
            reply = health_pb2_grpc.HealthStub(channel).Check(health_pb2.HealthCheckRequest(), timeout=0.5)
    except grpc.RpcError:
        return False
    return bool(reply.status == health_pb2.HealthCheckResponse.SERVING)


@pytest.fixture(scope="session")
def stack() -> Iterator[Stack]:
    root = Path(tempfile.mkdtemp(prefix="gpuscale-e2e-"))
    monitoring: PrometheusServer | None = None
    plane = ControlPlane(root)
    fleet = FleetEmulator()
    emulator = EmulatorServer(fleet).start()
    prometheus = PrometheusServer([f"127.0.0.1:{emulator.port}"]).start()
    faults_prometheus = PrometheusServer([f"127.0.0.1:{emulator.port}"]).start()
    history_prometheus = PrometheusServer(
        [f"127.0.0.1:{emulator.port}"], data_dir=root / "history-data", retention="3d"
    )
    try:
        plane.start()
        keda = Keda(plane).install()
        # the scaler's own manifests, as a user applies them: its namespace, ServiceAccount and the ClusterRole
        # that each workload namespace binds (the process itself runs on the host, as that ServiceAccount)
        plane.kubectl("apply", "--server-side", "--validate=strict", "-k", str(ROOT / "deploy" / "base"))
        port, metrics_port = free_port(), free_port()
        sources = prometheus_sources(prometheus, faults_prometheus, history_prometheus)
        scaler = start_scaler(plane, sources, port, metrics_port)
        plane.processes["gpuscale"] = scaler
        plane.wait(lambda: serving(port), 60, "gpuscale serve's gRPC health", "gpuscale")
        monitoring = PrometheusServer(
            [f"127.0.0.1:{metrics_port}"],
            job="gpuscale",
            more_jobs={"keda-operator": [f"127.0.0.1:{keda.operator_metrics_port}"]},
            rule_groups=alert_rule_groups(),
        )
        stack = Stack(
            plane,
            keda,
            fleet,
            prometheus,
            faults_prometheus,
            history_prometheus,
            scaler,
            port,
            metrics_port,
            monitoring,
        )
        monitoring.start()
        yield stack
    finally:
        plane.stop()
        prometheus.stop()
        faults_prometheus.stop()
        history_prometheus.stop()
        if monitoring is not None:
            monitoring.stop()
        emulator.stop()
