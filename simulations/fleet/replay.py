"""One replay: a workload through the fleet under one policy, with the monitoring path.

Each tick: Prometheus scrapes when due, the policy observes and acts, then the fleet
serves. The replay runs until every request has been served (or ``tail_cap_s`` after
the last arrival) and pays for GPUs until then. Deterministic for a seed; no files.
"""

from __future__ import annotations

import itertools
from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np

from simulations.fleet.model import Fleet, RequestLog
from simulations.fleet.monitoring import Monitor
from simulations.policies.controllers import Controller
from simulations.policies.slo import Score, Slo, score
from simulations.profiles import ReplicaProfile
from simulations.traces.workload import TraceWorkload

SERIES_FIELDS = ("t", "replicas", "ready", "starting", "draining", "queue", "running", "arrivals_per_s", "kv_usage")


@dataclass(frozen=True)
class ReplaySettings:
    tick_s: float = 0.5
    scrape_interval_s: float = 15.0
    rate_window_s: float = 60.0
    drain_grace_s: float = 600.0
    tail_cap_s: float = 1800.0
    series_step_s: float = 10.0
    flap_window_s: float = 600.0
    seed: int = 0


@dataclass
class ReplayResult:
    policy: str
    score: Score
    gpu_hours: float
    scale_events: int
    flaps: int
    mean_replicas: float
    peak_replicas: int
    duration_s: float
    log: RequestLog
    series: dict[str, np.ndarray]
    recommendations: list[tuple[float, float]] = field(default_factory=list)
    params: dict[str, object] = field(default_factory=dict)
    #: gpuscale only: (decided at, horizon s, forecast mean, forecast quantile) in replicas of load
    forecasts: list[tuple[float, float, float, float]] = field(default_factory=list)
    #: gpuscale only: (decided at, reason, the signal that asked most or "none"), to charge GPU-hours to
    decisions: list[tuple[float, str, str]] = field(default_factory=list)


def count_flaps(changes: list[tuple[float, int]], window_s: float) -> int:
    """Direction reversals within ``window_s`` of the previous change (up then down, or down then up)."""
    flaps = 0
    for (t_prev, d_prev), (t, d) in itertools.pairwise(changes):
        if (d > 0) != (d_prev > 0) and t - t_prev <= window_s:
            flaps += 1
    return flaps


def replay(
    workload: TraceWorkload,
    profile: ReplicaProfile,
    controller: Controller,
    slo: Slo,
    settings: ReplaySettings | None = None,
    progress: Callable[[float], None] | None = None,
) -> ReplayResult:
    """Run ``controller`` against ``workload``; ``progress`` gets the simulated time now and then.

    Before ``workload.scored_from_s`` the replay is a warm-up: GPU time, scale events and the series
    count from the first tick at or after it (and the score from the requests arriving then).
    """
    s = settings or ReplaySettings()
    fleet = Fleet(profile, workload, np.random.default_rng(s.seed), s.tick_s, s.drain_grace_s)
    monitor = Monitor(s.scrape_interval_s, s.rate_window_s)
    controller.start(fleet)
    series: dict[str, list[float]] = {k: [] for k in SERIES_FIELDS}
    changes: list[tuple[float, int]] = []
    replicas_now = len(fleet.active_pods())
    replica_seconds = 0.0
    peak = replicas_now
    warm_up_s = workload.scored_from_s
    paid_before: float | None = None  # GPU-seconds of the warm-up, once it is over
    scored_from = 0.0  # the first scored tick
    next_scrape = 0.0
    next_series = 0.0
    arrived_at_last_series = 0
    end_of_arrivals = workload.span_s
    t = 0.0
    step = 0
    scrapes = 0
    while True:
        if paid_before is None and t >= warm_up_s:
            paid_before, scored_from, peak = fleet.gpu_seconds(t), t, len(fleet.active_pods())
        scoring = paid_before is not None
        if t >= next_scrape:
            monitor.scrape(fleet, t)
            next_scrape += s.scrape_interval_s
            scrapes += 1
            if scrapes % 64 == 0:
                monitor.prune(t)
        controller.control(t, fleet, monitor)
        active = len(fleet.active_pods())
        if active != replicas_now:
            if scoring:
                changes.append((t, active - replicas_now))
                peak = max(peak, active)
            replicas_now = active
        if t >= next_series:
            _record(series, fleet, t, (fleet.arrived - arrived_at_last_series) / s.series_step_s)
            arrived_at_last_series = fleet.arrived
            next_series += s.series_step_s
        fleet.step(t)
        if scoring:
            replica_seconds += active * s.tick_s
        t = (step := step + 1) * s.tick_s
        if progress is not None and step % 2000 == 0:
            progress(t)
        if t > end_of_arrivals and (fleet.idle() or t > end_of_arrivals + s.tail_cap_s):
            break
    log = fleet.request_log()
    duration = t - scored_from
    decided = [d for d in getattr(controller, "decisions", []) if d.at >= scored_from]
    return ReplayResult(
        policy=controller.name,
        score=score(workload, log, slo),
        gpu_hours=(fleet.gpu_seconds(t) - (paid_before or 0.0)) / 3600.0,
        scale_events=len(changes),
        flaps=count_flaps(changes, s.flap_window_s),
        mean_replicas=replica_seconds / duration if duration > 0 else 0.0,
        peak_replicas=peak,
        duration_s=duration,
        log=log,
        series=_from(series, scored_from),
        recommendations=[(at, r) for at, r in controller.recommendations() if at >= scored_from],
        forecasts=[
            (d.at, d.horizon_s, d.forecast_mean, d.forecast_quantile_value)
            for d in decided
            if d.forecast_mean is not None and d.forecast_quantile_value is not None
        ],
        decisions=[(d.at, str(d.reason), "none" if d.dominant is None else str(d.dominant)) for d in decided],
    )


def _from(series: dict[str, list[float]], start: float) -> dict[str, np.ndarray]:
    """The series from ``start`` on: recorded throughout, so each sample is what the whole run saw."""
    keep = np.asarray(series["t"]) >= start
    return {k: np.asarray(v)[keep] for k, v in series.items()}


def _record(series: dict[str, list[float]], fleet: Fleet, t: float, arrivals_per_s: float) -> None:
    active = fleet.active_pods()
    ready = [p for p in active if p.ready_at <= t]
    capacity = fleet.profile.kv_capacity_tokens
    series["t"].append(t)
    series["replicas"].append(len(active))
    series["ready"].append(len(ready))
    series["starting"].append(len(active) - len(ready))
    series["draining"].append(len(fleet.pods) - len(active))
    series["queue"].append(len(fleet.queue))
    series["running"].append(sum(p.admitted for p in fleet.pods))
    series["arrivals_per_s"].append(arrivals_per_s)
    series["kv_usage"].append(float(np.mean([min(1.0, p.kv_tokens() / capacity) for p in ready])) if ready else 0.0)
