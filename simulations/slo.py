"""The service-level objective and how one replay is scored against it."""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
from pydantic import BaseModel, ConfigDict, Field

from simulations.fleet import RequestLog
from simulations.workload import Workload


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


def score(workload: Workload, log: RequestLog, slo: Slo) -> Score:
    """Per-request outcomes against ``slo``; misses (never served) count as infinite TTFT."""
    n = workload.requests
    ttft = np.where(np.isnan(log.first_token_at), np.inf, log.first_token_at - workload.arrival_s)
    wait = np.where(np.isnan(log.admitted_at), np.inf, log.admitted_at - workload.arrival_s)
    good = ttft <= slo.ttft_s
    if slo.queue_wait_s is not None:
        good &= wait <= slo.queue_wait_s
    attainment = float(good.mean()) if n else 1.0
    done = ~np.isnan(log.finished_at) & ~np.isnan(log.first_token_at)
    decode_tokens = workload.output_tokens[done] - 1
    tpot = (log.finished_at[done] - log.first_token_at[done])[decode_tokens > 0] / decode_tokens[decode_tokens > 0]
    return Score(
        requests=n,
        slo_attainment=attainment,
        meets_slo=attainment >= slo.attainment - 1e-12,
        ttft_p50_s=_pct(ttft, 50),
        ttft_p95_s=_pct(ttft, 95),
        ttft_p99_s=_pct(ttft, 99),
        queue_wait_p99_s=_pct(wait, 99),
        tpot_p50_s=_pct(tpot, 50),
        e2e_p99_s=_pct(np.where(done, log.finished_at - workload.arrival_s, np.inf), 99),
        unserved=int(np.isnan(log.first_token_at).sum()),
        interrupted=int(log.interrupted.sum()),
    )
