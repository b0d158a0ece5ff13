"""The service-level objective and how one replay is scored against it."""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
from pydantic import BaseModel, ConfigDict, Field

from simulations.fleet.model import RequestLog
from simulations.traces.workload import TraceWorkload


class Slo(BaseModel):
    """A request is good when its TTFT (and, if set, its queue wait) is within target;
    the SLO is met when at least ``attainment`` of all requests are good (p99 TTFT <= target
    at the default 0.99). Requests that never got a first token count as misses."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    ttft_s: float = Field(2.0, gt=0, le=3600, description="time-to-first-token target, seconds")
    queue_wait_s: float | None = Field(None, gt=0, le=3600, description="queue-wait target, seconds (optional)")
    attainment: float = Field(0.99, gt=0, le=1, description="share of requests that must be within target")


@dataclass(frozen=True)
class Score:
    """How one replay did: latency percentiles, SLO attainment and what it cost."""

    requests: int
    slo_attainment: float
    meets_slo: bool
    ttft_p50_s: float
    ttft_p95_s: float
    ttft_p99_s: float
    queue_wait_p99_s: float
    tpot_p50_s: float
    e2e_p99_s: float
    unserved: int
    interrupted: int


def _pct(values: np.ndarray, q: float) -> float:
    if values.size == 0:
        return math.nan
    with np.errstate(invalid="ignore"):  # inf (unserved) is a valid sample here
        return float(np.percentile(values, q))


def score(workload: TraceWorkload, log: RequestLog, slo: Slo) -> Score:
    """Per-request outcomes against ``slo``; misses (never served) count as infinite TTFT."""
    scored = workload.scored  # a warm-up before ``workload.scored_from_s`` is served, not scored
    arrival, output = workload.arrival_s[scored], workload.output_tokens[scored]
    admitted, first, finished = log.admitted_at[scored], log.first_token_at[scored], log.finished_at[scored]
    n = int(arrival.shape[0])
    ttft = np.where(np.isnan(first), np.inf, first - arrival)
    wait = np.where(np.isnan(admitted), np.inf, admitted - arrival)
    good = ttft <= slo.ttft_s
    if slo.queue_wait_s is not None:
        good &= wait <= slo.queue_wait_s
    attainment = float(good.mean()) if n else 1.0
    done = ~np.isnan(finished) & ~np.isnan(first)
    decode_tokens = output[done] - 1
    tpot = (finished[done] - first[done])[decode_tokens > 0] / decode_tokens[decode_tokens > 0]
    return Score(
        requests=n,
        slo_attainment=attainment,
        meets_slo=attainment >= slo.attainment - 1e-12,
        ttft_p50_s=_pct(ttft, 50),
        ttft_p95_s=_pct(ttft, 95),
        ttft_p99_s=_pct(ttft, 99),
        queue_wait_p99_s=_pct(wait, 99),
        tpot_p50_s=_pct(tpot, 50),
        e2e_p99_s=_pct(np.where(done, finished - arrival, np.inf), 99),
        unserved=int(np.isnan(first).sum()),
        interrupted=int(log.interrupted[scored].sum()),
    )
