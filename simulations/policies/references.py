"""The yardsticks a comparison measures policies against, each found by search on the workload itself.

The fixed fleet in hindsight (the smallest constant replica count that meets the SLO), the oracle (the
cheapest of several plans with full knowledge of arrivals: one headroom over demand at three resolutions,
violation-budget schedules, and the hindsight fleet), and the reactive bound. Each search takes a
``run(policy, params)`` that replays one setting, so ``compare`` can run them on a process pool.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from simulations.fleet.replay import ReplayResult
from simulations.policies.oracle_plans import future_load
from simulations.policies.slo import Slo
from simulations.profiles import ReplicaProfile
from simulations.traces.workload import TraceWorkload


def fixed_search_start(workload: TraceWorkload, profile: ReplicaProfile) -> int:
    """Where the fixed-fleet search starts: the peak minute's demand, in replicas."""
    return max(1, math.ceil(float(np.max(future_load(workload, profile, 60.0)))))


def search_fixed(run: Callable[[str, dict[str, Any]], ReplayResult], max_replicas: int, start: int) -> ReplayResult:
    """The smallest constant fleet that meets the SLO (or the largest allowed, if none does)."""
    tried: dict[int, ReplayResult] = {}

    def at(n: int) -> ReplayResult:
        if n not in tried:
            tried[n] = run("fixed", {"replicas": n})
        return tried[n]

    hi = min(max(1, start), max_replicas)
    while not at(hi).score.meets_slo and hi < max_replicas:
        hi = min(max_replicas, hi * 2)
    if not at(hi).score.meets_slo:
        return at(hi)
    # invariant: lo fails (or is 0), hi meets
    known_fail = [n for n, r in tried.items() if not r.score.meets_slo and n < hi]
    lo = max(known_fail, default=0)
    while hi - lo > 1:
        mid = (lo + hi) // 2
        if at(mid).score.meets_slo:
            hi = mid
        else:
            lo = mid
    return at(hi)


#: Demand resolutions the headroom oracle plans at: (bin seconds, look-ahead seconds). Fine bins follow
#: bursts; coarse ones let a queue that stays within the TTFT target absorb them.
ORACLE_PLANS = ((10.0, 60.0), (30.0, 60.0), (60.0, 120.0))


@dataclass(frozen=True)
class BudgetPlan:
    """One family of violation-budget schedules (``oracle_plans.budget_plan``): its bins, the demand
    look-ahead each bin must cover, and the share of the SLO's error budget the schedule may spend on
    short bins (the rest is left for queueing the plan's model does not see)."""

    bin_s: float
    lookahead_s: float
    budget_share: float
    #: whether a bin must also cover the bin before it (see ``oracle_plans.demand_peaks``)
    cover_previous: bool = True

    def describe(self) -> str:
        previous = "" if self.cover_previous else ", each bin alone"
        return (
            f"{self.bin_s:g} s bins, {self.lookahead_s:g} s look-ahead, {self.budget_share:.0%} of the error budget"
            f"{previous}"
        )


#: The 60 s family was added when a per-minute schedule (benchmarks/oracle_check.py) beat the others on
#: a burst shape: minutes sized on their own mean let a queue absorb the seconds of a burst.
BUDGET_PLANS = (
    BudgetPlan(10.0, 60.0, 0.0),
    BudgetPlan(10.0, 60.0, 0.5),
    BudgetPlan(10.0, 0.0, 0.5),
    BudgetPlan(60.0, 0.0, 0.0, cover_previous=False),
)


def search_oracle(
    run: Callable[[str, dict[str, Any]], ReplayResult],
    fixed: ReplayResult | None,
    iterations: int = 6,
    plans: Sequence[tuple[float, float]] = ORACLE_PLANS,
    budget_plans: Sequence[BudgetPlan] = (),
    budget_requests: float = 0.0,
) -> ReplayResult:
    """The oracle plan with the fewest GPU-hours that meets the SLO.

    For each demand resolution in ``plans`` (bin, look-ahead) the headroom over the demand is bisected,
    and for each of ``budget_plans`` the scale of its schedule (``budget_requests``: the SLO's error
    budget in requests). Starting every pod at t=0 and never stopping one is also a plan the oracle
    knows, so when the fixed fleet meets the SLO for less, the oracle is that plan (headroom inf).
    """
    candidates = [search_oracle_plan(run, plan, iterations) for plan in plans]
    candidates += [search_budget_plan(run, plan, budget_requests) for plan in budget_plans]
    return pick_oracle(run, candidates, fixed, plans[0])


#: What one plan's bisection leaves for the final choice: its cheapest run that met the SLO (if any)
#: and the run that came closest to it.
OracleCandidates = tuple[ReplayResult | None, ReplayResult]


def _oracle_params(headroom: float, plan: tuple[float, float], cap: int = 0) -> dict[str, Any]:
    bin_s, lookahead_s = plan
    return {"method": "headroom", "headroom": headroom, "bin_s": bin_s, "lookahead_s": lookahead_s, "cap": cap}


def _bisect_scale(at: Callable[[float], ReplayResult], iterations: int) -> OracleCandidates:
    """Bisect a plan's scale (headroom, or k) for the cheapest run that meets the SLO: from 1, doubling
    up to 16 until one meets it, then ``iterations`` halvings of the interval."""
    results: list[ReplayResult] = []

    def tried(scale: float) -> ReplayResult:
        results.append(at(scale))
        return results[-1]

    lo, hi = 0.0, 1.0
    while not tried(hi).score.meets_slo and hi < 16:
        lo, hi = hi, hi * 2
    if results[-1].score.meets_slo:
        for _ in range(iterations):
            mid = (lo + hi) / 2
            if tried(mid).score.meets_slo:
                hi = mid
            else:
                lo = mid
    meeting = [r for r in results if r.score.meets_slo]
    cheapest = min(meeting, key=lambda r: r.gpu_hours) if meeting else None
    return cheapest, max(results, key=lambda r: (r.score.slo_attainment, -r.gpu_hours))


def search_oracle_plan(
    run: Callable[[str, dict[str, Any]], ReplayResult], plan: tuple[float, float], iterations: int = 6
) -> OracleCandidates:
    """Bisect the headroom of one plan (a demand resolution). Each plan is independent of the others,
    so they can run side by side."""
    return _bisect_scale(lambda headroom: run("oracle", _oracle_params(headroom, plan)), iterations)


def search_budget_plan(
    run: Callable[[str, dict[str, Any]], ReplayResult], plan: BudgetPlan, budget_requests: float, iterations: int = 7
) -> OracleCandidates:
    """Bisect the scale ``k`` of one family of budget schedules over demand, replaying each."""
    params = {
        "method": "budget",
        "bin_s": plan.bin_s,
        "lookahead_s": plan.lookahead_s,
        "budget_requests": plan.budget_share * budget_requests,
        "cover_previous": plan.cover_previous,
    }
    return _bisect_scale(lambda k: run("oracle", {**params, "k": k}), iterations)


def pick_oracle(
    run: Callable[[str, dict[str, Any]], ReplayResult],
    candidates: Sequence[OracleCandidates],
    fixed: ReplayResult | None,
    fleet_plan: tuple[float, float] = ORACLE_PLANS[0],
) -> ReplayResult:
    """The cheapest plan that met the SLO, in plan order on a tie (or, if none did, the closest); the
    constant fleet (replayed as the oracle capped at its size, ``fleet_plan``'s bins) instead when it
    meets the SLO for less."""
    meeting = [cheapest for cheapest, _ in candidates if cheapest is not None]
    if meeting:
        best = min(meeting, key=lambda r: r.gpu_hours)
    else:  # nothing meets it: the oracle is the plan that comes closest
        best = max((closest for _, closest in candidates), key=lambda r: (r.score.slo_attainment, -r.gpu_hours))
    if fixed is not None and fixed.score.meets_slo and (not meeting or fixed.gpu_hours < best.gpu_hours):
        replicas = fixed.params["replicas"]
        assert isinstance(replicas, int)
        best = run("oracle", _oracle_params(math.inf, fleet_plan, cap=replicas))
    return best


def search_reactive_bound(
    run: Callable[[str, dict[str, Any]], ReplayResult], cold_start_s: float, iterations: int = 6
) -> ReplayResult:
    """The cheapest headroom plan that sees demand only as it happens (``seen_late_s``: a typical cold
    start plus the look-ahead, so no foresight), at each of ``ORACLE_PLANS``' resolutions: what a policy
    that reacts instantly and perfectly, but cannot see ahead, can reach. Where it cannot meet the SLO
    for less than the fixed fleet, no policy without foresight can."""
    candidates = []
    for bin_s, lookahead_s in ORACLE_PLANS:
        late = cold_start_s + lookahead_s

        def at(headroom: float, plan: tuple[float, float] = (bin_s, lookahead_s), late: float = late) -> ReplayResult:
            return run("oracle", {**_oracle_params(headroom, plan), "seen_late_s": late})

        candidates.append(_bisect_scale(at, iterations))
    return pick_oracle(run, candidates, None)


def error_budget_requests(workload: TraceWorkload, slo: Slo) -> float:
    """Requests the SLO lets miss their target on ``workload``."""
    return (1.0 - slo.attainment) * workload.requests
