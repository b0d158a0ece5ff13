"""How cheap gpuscale's decision function gets on a case when tuned in hindsight: on the very trace and
cold-start draw it is scored on.

Run: python -m lab.hindsight_walk CASE-NAME-PART --params '{"utilization": 0.27, ...}'
[--seed 2] [--best GPU_HOURS] [--finest STEP] [--check-seeds 0,1,3] (from the project root).

From the given setting (e.g. a ``tuned gpuscale`` line printed by benchmarks/headline.py) a walk moves
one knob at a time, either way, in the tuner's search space: each round replays every knob one step up
and one step down (in the unit cube the tuner searches) on the whole trace with one draw (``--seed``;
the headline scores on its seed + 2) and keeps the cheapest move that still meets the SLO; a round with
none halves the step, down to ``--finest`` (a day-long case replays for minutes a round: 0.0125 there).
Nothing is held out and no margin is left, so the result is optimistic: what tuning can reach around
that setting if it could see the very draw and window it is scored on. It is not a setting to ship, and
it says nothing of settings far from the start. With ``--best`` (the best tuned baseline's GPU-hours)
the two-thirds line of the headline target is printed beside it; the walked setting is then replayed on
``--check-seeds`` to show how much of it is the draw's luck.
"""

from __future__ import annotations

import argparse
import time
from typing import Any

from benchmarks._setting import case_named, setting
from benchmarks.headline import CASES, PROFILE, TRACES, Case
from simulations.fleet.replay import ReplaySettings
from simulations.pools import local_pool
from simulations.traces.scenario import build_workload
from simulations.traces.workload import TraceWorkload
from simulations.tuning.job import default_workers, references, replay_params
from simulations.tuning.tuner import Param, search_space

#: First step of the walk in the unit cube.
FIRST_STEP = 0.1


def _replay(job: tuple[TraceWorkload, Case, dict[str, Any], int]) -> tuple[float, float]:
    workload, case, params, seed = job
    result = replay_params("gpuscale", params, workload, PROFILE, case.slo, ReplaySettings(seed=seed))
    return result.gpu_hours, result.score.slo_attainment


def neighbours(space: list[Param], here: dict[str, Any], step: float) -> list[dict[str, Any]]:
    """Every setting one knob and one ``step`` away from ``here``, up or down; a floor moves by one."""
    moves = []
    for param in space:
        for sign in (1, -1):
            if param.integer:
                value: float = here[param.name] + sign
                if not param.low <= value <= param.high:
                    continue
            else:
                value = round(param.from_unit(param.to_unit(here[param.name]) + sign * step), 4)
            if value != here[param.name]:
                moves.append({**here, param.name: value})
    return moves


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m lab.hindsight_walk", description=__doc__.split("\n")[0])
    parser.add_argument("case", help="a part of one case's name: " + ", ".join(repr(c.name) for c in CASES))
    parser.add_argument("--params", required=True, help="the gpuscale setting to start from, as a JSON dict")
    parser.add_argument("--seed", type=int, default=2, help="the cold-start draw walked on (the headline scores on 2)")
    parser.add_argument("--best", type=float, help="the best tuned baseline's GPU-hours: prints the two-thirds line")
    parser.add_argument("--finest", type=float, default=FIRST_STEP / 256, help="the smallest step tried (unit cube)")
    parser.add_argument("--check-seeds", default="0,1,3", help="other draws to replay the result on, comma-separated")
    args = parser.parse_args(argv)
    args.case = case_named(parser, args.case)
    args.params = setting(parser, args.params)
    missing = [p.name for p in search_space("gpuscale", PROFILE, max_floor=100) if p.name not in args.params]
    if missing:
        parser.error(f"--params lacks {', '.join(missing)}: give a whole tuned setting")
    try:
        args.check_seeds = [int(s) for s in args.check_seeds.split(",") if s]
    except ValueError:
        parser.error(f"--check-seeds {args.check_seeds!r}: expected whole numbers such as 0,1,3")
    return args


def run(
    case: Case, start: dict[str, Any], seed: int, best: float | None, check_seeds: list[int], finest: float
) -> None:
    started = time.time()
    tokens = str(TRACES / case.tokens) if case.tokens else None
    workload = build_workload(TRACES / case.trace, case.reshape, 0, tokens, case.column, case.history_s)
    space = search_space("gpuscale", PROFILE, max_floor=100)
    # the oracle the tuner scores against on this draw (its plans side by side, the fixed fleet among them)
    workers = default_workers()
    oracle = references(workload, PROFILE, case.slo, ReplaySettings(seed=seed), 100, workers)[1].gpu_hours
    line = "" if best is None else f", two-thirds line {best - 2 / 3 * (best - oracle):.2f}"
    print(f"== {case.name}, cold-start draw {seed}: oracle {oracle:.2f} GPU-h{line}", flush=True)
    with local_pool(workers) as pool:
        here = dict(start)
        cost, attainment = pool.map(_replay, [(workload, case, here, seed)])[0]
        print(f"start {cost:.2f} GPU-h at {attainment:.2%}", flush=True)
        first_cost, step = cost, FIRST_STEP
        while step >= finest:
            moves = neighbours(space, here, step)
            done = pool.map(_replay, [(workload, case, m, seed) for m in moves])
            better = [(h, a, m) for (h, a), m in zip(done, moves, strict=True) if a >= case.slo.attainment and h < cost]
            if not better:
                step /= 2
                continue
            cost, attainment, moved = min(better, key=lambda b: b[0])
            changed = {k: v for k, v in moved.items() if v != here[k]}
            here = moved
            elapsed = time.time() - started
            print(f"[{elapsed:5.0f} s] step {step:g}: {changed} -> {cost:.2f} at {attainment:.2%}", flush=True)
        ratios = f"{cost / first_cost:.3f} of the start, {cost / oracle:.3f} of the oracle"
        print(f"walked: {cost:.2f} GPU-h at {attainment:.2%} ({ratios})")
        print(f"setting: {here}")
        checks = pool.map(_replay, [(workload, case, here, s) for s in check_seeds])
    for s, (h, a) in zip(check_seeds, checks, strict=True):
        print(f"   on draw {s}: {h:.2f} GPU-h at {a:.2%}{'' if a >= case.slo.attainment else ' (misses)'}")
    print(f"({time.time() - started:.0f} s)")


def main(argv: list[str] | None = None) -> None:
    args = parse_args(argv)
    run(args.case, args.params, args.seed, args.best, args.check_seeds, args.finest)


if __name__ == "__main__":
    main()
