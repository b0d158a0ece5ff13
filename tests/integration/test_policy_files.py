"""Tuned policy files named by the `policy` trigger key: loaded, validated, overridable."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import grpc
import pytest

from scaler.policy import PolicySpec
from scaler.policy_file import PolicyFile, dump_policy_file, load_policy_file
from tests.conftest import scaler_config
from tests.support.net import free_port
from tests.support.scaler import RunningScaler, ref

pytestmark = pytest.mark.integration


def test_named_policy_is_loaded_and_metadata_overrides_it(
    tmp_path: Path, start_scaler: Callable[..., RunningScaler]
) -> None:
    tuned = PolicyFile(
        name="llama-tuned",
        policy=PolicySpec(max_replicas=3, forecast_quantile=0.95, forecast_error_memory_s=1280, queue_drain_s=45),
        tuned_for={"traces": ["azure2023_code.csv"]},
        scores={"gpu_hours": 12.5},
    )
    (tmp_path / "llama-tuned.yaml").write_text(dump_policy_file(tuned))
    assert load_policy_file(tmp_path / "llama-tuned.yaml") == tuned
    (tmp_path / "broken.yaml").write_text(
        "apiVersion: gpuscale.dev/v1\nkind: Policy\nname: b\npolicy:\n  max_replicas: -2\n"
    )
    running = start_scaler(scaler_config(f"http://127.0.0.1:{free_port()}", policy_dir=tmp_path, collector="thread"))
    stub = running.stub()
    spec_name = stub.GetMetricSpec(ref("so", "llm", deployment="llama", policy="llama-tuned"), timeout=3)
    assert spec_name.metricSpecs[0].metricName == "gpuscale-llama"
    service = running.server.service
    spec = service._parse(ref("so", "llm", deployment="llama", policy="llama-tuned", forecastQuantile="0.8")).spec
    assert (spec.max_replicas, spec.forecast_quantile, spec.forecast_error_memory_s, spec.queue_drain_s) == (
        3,
        0.8,
        1280,
        45,
    )
    spec = service._parse(ref("so", "llm", deployment="llama", policy="llama-tuned", queueDrainSeconds="off")).spec
    assert spec.queue_drain_s is None

    with pytest.raises(grpc.RpcError) as err:
        stub.GetMetricSpec(ref("so", "llm", deployment="llama", policy="missing"), timeout=3)
    assert err.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert err.value.details() == (
        "trigger metadata key 'policy' has invalid value 'missing'; allowed: no policy named 'missing'; "
        "available: broken, llama-tuned"
    )
    with pytest.raises(grpc.RpcError) as err:
        stub.GetMetricSpec(ref("so", "llm", deployment="llama", policy="broken"), timeout=3)
    assert err.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert err.value.details() == (
        f"trigger metadata key 'policy' has invalid value 'broken'; allowed: policy file {tmp_path / 'broken.yaml'}: "
        "field 'policy.max_replicas': Input should be greater than or equal to 1 (got -2)"
    )
