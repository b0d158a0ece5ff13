"""The decision log: one JSON line per decision, and a log that cannot be written never stops scaling."""

from __future__ import annotations

import json
import logging
from pathlib import Path

import pytest

from scaler.decide import decide
from scaler.decision import DecisionState
from scaler.decision_log import DecisionLog
from scaler.policy import PolicySpec
from scaler.snapshot import Replicas, ReplicaSource, Signal, Snapshot

SNAPSHOT = Snapshot(
    observed_at=100.0,
    signals={Signal.QUEUE: 1.0, Signal.GENERATION_TPS: 100.0, Signal.KV_CACHE_USAGE: 0.2},
    replicas=Replicas(current=2, ready=2, starting=0, source=ReplicaSource.KUBERNETES),
)
DECISION, _ = decide(SNAPSHOT, None, DecisionState(), PolicySpec(), 100.0)


def test_each_decision_is_one_json_line(tmp_path: Path) -> None:
    path = tmp_path / "decisions.jsonl"
    log = DecisionLog(str(path))
    log.write("llm/llama/gpuscale-llama", SNAPSHOT, DECISION, {"min_replicas": 1})
    log.write("llm/llama/gpuscale-llama", SNAPSHOT, DECISION, {"min_replicas": 1})
    log.close()
    lines = [json.loads(line) for line in path.read_text().splitlines()]
    assert [(r["event"], r["workload"], r["at"]) for r in lines] == [
        ("decision", "llm/llama/gpuscale-llama", 100.0)
    ] * 2
    assert lines[0]["decision"]["replicas"] == DECISION.replicas
    assert lines[0]["snapshot"]["signals"]["queue"] == 1.0 and lines[0]["policy"] == {"min_replicas": 1}


@pytest.mark.skipif(not Path("/dev/full").exists(), reason="needs Linux's /dev/full (every write fails: disk full)")
def test_a_full_disk_is_counted_and_warned_once_not_raised(caplog: pytest.LogCaptureFixture) -> None:
    log = DecisionLog("/dev/full")
    with caplog.at_level(logging.WARNING, logger="scaler.decision_log"):
        for _ in range(3):
            log.write("llm/llama/gpuscale-llama", SNAPSHOT, DECISION, {})
    assert log.failed_writes == 3
    assert caplog.messages == [
        "decision log /dev/full: 1 decisions not written (No space left on device); scaling goes on"
    ]
