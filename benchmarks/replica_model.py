"""How fleet sizes move with the replica model: every case sized under two profiles side by side.

Run: python -m benchmarks.replica_model [--draws N] [--no-real] [--profile A --profile B] [CASE-NAME-PART ...]

The baseline profile is the one every other figure uses (``llama3-8b-h100``: a decode step that ignores
context, prefill linear in prompt length); the other defaults to ``llama3-8b-h100-vidur`` (decode reads the
KV cache it holds, prefill pays causal attention; linear and CPU terms from Vidur's measurements). Per
case and profile: the smallest fixed fleet that meets the SLO (searched in hindsight), the oracle's GPU-hours
and peak, and untuned gpuscale's GPU-hours and attainment, all from the same initial fleet and cold-start
draw. The last columns are the second profile's figures over the first's: above 1, the first profile
flattered every fleet size built on it. A case that fails to replay is counted, not fatal.
"""

from __future__ import annotations

import sys
import time
import traceback
from typing import Any

from benchmarks._cli import parser
from benchmarks._suite import suite, suite_arguments
from simulations.fleet.replay import ReplaySettings
from simulations.policies.compare import compare
from simulations.profiles import ReplicaProfile, load_profile
from simulations.tuning.job import default_workers

DEFAULT_PROFILES = ("llama3-8b-h100", "llama3-8b-h100-vidur")


def sized(rows: dict[str, dict[str, Any]]) -> tuple[int, float, int, float, float]:
    """(fixed fleet, oracle GPU-h, oracle peak, gpuscale GPU-h, gpuscale attainment %) of one comparison."""
    fixed, oracle, ours = rows["fixed"], rows["oracle"], rows["gpuscale"]
    return (
        int(fixed["peak_replicas"]),
        float(oracle["gpu_hours"]),
        int(oracle["peak_replicas"]),
        float(ours["gpu_hours"]),
        100.0 * float(ours["slo_attainment"]),
    )


def main(argv: list[str] | None = None) -> int:
    cli = parser(__doc__, "benchmarks.replica_model")
    cli.add_argument(
        "--profile",
        action="append",
        metavar="NAME",
        help=f"two replica profiles, baseline first (default {' and '.join(DEFAULT_PROFILES)})",
    )
    args = suite_arguments(cli, 1, argv)
    names = args.profile or list(DEFAULT_PROFILES)
    if len(names) != 2:
        cli.error(f"--profile must be given twice (a baseline and the other), got {len(names)}")
    profiles: list[ReplicaProfile] = [load_profile(name) for name in names]
    workers = default_workers()
    print(f"profiles: A = {profiles[0].name}, B = {profiles[1].name}; {workers} workers")
    print("per profile: fixed fleet at the SLO, oracle GPU-h and peak, untuned gpuscale GPU-h and attainment\n")
    header = (
        f"{'case':30s} {'profile':>7s} {'fixed':>5s} {'oracle':>7s} {'peak':>4s} {'gpuscale':>8s} {'in SLO':>7s}"
        f"   {'B/A fixed':>9s} {'B/A oracle':>10s}"
    )
    print(header)
    print("-" * len(header))
    errors = 0
    for case, workload, seed in suite(args.draws, args.cases, not args.no_real):
        started = time.time()
        try:
            figures = []
            for profile in profiles:
                policies = ["gpuscale", "fixed", "oracle"]
                settings = ReplaySettings(seed=seed)
                comparison = compare(workload, profile, policies, case.slo, settings, workers=workers)
                figures.append(sized({r["name"]: r for r in comparison.to_json()["policies"]}))
        except Exception:  # a broken case is a finding, not the end of the run
            errors += 1
            print(f"{case.name:30s} ERROR")
            traceback.print_exc()
            continue
        (fixed_a, oracle_a, *_), (fixed_b, oracle_b, *_) = figures
        for label, (fixed, oracle, peak, ours, attained) in zip("AB", figures, strict=True):
            ratios = ""
            if label == "B":
                ratios = f"   {fixed_b / fixed_a:9.2f} {oracle_b / oracle_a:10.2f}  ({time.time() - started:.0f} s)"
            name = case.name if label == "A" else ""
            print(
                f"{name:30s} {label:>7s} {fixed:5d} {oracle:7.2f} {peak:4d} {ours:8.2f} {attained:6.2f}%{ratios}",
                flush=True,
            )
    print(f"\n{errors} errors")
    return 1 if errors else 0


if __name__ == "__main__":
    sys.exit(main())
