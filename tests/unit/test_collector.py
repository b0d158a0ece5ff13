"""The collector in-process, with an unreachable Prometheus: what an operator sees in the logs."""

from __future__ import annotations

import logging

import pytest

from scaler.collector import Collector
from scaler.config import ServerConfig
from scaler.metadata import parse_trigger_metadata, resolve_policy
from scaler.policy import PolicySpec
from scaler.telemetry import DecisionTelemetry
from scaler.workloads import Registry, Workload, WorkloadKey
from tests.support.net import free_port


def test_an_outage_is_logged_once_when_it_starts(caplog: pytest.LogCaptureFixture) -> None:
    dead = f"http://127.0.0.1:{free_port()}"
    config = ServerConfig(prometheus_url=dead, query_timeout_s=0.5, kubernetes="off", history_s=0)
    registry = Registry()
    meta = parse_trigger_metadata({"deployment": "llama"})
    key = WorkloadKey("llm", "llama", meta.metric_name)
    registry.add(Workload(key, meta, resolve_policy(meta, PolicySpec()), dead, 0.0, 0.0))
    now = [1000.0]
    collector = Collector(registry, config, DecisionTelemetry(), lambda: now[0])
    with caplog.at_level(logging.INFO, logger="scaler.collector"):
        for _ in range(3):
            collector.refresh()
            now[0] += 10
    failing = [r.getMessage() for r in caplog.records if "is failing" in r.getMessage()]
    assert len(failing) == 1
    assert failing[0].startswith(
        f"Prometheus source {dead} is failing; holding the last decisions of 1 workload(s), no scale-down: "
        f"Prometheus instant query to {dead} failed: "
    )
