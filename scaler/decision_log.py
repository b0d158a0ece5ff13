"""JSON-lines decision log: every input and output of every decision, one line each."""

from __future__ import annotations

import contextlib
import json
import logging
import sys
import threading
from pathlib import Path
from typing import IO

from scaler.decision import Decision
from scaler.snapshot import Snapshot

log = logging.getLogger(__name__)


class DecisionLog:
    """Appends one JSON object per decision; ``"-"`` writes to stdout.

    The log is a record, not the control path: a write that fails (a full disk) is counted and warned
    about, never raised into the collector, so scaling goes on while the log cannot keep up.
    """

    def __init__(self, target: str) -> None:
        self._lock = threading.Lock()
        self._owned = target != "-"
        self._target = target
        self._stream: IO[str] = sys.stdout if target == "-" else Path(target).open("a", encoding="utf-8")
        self.failed_writes = 0

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
            try:
                self._stream.write(line + "\n")
                self._stream.flush()
            except OSError as exc:
                self.failed_writes += 1
                if self.failed_writes == 1 or self.failed_writes % 1000 == 0:
                    log.warning(
                        "decision log %s: %d decisions not written (%s); scaling goes on",
                        self._target,
                        self.failed_writes,
                        exc.strerror or exc,
                    )

    def close(self) -> None:
        if self._owned:
            with contextlib.suppress(OSError):  # what a full disk refused is already counted
                self._stream.close()
