"""The oracle's provisioning plans: replicas per time bin, computed from the whole future.

Two ways to plan, both replayed by ``policies.OracleController`` in the fleet model, which is the
only judge of whether a plan meets the SLO:

- ``headroom_plan``: one uniform headroom over the peak demand of a short look-ahead, keeping a pod
  that will be needed again within a cold start. Simple, but it provisions every minute alike.
- ``budget_plan``: the cheapest per-bin schedule, found by dynamic programming, that pays for every
  replica-second and for every pod start (a cold start of GPU time before the pod is Ready) and may
  leave bins short of ``k`` x their demand as long as the requests in those bins fit a violation
  budget. The budget goes where it saves most (a burst that would need pods started and idled for
  minutes), which a uniform headroom cannot do. A Lagrange multiplier on violated requests is
  bisected to spend the budget; the scale ``k`` is searched by replay (``references.search_budget_plan``)
  because a demand estimate in replica units is not the fleet model's capacity.
"""

from __future__ import annotations

import math

import numpy as np

from simulations.profiles import ReplicaProfile, TokenDemand
from simulations.traces.workload import TraceWorkload


def future_load(workload: TraceWorkload, profile: ReplicaProfile, bin_s: float) -> np.ndarray:
    """Demand per bin in replicas at full use (prefill time plus decode at a full batch)."""
    if workload.requests == 0:
        return np.zeros(1)
    bins = int(workload.span_s // bin_s) + 1
    index = np.minimum((workload.arrival_s // bin_s).astype(np.int64), bins - 1)
    demand = TokenDemand.binned(workload.prompt_tokens, workload.output_tokens, index, bins, bin_s)
    return np.asarray(profile.load_units(demand), dtype=np.float64)


def arrivals_per_bin(workload: TraceWorkload, bin_s: float) -> np.ndarray:
    """Requests arriving in each bin, on the bins ``future_load`` uses."""
    if workload.requests == 0:
        return np.zeros(1)
    bins = int(workload.span_s // bin_s) + 1
    index = np.minimum((workload.arrival_s // bin_s).astype(np.int64), bins - 1)
    return np.bincount(index, minlength=bins).astype(np.float64)


def _max_ahead(values: np.ndarray, bins: int) -> np.ndarray:
    """For each bin, the largest value in it and the ``bins`` that follow."""
    padded = np.concatenate([values, np.full(bins, values[-1] if values.size else 0)])
    out: np.ndarray = np.lib.stride_tricks.sliding_window_view(padded, bins + 1)[: values.shape[0]].max(axis=1)
    return out


def _max_behind(values: np.ndarray, bins: int) -> np.ndarray:
    """For each bin, the largest value in it and the ``bins`` before it."""
    return _max_ahead(values[::-1], bins)[::-1]


def headroom_plan(
    load: np.ndarray,
    bin_s: float,
    headroom: float,
    lookahead_s: float,
    keep_s: float,
    cap: int,
    floor: int,
    seen_late_s: float = 0.0,
) -> np.ndarray:
    """Replicas wanted per bin: ``headroom`` x the peak demand of the next ``lookahead_s``,
    and a pod that will be needed again within ``keep_s`` (its cold start) is kept rather
    than drained and recreated, because a new pod is paid from creation anyway.

    With ``seen_late_s`` the plan sees each bin's demand that much later (the first bin's until
    then), and, no longer knowing that a pod will be needed again, keeps it for ``keep_s`` after it
    was last needed, as a scale-down window does. At a typical cold start plus ``lookahead_s`` late,
    a pod started a typical cold start before it is needed was planned from demand measured by then.
    Pods still start exactly their own cold start ahead, so a slow pod's plan sees up to the cold
    start's spread ahead, and a fast pod's that much less.
    """
    late = max(0, math.ceil(seen_late_s / bin_s - 1e-9))
    if late and load.size:
        load = np.concatenate([np.full(late, load[0]), load])[: load.shape[0]]
    peak = demand_peaks(load, bin_s, max(lookahead_s, bin_s))
    if math.isinf(headroom):  # every pod from the start: the fixed fleet at the cap
        return np.full(load.shape[0], max(floor, cap), dtype=np.int64)
    need = np.clip(np.ceil(headroom * peak - 1e-9).astype(np.int64), floor, cap)
    keep = max(0, math.ceil(keep_s / bin_s))
    return _max_behind(need, keep) if late else _max_ahead(need, keep)


def _last_running_min(values: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Running minimum of ``values`` and, for each position, the index where that minimum was reached."""
    running = np.minimum.accumulate(values)
    index = np.arange(values.shape[0])
    at = np.maximum.accumulate(np.where(values <= running, index, 0))
    return running, at


def schedule_cost(schedule: np.ndarray, bin_s: float, start_cost_s: float) -> float:
    """GPU-seconds a schedule pays in the planning model: every replica-bin, and a cold start per pod
    started after the first bin (the first bin's pods are the warm fleet at t=0)."""
    starts = np.maximum(0, np.diff(schedule)).sum() if schedule.shape[0] > 1 else 0
    return float(schedule.sum() * bin_s + starts * start_cost_s)


def cheapest_schedule(
    need: np.ndarray,
    arrivals: np.ndarray,
    bin_s: float,
    start_cost_s: float,
    penalty_s: float,
    floor: int,
    cap: int,
) -> tuple[np.ndarray, float]:
    """The schedule minimising replica-seconds + ``start_cost_s`` per pod started + ``penalty_s`` per
    request in a bin with fewer than ``need`` replicas, and the requests in such bins.

    ``penalty_s`` = inf forbids short bins (the budget is unused). Exact: a DP over the replica count,
    O(bins x levels), with the start cost's linearity turning each step's minimum into a running one.
    """
    bins = need.shape[0]
    floor = min(floor, cap)
    levels = np.arange(cap + 1, dtype=np.float64)
    below_floor = np.where(levels < floor, np.inf, 0.0)
    ramp = levels * start_cost_s
    forbid = math.isinf(penalty_s)

    def bin_cost(t: int) -> np.ndarray:
        short = levels < min(need[t], cap)
        extra = np.where(short, np.inf, 0.0) if forbid else short * (penalty_s * arrivals[t])
        result: np.ndarray = levels * bin_s + extra + below_floor
        return result

    came_from = np.zeros((bins, cap + 1), dtype=np.int32)
    cost = bin_cost(0)
    for t in range(1, bins):
        up, up_from = _last_running_min(cost - ramp)  # from a lower (or equal) level: pay the starts
        up = up + ramp
        rev_min, rev_at = _last_running_min(cost[::-1])  # from a higher (or equal) level: draining is free
        down, down_from = rev_min[::-1], cap - rev_at[::-1]
        use_up = up <= down
        came_from[t] = np.where(use_up, up_from, down_from)
        cost = np.where(use_up, up, down) + bin_cost(t)
    level = int(np.argmin(cost))
    schedule = np.empty(bins, dtype=np.int64)
    for t in range(bins - 1, -1, -1):
        schedule[t] = level
        level = int(came_from[t, level])
    short = schedule < np.minimum(need, cap)
    return schedule, float(arrivals[short].sum())


def demand_peaks(load: np.ndarray, bin_s: float, lookahead_s: float, cover_previous: bool = True) -> np.ndarray:
    """Each bin's demand as a plan must cover it: the peak of the bin and of the next ``lookahead_s``,
    and (``cover_previous``) of the bin before, whose requests are still being served. Long bins may
    leave the previous bin out: its tail is a small part of a minute."""
    peaks: np.ndarray = _max_ahead(load, max(0, math.ceil(lookahead_s / bin_s - 1e-9)))
    if cover_previous:
        peaks = np.maximum(peaks, np.concatenate([load[:1], load[:-1]]))
    return peaks


def budget_plan(
    load: np.ndarray,
    arrivals: np.ndarray,
    bin_s: float,
    lookahead_s: float,
    k: float,
    budget_requests: float,
    start_cost_s: float,
    floor: int,
    cap: int,
    iterations: int = 40,
    cover_previous: bool = True,
) -> np.ndarray:
    """The cheapest schedule that covers ``k`` x each bin's demand except in bins holding at most
    ``budget_requests`` requests in all (a Lagrange multiplier on short requests, bisected).

    Among the multipliers tried, the cheapest schedule within the budget wins; with no budget, every
    bin is covered."""
    need = np.ceil(k * demand_peaks(load, bin_s, lookahead_s, cover_previous) - 1e-9).astype(np.int64)
    covered, _ = cheapest_schedule(need, arrivals, bin_s, start_cost_s, math.inf, floor, cap)
    if budget_requests < 1 or not arrivals.any():
        return covered
    best, best_cost = covered, schedule_cost(covered, bin_s, start_cost_s)
    # A multiplier above a bin's whole cost never leaves a request short; below the cheapest request's
    # worth, every bin is short. Bisect in log space between the two.
    low, high = math.log(1e-6), math.log((bin_s + start_cost_s) * (cap + 1))
    for _ in range(iterations):
        middle = (low + high) / 2
        schedule, short = cheapest_schedule(need, arrivals, bin_s, start_cost_s, math.exp(middle), floor, cap)
        if short <= budget_requests:
            high = middle
            cost = schedule_cost(schedule, bin_s, start_cost_s)
            if cost < best_cost:
                best, best_cost = schedule, cost
        else:
            low = middle
    return best


def per_minute_schedule(load_per_minute: np.ndarray, scale: float, bin_s: float, bins: int, floor: int) -> np.ndarray:
    """Another way to plan, for checking the oracle: each minute's mean demand times ``scale``, held for
    the minute, on the oracle's ``bin_s`` bins."""
    need = np.maximum(floor, np.ceil(scale * load_per_minute - 1e-9)).astype(np.int64)
    per_minute = max(1, round(60.0 / bin_s))
    return np.repeat(need, per_minute)[:bins]
