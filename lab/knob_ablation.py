"""What one gpuscale knob does to one tuned setting, on several cold-start draws, everything else unchanged.

Run: python -m lab.knob_ablation CASE-NAME-PART --params '{"utilization": 0.8, ...}'
--knob queue_drain_s --values off,10,60 [--draws 1,2,3] (from the project root).

The setting (e.g. a ``tuned gpuscale`` line printed by benchmarks/headline.py) is replayed on the case's
whole trace with the knob at each value; the first value is the comparison baseline, measured in the same
run on the same draws. Printed per value and draw: GPU-hours, their ratio to the first value's on that
draw, and SLO attainment; then the mean over the draws. ``off`` means the PolicySpec's None. A setting tuned
with one value is not the best setting with another: this isolates the knob, it does not re-tune.
"""

from __future__ import annotations

import argparse
import time
from typing import Any

from benchmarks._setting import case_named, setting
from benchmarks.headline import CASES, PROFILE, TRACES, Case
from scaler.policy import POLICY_KNOBS
from simulations.fleet.replay import ReplaySettings
from simulations.traces.scenario import build_workload
from simulations.tuning.job import replay_params

#: Every knob a gpuscale setting may change (the PolicySpec's declared knobs).
KNOBS = tuple(k.name for k in POLICY_KNOBS)


def _value(text: str) -> float | None:
    return None if text == "off" else float(text)


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m lab.knob_ablation", description=__doc__.split("\n")[0])
    parser.add_argument("case", help="a part of one case's name: " + ", ".join(repr(c.name) for c in CASES))
    parser.add_argument("--params", required=True, help="the gpuscale setting as a JSON (or Python) dict")
    parser.add_argument("--knob", required=True, help="the PolicySpec field: " + ", ".join(KNOBS))
    parser.add_argument("--values", required=True, help="comma-separated values, 'off' for None; the first is the base")
    parser.add_argument("--draws", default="1,2,3", help="cold-start draws, comma-separated (the headline scores on 2)")
    args = parser.parse_args(argv)
    args.case = case_named(parser, args.case)
    if args.knob not in KNOBS:
        parser.error(f"--knob {args.knob!r}: expected one of " + ", ".join(KNOBS))
    args.params = setting(parser, args.params)
    try:
        args.values = [_value(v) for v in args.values.split(",")]
        args.draws = [int(d) for d in args.draws.split(",")]
    except ValueError as exc:
        parser.error(f"--values or --draws: {exc}; expected e.g. --values off,30,60 --draws 1,2,3")
    return args


def run(case: Case, params: dict[str, Any], knob: str, values: list[float | None], draws: list[int]) -> None:
    started = time.time()
    tokens = str(TRACES / case.tokens) if case.tokens else None
    workload = build_workload(TRACES / case.trace, case.reshape, 0, tokens, case.column, case.history_s)
    print(f"== {case.name}: {knob} on cold-start draws {draws}")
    print(f"{knob:>22s}{'draw':>6s}{'GPU-h':>9s}{'vs base':>9s}{'attainment':>12s}{'meets':>7s}")
    base: dict[int, float] = {}
    for value in values:
        hours, attained = [], []
        for draw in draws:
            result = replay_params(
                "gpuscale", {**params, knob: value}, workload, PROFILE, case.slo, ReplaySettings(seed=draw)
            )
            base.setdefault(draw, result.gpu_hours)
            hours.append(result.gpu_hours)
            attained.append(result.score.slo_attainment)
            label = "off" if value is None else f"{value:g}"
            print(
                f"{label:>22s}{draw:>6d}{result.gpu_hours:>9.2f}{result.gpu_hours / base[draw]:>9.3f}"
                f"{result.score.slo_attainment:>12.4f}{result.score.meets_slo!s:>7s}",
                flush=True,
            )
        mean_ratio = sum(h / base[d] for h, d in zip(hours, draws, strict=True)) / len(draws)
        print(
            f"{'':>22s}{'mean':>6s}{sum(hours) / len(hours):>9.2f}{mean_ratio:>9.3f}"
            f"{sum(attained) / len(attained):>12.4f}{'':>7s}"
        )
    print(f"({time.time() - started:.0f} s)")


def main(argv: list[str] | None = None) -> None:
    args = parse_args(argv)
    run(args.case, args.params, args.knob, args.values, args.draws)


if __name__ == "__main__":
    main()
