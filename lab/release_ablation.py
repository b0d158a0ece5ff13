"""What letting the forecast release pods does to one gpuscale setting, the window alone measured beside it.

Run: python -m lab.release_ablation CASE-NAME-PART --params '{"utilization": 0.8, ...}'
[--quantiles 0.8,0.9,0.95,0.99] [--seed 2] (from the project root).

The setting (e.g. a ``tuned gpuscale`` line printed by benchmarks/headline.py) is replayed on the
case's whole trace with ``scale_down_forecast_quantile`` off (the scale-down window alone) and at each
quantile given, everything else unchanged, on one cold-start draw (``--seed``; the headline scores on
its seed + 2). Printed per row: GPU-hours, their ratio to the window alone, SLO attainment, and the
GPU-hours above the oracle spent holding a scale-down (window or forecast). A setting tuned without the
release is not the best setting with it: this isolates the one knob, it does not re-tune.
"""

from __future__ import annotations

import argparse
import time
from typing import Any

from benchmarks._setting import case_named, setting
from benchmarks.headline import CASES, PROFILE, TRACES, Case
from simulations.fleet.replay import ReplayResult, ReplaySettings
from simulations.policies.attribution import excess_over_oracle
from simulations.policies.references import search_oracle
from simulations.traces.scenario import build_workload
from simulations.tuning.job import replay_params

HOLDS = ("hold_stabilization", "hold_forecast")


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m lab.release_ablation", description=__doc__.split("\n")[0])
    parser.add_argument("case", help="a part of one case's name: " + ", ".join(repr(c.name) for c in CASES))
    parser.add_argument("--params", required=True, help="the gpuscale setting as a JSON (or Python) dict")
    parser.add_argument("--quantiles", default="0.8,0.9,0.95,0.99", help="release quantiles to try, comma-separated")
    parser.add_argument("--seed", type=int, default=2, help="the cold-start draw (the headline scores on seed + 2)")
    args = parser.parse_args(argv)
    args.case = case_named(parser, args.case)
    args.params = setting(parser, args.params)
    try:
        args.quantiles = [float(q) for q in args.quantiles.split(",")]
    except ValueError:
        parser.error(f"--quantiles {args.quantiles!r}: expected numbers such as 0.9,0.95")
    if any(not 0.5 <= q <= 0.99 for q in args.quantiles):
        parser.error(f"--quantiles {args.quantiles}: each must be from 0.5 to 0.99")
    return args


def _held(result: ReplayResult, oracle: ReplayResult) -> float:
    by_reason = excess_over_oracle(result, oracle).by_reason
    return sum(by_reason.get(r, 0.0) for r in HOLDS)


def run(case: Case, params: dict[str, Any], quantiles: list[float], seed: int) -> None:
    started = time.time()
    tokens = str(TRACES / case.tokens) if case.tokens else None
    workload = build_workload(TRACES / case.trace, case.reshape, 0, tokens, case.column, case.history_s)
    settings = ReplaySettings(seed=seed)

    def simulate(name: str, p: dict[str, Any]) -> ReplayResult:
        return replay_params(name, p, workload, PROFILE, case.slo, settings)

    oracle = search_oracle(simulate, None)
    print(f"== {case.name}, cold-start draw {seed}: oracle {oracle.gpu_hours:.2f} GPU-h")
    print(f"{'release':>10s}{'GPU-h':>9s}{'vs off':>8s}{'attainment':>12s}{'meets':>7s}{'held above oracle':>19s}")
    off: float | None = None
    for quantile in [None, *quantiles]:
        result = simulate("gpuscale", {**params, "scale_down_forecast_quantile": 1.0 if quantile is None else quantile})
        off = result.gpu_hours if off is None else off
        label = "off" if quantile is None else f"q{quantile:g}"
        print(
            f"{label:>10s}{result.gpu_hours:>9.2f}{result.gpu_hours / off:>8.3f}"
            f"{result.score.slo_attainment:>12.4f}{result.score.meets_slo!s:>7s}{_held(result, oracle):>19.2f}",
            flush=True,
        )
    print(f"({time.time() - started:.0f} s)")


def main(argv: list[str] | None = None) -> None:
    args = parse_args(argv)
    run(args.case, args.params, args.quantiles, args.seed)


if __name__ == "__main__":
    main()
