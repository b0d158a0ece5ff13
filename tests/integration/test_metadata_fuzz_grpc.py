"""Fuzzed trigger metadata over real gRPC: every answer is OK or INVALID_ARGUMENT naming the key."""

from __future__ import annotations

from collections.abc import Iterator

import grpc
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from scaler.metadata import known_keys
from scaler.rpc import externalscaler_pb2 as pb
from tests.conftest import scaler_config
from tests.support.net import free_port
from tests.support.scaler import RunningScaler

pytestmark = pytest.mark.integration
KEYS = known_keys()


@pytest.fixture(scope="module")
def scaler() -> Iterator[RunningScaler]:
    running = RunningScaler(scaler_config(f"http://127.0.0.1:{free_port()}", first_answer_timeout_s=0.2)).start()
    yield running
    running.stop()


metadata = st.dictionaries(
    st.one_of(st.sampled_from(KEYS), st.text(min_size=1, max_size=12)),
    st.one_of(st.text(max_size=24), st.sampled_from(["llama", "0", "-3", "nan", "1e400", "auto", "regex:[", "a=b"])),
    max_size=6,
)
namespaces = st.one_of(st.just("llm"), st.text(max_size=70))


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(meta=metadata, namespace=namespaces)
def test_fuzzed_requests_never_crash_the_service(scaler: RunningScaler, meta: dict[str, str], namespace: str) -> None:
    stub = scaler.stub()
    so = pb.ScaledObjectRef(name="fuzz", namespace=namespace, scalerMetadata=meta)
    try:
        reply = stub.GetMetricSpec(so, timeout=3)
    except grpc.RpcError as exc:
        assert exc.code() == grpc.StatusCode.INVALID_ARGUMENT, exc.details()
        details = exc.details()
        assert details.startswith(
            ("trigger metadata key ", "unknown trigger metadata key ", "scaledObjectRef.namespace ")
        ), details
        return
    spec = reply.metricSpecs[0]
    assert (spec.targetSize, spec.targetSizeFloat) == (1, 1.0)
    assert spec.metricName.startswith("gpuscale-") and spec.metricName == spec.metricName.lower()
    # The same valid metadata through GetMetrics: an answer or UNAVAILABLE (no data), never a crash.
    try:
        stub.GetMetrics(pb.GetMetricsRequest(scaledObjectRef=so, metricName=spec.metricName), timeout=3)
    except grpc.RpcError as exc:
        assert exc.code() == grpc.StatusCode.UNAVAILABLE, exc.details()
