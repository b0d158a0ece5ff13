"""Replica counts and observed cold starts from the cluster drive the decision (via a kubeconfig)."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from emulation.emulator import EmulatorServer, FleetEmulator
from emulation.local_prometheus import PrometheusServer
from scaler.decision import Ask
from scaler.rpc import externalscaler_pb2 as pb
from tests.conftest import scaler_config
from tests.support.fake_apiserver import FakeApiServer, deployment, pod
from tests.support.scaler import RunningScaler, ref

pytestmark = pytest.mark.integration


@pytest.fixture
def apiserver(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[FakeApiServer]:
    server = FakeApiServer()
    monkeypatch.setenv("KUBECONFIG", str(server.write_kubeconfig(tmp_path / "kubeconfig")))
    yield server
    server.stop()


def test_cold_start_and_starting_pods_come_from_the_cluster(
    apiserver: FakeApiServer,
    emulator: tuple[FleetEmulator, EmulatorServer],
    prometheus: PrometheusServer,
    start_scaler: Callable[..., RunningScaler],
) -> None:
    fleet, _ = emulator
    ns = "kube"
    dep = fleet.set_load(ns, "llama", replicas=2, queue=30, running=16, generation_tps=600, kv_cache_usage=0.5)
    ready_pods = dep.pod_names()
    # Two ready pods took 150 s and 250 s from creation to Ready; three more are still starting.
    apiserver.deployments[ns] = [deployment("llama", ns, replicas=5, ready=2)]
    apiserver.pods[ns] = [
        pod(ready_pods[0], ns, "2026-11-23T10:00:00Z", "2026-11-23T10:02:30Z"),
        pod(ready_pods[1], ns, "2026-11-23T10:00:00Z", "2026-11-23T10:04:10Z"),
        *(pod(f"llama-a4db0e636-new{i}x", ns, "2026-11-23T11:00:00Z", None) for i in range(3)),
        pod("other-7c9f8d6b5-zzzzz", ns, "2026-11-23T09:00:00Z", "2026-11-23T09:30:00Z"),  # not ours
    ]
    prometheus.wait_for_series(f'vllm:num_requests_waiting{{namespace="{ns}"}} == 15')
    running = start_scaler(scaler_config(prometheus.url, kubernetes="kubeconfig"))
    reply = running.stub().GetMetrics(
        pb.GetMetricsRequest(scaledObjectRef=ref("llama", ns, deployment="llama")), timeout=3
    )
    decision = running.server.registry.all()[0].latest
    assert decision is not None
    # p90 of the observed cold starts (150 s, 250 s) provisions the forecast horizon.
    assert (decision.horizon_source, decision.horizon_s) == ("observed", pytest.approx(240.0))
    # 30 waiting, 2 ready holding 8: 22 excess needs 6; 3 are already starting -> 2 + 6 = 8.
    assert decision.asks[Ask.QUEUE] == 8
    # First decision after a (re)start: the current 5 replicas seed the window, nothing scales down.
    assert reply.metricValues[0].metricValue == 8
    assert f"/apis/apps/v1/namespaces/{ns}/deployments" in apiserver.requests
    assert f"/api/v1/namespaces/{ns}/pods" in apiserver.requests
