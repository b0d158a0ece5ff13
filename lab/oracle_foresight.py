"""How much foresight the oracle's GPU-hours need: the same oracle, told the demand at coarser resolutions.

Run: python -m lab.oracle_foresight [CASE-NAME-PART ...] (from the project root).

For each headline case (benchmarks/headline.py) the oracle plans from demand binned at 10 s (the
headline oracle's finest plan), 60 s, 300 s and 600 s, with a look-ahead of one bin (60 s for the
10 s plan), and its headroom is bisected for the fewest GPU-hours that meet the SLO, as in
``simulations.policies.references.search_oracle``. A plan that knows only 10-minute averages is information a
forecaster could plausibly have; a plan that needs 10-second bins is not. Printed beside them:
the headline oracle and the two-thirds line of the headline target, from the fixed fleet and the
best-baseline figure you pass with --best CASE=GPU_HOURS (tuning the baselines again would take
the headline's 40 minutes).

The last two columns are plans without foresight: they see each bin's demand a typical cold start
(the profile's median stages) plus one bin late, so a pod with a typical cold start was planned from
demand already measured, and they keep a pod for a cold start after it was last needed, as a
scale-down window does. Each pod still starts exactly its own cold start ahead (the oracle's one
advantage left: up to the spread of cold starts, about 85 s at p90). That is a reactive scaler with
perfect, instant measurement and the best headroom in hindsight: roughly what reacting, however
well, can reach. What separates it from the line is what only a forecast can win.
"""

from __future__ import annotations

import sys
import time
from collections.abc import Callable
from typing import Any

from benchmarks._cli import parser
from benchmarks.headline import CASES, PROFILE, TRACES
from simulations.fleet.replay import ReplayResult, ReplaySettings, replay
from simulations.policies.compare import initial_replicas
from simulations.policies.controllers import PolicyContext, create_controller
from simulations.policies.references import fixed_search_start, search_fixed, search_oracle
from simulations.policies.slo import Slo
from simulations.traces.scenario import build_workload
from simulations.traces.workload import TraceWorkload

PLANS = ((10.0, 60.0), (60.0, 60.0), (300.0, 300.0), (600.0, 600.0))
#: (bin, look-ahead) of the plans that see demand late: one bin ahead of what they saw.
REACTIVE_PLANS = ((10.0, 10.0), (60.0, 60.0))


def _runner(workload: TraceWorkload, context: PolicyContext, slo: Slo) -> Callable[[str, dict[str, Any]], ReplayResult]:
    def run(name: str, params: dict[str, Any]) -> ReplayResult:
        return replay(workload, PROFILE, create_controller(name, context, params), slo, ReplaySettings())

    return run


def _late(
    run: Callable[[str, dict[str, Any]], ReplayResult], seen_late_s: float
) -> Callable[[str, dict[str, Any]], ReplayResult]:
    def late(name: str, params: dict[str, Any]) -> ReplayResult:
        return run(name, {**params, "seen_late_s": seen_late_s})

    return late


def main(argv: list[str]) -> None:
    cli = parser(__doc__, "lab.oracle_foresight")
    cli.add_argument("cases", nargs="*", help="parts of case names to run (default: every case)")
    cli.add_argument(
        "--best", action="append", default=[], metavar="CASE=GPU_H", help="a case's best tuned GPU-hours (repeatable)"
    )
    args = cli.parse_args(argv)
    best: dict[str, float] = {}
    for pair in args.best:
        name, sep, value = pair.partition("=")
        try:
            best[name] = float(value)
        except ValueError:
            cli.error(f"--best {pair!r}: expected CASE=GPU_H")
        if not sep:
            cli.error(f"--best {pair!r}: expected CASE=GPU_H")
    argv = args.cases
    header = f"{'case':32s}{'fixed':>9s}{'oracle':>9s}" + "".join(f"{f'{b:g} s bins':>12s}" for b, _ in PLANS)
    header += "".join(f"{f'late {b:g} s':>12s}" for b, _ in REACTIVE_PLANS)
    print(header + f"{'2/3 line':>10s}")
    for case in [c for c in CASES if not argv or any(a in c.name for a in argv)]:
        started = time.time()
        tokens = str(TRACES / case.tokens) if case.tokens else None
        workload = build_workload(TRACES / case.trace, case.reshape, 0, tokens, case.column)
        context = PolicyContext(
            profile=PROFILE, workload=workload, initial_replicas=initial_replicas(workload, PROFILE, 1)
        )
        run = _runner(workload, context, case.slo)
        fixed = search_fixed(run, 100, fixed_search_start(workload, PROFILE))
        oracle = search_oracle(run, fixed)  # the headline's oracle: its three plans and the fixed fleet
        plans = [search_oracle(run, None, plans=[plan]) for plan in PLANS]
        for bin_s, lookahead_s in REACTIVE_PLANS:
            late = _late(run, PROFILE.cold_start.typical_s + lookahead_s)
            plans.append(search_oracle(late, None, plans=[(bin_s, lookahead_s)]))
        cells = "".join(f"{r.gpu_hours:>11.2f}{' ' if r.score.meets_slo else '!'}" for r in plans)
        key = next((k for k in best if k in case.name), None)
        line = ""
        if key is not None:
            reference = min(best[key], fixed.gpu_hours)
            line = f"{reference - 2 / 3 * (reference - oracle.gpu_hours):>10.2f}"
        print(
            f"{case.name:32s}{fixed.gpu_hours:>9.2f}{oracle.gpu_hours:>9.2f}{cells}{line}"
            f"   ({time.time() - started:.0f} s)",
            flush=True,
        )
    print("(! = no headroom up to 16x met the SLO at that resolution)")


if __name__ == "__main__":
    main(sys.argv[1:])
