"""Where collection runs: a background thread of the server, or a worker process.

Both run the same :class:`~scaler.collector.Collector`. The process engine keeps
collection's CPU (JSON parsing, forecasting) off the GIL that gRPC handlers
need, so RPC latency does not depend on how many workloads are collected
(benchmarks/rpc_latency.py). The server keeps the read side: each workload's
latest decision and recent history, updated as decisions arrive.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import itertools
import logging
import multiprocessing
import threading
from typing import Any, Protocol

from scaler.collector import Clock, Collector
from scaler.config import ServerConfig
from scaler.decision import Decision
from scaler.decision_log import DecisionLog
from scaler.kube import KubeSource
from scaler.telemetry import DecisionTelemetry
from scaler.worker_messages import (
    Decisions,
    Done,
    FromWorker,
    MetricsReply,
    MetricsRequest,
    Ready,
    Refresh,
    Remove,
    Stop,
    ToWorker,
    Upsert,
)
from scaler.workloads import Registry, Workload, WorkloadKey

log = logging.getLogger(__name__)
WORKER_START_TIMEOUT_S = 60.0


class DecisionEngine(Protocol):
    async def start(self, stopping: asyncio.Event) -> None: ...

    async def stop(self) -> None: ...

    def upsert(self, workload: Workload) -> None:
        """A workload was registered, or its metadata changed."""

    def remove(self, key: WorkloadKey) -> None: ...

    async def refresh_now(self, workload: Workload) -> None:
        """Collect and decide for one new workload as soon as possible."""

    def metrics_text(self) -> bytes:
        """The collector side's Prometheus exposition."""

    def alive(self) -> bool:
        """Is collection running (a readiness probe's question)?"""


class ThreadEngine:
    """Collection on a thread of this process: for embedding and for inspecting internals in tests."""

    def __init__(self, registry: Registry, config: ServerConfig, clock: Clock) -> None:
        self.telemetry = DecisionTelemetry()
        kube, status = KubeSource.connect(config.kubernetes)
        self.decision_log = DecisionLog(config.decision_log) if config.decision_log else None
        self.collector = Collector(registry, config, self.telemetry, clock, kube, status, self.decision_log)
        self.config = config
        self._task: asyncio.Task[None] | None = None

    async def start(self, stopping: asyncio.Event) -> None:
        self._task = asyncio.create_task(self._run(stopping))

    async def _run(self, stopping: asyncio.Event) -> None:
        loop = asyncio.get_running_loop()
        while not stopping.is_set():
            started = loop.time()
            try:
                await loop.run_in_executor(None, self.collector.refresh)
            except Exception:
                log.exception("collection cycle failed")
            delay = max(0.0, self.config.refresh_interval_s - (loop.time() - started))
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stopping.wait(), timeout=delay)

    async def stop(self) -> None:
        if self._task is not None:
            await self._task
        if self.decision_log is not None:
            self.decision_log.close()

    def upsert(self, workload: Workload) -> None:
        return  # the collector reads the server's registry directly

    def remove(self, key: WorkloadKey) -> None:
        self.collector.forget(key)

    async def refresh_now(self, workload: Workload) -> None:
        loop = asyncio.get_running_loop()
        await loop.run_in_executor(None, functools.partial(self.collector.refresh, [workload], False))

    def metrics_text(self) -> bytes:
        return self.telemetry.exposition()

    def alive(self) -> bool:
        return self._task is not None and not self._task.done()


class ProcessEngine:
    """Collection in a worker process, talking over a pipe; the worker is restarted if it dies."""

    def __init__(self, registry: Registry, config: ServerConfig) -> None:
        self.registry = registry
        self.config = config
        self._ctx = multiprocessing.get_context("spawn")  # never fork a process that runs gRPC threads
        self._send_lock = threading.Lock()
        self._ids = itertools.count(1)
        #: first-seen refreshes in flight: request id -> (the RPC's future, the workload); sent again to a new worker
        self._waiters: dict[int, tuple[asyncio.Future[None], WorkloadKey]] = {}
        self._metrics: dict[int, tuple[threading.Event, list[bytes]]] = {}
        self._stopping = False
        self._loop: asyncio.AbstractEventLoop | None = None
        self._conn: Any = None
        self._process: Any = None
        self._ready = threading.Event()
        self.restarts = 0

    async def start(self, stopping: asyncio.Event) -> None:
        """Start the worker and wait until it can collect, so the server never reports SERVING too early."""
        self._loop = asyncio.get_running_loop()
        self._spawn()
        ready = await self._loop.run_in_executor(None, self._ready.wait, WORKER_START_TIMEOUT_S)
        if not ready:
            raise RuntimeError(f"the collector worker did not start within {WORKER_START_TIMEOUT_S:.0f}s")

    def _spawn(self) -> None:
        from scaler.worker import worker_main

        parent, child = self._ctx.Pipe()
        process = self._ctx.Process(
            target=worker_main, args=(self.config, child), name="gpuscale-collector", daemon=True
        )
        process.start()
        child.close()
        self._conn, self._process = parent, process
        threading.Thread(target=self._receive, args=(parent, process), name="gpuscale-receiver", daemon=True).start()
        for workload in self.registry.all():  # after a restart, the worker learns every workload again
            self.upsert(workload)
        for request, (_, key) in list(self._waiters.items()):  # and collects for the RPCs still waiting
            self._send(Refresh(request, key))

    def _send(self, message: ToWorker) -> None:
        with self._send_lock:
            try:
                self._conn.send(message)
            except (OSError, EOFError, BrokenPipeError) as exc:
                log.warning("collector worker unreachable: %s", exc)

    def _receive(self, conn: Any, process: Any) -> None:
        while True:
            try:
                message = conn.recv()
            except (EOFError, OSError):
                break
            self._dispatch(message)
        self._ready.clear()  # not ready again until the new worker says so
        if not self._stopping:
            process.join(timeout=1)
            log.error("collector worker exited (code %s); starting a new one", process.exitcode)
            self.restarts += 1
            self._spawn()

    def _dispatch(self, message: FromWorker) -> None:
        match message:
            case Ready():
                self._ready.set()
            case Decisions(batch):
                self._publish(batch)
            case Done(request):
                refresh = self._waiters.pop(request, None)
                if refresh is not None and self._loop is not None:
                    self._loop.call_soon_threadsafe(_resolve, refresh[0])
            case MetricsReply(request, exposition):
                waiter = self._metrics.get(request)
                if waiter is not None:
                    waiter[1].append(exposition)
                    waiter[0].set()

    def alive(self) -> bool:
        return self._ready.is_set() and self._process is not None and self._process.is_alive()

    def _publish(self, decisions: list[tuple[WorkloadKey, Decision]]) -> None:
        for key, decision in decisions:
            workload = self.registry.get(key)
            if workload is not None:
                workload.publish_decision(decision)

    def upsert(self, workload: Workload) -> None:
        self._send(Upsert(workload.key, workload.meta, workload.spec, workload.prometheus_url, workload.created_at))

    def remove(self, key: WorkloadKey) -> None:
        self._send(Remove(key))

    async def refresh_now(self, workload: Workload) -> None:
        request = next(self._ids)
        future: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self._waiters[request] = (future, workload.key)
        self._send(Refresh(request, workload.key))
        try:
            await future
        finally:
            self._waiters.pop(request, None)

    def metrics_text(self) -> bytes:
        request = next(self._ids)
        waiter: tuple[threading.Event, list[bytes]] = (threading.Event(), [])
        self._metrics[request] = waiter
        try:
            self._send(MetricsRequest(request))
            if waiter[0].wait(timeout=2.0):
                return waiter[1][0]
            return b"# collector worker did not answer within 2s\n"
        finally:
            self._metrics.pop(request, None)

    async def stop(self) -> None:
        self._stopping = True
        self._send(Stop())
        process = self._process
        if process is not None:
            await asyncio.get_running_loop().run_in_executor(None, process.join, 10)
            if process.is_alive():
                process.kill()


def _resolve(future: asyncio.Future[None]) -> None:
    if not future.done():
        future.set_result(None)


def create_engine(registry: Registry, config: ServerConfig, clock: Clock) -> DecisionEngine:
    if config.collector == "process":
        return ProcessEngine(registry, config)
    return ThreadEngine(registry, config, clock)
