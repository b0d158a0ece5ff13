"""The collector worker process: receives workloads, runs collection cycles, sends decisions back."""

from __future__ import annotations

import logging
import os
import threading
import time
from collections.abc import Callable
from typing import Any

from scaler.collector import Collector
from scaler.config import ServerConfig
from scaler.decision import Decision
from scaler.decision_log import DecisionLog
from scaler.kube import KubeSource
from scaler.logs import setup_logging
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
#: The worker yields the CPU to the server's RPC handlers when both want it (a 2-core pod runs both): a
#: collection cycle may finish a few milliseconds later, an RPC answered late is KEDA's latency.
WORKER_NICENESS = 5
#: Decisions travel in batches so the server unpickles a few at a time between RPCs.
BATCH = 100


def worker_main(config: ServerConfig, conn: Any) -> None:
    setup_logging(config.log_level)
    os.nice(WORKER_NICENESS)
    registry = Registry()
    telemetry = DecisionTelemetry()
    kube, status = KubeSource.connect(config.kubernetes)
    decision_log = DecisionLog(config.decision_log) if config.decision_log else None
    send_lock = threading.Lock()
    stop = threading.Event()

    def send(message: FromWorker) -> None:
        with send_lock:
            conn.send(message)

    def ship(decisions: list[tuple[WorkloadKey, Decision]]) -> None:
        """Each Prometheus source's decisions as soon as they are computed (``Collector.sink``)."""
        try:
            for i in range(0, len(decisions), BATCH):
                send(Decisions(decisions[i : i + BATCH]))
        except (OSError, EOFError):
            stop.set()  # the server is gone

    collector = Collector(registry, config, telemetry, time.time, kube, status, decision_log, sink=ship)

    def cycles() -> None:
        while not stop.is_set():
            started = time.monotonic()
            try:
                collector.refresh()
            except (OSError, EOFError):
                stop.set()  # the server is gone
            except Exception:
                log.exception("collection cycle failed")
            stop.wait(max(0.0, config.refresh_interval_s - (time.monotonic() - started)))

    send(Ready())
    threading.Thread(target=cycles, name="gpuscale-cycles", daemon=True).start()
    try:
        while not stop.is_set():
            try:
                message = conn.recv()
            except (EOFError, OSError):
                break
            pending: list[Refresh] = []  # refresh requests batched into one collection
            while True:
                if not _handle(message, registry, collector, telemetry, send, pending):
                    return
                if not conn.poll(0):
                    break
                message = conn.recv()
            if pending:
                workloads = [w for refresh in pending if (w := registry.get(refresh.key)) is not None]
                if workloads:
                    collector.refresh(workloads, bootstrap=False)  # ships through the sink before Done
                for refresh in pending:
                    send(Done(refresh.request))
    finally:
        stop.set()
        if decision_log is not None:
            decision_log.close()


def _handle(
    message: ToWorker,
    registry: Registry,
    collector: Collector,
    telemetry: DecisionTelemetry,
    send: Callable[[FromWorker], None],
    pending: list[Refresh],
) -> bool:
    """Apply one message from the server; ``False`` means stop."""
    match message:
        case Upsert(key, meta, spec, url, created):
            existing = registry.get(key)
            if existing is None or existing.meta != meta or existing.spec != spec:
                collector.forget(key)
                registry.add(Workload(key, meta, spec, url, created, created, keep_decisions=0))
        case Remove(key):
            collector.forget(key)
        case Refresh():
            pending.append(message)
        case MetricsRequest(request):
            send(MetricsReply(request, telemetry.exposition()))
        case Stop():
            return False
    return True
