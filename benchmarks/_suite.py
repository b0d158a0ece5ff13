"""The workloads a default must survive: synthetic shapes at several draws and the real traces' cases.

Shapes come from ``simulations.traces.shapes`` (a 4x ramp over 30 min, a 3x step, 10-30 s bursts every 5 min,
a diurnal day); each draw is a new seed of arrivals, token lengths and cold starts. The diurnal day is
compressed to ``DIURNAL_DAY_S`` so that its replays take minutes, not hours; its rises are then six
times steeper than a real day's, which is the harder case for a scaler. The real traces are the
headline's cases, read from ``../shared/traces/``.
"""

from __future__ import annotations

import argparse
from collections.abc import Iterator
from dataclasses import dataclass

import numpy as np

from benchmarks.headline import CASES, PROFILE, TRACES
from simulations.policies.slo import Slo
from simulations.traces.scenario import build_workload
from simulations.traces.shapes import Shape, synthetic_trace
from simulations.traces.workload import Reshape, TraceWorkload, from_requests

#: lowest rate of each shape, requests/s: fleets of about 3 to 12 replicas of the default profile
SHAPE_RATES = {Shape.RAMP: 20.0, Shape.STEP: 25.0, Shape.BURSTS: 30.0, Shape.DIURNAL: 20.0}
DIURNAL_DAY_S = 4 * 3600.0


@dataclass(frozen=True)
class SuiteCase:
    name: str
    slo: Slo
    #: a case of ../shared/traces/ (not a synthetic shape)
    real: bool


def suite_arguments(
    parser: argparse.ArgumentParser, default_draws: int, argv: list[str] | None, json_out: bool = False
) -> argparse.Namespace:
    """The suite's command line, the same in every benchmark that walks it: draws, --no-real, case names."""
    parser.add_argument(
        "--draws", type=int, default=default_draws, help=f"seeds of each synthetic shape (default {default_draws})"
    )
    parser.add_argument("--no-real", action="store_true", help="only the synthetic shapes")
    if json_out:
        parser.add_argument("--json", metavar="FILE", help="also write every case's rows here")
    parser.add_argument("cases", nargs="*", metavar="CASE", help="parts of case names to run (default all)")
    args = parser.parse_args(argv)
    if args.draws < 1:
        parser.error(f"--draws must be at least 1, got {args.draws}")
    return args


def shape_case_names(draws: int) -> list[str]:
    return [f"{shape.value} #{draw}" for shape in Shape for draw in range(draws)]


def suite(draws: int, parts: list[str], include_real: bool) -> Iterator[tuple[SuiteCase, TraceWorkload, int]]:
    """(case, workload, seed for the replay's cold starts) for every case whose name contains a part."""
    for shape in Shape:
        for draw in range(draws):
            name = f"{shape.value} #{draw}"
            if parts and not any(p in name for p in parts):
                continue
            trace = synthetic_trace(shape, SHAPE_RATES[shape], seed=draw, day_s=DIURNAL_DAY_S)
            workload = from_requests(trace, Reshape(), np.random.default_rng(draw))
            yield SuiteCase(name, Slo(), real=False), workload, draw
    if not include_real:
        return
    for case in CASES:
        if parts and not any(p in case.name for p in parts):
            continue
        tokens = str(TRACES / case.tokens) if case.tokens else None
        workload = build_workload(TRACES / case.trace, case.reshape, 0, tokens, case.column, case.history_s)
        yield SuiteCase(case.name, case.slo, real=True), workload, 0


__all__ = ["PROFILE", "SuiteCase", "shape_case_names", "suite", "suite_arguments"]
