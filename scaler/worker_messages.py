"""What the server and its collector worker say to each other over the pipe, one type per message.

Typed messages instead of string-tagged tuples: a misspelt kind or a field read at the wrong index is a
type error (mypy) rather than a message silently ignored by the other process. They are pickled by the
pipe, so each is a plain frozen dataclass of picklable fields.
"""

from __future__ import annotations

from dataclasses import dataclass

from scaler.decision import Decision
from scaler.metadata import TriggerMetadata
from scaler.policy import PolicySpec
from scaler.workloads import WorkloadKey

# --- server -> worker --------------------------------------------------------------------------------


@dataclass(frozen=True)
class Upsert:
    """Collect for this workload (again, if its metadata or policy changed)."""

    key: WorkloadKey
    meta: TriggerMetadata
    spec: PolicySpec
    prometheus_url: str
    created_at: float


@dataclass(frozen=True)
class Remove:
    key: WorkloadKey


@dataclass(frozen=True)
class Refresh:
    """Collect this workload now: an RPC is waiting on request ``request``."""

    request: int
    key: WorkloadKey


@dataclass(frozen=True)
class MetricsRequest:
    request: int


@dataclass(frozen=True)
class Stop:
    """Finish: the server is shutting down."""


ToWorker = Upsert | Remove | Refresh | MetricsRequest | Stop

# --- worker -> server --------------------------------------------------------------------------------


@dataclass(frozen=True)
class Ready:
    """The worker can collect: the server may report SERVING."""


@dataclass(frozen=True)
class Decisions:
    batch: list[tuple[WorkloadKey, Decision]]


@dataclass(frozen=True)
class Done:
    """Request ``request`` (a Refresh) has been collected and its decision sent."""

    request: int


@dataclass(frozen=True)
class MetricsReply:
    request: int
    exposition: bytes


FromWorker = Ready | Decisions | Done | MetricsReply
