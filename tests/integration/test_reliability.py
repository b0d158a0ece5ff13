"""Failure paths with real parts: Prometheus dies, a workload is new, a tenant reaches for another namespace."""

from __future__ import annotations

import json
import os
import signal
import time
import urllib.request
from collections.abc import Callable

import grpc
import pytest

from emulation.emulator import EmulatorServer, FleetEmulator
from emulation.local_prometheus import PrometheusServer
from scaler.rpc import externalscaler_pb2 as pb
from tests.conftest import scaler_config
from tests.support.net import free_port, wait_for
from tests.support.scaler import RunningScaler, keda_poll, ref

pytestmark = pytest.mark.integration


def _timed(call: Callable[[], object]) -> tuple[float, object]:
    start = time.perf_counter()
    try:
        result = call()
    except grpc.RpcError as exc:
        result = exc
    return time.perf_counter() - start, result


def test_prometheus_killed_holds_then_fails_for_fallback(
    emulator: tuple[FleetEmulator, EmulatorServer], start_scaler: Callable[..., RunningScaler]
) -> None:
    fleet, server = emulator
    ns = "prom-dies"
    fleet.set_load(ns, "llama", replicas=2, queue=30, running=16, generation_tps=800, kv_cache_usage=0.6)
    prom = PrometheusServer([f"127.0.0.1:{server.port}"]).start()
    try:
        prom.wait_for_series(f'vllm:num_requests_waiting{{namespace="{ns}"}}')
        running = start_scaler(scaler_config(prom.url, policy={"stale_after_s": 2.0, "max_hold_s": 4.0}))
        so = ref("llama", ns, deployment="llama")
        stub = running.stub()
        # 30 waiting, 2 ready pods holding 8: 22 excess -> 6 more.
        wait_for(lambda: keda_poll(stub, so)[2] == 8, timeout=30, what="8 replicas before the outage")
        prom.kill()
        # Load vanishes at the same time: with Prometheus gone the scaler must not see (or act on) it.
        fleet.set_load(ns, "llama", queue=0, running=0, generation_tps=0, kv_cache_usage=0.0)
        held_reasons = set()
        deadline = time.monotonic() + 3.5
        while time.monotonic() < deadline:
            seconds, result = _timed(
                lambda: stub.GetMetrics(
                    pb.GetMetricsRequest(scaledObjectRef=so, metricName="gpuscale-llama"), timeout=3
                )
            )
            assert seconds < 1.0, f"GetMetrics took {seconds:.3f}s with Prometheus down"
            assert isinstance(result, pb.GetMetricsResponse), f"answer during hold: {result!r}"
            assert result.metricValues[0].metricValue == 8, "a dead Prometheus must never cause a scale-down"
            held_reasons.add(running.server.registry.all()[0].latest.reason)  # type: ignore[union-attr]
            time.sleep(0.2)
        assert held_reasons <= {"steady", "hold_stale_data"} and "hold_stale_data" in held_reasons

        def expired() -> bool:
            seconds, result = _timed(
                lambda: stub.GetMetrics(
                    pb.GetMetricsRequest(scaledObjectRef=so, metricName="gpuscale-llama"), timeout=3
                )
            )
            assert seconds < 1.0
            return isinstance(result, grpc.RpcError)

        wait_for(expired, timeout=10, interval=0.2, what="the hold to expire")
        with pytest.raises(grpc.RpcError) as err:
            stub.IsActive(so, timeout=3)
        assert err.value.code() == grpc.StatusCode.UNAVAILABLE
        assert err.value.details().startswith(f"{ns}/llama/gpuscale-llama: held 8 replicas for ")
        assert "failing so KEDA's fallback applies: collection failed: Prometheus instant query" in err.value.details()
        # The spec stays answerable: KEDA's fallback only works while GetMetricSpec succeeds.
        assert stub.GetMetricSpec(so, timeout=3).metricSpecs[0].metricName == "gpuscale-llama"
    finally:
        prom.stop()


def test_new_workload_with_unreachable_prometheus_answers_within_deadline(
    start_scaler: Callable[..., RunningScaler],
) -> None:
    dead = f"http://127.0.0.1:{free_port()}"
    running = start_scaler(scaler_config(dead))
    stub = running.stub()
    seconds, result = _timed(
        lambda: stub.GetMetrics(
            pb.GetMetricsRequest(scaledObjectRef=ref("new", "fresh", deployment="llama"), metricName=""), timeout=3
        )
    )
    assert seconds < 1.0
    assert isinstance(result, grpc.RpcError) and result.code() == grpc.StatusCode.UNAVAILABLE
    assert result.details().startswith("fresh/new/gpuscale-llama: no recommendation yet: collection failed:")


def test_first_seen_workload_is_answered_from_one_collection(
    emulator: tuple[FleetEmulator, EmulatorServer],
    prometheus: PrometheusServer,
    start_scaler: Callable[..., RunningScaler],
) -> None:
    fleet, _ = emulator
    fleet.set_load("first-seen", "gemma", replicas=1, queue=9, running=4, generation_tps=100, kv_cache_usage=0.2)
    prometheus.wait_for_series('vllm:num_requests_waiting{namespace="first-seen"} == 9')
    # A long refresh interval: only the on-demand first collection can produce the answer.
    running = start_scaler(scaler_config(prometheus.url, refresh_interval_s=300))
    seconds, result = _timed(
        lambda: running.stub().GetMetrics(
            pb.GetMetricsRequest(scaledObjectRef=ref("gemma", "first-seen", deployment="gemma")), timeout=3
        )
    )
    assert seconds < 1.0
    assert isinstance(result, pb.GetMetricsResponse)
    # 9 waiting, one pod holding 4: 5 excess -> 2 more.
    assert result.metricValues[0].metricValue == 3


def test_a_namespace_never_reads_another_namespaces_metrics(
    emulator: tuple[FleetEmulator, EmulatorServer],
    prometheus: PrometheusServer,
    start_scaler: Callable[..., RunningScaler],
) -> None:
    fleet, _ = emulator
    fleet.set_load("tenant-b", "shared-name", replicas=2, queue=50, running=8, generation_tps=500)
    prometheus.wait_for_series('vllm:num_requests_waiting{namespace="tenant-b"}')
    running = start_scaler(scaler_config(prometheus.url))
    stub = running.stub()
    # Same Deployment name in tenant-a, which has no pods: no data, never tenant-b's queue.
    with pytest.raises(grpc.RpcError) as err:
        stub.GetMetrics(
            pb.GetMetricsRequest(scaledObjectRef=ref("so", "tenant-a", deployment="shared-name")), timeout=3
        )
    assert err.value.code() == grpc.StatusCode.UNAVAILABLE
    assert (
        err.value.details() == "tenant-a/so/gpuscale-shared-name: no recommendation yet: no samples for this workload"
    )
    # A query override is a metric name only, so it cannot carry its own namespace matcher.
    with pytest.raises(grpc.RpcError) as err:
        stub.GetMetricSpec(
            ref(
                "so",
                "tenant-a",
                deployment="shared-name",
                queueMetric='vllm:num_requests_waiting{namespace="tenant-b"}',
            ),
            timeout=3,
        )
    assert err.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert err.value.details() == (
        "trigger metadata key 'queueMetric' has invalid value 'vllm:num_requests_waiting{namespace=\"tenant-b\"}'; "
        "allowed: a Prometheus metric name"
    )
    # tenant-b's own ScaledObject sees its queue: 50 waiting, 2 pods holding 8 -> 42 excess -> 11 more.
    assert keda_poll(stub, ref("so", "tenant-b", deployment="shared-name"))[2] == 13


def test_a_workload_beyond_the_limit_is_refused_and_the_others_keep_answering(
    emulator: tuple[FleetEmulator, EmulatorServer],
    prometheus: PrometheusServer,
    start_scaler: Callable[..., RunningScaler],
) -> None:
    """Nothing capped the workloads a client could register: memory grew until the pod was OOM-killed."""
    fleet, _ = emulator
    for name in ("a", "b", "c"):
        fleet.set_load("limit", name, replicas=1, queue=9, running=4, generation_tps=100, kv_cache_usage=0.2)
    prometheus.wait_for_series('vllm:num_requests_waiting{namespace="limit"}')
    running = start_scaler(scaler_config(prometheus.url, max_workloads=2))
    stub = running.stub()
    for name in ("a", "b"):
        wait_for(lambda n=name: keda_poll(stub, ref(n, "limit", deployment=n))[2] == 3, timeout=30, what=name)
    with pytest.raises(grpc.RpcError) as err:
        stub.GetMetrics(pb.GetMetricsRequest(scaledObjectRef=ref("c", "limit", deployment="c")), timeout=3)
    assert err.value.code() == grpc.StatusCode.RESOURCE_EXHAUSTED
    assert err.value.details() == (
        "limit/c/gpuscale-c: the scaler already collects 2 workloads, its limit (max_workloads 2); this one is not "
        "collected until another expires or the limit is raised"
    )
    assert keda_poll(stub, ref("a", "limit", deployment="a"))[2] == 3
    assert stub.GetMetricSpec(ref("c", "limit", deployment="c"), timeout=3).metricSpecs[0].metricName == "gpuscale-c"


def test_a_first_collection_asked_of_a_dying_worker_is_asked_again_of_the_next(
    emulator: tuple[FleetEmulator, EmulatorServer],
    prometheus: PrometheusServer,
    start_scaler: Callable[..., RunningScaler],
) -> None:
    """The request sat in the dead worker's pipe and its waiter was never resolved (a leak per workload
    that was first seen during a collector restart); the new worker now receives it again."""
    fleet, _ = emulator
    fleet.set_load("respawn", "phi", replicas=1, queue=0, running=2, generation_tps=100, kv_cache_usage=0.2)
    prometheus.wait_for_series('vllm:num_requests_waiting{namespace="respawn"}')
    running = start_scaler(scaler_config(prometheus.url, refresh_interval_s=300, first_answer_timeout_s=0.3))
    engine = running.server.engine
    worker = engine._process  # type: ignore[attr-defined]
    os.kill(worker.pid, signal.SIGSTOP)  # the worker stops reading: the refresh request waits in its pipe
    so = ref("phi", "respawn", deployment="phi")
    _, first = _timed(lambda: running.stub().GetMetrics(pb.GetMetricsRequest(scaledObjectRef=so), timeout=3))
    assert isinstance(first, grpc.RpcError) and first.code() == grpc.StatusCode.UNAVAILABLE
    assert len(engine._waiters) == 1  # type: ignore[attr-defined]
    worker.kill()
    wait_for(lambda: engine.restarts == 1 and engine.alive(), timeout=60, what="the collector's restart")  # type: ignore[attr-defined]
    wait_for(lambda: not engine._waiters, timeout=10, what="the waiting refresh answered")  # type: ignore[attr-defined]
    answer = running.stub().GetMetrics(pb.GetMetricsRequest(scaledObjectRef=so), timeout=3)
    assert answer.metricValues[0].metricValue == 1


@pytest.mark.parametrize("collector", ["process", "thread"])
def test_a_workload_no_one_asks_about_leaves_decisions_and_metrics(
    collector: str,
    emulator: tuple[FleetEmulator, EmulatorServer],
    prometheus: PrometheusServer,
    start_scaler: Callable[..., RunningScaler],
) -> None:
    """A trigger queried once (a Deployment that does not exist, a grpcurl by hand) is forgotten after
    ``workload_ttl_s``: its decisions and its series go, not only its collection. A cycle deciding for it
    as it was removed brought its series back for good (issue 29)."""
    fleet, _ = emulator
    fleet.set_load("ttl", "mistral", replicas=1, queue=0, running=2, generation_tps=100, kv_cache_usage=0.2)
    prometheus.wait_for_series('vllm:num_requests_waiting{namespace="ttl"}')
    running = start_scaler(scaler_config(prometheus.url, workload_ttl_s=2.0, collector=collector))
    port = running.server.metrics_port
    running.stub().GetMetrics(pb.GetMetricsRequest(scaledObjectRef=ref("once", "ttl", deployment="mistral")), timeout=3)

    def listed() -> tuple[list[str], bool]:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/decisions", timeout=3) as resp:
            workloads = [w["workload"] for w in json.load(resp)]
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=3) as resp:
            series = 'scaledobject="once"' in resp.read().decode()
        return workloads, series

    assert listed() == (["ttl/once/gpuscale-mistral"], True)
    wait_for(lambda: listed() == ([], False), timeout=15, interval=0.2, what="the idle workload to be forgotten")
