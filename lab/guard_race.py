"""Does the daily profile's guard provision for a step that comes at the same time every day?

Run: python -m lab.guard_race [--draws N] [--shared] (from the project root; about 2 minutes, 3 more with
--shared).

The default forecaster raises its forecast to the daily profile's path only at the horizons where that
has had the lower absolute error over about a day (``predictors.ensemble.ProfileGuardedEnsemble``). A step
that comes once a day is a few dozen errors among thousands, so the race can stay off through it. This
script replays the untuned default on synthetic days whose demand changes by the hour, as hourly
aggregated traces do (the rate jumps at every hour boundary), after one day of history, under three
guards swapped in here (never in the product):

- ``race``: the product's guard (absolute error, a half-life of a day);
- ``race-q0.9``: the same race on the pinball loss at 0.9, the quantile the scaler provisions for, so an
  under-forecast counts nine times an over-forecast;
- ``always``: the guard on at every horizon (the profile as a floor, as before issue 30).

Days (hourly rates, each hour times a log-normal factor of sigma 0.15, each day times a factor in
0.8-1.2, all drawn per draw): ``office`` (night at 5 % of the peak, a step to 60 % at 08:00, lunch dip,
evening taper) with the scored day like its history; ``office, an hour late`` where the scored day's
morning step comes at 09:00 (the profile misleads for an hour); ``flat`` (every hour at the same mean:
no daily shape to learn). With ``--shared`` the two day-long cases of ``benchmarks.headline`` are
replayed too (reported, not tuned on). Printed per case: GPU-hours, SLO attainment, peak replicas.
Nothing here was tuned on ../shared/traces/. A failing case is counted.
"""

from __future__ import annotations

import argparse
import functools
import math
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np

from predictors import residuals
from predictors.ensemble import OnlineEnsemble, ProfileGuardedEnsemble
from predictors.forecast import FloatArray

#: Hourly shape of the office day, a share of the peak rate.
OFFICE = [0.05] * 8 + [0.6, 0.9, 1.0, 1.0, 0.5, 0.9, 1.0, 1.0, 0.95, 0.8] + [0.5, 0.35, 0.25, 0.15, 0.1, 0.05]
PEAK_RPS = 60.0


def office_hours(late: bool) -> list[float]:
    if not late:
        return list(OFFICE)
    return [*OFFICE[:8], OFFICE[7], *OFFICE[8:23]]


def day_series(draw: int, scored: list[float], history: list[float]) -> FloatArray:
    """Two days of hourly request counts: ``history`` then ``scored``, each noisy."""
    rng = np.random.default_rng([draw, 0x6A4D])
    days = []
    for shape in (history, scored):
        factor = rng.uniform(0.8, 1.2)
        noise = rng.lognormal(0.0, 0.15, size=24)
        days.append(np.asarray(shape) * factor * noise * PEAK_RPS * 3600.0)
    return np.concatenate(days)


def write_hourly(path: Path, counts: FloatArray) -> None:
    rows = ["day,hour,conversation,api,all"]
    for i, count in enumerate(counts):
        n = round(float(count))
        rows.append(f"{i // 24},{i % 24},{n},0,{n}")
    path.write_text("\n".join(rows) + "\n", encoding="utf-8")


def _race_on_pinball(quantile: float) -> Callable[..., None]:
    def score_and_push(self: residuals.SmoothedErrors, actual: float, paths: FloatArray) -> None:
        if math.isfinite(actual):
            predicted = self._ring.due()
            ok = np.isfinite(predicted).all(axis=0)
            error = actual - np.where(ok, predicted, actual)
            loss = 2.0 * np.maximum(quantile * error, (quantile - 1.0) * error)  # |error| at 0.5
            step = np.where(ok, self._alpha, 0.0)
            self._mean += step * (loss - self._mean)
            self._weight += step * (1.0 - self._weight)
        self._ring.push(paths)

    return score_and_push


def _always_guarded(self: ProfileGuardedEnsemble) -> FloatArray:
    self._guarded = np.ones_like(self._guarded)
    return OnlineEnsemble.weights(self)


#: The product's methods, restored by ``use("race")``.
PRODUCT = (residuals.SmoothedErrors.score_and_push, ProfileGuardedEnsemble.weights)


def use(guard: str) -> None:
    """Swap ``guard`` in for the product's, process-wide."""
    residuals.SmoothedErrors.score_and_push, ProfileGuardedEnsemble.weights = PRODUCT  # type: ignore[method-assign]
    if guard == "race-q0.9":
        residuals.SmoothedErrors.score_and_push = _race_on_pinball(0.9)  # type: ignore[method-assign]
    elif guard == "always":
        ProfileGuardedEnsemble.weights = _always_guarded  # type: ignore[method-assign]


GUARDS = ("race", "race-q0.9", "always")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m lab.guard_race", description=__doc__.split("\n")[0])
    parser.add_argument("--draws", type=int, default=3, help="draws of each synthetic day (default 3)")
    parser.add_argument("--shared", action="store_true", help="also replay the headline's two day-long cases")
    args = parser.parse_args(argv)

    from benchmarks._suite import suite
    from benchmarks.forecast_value import variants_row
    from simulations.policies.slo import Slo
    from simulations.traces.scenario import build_workload
    from simulations.traces.shapes import Shape, synthetic_trace, write_csv
    from simulations.traces.workload import Reshape

    started, errors = time.time(), 0
    days = {
        "office": (office_hours(False), office_hours(False)),
        "office, an hour late": (office_hours(True), office_hours(False)),
        "flat": ([0.6] * 24, [0.6] * 24),
    }
    print(f"{'case':34s}" + "".join(f"{g:>26s}" for g in GUARDS))
    with tempfile.TemporaryDirectory() as folder:
        tokens = Path(folder) / "tokens.csv"
        write_csv(synthetic_trace(Shape.STEP, 5.0, seed=0), str(tokens))
        cases = []
        for name, (scored, history) in days.items():
            for draw in range(args.draws):
                path = Path(folder) / f"{name}-{draw}.csv".replace(" ", "_").replace(",", "")
                write_hourly(path, day_series(draw, scored, history))
                reshape = Reshape(start_s=86_400.0, end_s=2 * 86_400.0)
                workload = build_workload(path, reshape, draw, str(tokens), "conversation", 86_400.0)
                cases.append((f"{name} #{draw}", workload, Slo(ttft_s=2.0), draw))
        if args.shared:
            cases += [(c.name, w, c.slo, seed) for c, w, seed in suite(1, ["1 day"], True)]
        swaps = [functools.partial(use, guard) for guard in GUARDS]
        for name, workload, slo, seed in cases:
            errors += not variants_row(name, workload, slo, seed, swaps, functools.partial(use, "race"))
    print(f"\nGPU-h, in SLO, peak replicas; {errors} errors, {time.time() - started:.0f} s")
    return 1 if errors else 0


if __name__ == "__main__":
    raise SystemExit(main())
