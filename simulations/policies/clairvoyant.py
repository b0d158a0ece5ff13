"""A forecaster that knows the future: the simulator's yardstick for what forecast accuracy is worth.

It forecasts the demand that will arrive, in the load the live forecaster learns (prompt and output tokens
per second at the policy's targets, as a ``rate()`` over the same window sees them), exactly: every path
is the truth and every quantile equals it. Replayed through the same ``decide()`` as the real forecaster,
the difference in GPU-hours and attainment is what a perfect forecast would buy, and the difference to
``last_value`` what the real one buys (``benchmarks/forecast_value.py``). Never used by the live scaler.
"""

from __future__ import annotations

import math

import numpy as np

from predictors.base import Predictor
from predictors.forecast import FloatArray, Forecast
from scaler.policy import PolicySpec
from simulations.traces.workload import TraceWorkload


def demand_loads(workload: TraceWorkload, spec: PolicySpec, step_s: float, window_s: float) -> FloatArray:
    """Arriving demand at the end of each step, as ``rate()`` over ``window_s`` would read it once served:
    prompt tokens / target + output tokens / target, in replicas."""
    steps = int(workload.span_s // step_s) + 2
    index = np.minimum((workload.arrival_s // step_s).astype(np.int64), steps - 1)
    tokens = np.bincount(index, weights=workload.prompt_tokens, minlength=steps) / spec.target_prompt_tps_per_replica
    tokens += (
        np.bincount(index, weights=workload.output_tokens, minlength=steps) / spec.target_generation_tps_per_replica
    )
    per_window = max(1, round(window_s / step_s))
    summed = np.convolve(tokens, np.ones(per_window))[:steps]  # the window ending at each step
    loads: FloatArray = summed / (per_window * step_s)
    return loads


class Clairvoyant(Predictor):
    """Forecasts ``loads`` (one value per step from t = 0) exactly; learns nothing from what it is fed."""

    name = "clairvoyant"

    def __init__(self, loads: FloatArray, step_s: float, max_horizon: int = 120) -> None:
        self._loads = np.asarray(loads, dtype=np.float64)
        super().__init__(step_s, max_horizon)

    def _reset_model(self) -> None:
        self._steps_seen = 0

    def _observe(self, value: float) -> None:
        return None

    def fit(self, history: object) -> None:
        """The truth needs no past: the history before the window is ignored, and time starts at 0."""
        self.reset()

    def update(self, value: float) -> None:
        """Every call is one step of time, a gap included: the truth is indexed by time, not by samples."""
        self.learn(value)
        self._steps_seen += 1
        if not math.isfinite(value):
            self.observations += 1  # it forecasts through a gap as well as anywhere

    def _point(self, steps: int) -> FloatArray:
        now = self._steps_seen - 1  # the step just observed
        ahead = np.arange(now + 1, now + 1 + steps)
        path: FloatArray = self._loads[np.minimum(ahead, self._loads.shape[0] - 1)]
        return path

    def forecast(self, steps: int) -> Forecast:
        if steps < 1:
            raise ValueError(f"steps must be >= 1, got {steps}")
        truth = self._point(steps)
        return Forecast(
            step_s=self.step_s, mean=truth, quantiles={q: truth for q in self.quantile_probs}, model=self.name
        )
