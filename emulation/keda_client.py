"""A client that calls the scaler the way KEDA does, from the stubs generated from our proto."""

from __future__ import annotations

from dataclasses import dataclass

import grpc

from scaler.rpc import externalscaler_pb2 as pb
from scaler.rpc import externalscaler_pb2_grpc as pb_grpc


def scaled_object(name: str, namespace: str, **metadata: str) -> pb.ScaledObjectRef:
    return pb.ScaledObjectRef(name=name, namespace=namespace, scalerMetadata=metadata)


@dataclass(frozen=True)
class PollResult:
    metric_name: str
    target: float
    value: int
    active: bool


class KedaLikeClient:
    """One poll = GetMetricSpec, then GetMetrics and IsActive for the returned spec (keda-contract.md §3.1)."""

    def __init__(self, stub: pb_grpc.ExternalScalerStub, timeout_s: float = 3.0) -> None:
        self.stub = stub
        self.timeout_s = timeout_s

    @classmethod
    def connect(cls, address: str, timeout_s: float = 3.0) -> KedaLikeClient:
        return cls(pb_grpc.ExternalScalerStub(grpc.insecure_channel(address)), timeout_s)

    def poll(self, so: pb.ScaledObjectRef) -> PollResult:
        spec = self.stub.GetMetricSpec(so, timeout=self.timeout_s).metricSpecs[0]
        request = pb.GetMetricsRequest(scaledObjectRef=so, metricName=spec.metricName)
        values = self.stub.GetMetrics(request, timeout=self.timeout_s).metricValues
        active = self.stub.IsActive(so, timeout=self.timeout_s).result
        value = values[0]
        if value.metricValue != int(value.metricValueFloat):
            raise ValueError(f"int and float fields disagree: {value.metricValue} vs {value.metricValueFloat}")
        target = spec.targetSizeFloat if spec.targetSizeFloat > 0 else float(spec.targetSize)
        return PollResult(spec.metricName, target, int(value.metricValue), bool(active))
