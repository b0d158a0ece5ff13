"""/readyz says whether this replica should take KEDA's calls; /healthz only that the process answers."""

from __future__ import annotations

import os
import urllib.error
import urllib.request
from collections.abc import Callable

import pytest

from scaler.worker import WORKER_NICENESS
from tests.conftest import scaler_config
from tests.support.net import free_port, wait_for
from tests.support.scaler import RunningScaler

pytestmark = pytest.mark.integration


def _get(port: int, path: str) -> tuple[int, str]:
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}{path}", timeout=3) as resp:
            return resp.status, resp.read().decode()
    except urllib.error.HTTPError as err:
        return err.code, err.read().decode()


def test_readyz_follows_the_collector_worker(start_scaler: Callable[..., RunningScaler]) -> None:
    """It answered 200 whatever happened: a replica whose collector had died still took traffic."""
    running = start_scaler(scaler_config(f"http://127.0.0.1:{free_port()}"))
    port = running.server.metrics_port
    assert _get(port, "/readyz") == (200, "ok\n")
    engine = running.server.engine
    engine._process.kill()  # type: ignore[attr-defined]
    statuses = set()

    def restarted() -> bool:
        statuses.add(_get(port, "/readyz"))
        return engine.restarts == 1 and engine.alive()  # type: ignore[attr-defined]

    wait_for(restarted, timeout=60, interval=0.01, what="the collector worker's restart")
    assert (503, "the collector is not running\n") in statuses
    assert _get(port, "/readyz") == (200, "ok\n")
    assert _get(port, "/healthz") == (200, "ok\n")


def test_readyz_refuses_while_draining(start_scaler: Callable[..., RunningScaler]) -> None:
    running = start_scaler(scaler_config(f"http://127.0.0.1:{free_port()}"))
    running.server.stopping.set()
    assert _get(running.server.metrics_port, "/readyz") == (503, "draining: the server is stopping\n")


def test_the_collector_worker_yields_the_cpu_to_the_rpc_handlers(start_scaler: Callable[..., RunningScaler]) -> None:
    """Both processes share the pod's cores; under contention the RPCs go first (benchmarks/soak.py)."""
    running = start_scaler(scaler_config(f"http://127.0.0.1:{free_port()}"))
    worker = running.server.engine._process  # type: ignore[attr-defined]
    ours = os.getpriority(os.PRIO_PROCESS, 0)
    assert os.getpriority(os.PRIO_PROCESS, worker.pid) == min(19, ours + WORKER_NICENESS)
