"""Where a policy's GPU-hours went beyond the oracle's.

A headline ratio says *how much* more a policy paid than the clairvoyant plan, not *why*. This
compares the pods a policy paid for (starting, ready and draining) with the oracle's, bin by bin,
and for gpuscale charges each bin's difference to the decision in force then: what held the fleet
(a scale-down waiting for its window, a scale-up, steady) and which signal asked most (queue,
in-flight, throughput, forecast, KV cache). Bins below the oracle are counted apart: they are
where the SLO was at risk, not where money went.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np

from simulations.fleet.replay import ReplayResult

#: Bins of this length are compared: long enough to smooth a pod's start, short enough to tell a
#: step from its aftermath.
DEFAULT_BIN_S = 60.0


@dataclass(frozen=True)
class Excess:
    """GPU-hours above (``over``) and below (``under``, positive) the oracle, by what was in force."""

    over_gpu_hours: float
    under_gpu_hours: float
    by_reason: dict[str, float] = field(default_factory=dict)
    by_signal: dict[str, float] = field(default_factory=dict)

    def to_json(self) -> dict[str, object]:
        return {
            "over_gpu_hours": round(self.over_gpu_hours, 4),
            "under_gpu_hours": round(self.under_gpu_hours, 4),
            "by_reason": {k: round(v, 4) for k, v in _ranked(self.by_reason)},
            "by_signal": {k: round(v, 4) for k, v in _ranked(self.by_signal)},
        }


def _ranked(shares: dict[str, float]) -> list[tuple[str, float]]:
    return sorted(shares.items(), key=lambda kv: -kv[1])


def pod_seconds_per_bin(t: np.ndarray, paid: np.ndarray, bin_s: float, bins: int) -> np.ndarray:
    """Pod-seconds in each bin of a step series: each sample holds until the next one, the last
    one for as long as the one before it (a replay's series ends at its last sample)."""
    if t.size == 0:
        return np.zeros(bins)
    step = float(t[-1] - t[-2]) if t.size > 1 else bin_s
    ends = np.append(t[1:], t[-1] + step)
    cumulative = np.concatenate([[0.0], np.cumsum(paid * (ends - t))])
    edges = np.clip(np.arange(bins + 1) * bin_s, t[0], ends[-1])
    index = np.clip(np.searchsorted(t, edges, side="right") - 1, 0, t.size - 1)
    integral = cumulative[index] + paid[index] * np.minimum(edges - t[index], ends[index] - t[index])
    return np.asarray(np.diff(integral))


def _paid(result: ReplayResult) -> tuple[np.ndarray, np.ndarray]:
    series = result.series
    return series["t"], series["replicas"] + series["draining"]


def excess_over_oracle(
    result: ReplayResult, oracle: ReplayResult, gpus_per_replica: int = 1, bin_s: float = DEFAULT_BIN_S
) -> Excess:
    """``result``'s paid pods against the oracle's, charged to its decisions when it made any."""
    return excess_of(*_paid(result), *_paid(oracle), result.decisions, bin_s, gpus_per_replica)


def excess_of(
    t: np.ndarray,
    paid: np.ndarray,
    oracle_t: np.ndarray,
    oracle_paid: np.ndarray,
    decisions: Sequence[tuple[float, str, str]] = (),
    bin_s: float = DEFAULT_BIN_S,
    gpus_per_replica: int = 1,
) -> Excess:
    """The bin-by-bin difference in paid pods, in GPU-hours, with the bins above the oracle
    charged to ``decisions`` (``(at, reason, signal that won)``, in time order) in force then."""
    end = max(float(t[-1]) if t.size else 0.0, float(oracle_t[-1]) if oracle_t.size else 0.0)
    bins = int(end // bin_s) + 1
    diff = pod_seconds_per_bin(t, paid, bin_s, bins) - pod_seconds_per_bin(oracle_t, oracle_paid, bin_s, bins)
    hours = diff * gpus_per_replica / 3600.0
    over = float(hours[hours > 0].sum())
    under = 0.0 - float(hours[hours < 0].sum())  # 0.0 - 0.0 is 0.0, where -0.0 would print as "-0.0"
    by_reason: dict[str, float] = {}
    by_signal: dict[str, float] = {}
    if decisions:
        at = np.array([d[0] for d in decisions])
        middles = (np.arange(bins) + 0.5) * bin_s
        which = np.searchsorted(at, middles, side="right") - 1
        for k in np.nonzero(hours > 0)[0]:
            i = int(which[k])
            reason, signal = ("before_first_decision", "none") if i < 0 else decisions[i][1:]
            by_reason[reason] = by_reason.get(reason, 0.0) + float(hours[k])
            by_signal[signal] = by_signal.get(signal, 0.0) + float(hours[k])
    return Excess(over, under, by_reason, by_signal)
