"""Test helpers around the embedded scaler and the KEDA-like client."""

from __future__ import annotations

import grpc

from emulation.embedded import EmbeddedScaler
from emulation.keda_client import KedaLikeClient, scaled_object
from scaler.rpc import externalscaler_pb2 as pb
from scaler.rpc import externalscaler_pb2_grpc as pb_grpc


class RunningScaler(EmbeddedScaler):
    def stub(self, channel: grpc.Channel | None = None) -> pb_grpc.ExternalScalerStub:
        return pb_grpc.ExternalScalerStub(channel or grpc.insecure_channel(self.address))


ref = scaled_object


def keda_poll(stub: pb_grpc.ExternalScalerStub, so: pb.ScaledObjectRef) -> tuple[str, float, int, bool]:
    """KEDA's call sequence for one poll: GetMetricSpec, then GetMetrics and IsActive per spec."""
    result = KedaLikeClient(stub).poll(so)
    return result.metric_name, result.target, result.value, result.active
