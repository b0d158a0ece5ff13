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
    scaler: subprocess.Popen[bytes]
    scaler_port: int
    scaler_metrics_port: int

    @property
    def scaler_address(self) -> str:
        return f"127.0.0.1:{self.scaler_port}"

    def kill_scaler(self) -> None:
        self.scaler.kill()
        self.scaler.wait(timeout=10)

    def restart_scaler(self) -> None:
        """A new ``gpuscale serve`` on the same ports, as a restarted pod behind the same Service."""
        self.scaler = start_scaler(
            self.plane, self.prometheus.url, self.faults_prometheus.url, self.scaler_port, self.scaler_metrics_port
        )
        self.plane.processes["gpuscale"] = self.scaler
        self.plane.wait(lambda: _serving(self.scaler_port), 60, "gpuscale serve's gRPC health", "gpuscale")


def start_scaler(
    plane: ControlPlane, prometheus_url: str, faults_url: str, port: int, metrics_port: int
) -> subprocess.Popen[bytes]:
    """``gpuscale serve`` with deploy/base's config and policies, as the scaler's ServiceAccount."""
    kubeconfig = plane.user_kubeconfig("gpuscale", SCALER_USER)
    log = (plane.root / "gpuscale.log").open("ab")
    return subprocess.Popen(
        [
            sys.executable, "-m", "scaler.cli", "serve",
            "--config", str(ROOT / "deploy" / "base" / "config.yaml"),
            "--policy-dir", str(ROOT / "deploy" / "base" / "policies"),
            "--host", "127.0.0.1", "--port", str(port), "--metrics-port", str(metrics_port),
            "--probe-port", str(free_port()),
            "--prometheus-url", prometheus_url, "--prometheus-source", f"faults={faults_url}",
            "--kubernetes", "kubeconfig",
        ],
        cwd=ROOT,
        stdout=log,
        stderr=subprocess.STDOUT,
        env={**os.environ, "KUBECONFIG": str(kubeconfig)},
    )  # fmt: skip


def _serving(port: int) -> bool:
    try:
        with grpc.insecure_channel(f"127.0.0.1:{port}") as channel:
            reply = health_pb2_grpc.HealthStub(channel).Check(health_pb2.HealthCheckRequest(), timeout=0.5)
    except grpc.RpcError:
        return False
    return bool(reply.status == health_pb2.HealthCheckResponse.SERVING)


@pytest.fixture(scope="session")
def stack() -> Iterator[Stack]:
    root = Path(tempfile.mkdtemp(prefix="gpuscale-e2e-"))
    plane = ControlPlane(root)
    fleet = FleetEmulator()
    emulator = EmulatorServer(fleet).start()
    prometheus = PrometheusServer([f"127.0.0.1:{emulator.port}"]).start()
    faults_prometheus = PrometheusServer([f"127.0.0.1:{emulator.port}"]).start()
    try:
        plane.start()
        keda = Keda(plane).install()
        # the scaler's own manifests, as a user applies them: its namespace, ServiceAccount and the ClusterRole
        # that each workload namespace binds (the process itself runs on the host, as that ServiceAccount)
        plane.kubectl("apply", "--server-side", "--validate=strict", "-k", str(ROOT / "deploy" / "base"))
        port, metrics_port = free_port(), free_port()
        scaler = start_scaler(plane, prometheus.url, faults_prometheus.url, port, metrics_port)
        plane.processes["gpuscale"] = scaler
        plane.wait(lambda: _serving(port), 60, "gpuscale serve's gRPC health", "gpuscale")
        yield Stack(plane, keda, fleet, prometheus, faults_prometheus, scaler, port, metrics_port)
    finally:
        plane.stop()
        prometheus.stop()
        faults_prometheus.stop()
        emulator.stop()
