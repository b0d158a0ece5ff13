"""Should the forecast's quantile band adapt faster after a level shift? Four candidates against the window.

Run: python -m lab.band_adaptation [--draws N] [--suite] (from the project root; about 2 minutes, 4 with
--suite).

The product's band (``predictors.residuals.ResidualBands``) is the empirical quantile of the last 256 errors
per horizon: after a level shift it keeps the old regime's errors until they leave the window. Candidates,
each a drop-in replacement for that class (swapped in here, never in the product):

- ``tracked-max``: once the window is full, each new error moves the band by the pinball loss's gradient
  (quantile tracking, Angelopoulos, Candes and Tibshirani, "Conformal PID control for time series
  prediction", NeurIPS 2023), the step 0.05 times a running maximum of |error| (half-life 64 updates);
- ``tracked-mean``: the same, the step 0.1 times the window's mean |error| (refreshed with the window);
- ``normalized``: errors divided by the local scale at forecast time (a running mean of |change| with a
  half-life of 64 steps, at least a quarter of the same with a half-life of 1,024), the band multiplied by
  today's scale (locally weighted conformal, Lei et al., JASA 2018, section 5.2);
- ``decayed-32``, ``decayed-64``: the window's errors weighted by age (half-lives of 32 and 64 updates), a
  weighted quantile (Barber, Candes, Ramdas and Tibshirani, Annals of Statistics 2023).

Part 1 feeds synthetic series (10 s steps, 120-step paths, as the scaler runs) to the default forecaster
and prints the p90 band's coverage at 1, 6, 20 and 60 steps ahead, overall and in the 360 steps after the
shift, and for a drop to zero how many steps the band's 20-step peak needs to fall below one. Part 2
replays the untuned default policy on long level-shift workloads (two hours at one rate, then an hour at
each of four others; several draws) and, with ``--suite``, the suite's cases, printing GPU-hours and SLO
attainment per candidate. Nothing here was tuned on ../shared/traces/. A failing row is counted.
"""

from __future__ import annotations

import argparse
import functools
import math
import time
import traceback
from collections.abc import Callable, Sequence
from typing import Any

import numpy as np

import predictors.base
from predictors.forecast import FloatArray
from predictors.registry import create_predictor
from predictors.residuals import DEFAULT_RESIDUAL_WINDOW, MIN_ERRORS, ResidualBands

#: The probabilities a tracked band follows (the scaler's and the backtest's); others keep the window's.
TRACKED_PROBS = (0.5, 0.9, 0.95)


class _Tracked(ResidualBands):
    """The window's band until the window is full, then moved by one pinball-gradient step per error."""

    rate = 0.0

    def __init__(self, max_horizon: int, window: int = DEFAULT_RESIDUAL_WINDOW, refresh_every: int = 32) -> None:
        super().__init__(max_horizon, window, refresh_every)
        anchors = self._counts.size
        self._tracked = np.full((len(TRACKED_PROBS), anchors), np.nan)
        self._p = np.array(TRACKED_PROBS)[:, None]
        self._largest = np.zeros(anchors)

    def _step_scale(self, anchors: np.ndarray[Any, Any], errors: FloatArray) -> FloatArray:
        raise NotImplementedError

    def score_and_push(self, actual: float, path: FloatArray) -> None:
        before = self._counts.copy()
        super().score_and_push(actual, path)
        anchors = np.nonzero(self._counts > before)[0]
        if anchors.size == 0:
            return
        errors = self._errors[anchors, (self._counts[anchors] - 1) % self.window]
        scale = self._step_scale(anchors, errors)
        tracked = self._tracked[:, anchors]
        tracked += self.rate * scale * (self._p - (errors[None, :] <= tracked))
        self._tracked[:, anchors] = tracked
        for a in anchors[np.isnan(tracked[0]) & (self._counts[anchors] >= self.window)]:
            self._tracked[:, a] = np.quantile(self._errors[a], TRACKED_PROBS)
            self._largest[a] = np.abs(self._errors[a]).max()
        self._bands = {}

    def _learned(self, probs: tuple[float, ...]) -> FloatArray:
        out = super()._learned(probs).copy()
        for i, p in enumerate(probs):
            if p in TRACKED_PROBS:
                row = self._tracked[TRACKED_PROBS.index(p)]
                out[i] = np.where(np.isnan(row), out[i], row)
        return out


class TrackedMax(_Tracked):
    rate = 0.05

    def _step_scale(self, anchors: np.ndarray[Any, Any], errors: FloatArray) -> FloatArray:
        largest = self._largest[anchors] * 0.5 ** (1.0 / 64.0)
        largest = np.maximum(largest, np.abs(errors))
        self._largest[anchors] = largest
        return np.asarray(largest, dtype=np.float64)


class TrackedMean(_Tracked):
    rate = 0.1

    def _step_scale(self, anchors: np.ndarray[Any, Any], errors: FloatArray) -> FloatArray:
        self._since = getattr(self, "_since", 0) + 1
        if self._since >= self.refresh_every or not self._largest[anchors].all():  # as often as the window
            self._since = 0
            for a in anchors:
                self._largest[a] = np.mean(np.abs(self._errors[a, : min(self._counts[a], self.window)]))
        return np.asarray(self._largest[anchors], dtype=np.float64)


class Normalized(ResidualBands):
    """Errors in units of the local scale at forecast time; the band in today's."""

    def __init__(self, max_horizon: int, window: int = DEFAULT_RESIDUAL_WINDOW, refresh_every: int = 32) -> None:
        super().__init__(max_horizon, window, refresh_every)
        self._short, self._long = 1.0 - 0.5 ** (1.0 / 64.0), 1.0 - 0.5 ** (1.0 / 1024.0)
        self._mean = np.zeros(2)  # running mean |change|: short, long
        self._weight = np.zeros(2)
        self._last = math.nan
        self._scales = np.full(max_horizon, np.nan)  # the scale each pending path was made at
        self._head = 0

    def scale_now(self) -> float:
        if self._weight[0] == 0:
            return 1e-9
        short, long = self._mean / self._weight
        return max(float(short), 0.25 * float(long), 1e-9)

    def score_and_push(self, actual: float, path: FloatArray) -> None:
        if math.isfinite(actual):
            if math.isfinite(self._last):
                rates = np.array([self._short, self._long])
                self._mean += rates * (abs(actual - self._last) - self._mean)
                self._weight += rates * (1.0 - self._weight)
            self._last = actual
            if self._ring.pushed:
                predicted = self._ring.due()[0]
                scales = self._scales[(self._head - self._table.steps) % self.max_horizon]
                scored = np.nonzero(np.isfinite(predicted) & np.isfinite(scales))[0]
                slots = self._counts[scored] % self.window
                self._errors[scored, slots] = (actual - predicted[scored]) / scales[scored]
                self._counts[scored] += 1
                self._scored_since_refresh += 1
        self._bands = {}
        self._ring.push(path[None, :])
        self._head = (self._head + 1) % self.max_horizon
        self._scales[self._head] = self.scale_now()

    def _learned(self, probs: tuple[float, ...]) -> FloatArray:
        return super()._learned(probs) * self.scale_now()


class _Decayed(ResidualBands):
    """The window's errors weighted by age, the newest 1 and each older one by ``0.5 ** (1 / half_life)``
    more: a weighted quantile (conformal prediction with fixed weights, Barber, Candes, Ramdas and
    Tibshirani, "Conformal prediction beyond exchangeability", Annals of Statistics 2023)."""

    half_life = 0.0

    def _learned(self, probs: tuple[float, ...]) -> FloatArray:
        """The window's refresh rule and cache; each learned anchor's quantiles then weighted by age."""
        stale = probs not in self._cache or self._scored_since_refresh >= self.refresh_every
        out = super()._learned(probs)
        if not stale:
            return out
        decay = 0.5 ** (1.0 / self.half_life)
        for a in np.nonzero(~np.isnan(out[0]))[0]:
            n = int(min(self._counts[a], self.window))
            errors = self._errors[a, :n]
            ages = (int(self._counts[a]) - 1 - np.arange(n)) % self.window
            order = np.argsort(errors)
            cumulative = np.cumsum(decay ** ages[order])
            ranks = np.searchsorted(cumulative, np.array(probs) * cumulative[-1])
            out[:, a] = errors[order][np.minimum(ranks, n - 1)]
        return out


def _decayed(half_life: float) -> type[ResidualBands]:
    return type(f"Decayed{half_life:g}", (_Decayed,), {"half_life": half_life})


CANDIDATES: dict[str, type[ResidualBands]] = {
    "window": ResidualBands,
    "tracked-max": TrackedMax,
    "tracked-mean": TrackedMean,
    "normalized": Normalized,
    "decayed-32": _decayed(32.0),
    "decayed-64": _decayed(64.0),
}


def use(bands: type[ResidualBands]) -> None:
    """Every predictor made from now on keeps its errors in ``bands``."""
    setattr(predictors.base, "ResidualBands", bands)  # noqa: B010 (the name base.py resolves at call time)


def _poisson_rate(rng: np.random.Generator, levels: FloatArray, step_s: float = 10.0) -> FloatArray:
    return np.asarray(rng.poisson(levels * step_s) / step_s, dtype=np.float64)


def synthetic_series(seed: int) -> dict[str, tuple[FloatArray, int]]:
    """Series and the step at which each one's shift happens (0: no shift)."""
    rng = np.random.default_rng(seed)
    bursts = np.full(1800, 2.0)
    for start in range(0, 1800, 30):
        bursts[start : start + 6] = 10.0
    return {
        "ramp, then 0": (np.concatenate([np.ones(360), np.linspace(1, 14, 180), np.zeros(360)]), 540),
        "x10 up": (_poisson_rate(rng, np.repeat([2.0, 20.0], [1080, 720])), 1080),
        "x10 down": (_poisson_rate(rng, np.repeat([20.0, 2.0], [1080, 720])), 1080),
        "noise x10, same mean": (
            5 * np.exp(np.concatenate([rng.normal(0, 0.05, 1080), rng.normal(0, 0.5, 720)])),
            1080,
        ),
        "idle, then 10": (np.concatenate([np.zeros(1200), _poisson_rate(rng, np.full(600, 10.0))]), 1200),
        "stationary": (_poisson_rate(rng, np.full(1800, 5.0)), 0),
        "bursts": (_poisson_rate(rng, bursts), 0),
    }


def band_row(series: FloatArray, shift: int, horizon: int = 120, cold_steps: int = 20) -> str:
    model = create_predictor("default", step_s=10.0, max_horizon=horizon, quantiles=TRACKED_PROBS)
    n = series.shape[0]
    q90 = np.zeros((n, horizon))
    for t, value in enumerate(series):
        model.update(float(value))
        q90[t] = model.forecast(horizon).quantiles[0.9]
    cells = []
    for h in (1, 6, 20, 60):
        covered = series[h:] <= q90[: n - h, h - 1]
        after = f"/{covered[shift : shift + 360].mean():.2f}" if shift else ""
        cells.append(f"{covered.mean():.2f}{after}")
    if series[-1] == 0:
        peak = q90[shift:, :cold_steps].max(axis=1)
        cells.append(f"{int(np.argmax(peak < 1.0)) if (peak < 1.0).any() else -1} steps")
    elif shift and series[shift - 1] == 0:
        cells.append(f"{q90[shift + 60, cold_steps - 1]:.1f} at +60")
    return "  ".join(f"{c:>10s}" for c in cells)


def level_shift_workloads(draws: int) -> list[tuple[str, Any]]:
    from simulations.traces.base import RequestTrace
    from simulations.traces.shapes import (
        OUTPUT_CAP,
        OUTPUT_MEDIAN,
        OUTPUT_SIGMA,
        PROMPT_CAP,
        PROMPT_MEDIAN,
        PROMPT_SIGMA,
    )
    from simulations.traces.workload import Reshape, from_requests

    shapes = {
        "up, down": [(7200, 10.0), (3600, 40.0), (3600, 10.0), (3600, 25.0), (3600, 5.0)],
        "down, up": [(7200, 40.0), (3600, 10.0), (3600, 40.0), (3600, 8.0), (3600, 30.0)],
    }
    out = []
    for name, levels in shapes.items():
        for draw in range(draws):
            rng = np.random.default_rng([draw, 77])
            starts = np.cumsum([0.0] + [d for d, _ in levels])
            arrival = np.sort(
                np.concatenate(
                    [rng.uniform(s, s + d, rng.poisson(r * d)) for s, (d, r) in zip(starts, levels, strict=False)]
                )
            )
            n = arrival.size
            prompt = np.clip(rng.lognormal(math.log(PROMPT_MEDIAN), PROMPT_SIGMA, n), 1, PROMPT_CAP)
            output = np.clip(rng.lognormal(math.log(OUTPUT_MEDIAN), OUTPUT_SIGMA, n), 1, OUTPUT_CAP)
            trace = RequestTrace(
                name=name,
                arrival_s=arrival,
                prompt_tokens=prompt.astype(np.int64),
                output_tokens=output.astype(np.int64),
                source=f"lab.band_adaptation {name}, draw {draw}",
            )
            out.append((f"{name} #{draw}", from_requests(trace, Reshape(), np.random.default_rng(draw))))
    return out


def _each(rows: Sequence[tuple[str, Callable[[], str]]]) -> int:
    errors = 0
    for label, row in rows:
        try:
            print(f"{label:34s}{row()}", flush=True)
        except Exception:  # a failing row is a finding, not the end of the run
            errors += 1
            print(f"{label:34s}ERROR")
            traceback.print_exc()
    return errors


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m lab.band_adaptation", description=__doc__.split("\n")[0])
    parser.add_argument("--draws", type=int, default=3, help="draws of each level-shift workload (default 3)")
    parser.add_argument("--suite", action="store_true", help="also replay the suite's cases (benchmarks._suite)")
    parser.add_argument(
        "--candidates", nargs="+", choices=list(CANDIDATES), default=list(CANDIDATES), help="bands to compare"
    )
    parser.add_argument("--no-series", action="store_true", help="skip part 1 (the synthetic series)")
    args = parser.parse_args(argv)
    chosen = {name: CANDIDATES[name] for name in ["window", *args.candidates] if name in CANDIDATES}
    started = time.time()
    errors = 0
    print(f"p90 coverage at 1/6/20/60 steps, overall/after the shift (minimum {MIN_ERRORS} errors per band)\n")
    for name, (series, shift) in ({} if args.no_series else synthetic_series(1)).items():
        print(name)
        for candidate, bands in chosen.items():
            use(bands)
            errors += _each([(f"  {candidate}", functools.partial(band_row, series, shift))])
    use(ResidualBands)

    from benchmarks._suite import suite
    from benchmarks.forecast_value import replay_with
    from simulations.policies.slo import Slo

    workloads = [(name, w, Slo(), 0) for name, w in level_shift_workloads(args.draws)]
    if args.suite:
        workloads += [(case.name, w, case.slo, seed) for case, w, seed in suite(1, [], True)]
    print("\nThe default policy: GPU-hours, SLO attainment; ratio of GPU-hours to the window's\n")
    print(f"{'workload':34s}" + "".join(f"{c:>28s}" for c in chosen))
    for name, workload, slo, seed in workloads:
        cells: list[str] = []
        base = math.nan
        try:
            for candidate, bands in chosen.items():
                use(bands)
                result = replay_with(workload, slo, seed, "default")
                base = result.gpu_hours if candidate == "window" else base
                ratio = result.gpu_hours / base
                cells.append(f"{result.gpu_hours:8.2f} {result.score.slo_attainment:8.2%} {ratio:5.2f}".rjust(28))
        except Exception:
            errors += 1
            cells.append("ERROR")
            traceback.print_exc()
        finally:
            use(ResidualBands)
        print(f"{name:34s}" + "".join(cells), flush=True)
    print(f"\n{errors} errors, {time.time() - started:.0f} s")
    return 1 if errors else 0


if __name__ == "__main__":
    raise SystemExit(main())
