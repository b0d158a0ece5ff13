"""The gRPC surface: TLS and mTLS, health, reflection, StreamIsActive and graceful stop."""

from __future__ import annotations

import ssl
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Callable
from pathlib import Path

import grpc
import pytest
from grpc_health.v1 import health_pb2, health_pb2_grpc
from grpc_reflection.v1alpha import reflection_pb2, reflection_pb2_grpc

from emulation.emulator import EmulatorServer, FleetEmulator
from emulation.local_prometheus import PrometheusServer
from scaler.rpc import externalscaler_pb2 as pb
from scaler.rpc import externalscaler_pb2_grpc as pb_grpc
from tests.conftest import scaler_config
from tests.support.certs import make_pki
from tests.support.net import exposition, free_port, wait_for
from tests.support.scaler import RunningScaler, ref

pytestmark = pytest.mark.integration
SO = ref("llama", "llm", deployment="llama")


def _spec_name(channel: grpc.Channel) -> str:
    return str(pb_grpc.ExternalScalerStub(channel).GetMetricSpec(SO, timeout=3).metricSpecs[0].metricName)


def test_tls_and_mtls(tmp_path: Path, start_scaler: Callable[..., RunningScaler]) -> None:
    pki = make_pki(tmp_path)
    dead = f"http://127.0.0.1:{free_port()}"
    tls = start_scaler(scaler_config(dead, tls_cert=pki.server_cert, tls_key=pki.server_key))
    trust = grpc.ssl_channel_credentials(root_certificates=pki.ca.read_bytes())
    assert _spec_name(grpc.secure_channel(tls.address, trust)) == "gpuscale-llama"
    with pytest.raises(grpc.RpcError) as err:  # KEDA without enableTLS dials plaintext: refused
        _spec_name(grpc.insecure_channel(tls.address))
    assert err.value.code() == grpc.StatusCode.UNAVAILABLE
    with pytest.raises(grpc.RpcError) as err:  # a client that does not trust our CA
        _spec_name(grpc.secure_channel(tls.address, grpc.ssl_channel_credentials(pki.other_ca.read_bytes())))
    assert err.value.code() == grpc.StatusCode.UNAVAILABLE

    mtls = start_scaler(scaler_config(dead, tls_cert=pki.server_cert, tls_key=pki.server_key, tls_client_ca=pki.ca))
    client = grpc.ssl_channel_credentials(
        root_certificates=pki.ca.read_bytes(),
        private_key=pki.client_key.read_bytes(),
        certificate_chain=pki.client_cert.read_bytes(),
    )
    assert _spec_name(grpc.secure_channel(mtls.address, client)) == "gpuscale-llama"
    for creds in (
        trust,  # no client certificate
        grpc.ssl_channel_credentials(  # a client certificate from another CA
            root_certificates=pki.ca.read_bytes(),
            private_key=pki.other_client_key.read_bytes(),
            certificate_chain=pki.other_client_cert.read_bytes(),
        ),
    ):
        with pytest.raises(grpc.RpcError) as err:
            _spec_name(grpc.secure_channel(mtls.address, creds))
        assert err.value.code() == grpc.StatusCode.UNAVAILABLE


def test_health_and_reflection(start_scaler: Callable[..., RunningScaler]) -> None:
    running = start_scaler(scaler_config(f"http://127.0.0.1:{free_port()}"))
    channel = grpc.insecure_channel(running.address)
    health = health_pb2_grpc.HealthStub(channel)
    for service in ("", "externalscaler.ExternalScaler"):
        reply = health.Check(health_pb2.HealthCheckRequest(service=service), timeout=3)
        assert reply.status == health_pb2.HealthCheckResponse.SERVING
    reflect = reflection_pb2_grpc.ServerReflectionStub(channel)
    replies = list(reflect.ServerReflectionInfo(iter([reflection_pb2.ServerReflectionRequest(list_services="")])))
    names = {s.name for s in replies[0].list_services_response.service}
    assert names == {
        "externalscaler.ExternalScaler",
        "grpc.health.v1.Health",
        "grpc.reflection.v1alpha.ServerReflection",
    }


def test_stream_metric_spec_is_unimplemented(start_scaler: Callable[..., RunningScaler]) -> None:
    running = start_scaler(scaler_config(f"http://127.0.0.1:{free_port()}"))
    with pytest.raises(grpc.RpcError) as err:
        next(iter(running.stub().StreamMetricSpec(SO, timeout=3)))
    assert err.value.code() == grpc.StatusCode.UNIMPLEMENTED


def test_stream_is_active_pushes_true_on_demand_and_ends_ok_on_stop(
    emulator: tuple[FleetEmulator, EmulatorServer], prometheus: PrometheusServer
) -> None:
    fleet, _ = emulator
    ns = "push"
    # Scaled to zero: no pods, no series; the scaler was recommending zero.
    running = RunningScaler(scaler_config(prometheus.url)).start()
    so = ref("wake", ns, deployment="wake")
    received: list[bool] = []
    outcome: dict[str, object] = {}

    def consume() -> None:
        stream = running.stub().StreamIsActive(so)
        try:
            for msg in stream:
                received.append(msg.result)
            outcome["code"] = stream.code()
        except grpc.RpcError as exc:
            outcome["code"] = exc.code()

    reader = threading.Thread(target=consume, daemon=True)
    reader.start()
    try:
        wait_for(lambda: len(received) >= 1, timeout=10, what="the first StreamIsActive message")
        assert received == [False]
        # A pod appears with queued demand (e.g. the gateway woke one, or minReplicas>0 elsewhere).
        fleet.set_load(ns, "wake", replicas=1, queue=3, running=0, generation_tps=0, kv_cache_usage=0)
        wait_for(lambda: True in received, timeout=30, what="a pushed true")
        assert received == [False, True]
    finally:
        running.stop()
    reader.join(timeout=10)
    assert outcome["code"] == grpc.StatusCode.OK


def _https(port: int, path: str, context: ssl.SSLContext) -> tuple[int, bytes]:
    with urllib.request.urlopen(f"https://localhost:{port}{path}", context=context, timeout=3) as resp:
        return resp.status, resp.read()


def test_decisions_and_metrics_need_a_client_certificate_in_mtls_mode(
    tmp_path: Path, start_scaler: Callable[..., RunningScaler]
) -> None:
    """They were plaintext and unauthenticated beside an mTLS gRPC port: every tenant's decisions to anyone."""
    pki = make_pki(tmp_path)
    dead = f"http://127.0.0.1:{free_port()}"
    mtls = start_scaler(scaler_config(dead, tls_cert=pki.server_cert, tls_key=pki.server_key, tls_client_ca=pki.ca))
    port = mtls.server.metrics_port
    with pytest.raises((urllib.error.URLError, ConnectionError)):  # plain HTTP: no answer from a TLS port
        urllib.request.urlopen(f"http://127.0.0.1:{port}/decisions", timeout=3)
    anonymous = ssl.create_default_context(cafile=str(pki.ca))
    with pytest.raises((ssl.SSLError, urllib.error.URLError, ConnectionError)):  # TLS, no client certificate
        _https(port, "/decisions", anonymous)
    stranger = ssl.create_default_context(cafile=str(pki.ca))
    stranger.load_cert_chain(pki.other_client_cert, pki.other_client_key)
    with pytest.raises((ssl.SSLError, urllib.error.URLError, ConnectionError)):  # a certificate from another CA
        _https(port, "/decisions", stranger)
    prometheus = ssl.create_default_context(cafile=str(pki.ca))
    prometheus.load_cert_chain(pki.client_cert, pki.client_key)
    assert _https(port, "/decisions", prometheus) == (200, b"[]")
    status, body = _https(port, "/metrics", prometheus)
    assert status == 200 and b"gpuscale_workloads" in body
    # kubelet's probes have a plain port of their own, which serves nothing about the tenants
    probe = mtls.server.probe_port
    with urllib.request.urlopen(f"http://127.0.0.1:{probe}/readyz", timeout=3) as resp:
        assert (resp.status, resp.read()) == (200, b"ok\n")
    with pytest.raises(urllib.error.HTTPError) as err:
        urllib.request.urlopen(f"http://127.0.0.1:{probe}/decisions", timeout=3)
    assert err.value.code == 404


def test_a_call_the_client_abandons_is_counted_cancelled(
    silent_address: str, start_scaler: Callable[..., RunningScaler]
) -> None:
    """A handler cancelled under it (the client gave up, here while a first collection hangs on a silent
    Prometheus) is counted CANCELLED in gpuscale_rpcs_total; it was counted OK (issue 28)."""
    running = start_scaler(scaler_config(silent_address, query_timeout_s=5.0, first_answer_timeout_s=2.0))
    call = running.stub().GetMetrics.future(pb.GetMetricsRequest(scaledObjectRef=SO), timeout=10)
    time.sleep(0.5)
    call.cancel()

    def counted() -> dict[str, float]:
        with urllib.request.urlopen(f"http://127.0.0.1:{running.server.metrics_port}/metrics") as resp:
            text = resp.read().decode()
        return {
            code: value
            for (name, labels), value in exposition(text).items()
            if name == "gpuscale_rpcs_total"
            and dict(labels).get("method") == "GetMetrics"
            and (code := dict(labels)["code"])
        }

    assert wait_for(counted, timeout=5, what="the cancelled call in /metrics") == {"CANCELLED": 1.0}
