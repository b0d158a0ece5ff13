"""What was observed about one workload at one time: the input of ``decide()``.

The same value is built from Prometheus by the live collector and from the
fleet model by the simulator. ``None`` means "not observed"; it is never
replaced by a guess, because a missing signal must not look like zero load.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field, fields
from enum import StrEnum
from typing import Any, TypeVar

import numpy as np

#: A sample (float) or a history (array) of token rates.
Rates = TypeVar("Rates", float, np.ndarray[Any, np.dtype[np.float64]])


class Signal(StrEnum):
    """Observed inputs, in the units named by the member."""

    QUEUE = "queue"  # waiting requests, summed over pods
    RUNNING = "running"  # requests in the running batches
    PROMPT_TPS = "prompt_tps"  # prefill tokens/s
    GENERATION_TPS = "generation_tps"  # generated tokens/s
    REQUEST_RATE = "request_rate"  # finished requests/s
    KV_CACHE_USAGE = "kv_cache_usage"  # mean over pods, 0-1
    KV_CACHE_USAGE_MAX = "kv_cache_usage_max"  # hottest pod, 0-1
    GPU_UTILIZATION = "gpu_utilization"  # mean over GPUs, 0-1 (guard only)
    GPU_MEMORY_USAGE = "gpu_memory_usage"  # framebuffer used / total, 0-1 (guard only)
    TTFT_P95_S = "ttft_p95_s"  # time to first token, 95th percentile


class ReplicaSource(StrEnum):
    """Where replica counts came from: only counts from metrics are a guess (no pod is seen starting)."""

    KUBERNETES = "kubernetes"
    METRICS = "metrics"  # pods seen in the engine's metrics: no Kubernetes access
    SIMULATOR = "simulator"


@dataclass(frozen=True)
class Replicas:
    """Replica counts of the target: from Kubernetes, or from pods seen in metrics."""

    current: int
    ready: int
    starting: int
    source: ReplicaSource


@dataclass(frozen=True)
class Snapshot:
    """One observation of a workload. ``observed_at`` is the newest sample's time."""

    observed_at: float | None
    signals: dict[Signal, float] = field(default_factory=dict)
    replicas: Replicas | None = None
    cold_start_s: float | None = None  # observed pod created -> Ready, when known
    error: str | None = None  # why collection failed, when it did

    def get(self, signal: Signal) -> float | None:
        value = self.signals.get(signal)
        if value is None or not math.isfinite(value) or value < 0:
            return None
        return value

    def invalid_signals(self) -> list[Signal]:
        """Signals that were reported but are NaN, infinite or negative (garbage)."""
        return [s for s, v in self.signals.items() if not math.isfinite(v) or v < 0]

    def to_json(self) -> dict[str, object]:
        out: dict[str, object] = {f.name: getattr(self, f.name) for f in fields(self) if f.name != "signals"}
        out["signals"] = {str(k): (v if math.isfinite(v) else str(v)) for k, v in self.signals.items()}
        if self.replicas is not None:
            out["replicas"] = {f.name: getattr(self.replicas, f.name) for f in fields(self.replicas)}
        return out


#: The load of a fleet at zero: nothing waits, runs or is generated.
ZERO_LOAD = {
    Signal.QUEUE: 0.0,
    Signal.RUNNING: 0.0,
    Signal.PROMPT_TPS: 0.0,
    Signal.GENERATION_TPS: 0.0,
    Signal.KV_CACHE_USAGE: 0.0,
}


def no_series_snapshot(
    replicas: Replicas | None, last_published: int | None, now: float, cold_start_s: float | None
) -> Snapshot:
    """A workload none of whose pods reports any series, as the live collector and the simulator see it.

    Zero load only when its fleet is known to be at zero (or zero is what was last recommended): a
    fleet scaled to zero has no pods to report, and that must not read as missing data (which holds,
    then expires to KEDA's fallback). Otherwise the metrics are missing.
    """
    if (replicas is not None and replicas.current == 0) or last_published == 0:
        at_zero = replicas or Replicas(0, 0, 0, ReplicaSource.METRICS)
        return Snapshot(observed_at=now, signals=dict(ZERO_LOAD), replicas=at_zero, cold_start_s=cold_start_s)
    return Snapshot(observed_at=None, replicas=replicas, cold_start_s=cold_start_s)


def token_load(
    generation_tps: Rates, prompt_tps: Rates, generation_tps_target: float, prompt_tps_target: float
) -> Rates:
    """Served token load in replicas at target: generation and prefill share one GPU's time.

    The one definition of the series the forecaster learns, for a sample (floats) or a history (arrays),
    live (snapshots, Prometheus history) and simulated (a trace's rates).
    """
    return generation_tps / generation_tps_target + prompt_tps / prompt_tps_target


def demand_load(snapshot: Snapshot, generation_tps_target: float, prompt_tps_target: float) -> float | None:
    """``token_load`` of a snapshot; ``None`` when neither rate was observed (one alone counts the other as 0)."""
    gen = snapshot.get(Signal.GENERATION_TPS)
    prompt = snapshot.get(Signal.PROMPT_TPS)
    if gen is None and prompt is None:
        return None
    return token_load(gen or 0.0, prompt or 0.0, generation_tps_target, prompt_tps_target)
