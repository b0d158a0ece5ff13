"""How fleet sizes move with the replica model: every case sized under two profiles side by side.

Run: python -m benchmarks.replica_model [--draws N] [--no-real] [--profile A --profile B] [--ttft-slo S]
     [CASE-NAME-PART ...]

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
from dataclasses import dataclass
from typing import Any

from benchmarks._cli import add_ttft_slo, parser, with_ttft
from benchmarks._suite import suite, suite_arguments
from simulations.fleet.replay import ReplaySettings
from simulations.policies.compare import compare
from simulations.profiles import ReplicaProfile, load_profile
from simulations.tuning.job import default_workers

DEFAULT_PROFILES = ("llama3-8b-h100", "llama3-8b-h100-vidur")
POLICIES = ["gpuscale", "fixed", "oracle"]


@dataclass(frozen=True)
class Sizing:
    """One case under one profile."""

    fixed: int
    fixed_meets: bool
    oracle_gpu_hours: float
    oracle_meets: bool
    oracle_peak: int
    gpuscale_gpu_hours: float
    gpuscale_attainment: float
    #: the share of requests that could meet the TTFT target alone on an idle replica
    reachable: float

    @classmethod
    def of(cls, summary: dict[str, Any]) -> Sizing:
        rows = {r["name"]: r for r in summary["policies"]}
        fixed, oracle, ours = rows["fixed"], rows["oracle"], rows["gpuscale"]
        return cls(
            int(fixed["peak_replicas"]),
            bool(fixed["meets_slo"]),
            float(oracle["gpu_hours"]),
            bool(oracle["meets_slo"]),
            int(oracle["peak_replicas"]),
            float(ours["gpu_hours"]),
            float(ours["slo_attainment"]),
            float(summary["best_possible_attainment"]),
        )

    def row(self) -> str:
        def missed(meets: bool) -> str:
            return " " if meets else "!"

        return (
            f"{self.fixed:5d}{missed(self.fixed_meets)} {self.oracle_gpu_hours:7.2f}{missed(self.oracle_meets)} "
            f"{self.oracle_peak:4d} {self.gpuscale_gpu_hours:8.2f} {100 * self.gpuscale_attainment:6.2f}% "
            f"{100 * self.reachable:9.2f}%"
        )


def main(argv: list[str] | None = None) -> int:
    cli = parser(__doc__, "benchmarks.replica_model")
    cli.add_argument(
        "--profile",
        action="append",
        metavar="NAME",
        help=f"two replica profiles, baseline first (default {' and '.join(DEFAULT_PROFILES)})",
    )
    add_ttft_slo(cli)
    args = suite_arguments(cli, 1, argv)
    names = args.profile or list(DEFAULT_PROFILES)
    if len(names) != 2:
        cli.error(f"--profile must be given twice (a baseline and the other), got {len(names)}")
    profiles: list[ReplicaProfile] = [load_profile(name) for name in names]
    workers = default_workers()
    print(f"profiles: A = {profiles[0].name}, B = {profiles[1].name}; {workers} workers")
    print("per profile: fixed fleet at the SLO, oracle GPU-h and peak, untuned gpuscale GPU-h and attainment\n")
    header = (
        f"{'case':30s} {'profile':>7s} {'fixed':>6s} {'oracle':>8s} {'peak':>4s} {'gpuscale':>8s} {'in SLO':>7s}"
        f" {'reachable':>10s}   {'B/A fixed':>9s} {'B/A oracle':>10s}"
    )
    print(header)
    print("-" * len(header))
    errors = 0
    for case, workload, seed in suite(args.draws, args.cases, not args.no_real):
        started = time.time()
        slo, settings = with_ttft(case.slo, args.ttft_slo), ReplaySettings(seed=seed)
        try:
            figures = [
                Sizing.of(compare(workload, profile, POLICIES, slo, settings, workers=workers).to_json())
                for profile in profiles
            ]
        except Exception:  # a broken case is a finding, not the end of the run
            errors += 1
            print(f"{case.name:30s} ERROR")
            traceback.print_exc()
            continue
        a, b = figures
        print(f"{case.name:30s} {'A':>7s} {a.row()}")
        ratios = f"{b.fixed / a.fixed:9.2f} {b.oracle_gpu_hours / a.oracle_gpu_hours:10.2f}"
        print(f"{'':30s} {'B':>7s} {b.row()}   {ratios}  ({time.time() - started:.0f} s)", flush=True)
    print(f"\n{errors} errors; ! = does not meet the SLO; reachable: requests that meet the TTFT target alone")
    return 1 if errors else 0


if __name__ == "__main__":
    sys.exit(main())
