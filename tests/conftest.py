"""Shared fixtures: a fleet emulator scraped by a real Prometheus, and a real scaler."""

from __future__ import annotations

import socket
import threading
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from emulation.emulator import EmulatorServer, FleetEmulator
from emulation.local_prometheus import PrometheusServer
from scaler.config import ServerConfig
from scaler.policy import PolicySpec
from tests.support.scaler import RunningScaler

TRACES = Path(__file__).resolve().parents[1].parent / "shared" / "traces"


@pytest.fixture(scope="session")
def emulator() -> Iterator[tuple[FleetEmulator, EmulatorServer]]:
    fleet = FleetEmulator()
    server = EmulatorServer(fleet).start()
    yield fleet, server
    server.stop()


@pytest.fixture(scope="session")
def prometheus(emulator: tuple[FleetEmulator, EmulatorServer]) -> Iterator[PrometheusServer]:
    _, server = emulator
    prom = PrometheusServer([f"127.0.0.1:{server.port}"]).start()
    prom.wait_for_series('up{job="fleet"} == 1')
    yield prom
    prom.stop()


def scaler_config(prometheus_url: str, **overrides: Any) -> ServerConfig:
    policy = overrides.pop("policy", {})
    base: dict[str, Any] = {
        "host": "127.0.0.1",
        "port": 0,
        "metrics_port": 0,
        "probe_port": 0,
        "prometheus_url": prometheus_url,
        "refresh_interval_s": 0.5,
        "rate_window": "5s",
        "history_s": 60,
        "query_timeout_s": 0.5,
        "kubernetes": "off",
        "grace_s": 1,
        "default_policy": PolicySpec(**policy),
    }
    base.update(overrides)
    return ServerConfig.model_validate(base)


@pytest.fixture
def start_scaler() -> Iterator[Callable[..., RunningScaler]]:
    started: list[RunningScaler] = []

    def start(config: ServerConfig) -> RunningScaler:
        running = RunningScaler(config).start()
        started.append(running)
        return running

    yield start
    for running in started:
        running.stop()


@pytest.fixture
def silent_address() -> Iterator[str]:
    """An address that accepts TCP connections and never answers (a hung Prometheus or a black-hole proxy)."""
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen(64)
    held: list[socket.socket] = []
    stop = threading.Event()

    def accept() -> None:
        listener.settimeout(0.2)
        while not stop.is_set():
            try:
                conn, _ = listener.accept()
            except TimeoutError:
                continue
            held.append(conn)

    thread = threading.Thread(target=accept, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{listener.getsockname()[1]}"
    stop.set()
    thread.join(timeout=2)
    for conn in held:
        conn.close()
    listener.close()
