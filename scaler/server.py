"""Server lifecycle: gRPC (aio) with health, reflection and TLS; HTTP; collector; graceful stop."""

from __future__ import annotations

import asyncio
import logging
import signal
import time
from dataclasses import dataclass

import grpc
from grpc_health.v1 import health_pb2, health_pb2_grpc
from grpc_health.v1.health import aio as health_aio
from grpc_reflection.v1alpha import reflection

from scaler.collector import Clock, Collector
from scaler.config import ServerConfig
from scaler.decision_log import DecisionLog
from scaler.http import HttpEndpoint
from scaler.kube import KubeSource
from scaler.rpc import externalscaler_pb2 as pb
from scaler.rpc import externalscaler_pb2_grpc as pb_grpc
from scaler.service import ScalerService
from scaler.telemetry import Telemetry
from scaler.workloads import Registry

log = logging.getLogger(__name__)
SERVICE_NAME = pb.DESCRIPTOR.services_by_name["ExternalScaler"].full_name


def server_credentials(config: ServerConfig) -> grpc.ServerCredentials | None:
    """TLS from the configured files; a client CA turns on mTLS (client certs required)."""
    if config.tls_cert is None or config.tls_key is None:
        return None
    key = config.tls_key.read_bytes()
    cert = config.tls_cert.read_bytes()
    ca = config.tls_client_ca.read_bytes() if config.tls_client_ca is not None else None
    return grpc.ssl_server_credentials([(key, cert)], root_certificates=ca, require_client_auth=ca is not None)


@dataclass
class ScalerServer:
    """All parts of a running scaler; ``start`` binds, ``stop`` drains."""

    config: ServerConfig
    clock: Clock = time.time

    def __post_init__(self) -> None:
        self.telemetry = Telemetry()
        self.registry = Registry()
        self.stopping = asyncio.Event()
        kube, status = KubeSource.connect(self.config.kubernetes)
        if kube is None:
            log.info("kubernetes: %s; cold start defaults to the policy's default_cold_start_s", status)
        self.decision_log = DecisionLog(self.config.decision_log) if self.config.decision_log else None
        self.collector = Collector(
            self.registry, self.config, self.telemetry, self.clock, kube, status, self.decision_log
        )
        self.service = ScalerService(
            self.registry, self.collector, self.config, self.telemetry, self.clock, self.stopping
        )
        self.health = health_aio.HealthServicer()
        self.grpc_port = 0
        self.metrics_port = 0
        self._collector_task: asyncio.Task[None] | None = None

    async def start(self) -> None:
        self.server = grpc.aio.server()
        pb_grpc.add_ExternalScalerServicer_to_server(self.service, self.server)
        health_pb2_grpc.add_HealthServicer_to_server(self.health, self.server)
        reflection.enable_server_reflection(
            (SERVICE_NAME, health_pb2.DESCRIPTOR.services_by_name["Health"].full_name, reflection.SERVICE_NAME),
            self.server,
        )
        address = f"{self.config.host}:{self.config.port}"
        creds = server_credentials(self.config)
        if creds is None:
            self.grpc_port = self.server.add_insecure_port(address)
        else:
            self.grpc_port = self.server.add_secure_port(address, creds)
        await self.server.start()
        self.http = HttpEndpoint(self.config.host, self.config.metrics_port, self.telemetry, self.registry)
        self.http.start()
        self.metrics_port = self.http.port
        await self.health.set("", health_pb2.HealthCheckResponse.SERVING)
        await self.health.set(SERVICE_NAME, health_pb2.HealthCheckResponse.SERVING)
        self._collector_task = asyncio.create_task(self.collector.run(self.stopping))
        log.info(
            "gpuscale serving gRPC on %s:%d (%s), HTTP on :%d, Prometheus %s",
            self.config.host,
            self.grpc_port,
            "TLS" if creds else "plaintext",
            self.metrics_port,
            self.config.prometheus_url,
        )

    async def stop(self) -> None:
        """Stop taking new work; let open streams end with OK so KEDA reconnects quickly."""
        await self.health.enter_graceful_shutdown()
        self.stopping.set()
        await self.server.stop(self.config.grace_s)
        if self._collector_task is not None:
            await self._collector_task
        self.http.stop()
        if self.decision_log is not None:
            self.decision_log.close()
        log.info("gpuscale stopped")

    async def wait_for_stop_signal(self) -> None:
        loop = asyncio.get_running_loop()
        done = asyncio.Event()
        for sig in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(sig, done.set)
        await done.wait()


async def run_server(config: ServerConfig) -> None:
    server = ScalerServer(config)
    await server.start()
    await server.wait_for_stop_signal()
    await server.stop()
