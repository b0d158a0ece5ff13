"""The pipe between the server and its collector worker: what each message does on the worker's side."""

from __future__ import annotations

import pickle
from typing import Any

import pytest

from scaler.collector import Collector
from scaler.config import ServerConfig
from scaler.metadata import parse_trigger_metadata, resolve_policy
from scaler.policy import PolicySpec
from scaler.telemetry import DecisionTelemetry
from scaler.worker import _handle
from scaler.worker_messages import (
    Decisions,
    Done,
    MetricsReply,
    MetricsRequest,
    Ready,
    Refresh,
    Remove,
    Stop,
    Upsert,
)
from scaler.workloads import Registry, WorkloadKey

META = parse_trigger_metadata({"deployment": "llama"})
KEY = WorkloadKey("llm", "llama", META.metric_name)
SPEC = resolve_policy(META, PolicySpec())
URL = "http://prometheus:9090"


class RecordingCollector(Collector):
    """The real collector (no cycle runs here), remembering which workloads it was told to forget."""

    def __init__(self, registry: Registry) -> None:
        super().__init__(registry, ServerConfig(kubernetes="off"), DecisionTelemetry(), lambda: 0.0)
        self.forgotten: list[WorkloadKey] = []

    def forget(self, key: WorkloadKey) -> None:
        self.forgotten.append(key)
        super().forget(key)


def _apply(messages: list[Any], registry: Registry) -> tuple[list[bool], RecordingCollector, list[Any], list[Refresh]]:
    collector, sent, pending = RecordingCollector(registry), [], []
    kept = [_handle(m, registry, collector, collector.telemetry, sent.append, pending) for m in messages]
    return kept, collector, sent, pending


def test_an_upsert_adds_the_workload_once_and_a_changed_policy_replaces_it() -> None:
    registry = Registry()
    changed = PolicySpec(target_queue_per_replica=3.0)
    kept, collector, _, _ = _apply(
        [Upsert(KEY, META, SPEC, URL, 5.0), Upsert(KEY, META, SPEC, URL, 5.0), Upsert(KEY, META, changed, URL, 5.0)],
        registry,
    )
    workload = registry.get(KEY)
    assert kept == [True, True, True]
    assert workload is not None and (workload.spec, workload.prometheus_url, workload.keep_decisions) == (
        changed,
        URL,
        0,
    )
    assert collector.forgotten == [KEY, KEY]  # the first sight and the change; the repeat left it alone


@pytest.mark.parametrize(
    ("case", "message", "forgotten", "pending", "kept"),
    [
        ("remove forgets the workload", Remove(KEY), [KEY], [], True),
        ("refresh is batched for one collection", Refresh(7, KEY), [], [Refresh(7, KEY)], True),
        ("stop ends the worker's loop", Stop(), [], [], False),
    ],
)
def test_each_message_does_what_it_says(
    case: str, message: Any, forgotten: list[WorkloadKey], pending: list[Refresh], kept: bool
) -> None:
    registry = Registry()
    _apply([Upsert(KEY, META, SPEC, URL, 5.0)], registry)
    got_kept, collector, sent, got_pending = _apply([message], registry)
    assert (got_kept, collector.forgotten, got_pending, sent) == ([kept], forgotten, pending, []), case
    assert (registry.get(KEY) is None) == (KEY in forgotten), case


def test_a_metrics_request_is_answered_with_the_workers_exposition() -> None:
    _, _, sent, _ = _apply([MetricsRequest(3)], Registry())
    assert len(sent) == 1 and isinstance(sent[0], MetricsReply) and sent[0].request == 3
    assert b"gpuscale_" in sent[0].exposition


@pytest.mark.parametrize(
    "message",
    [
        Upsert(KEY, META, SPEC, URL, 1.0),
        Remove(KEY),
        Refresh(1, KEY),
        MetricsRequest(2),
        Stop(),
        Ready(),
        Done(4),
        Decisions([]),
        MetricsReply(5, b"x 1\n"),
    ],
    ids=lambda m: type(m).__name__,
)
def test_every_message_crosses_the_pipe_unchanged(message: Any) -> None:
    assert pickle.loads(pickle.dumps(message)) == message
