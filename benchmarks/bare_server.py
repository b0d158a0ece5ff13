"""The baseline for benchmarks/rpc_latency.py: a bare grpc.aio ExternalScaler with a constant answer."""

from __future__ import annotations

import asyncio
from typing import Any

import grpc

from benchmarks._cli import parser
from scaler.rpc import externalscaler_pb2 as pb
from scaler.rpc import externalscaler_pb2_grpc as pb_grpc


class Constant(pb_grpc.ExternalScalerServicer):  # type: ignore[misc]
    async def GetMetrics(self, request: pb.GetMetricsRequest, context: Any) -> pb.GetMetricsResponse:
        return pb.GetMetricsResponse(metricValues=[pb.MetricValue(metricName="x", metricValue=3, metricValueFloat=3.0)])

    async def IsActive(self, request: pb.ScaledObjectRef, context: Any) -> pb.IsActiveResponse:
        return pb.IsActiveResponse(result=True)


async def main(port: int) -> None:
    server = grpc.aio.server()
    pb_grpc.add_ExternalScalerServicer_to_server(Constant(), server)
    server.add_insecure_port(f"127.0.0.1:{port}")
    await server.start()
    await server.wait_for_termination()


if __name__ == "__main__":
    cli = parser(__doc__, "benchmarks.bare_server")
    cli.add_argument("port", type=int, help="loopback port to serve on")
    asyncio.run(main(cli.parse_args().port))
