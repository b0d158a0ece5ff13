"""Server lifecycle: gRPC (aio) with health, reflection and TLS; HTTP; collector; graceful stop."""

from __future__ import annotations

import asyncio
import logging
import signal
import ssl
import sys
import time
from dataclasses import dataclass

import grpc
from grpc_health.v1 import health_pb2, health_pb2_grpc
from grpc_health.v1.health import aio as health_aio
from grpc_reflection.v1alpha import reflection

from scaler.collection import create_engine
from scaler.collector import Clock
from scaler.config import ServerConfig
from scaler.http import HttpEndpoint
from scaler.rpc import externalscaler_pb2 as pb
from scaler.rpc import externalscaler_pb2_grpc as pb_grpc
from scaler.service import ScalerService
from scaler.telemetry import RpcTelemetry
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


def http_tls(config: ServerConfig) -> ssl.SSLContext | None:
    """HTTPS for /metrics and /decisions in mTLS mode: the server certificate, client certificates required."""
    if config.tls_cert is None or config.tls_key is None or config.tls_client_ca is None:
        return None
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.minimum_version = ssl.TLSVersion.TLSv1_2
    context.load_cert_chain(config.tls_cert, config.tls_key)
    context.load_verify_locations(config.tls_client_ca)
    context.verify_mode = ssl.CERT_REQUIRED
    return context


class BindError(RuntimeError):
    """A port the server needs cannot be bound; the message names the address and the option."""


@dataclass
class ScalerServer:
    """All parts of a running scaler; ``start`` binds, ``stop`` drains."""

    config: ServerConfig
    clock: Clock = time.time

    def __post_init__(self) -> None:
        self.telemetry = RpcTelemetry()
        self.registry = Registry()
        self.stopping = asyncio.Event()
        self.engine = create_engine(self.registry, self.config, self.clock)
        self.service = ScalerService(self.registry, self.engine, self.config, self.telemetry, self.clock, self.stopping)
        self.health = health_aio.HealthServicer()
        self.grpc_port = 0
        self.metrics_port = 0
        self.probe_port = 0
        self._expiry_task: asyncio.Task[None] | None = None

    async def start(self) -> None:
        """Bind both ports first, so a port in use fails with a clear error before anything has started."""
        metrics = [self.telemetry.exposition, self.engine.metrics_text]
        try:
            self.http = HttpEndpoint(
                self.config.host,
                self.config.metrics_port,
                metrics,
                self.registry,
                ready=self.readiness,
                tls=http_tls(self.config),
            )
        except OSError as exc:
            raise BindError(
                f"cannot listen for HTTP on {self.config.host}:{self.config.metrics_port} (--metrics-port):"
                f" {exc.strerror or exc}"
            ) from None
        try:
            self.probes = HttpEndpoint(
                self.config.host, self.config.probe_port, [], self.registry, ready=self.readiness, probes_only=True
            )
        except OSError as exc:
            self.http.stop()
            raise BindError(
                f"cannot listen for HTTP on {self.config.host}:{self.config.probe_port} (--probe-port):"
                f" {exc.strerror or exc}"
            ) from None
        self.server = grpc.aio.server()
        pb_grpc.add_ExternalScalerServicer_to_server(self.service, self.server)
        health_pb2_grpc.add_HealthServicer_to_server(self.health, self.server)
        reflection.enable_server_reflection(
            (SERVICE_NAME, health_pb2.DESCRIPTOR.services_by_name["Health"].full_name, reflection.SERVICE_NAME),
            self.server,
        )
        address = f"{self.config.host}:{self.config.port}"
        creds = server_credentials(self.config)
        try:
            if creds is None:
                self.grpc_port = self.server.add_insecure_port(address)
            else:
                self.grpc_port = self.server.add_secure_port(address, creds)
        except RuntimeError:  # gRPC says only "Failed to bind"
            self.http.stop()
            self.probes.stop()
            await self.server.stop(None)
            raise BindError(
                f"cannot listen for gRPC on {address} (--port): the address is in use or not available"
            ) from None
        await self.engine.start(self.stopping)
        await self.server.start()
        self.http.start()
        self.probes.start()
        self.metrics_port = self.http.port
        self.probe_port = self.probes.port
        await self.health.set("", health_pb2.HealthCheckResponse.SERVING)
        await self.health.set(SERVICE_NAME, health_pb2.HealthCheckResponse.SERVING)
        self._expiry_task = asyncio.create_task(self._expire_forever())
        log.info(
            "gpuscale serving gRPC on %s:%d (%s), HTTP on :%d, Prometheus %s, collector in a %s",
            self.config.host,
            self.grpc_port,
            "TLS" if creds else "plaintext",
            self.metrics_port,
            self.config.prometheus_url,
            self.config.collector,
        )

    def readiness(self) -> str | None:
        """Why this replica should not take KEDA's calls now, or None when it should (``/readyz``)."""
        if self.stopping.is_set():
            return "draining: the server is stopping"
        if not self.engine.alive():
            return "the collector is not running"
        decided = [w.latest.at for w in self.registry.all() if w.latest is not None]
        if decided:
            age = self.clock() - max(decided)
            if age > self.config.decision_max_age_s:
                return f"no decision in {age:.0f}s: collection has stopped"
        return None

    async def _expire_forever(self) -> None:
        interval = min(60.0, self.config.workload_ttl_s / 2)
        while not self.stopping.is_set():
            try:
                await asyncio.wait_for(self.stopping.wait(), timeout=interval)
            except TimeoutError:
                self.service.expire()

    async def stop(self) -> None:
        """Stop taking new work; let open streams end with OK so KEDA reconnects quickly."""
        await self.health.enter_graceful_shutdown()
        self.stopping.set()
        await self.server.stop(self.config.grace_s)
        if self._expiry_task is not None:
            await self._expiry_task
        await self.engine.stop()
        self.http.stop()
        self.probes.stop()
        log.info("gpuscale stopped")

    async def wait_for_stop_signal(self) -> None:
        loop = asyncio.get_running_loop()
        done = asyncio.Event()
        for sig in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(sig, done.set)
        await done.wait()


#: The collector thread parses query results and fits forecasts while RPCs wait for the GIL; a
#: shorter switch interval than CPython's 5 ms bounds that wait (benchmarks/rpc_latency.py).
GIL_SWITCH_INTERVAL_S = 0.0005


async def run_server(config: ServerConfig) -> None:
    sys.setswitchinterval(GIL_SWITCH_INTERVAL_S)
    server = ScalerServer(config)
    await server.start()
    await server.wait_for_stop_signal()
    await server.stop()
