"""The committed stubs are exactly what the proto generates, and the proto is KEDA's wire contract."""

from __future__ import annotations

from pathlib import Path

from scaler.rpc import externalscaler_pb2 as pb
from scaler.rpc.generate import GENERATED, PROJECT_ROOT, generate


def test_committed_stubs_match_the_proto(tmp_path: Path) -> None:
    for fresh in generate(tmp_path):
        committed = PROJECT_ROOT / "scaler" / "rpc" / fresh.name
        assert committed.read_bytes() == fresh.read_bytes(), (
            f"{committed.name} differs from what proto/externalscaler.proto generates: "
            "run `python -m scaler.rpc.generate`"
        )
    assert sorted(p.name for p in tmp_path.joinpath("scaler", "rpc").iterdir()) == sorted(GENERATED)


def test_wire_contract_matches_keda() -> None:
    fields = {
        name: {f.name: (f.number, f.type) for f in pb.DESCRIPTOR.message_types_by_name[name].fields}
        for name in pb.DESCRIPTOR.message_types_by_name
    }
    t = pb.DESCRIPTOR.message_types_by_name["MetricSpec"].fields_by_name
    string, int64, double, boolean, message = (
        t["metricName"].type,
        t["targetSize"].type,
        t["targetSizeFloat"].type,
        8,
        11,
    )
    assert pb.DESCRIPTOR.package == "externalscaler"
    assert fields["ScaledObjectRef"] == {"name": (1, string), "namespace": (2, string), "scalerMetadata": (3, message)}
    assert fields["MetricSpec"] == {"metricName": (1, string), "targetSize": (2, int64), "targetSizeFloat": (3, double)}
    assert fields["MetricValue"] == {
        "metricName": (1, string),
        "metricValue": (2, int64),
        "metricValueFloat": (3, double),
    }
    assert fields["GetMetricsRequest"] == {"scaledObjectRef": (1, message), "metricName": (2, string)}
    assert fields["IsActiveResponse"] == {"result": (1, boolean)}
    assert fields["GetMetricSpecResponse"] == {"metricSpecs": (1, message)}
    assert fields["GetMetricsResponse"] == {"metricValues": (1, message)}
    service = pb.DESCRIPTOR.services_by_name["ExternalScaler"]
    assert {m.name: (m.client_streaming, m.server_streaming) for m in service.methods} == {
        "IsActive": (False, False),
        "StreamIsActive": (False, True),
        "GetMetricSpec": (False, False),
        "GetMetrics": (False, False),
        "StreamMetricSpec": (False, True),
    }
