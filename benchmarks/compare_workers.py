"""Replays side by side: the demo's comparison on every local core against one replay at a time.

Run: python -m benchmarks.compare_workers [--workers N] (from the project root).

The demo's whole comparison (the bundled Azure code trace at 10x, every policy with its tuned setting,
the fixed fleet's search and the oracle's three plans, about 40 replays) is run twice in the same
process: with ``workers=1`` (the baseline) and with ``--workers`` processes (default: all local cores).
Printed: wall seconds of each, the speed-up, and whether the two comparisons are the same to the last
digit (they must be: every replay depends only on its own setting and seed). Then the same for the
references ``gpuscale tune`` sizes for each window before it searches (the fixed fleet's search and the
oracle's plans), and for its scoring of a tuned setting (the demo's gpuscale setting on the training 70 %
and on the held-out rest after its warm-up), on the same workload.
"""

from __future__ import annotations

import argparse
import time

from simulations.demo import DEMO_RATE_SCALE, demo_params, demo_trace_path
from simulations.fleet.replay import ReplaySettings
from simulations.policies.compare import compare
from simulations.policies.controllers import POLICY_ORDER
from simulations.policies.slo import Slo
from simulations.profiles import load_profile
from simulations.traces.scenario import build_workload
from simulations.traces.workload import Reshape
from simulations.tuning.job import default_workers, references, replay_windows, split


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--workers", type=int, default=default_workers(), help="processes (default: all cores)")
    args = parser.parse_args(argv)
    profile = load_profile("llama3-8b-h100")
    workload = build_workload(demo_trace_path(), Reshape(rate_scale=DEMO_RATE_SCALE), 0)
    settings = ReplaySettings(seed=0)
    timings, summaries = {}, {}
    for workers in (1, args.workers):
        replays: list[str] = []
        started = time.perf_counter()
        comparison = compare(
            workload,
            profile,
            list(POLICY_ORDER),
            Slo(),
            settings,
            params=demo_params(),
            progress=replays.append,
            workers=workers,
        )
        timings[workers] = time.perf_counter() - started
        summaries[workers] = comparison.to_json()
        print(f"workers={workers}: {timings[workers]:.1f} s wall ({len(replays)} progress events)", flush=True)
    same = summaries[1] == summaries[args.workers]
    print(f"speed-up with {args.workers} workers: {timings[1] / timings[args.workers]:.2f}x; identical results: {same}")
    found = {}
    for workers in (1, args.workers):
        started = time.perf_counter()
        fixed, oracle = references(workload, profile, Slo(), settings, 100, workers)
        timings[workers] = time.perf_counter() - started
        found[workers] = (fixed.gpu_hours, fixed.params, oracle.gpu_hours, oracle.params)
        print(f"tuner references, workers={workers}: {timings[workers]:.1f} s wall", flush=True)
    same = found[1] == found[args.workers]
    print(f"speed-up with {args.workers} workers: {timings[1] / timings[args.workers]:.2f}x; identical results: {same}")
    parts = split(workload, 0.7)
    windows = [parts.train, *([parts.validation] if parts.validation else [])]
    scored = {}
    for workers in (1, args.workers):
        started = time.perf_counter()
        results = replay_windows("gpuscale", demo_params()["gpuscale"], windows, profile, Slo(), settings, workers)
        timings[workers] = time.perf_counter() - started
        scored[workers] = [(r.gpu_hours, r.score.slo_attainment) for r in results]
        print(f"tuner scoring on {len(windows)} windows, workers={workers}: {timings[workers]:.1f} s wall", flush=True)
    same = scored[1] == scored[args.workers]
    print(f"speed-up with {args.workers} workers: {timings[1] / timings[args.workers]:.2f}x; identical results: {same}")


if __name__ == "__main__":
    main()
