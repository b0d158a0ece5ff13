"""What is forecast accuracy worth to scaling? The same policy with three forecasters.

Run: python -m benchmarks.forecast_value [--draws N] [--no-real] [CASE-NAME-PART ...]

gpuscale's untuned default is replayed on each case (the synthetic shapes and the real traces' cases of
benchmarks/default_safety.py) three times, changing only the forecaster inside the same ``decide()``:

- default: the profile-guarded online ensemble the live scaler runs (``forecastModel: default``);
- last value: no forecast at all beyond "demand stays where it is" (``forecastModel: last_value``);
- clairvoyant: the demand that will actually arrive, exactly (``simulations.policies.clairvoyant``), with a zero
  band: what a perfect forecast a cold start ahead would buy.

Printed per case: GPU-hours, SLO attainment and peak replicas of each, then the default's GPU-hours
relative to last value and to the clairvoyant. A case that fails to replay is counted, not fatal.
"""

from __future__ import annotations

import sys
import time
import traceback
from collections.abc import Callable, Sequence

from benchmarks._cli import parser
from benchmarks._suite import PROFILE, suite, suite_arguments
from simulations.fleet.replay import ReplayResult, ReplaySettings, replay
from simulations.policies.clairvoyant import Clairvoyant, demand_loads
from simulations.policies.compare import initial_replicas
from simulations.policies.controllers import GpuscaleController, PolicyContext, gpuscale_spec, with_common_params
from simulations.policies.slo import Slo
from simulations.traces.workload import TraceWorkload


def replay_with(workload: TraceWorkload, slo: Slo, seed: int, forecaster: str) -> ReplayResult:
    settings = ReplaySettings(seed=seed)
    context = PolicyContext(
        profile=PROFILE,
        workload=workload,
        initial_replicas=initial_replicas(workload, PROFILE, 1),
        rate_window_s=settings.rate_window_s,
        seed=seed,
    )
    params = {} if forecaster == "clairvoyant" else {"forecast_model": forecaster}
    context = with_common_params("gpuscale", context, params)
    spec = gpuscale_spec(context, params)
    predictor = None
    if forecaster == "clairvoyant":
        step = context.refresh_interval_s
        predictor = Clairvoyant(demand_loads(workload, spec, step, context.rate_window_s), step)
    return replay(workload, PROFILE, GpuscaleController(context, spec, predictor=predictor), slo, settings)


def variants_row(
    label: str,
    workload: TraceWorkload,
    slo: Slo,
    seed: int,
    swaps: Sequence[Callable[[], None]],
    restore: Callable[[], None],
) -> bool:
    """Replay the untuned default once per swap (each puts a variant of some code in place) and print one row
    of GPU-hours, SLO attainment and peak replicas; the lab's comparisons. False (and the traceback) when a
    replay failed: a failing case is a finding, not the end of the run."""
    cells: list[str] = []
    ok = True
    try:
        for swap in swaps:
            swap()
            result = replay_with(workload, slo, seed, "default")
            cells.append(f"{result.gpu_hours:8.2f} {result.score.slo_attainment:8.2%} {result.peak_replicas:4d}")
    except Exception:
        ok = False
        cells.append("ERROR")
        traceback.print_exc()
    finally:
        restore()
    print(f"{label:34s}" + "".join(f"{c:>26s}" for c in cells), flush=True)
    return ok


def main(argv: list[str] | None = None) -> int:
    args = suite_arguments(parser(__doc__, "benchmarks.forecast_value"), 1, argv)
    forecasters = ("default", "last_value", "clairvoyant")
    header = f"{'case':30s}" + "".join(f"{name:>24s}" for name in forecasters) + "  default / last / clairvoyant"
    print(f"gpuscale's default policy; per forecaster: GPU-h, in SLO, peak replicas; profile {PROFILE.name}\n")
    print(header)
    print("-" * len(header))
    errors = 0
    for case, workload, seed in suite(args.draws, args.cases, not args.no_real):
        started = time.time()
        try:
            results = [replay_with(workload, case.slo, seed, name) for name in forecasters]
        except Exception:  # a broken case is a finding, not the end of the run
            errors += 1
            print(f"{case.name:30s} ERROR")
            traceback.print_exc()
            continue
        cells = "".join(
            f"{r.gpu_hours:8.2f} {r.score.slo_attainment:7.2%} {r.peak_replicas:4d}".rjust(24) for r in results
        )
        default, last, perfect = (r.gpu_hours for r in results)
        print(
            f"{case.name:30s}{cells}  {default / last:.2f} / {default / perfect:.2f}  ({time.time() - started:.0f} s)",
            flush=True,
        )
    print(f"\n{errors} errors")
    return 1 if errors else 0


if __name__ == "__main__":
    sys.exit(main())
