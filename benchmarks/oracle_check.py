"""Is the oracle tight? Every case's oracle beside plans found by other methods, and its cold-start trend.

Run: python -m benchmarks.oracle_check [--draws N] [--no-real] [CASE-NAME-PART ...]

Printed per case (the synthetic shapes of benchmarks/default_safety.py and the real traces' cases):

- oracle: the cheapest plan that meets the SLO among the headroom plans, the violation-budget DP
  schedules and the fixed fleet (``simulations.policies.compare``);
- headroom: the headroom search alone (the oracle before the budget schedules);
- per-minute: the cheapest of each minute's mean demand scaled by one factor (0.5-4 in steps of 1.25x),
  held for the minute and replayed the same way: a plan from a method the oracle does not search;
- reactive: the reactive bound (no foresight at all, ``references.search_reactive_bound``);
- 180 s / 200 s: the oracle with every cold start fixed at 180 s and at 200 s; a longer cold start can
  never make the optimum cheaper, so "mono" says whether the searched oracle kept that order.

Any plan of another method that meets the SLO for less than the oracle is flagged "ABOVE": then the
oracle is not the bound it claims to be. A case that fails to replay is counted, not fatal.
"""

from __future__ import annotations

import sys
import time
import traceback

from benchmarks._cli import parser
from benchmarks._suite import PROFILE, suite, suite_arguments
from simulations.fleet.replay import ReplayResult, ReplaySettings, replay
from simulations.policies.compare import ReplayJob, compare
from simulations.policies.controllers import OracleController, PolicyContext
from simulations.policies.oracle_plans import future_load, per_minute_schedule
from simulations.policies.references import search_reactive_bound
from simulations.policies.slo import Slo
from simulations.profiles import ColdStart
from simulations.traces.workload import TraceWorkload
from simulations.tuning.job import default_workers

SCALES = tuple(0.5 * 1.25**i for i in range(10))  # 0.5 to 3.7


def best_per_minute(context: PolicyContext, workload: TraceWorkload, slo: Slo, seed: int) -> ReplayResult | None:
    """The cheapest scaled per-minute schedule that meets the SLO, or None."""
    minute = future_load(workload, PROFILE, 60.0)
    bins = int(workload.span_s // 10.0) + 1
    best = None
    for scale in SCALES:
        plan = per_minute_schedule(minute, scale, 10.0, bins, 1)
        result = replay(workload, PROFILE, OracleController(context, plan, 10.0), slo, ReplaySettings(seed=seed))
        if result.score.meets_slo and (best is None or result.gpu_hours < best.gpu_hours):
            best = result
    return best


def main(argv: list[str] | None = None) -> int:
    args = suite_arguments(parser(__doc__, "benchmarks.oracle_check"), 1, argv)
    workers = default_workers()
    header = (
        f"{'case':30s} {'oracle':>8s} {'headroom':>8s} {'per-min':>8s} {'reactive':>8s} "
        f"{'180 s':>7s} {'200 s':>7s}  verdict"
    )
    print(f"GPU-hours at the SLO; profile {PROFILE.name}, {workers} workers\n")
    print(header)
    print("-" * len(header))
    errors = above = not_monotone = 0
    for case, workload, seed in suite(args.draws, args.cases, not args.no_real):
        started = time.time()
        try:
            settings = ReplaySettings(seed=seed)
            comparison = compare(workload, PROFILE, ["oracle"], case.slo, settings, workers=workers)
            oracle, headroom = comparison.oracle(), comparison.headroom_oracle
            assert oracle is not None and headroom is not None
            minute = best_per_minute(comparison.context, workload, case.slo, seed)
            job = ReplayJob(workload, PROFILE, comparison.context, case.slo, settings, {}, 100)
            reactive = search_reactive_bound(job.runner(), PROFILE.cold_start.typical_s)
            fixed_cold = []
            for seconds in (180.0, 200.0):
                profile = PROFILE.model_copy(update={"cold_start": ColdStart.fixed(seconds)})
                fixed_cold.append(compare(workload, profile, ["oracle"], case.slo, settings, workers=workers).oracle())
        except Exception:  # a broken case is a finding, not the end of the run
            errors += 1
            print(f"{case.name:30s} ERROR")
            traceback.print_exc()
            continue
        others = [r for r in (headroom, minute, reactive) if r is not None and r.score.meets_slo]
        flags = []
        if oracle.score.meets_slo and any(r.gpu_hours < oracle.gpu_hours - 1e-9 for r in others):
            above += 1
            flags.append("ABOVE another plan")
        fast, slow = fixed_cold
        monotone = fast is not None and slow is not None and fast.gpu_hours <= slow.gpu_hours + 1e-9
        not_monotone += not monotone
        flags.append("mono" if monotone else "NOT monotone")

        def cell(result: ReplayResult | None, width: int = 8) -> str:
            if result is None:
                return f"{'-':>{width}s}"
            return f"{result.gpu_hours:{width - 1}.2f}{'' if result.score.meets_slo else '!'}".rjust(width)

        print(
            f"{case.name:30s} {cell(oracle)} {cell(headroom)} {cell(minute)} {cell(reactive)} "
            f"{cell(fast, 7)} {cell(slow, 7)}  {', '.join(flags)}  ({time.time() - started:.0f} s)",
            flush=True,
        )
    print(f"\n{errors} errors; oracle above another method's plan: {above}; not monotone in cold start: {not_monotone}")
    print("(! = does not meet the SLO; - = no scale met it)")
    return 1 if errors else 0


if __name__ == "__main__":
    sys.exit(main())
