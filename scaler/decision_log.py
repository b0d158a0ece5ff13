"""JSON-lines decision log: every input and output of every decision, one line each."""

from __future__ import annotations

import json
import sys
import threading
from pathlib import Path
from typing import IO

from scaler.decision import Decision
from scaler.snapshot import Snapshot


class DecisionLog:
    """Appends one JSON object per decision; ``"-"`` writes to stdout."""

    def __init__(self, target: str) -> None:
        self._lock = threading.Lock()
        self._owned = target != "-"
        self._stream: IO[str] = sys.stdout if target == "-" else Path(target).open("a", encoding="utf-8")

    def write(self, workload: str, snapshot: Snapshot, decision: Decision, policy: dict[str, object]) -> None:
        record = {
            "event": "decision",
            "workload": workload,
            "at": decision.at,
            "snapshot": snapshot.to_json(),
            "decision": decision.to_json(),
            "policy": policy,
        }
        line = json.dumps(record, separators=(",", ":"), default=str)
        with self._lock:
            self._stream.write(line + "\n")
            self._stream.flush()

    def close(self) -> None:
        if self._owned:
            self._stream.close()
