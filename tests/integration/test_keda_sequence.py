"""KEDA's call sequence against the real scaler, reading a real Prometheus that scrapes the emulator."""

from __future__ import annotations

import json
import urllib.error
import urllib.request
from collections.abc import Callable

import grpc
import pytest

from emulation.emulator import EmulatorServer, FleetEmulator
from emulation.local_prometheus import PrometheusServer
from scaler.rpc import externalscaler_pb2 as pb
from tests.conftest import scaler_config
from tests.support.net import exposition, wait_for
from tests.support.scaler import RunningScaler, keda_poll, ref

pytestmark = pytest.mark.integration


def _wait_scraped(prometheus: PrometheusServer, namespace: str, pods: int) -> None:
    """Wait until every pod has a full 5 s rate window, so rate() is not a young-series underestimate."""
    query = f'count_over_time(vllm:num_requests_waiting{{namespace="{namespace}"}}[6s]) >= 6'
    wait_for(lambda: len(prometheus.query(query)) == pods, timeout=30, what=f"{pods} pods of {namespace} scraped")


def _wait_value(running: RunningScaler, so: pb.ScaledObjectRef, expected: int, timeout: float = 30) -> int:
    stub = running.stub()
    return (
        wait_for(
            lambda: keda_poll(stub, so)[2] == expected,
            timeout=timeout,
            interval=0.25,
            what=f"recommendation {expected}",
        )
        and expected
    )


def test_recommendation_follows_the_emulated_queue(
    emulator: tuple[FleetEmulator, EmulatorServer],
    prometheus: PrometheusServer,
    start_scaler: Callable[..., RunningScaler],
) -> None:
    fleet, _ = emulator
    ns = "queue-follows"
    fleet.set_load(
        ns,
        "llama",
        replicas=2,
        queue=0,
        running=4,
        generation_tps=300,
        prompt_tps=3000,
        kv_cache_usage=0.2,
        request_rate=2,
    )
    _wait_scraped(prometheus, ns, pods=2)
    running = start_scaler(scaler_config(prometheus.url))
    # KEDA's queue formula (the default drain ask depends on how fast the queue grew between scrapes).
    so = ref(
        "llama-so",
        ns,
        deployment="llama",
        scaleDownStabilizationSeconds="3",
        queueDrainSeconds="off",
        scalerAddress="gpuscale:6000",
    )
    stub = running.stub()

    name, target, value, active = keda_poll(stub, so)
    assert (name, target) == ("gpuscale-llama", 1.0)
    assert value == 1 and active is True

    # 40 waiting at 2 ready pods: 8 are within target (4 per pod), 32 excess -> 8 more pods.
    fleet.set_load(ns, "llama", queue=40)
    _wait_value(running, so, 10)
    decision = running.server.registry.all()[0].latest
    assert decision is not None
    assert (decision.dominant, decision.reason) == ("queue", "scale_up")

    fleet.set_load(ns, "llama", queue=0)
    _wait_value(running, so, 1)
    assert running.server.registry.all()[0].latest.reason == "scale_down"  # type: ignore[union-attr]


def test_colon_names_stored_with_underscores_are_read(
    prometheus: PrometheusServer, start_scaler: Callable[..., RunningScaler]
) -> None:
    """A recent prometheus-client serving OpenMetrics to Prometheus 2.x stores vllm_* names."""
    fleet = FleetEmulator()
    server = EmulatorServer(fleet, openmetrics=True).start()
    prom = PrometheusServer([f"127.0.0.1:{server.port}"]).start()
    try:
        fleet.set_load("underscore", "mistral", replicas=1, queue=12, running=8, generation_tps=100, kv_cache_usage=0.5)
        prom.wait_for_series('vllm_num_requests_waiting{namespace="underscore"}')
        assert prom.query('vllm:num_requests_waiting{namespace="underscore"}') == []
        running = start_scaler(scaler_config(prom.url))
        so = ref("mistral", "underscore", deployment="mistral")
        # 12 waiting, 1 ready pod holding 4: 8 excess -> 2 more.
        _wait_value(running, so, 3)
    finally:
        prom.stop()
        server.stop()


def test_decisions_and_metrics_endpoints(
    emulator: tuple[FleetEmulator, EmulatorServer],
    prometheus: PrometheusServer,
    start_scaler: Callable[..., RunningScaler],
) -> None:
    fleet, _ = emulator
    ns = "explain"
    fleet.set_load(
        ns,
        "qwen",
        replicas=3,
        queue=0,
        running=6,
        generation_tps=3500,
        prompt_tps=3000,
        kv_cache_usage=0.3,
        request_rate=5,
    )
    _wait_scraped(prometheus, ns, pods=3)
    running = start_scaler(scaler_config(prometheus.url))
    so = ref("qwen-so", ns, deployment="qwen", targetTokensPerSecondPerReplica="1000")
    # 3500 generated tok/s at 1000 per replica + 3000/30000 prompt -> 3.6 -> 4 replicas.
    _wait_value(running, so, 4)
    port = running.server.metrics_port
    with urllib.request.urlopen(f"http://127.0.0.1:{port}/decisions/{ns}/qwen-so?limit=3") as resp:
        body = json.load(resp)
    latest = body[0]["decisions"][-1]
    assert body[0]["workload"] == f"{ns}/qwen-so/gpuscale-qwen"
    assert set(latest["asks"]) == {"queue", "throughput", "forecast", "kv_cache"}
    assert latest["asks"]["throughput"] == 4 and latest["asks"]["queue"] == 0 and latest["asks"]["kv_cache"] == 2
    assert latest["replicas"] == max(latest["asks"].values())
    assert latest["asks"][latest["dominant"]] == latest["replicas"]
    with urllib.request.urlopen(f"http://127.0.0.1:{port}/decisions/{ns}/qwen-so?limit=1") as resp:
        assert [len(w["decisions"]) for w in json.load(resp)] == [1]
    for bad in ("0", "-2", "ten"):
        with pytest.raises(urllib.error.HTTPError) as err:
            urllib.request.urlopen(f"http://127.0.0.1:{port}/decisions/{ns}/qwen-so?limit={bad}")
        assert err.value.code == 400
        assert json.load(err.value) == {
            "error": f"limit has invalid value '{bad}'; allowed: a whole number of at least 1"
        }
    for path, message in (
        (f"/decisions/{ns}/other-so", f"no workload for ScaledObject {ns}/other-so"),
        (
            f"/decisions/{ns}",
            f"no such path '/decisions/{ns}'; try /decisions or /decisions/<namespace>/<scaledobject>",
        ),
        (
            f"/decisions/{ns}/qwen-so/extra",
            f"no such path '/decisions/{ns}/qwen-so/extra'; try /decisions or /decisions/<namespace>/<scaledobject>",
        ),
        (
            f"/decisions/{ns}?limit=0",  # the path is judged before the query
            f"no such path '/decisions/{ns}'; try /decisions or /decisions/<namespace>/<scaledobject>",
        ),
        ("/decision", "no such path '/decision'; try /metrics or /decisions"),
    ):
        with pytest.raises(urllib.error.HTTPError) as err:
            urllib.request.urlopen(f"http://127.0.0.1:{port}{path}")
        assert (err.value.code, json.load(err.value)) == (404, {"error": message})
    with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics") as resp:
        text = resp.read().decode()
    labels = {"namespace": ns, "scaledobject": "qwen-so", "workload": "gpuscale-qwen"}
    samples = exposition(text)
    assert samples[("gpuscale_recommended_replicas", frozenset(labels.items()))] >= 4
    assert samples[("gpuscale_signal_value", frozenset({**labels, "signal": "running"}.items()))] == 6.0
    assert samples[("gpuscale_signal_value", frozenset({**labels, "signal": "kv_cache_usage"}.items()))] == 0.3
    assert samples[("gpuscale_rpcs_total", frozenset({"code": "OK", "method": "GetMetrics"}.items()))] >= 1
    assert samples[("gpuscale_prometheus_query_duration_seconds_count", frozenset({"kind": "instant"}.items()))] > 0


def test_unknown_metric_name_is_invalid_argument(
    prometheus: PrometheusServer, start_scaler: Callable[..., RunningScaler]
) -> None:
    running = start_scaler(scaler_config(prometheus.url))
    so = ref("a", "ns-a", deployment="llama")
    with pytest.raises(grpc.RpcError) as err:
        running.stub().GetMetrics(pb.GetMetricsRequest(scaledObjectRef=so, metricName="s0-other"), timeout=3)
    assert err.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert err.value.details() == "metricName 's0-other' is not served for this trigger; allowed: 'gpuscale-llama'"
