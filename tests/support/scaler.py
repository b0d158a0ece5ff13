"""Runs the real ScalerServer on its own event loop thread, and a client from our proto."""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Callable

import grpc

from scaler.config import ServerConfig
from scaler.rpc import externalscaler_pb2 as pb
from scaler.rpc import externalscaler_pb2_grpc as pb_grpc
from scaler.server import ScalerServer


class RunningScaler:
    def __init__(self, config: ServerConfig, clock: Callable[[], float] | None = None) -> None:
        self.config = config
        self._clock = clock
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._loop.run_forever, name="scaler-loop", daemon=True)
        self.server: ScalerServer

    def start(self) -> RunningScaler:
        self._thread.start()

        async def boot() -> ScalerServer:
            server = ScalerServer(self.config) if self._clock is None else ScalerServer(self.config, self._clock)
            await server.start()
            return server

        self.server = asyncio.run_coroutine_threadsafe(boot(), self._loop).result(timeout=30)
        return self

    @property
    def address(self) -> str:
        return f"127.0.0.1:{self.server.grpc_port}"

    def stop(self) -> None:
        asyncio.run_coroutine_threadsafe(self.server.stop(), self._loop).result(timeout=30)
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(timeout=10)

    def stub(self, channel: grpc.Channel | None = None) -> pb_grpc.ExternalScalerStub:
        return pb_grpc.ExternalScalerStub(channel or grpc.insecure_channel(self.address))


def ref(name: str, namespace: str, **metadata: str) -> pb.ScaledObjectRef:
    return pb.ScaledObjectRef(name=name, namespace=namespace, scalerMetadata=metadata)


def keda_poll(stub: pb_grpc.ExternalScalerStub, so: pb.ScaledObjectRef) -> tuple[str, float, int, bool]:
    """KEDA's call sequence for one poll: GetMetricSpec, then GetMetrics and IsActive per spec."""
    spec = stub.GetMetricSpec(so, timeout=3).metricSpecs[0]
    values = stub.GetMetrics(pb.GetMetricsRequest(scaledObjectRef=so, metricName=spec.metricName), timeout=3)
    active = stub.IsActive(so, timeout=3).result
    value = values.metricValues[0]
    assert value.metricValue == int(value.metricValueFloat), "int and float fields must agree"
    return spec.metricName, spec.targetSizeFloat, value.metricValue, active
