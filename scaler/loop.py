"""One workload's decision loop: snapshot -> demand -> forecaster -> ``decide()``.

The live collector and the simulator both drive a ``DecisionLoop`` per workload, so
the forecaster is fed and consulted the same way in both; a behaviour only one of
them had would be a defect (DESIGN.md). No I/O and no clock: ``now`` is passed in.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

from predictors import create_predictor
from predictors.base import Predictor
from predictors.residuals import MIN_ERRORS
from scaler.decide import decide, resolve_horizon
from scaler.decision import Decision, DecisionState
from scaler.policy import PolicySpec
from scaler.snapshot import Snapshot, demand_load

#: Fewest errors per horizon a band is learned from (a slow refresh with a short memory): twice the
#: errors a band needs before it replaces the model's own spread.
MIN_ERROR_WINDOW = 2 * MIN_ERRORS
#: Most errors per horizon (a fast refresh with a long memory): every model keeps a ring of this many per
#: horizon step, so memory and the bands' refresh grow with it.
MAX_ERROR_WINDOW = 4096


def _release_quantiles(spec: PolicySpec) -> set[float]:
    q = spec.scale_down_forecast_quantile
    return set() if q is None else {q}


def error_window(spec: PolicySpec, step_s: float) -> int:
    """Forecast errors remembered per horizon: the policy's memory in steps, bounded both ways."""
    return min(MAX_ERROR_WINDOW, max(MIN_ERROR_WINDOW, round(spec.forecast_error_memory_s / step_s)))


class DecisionLoop:
    """The explicit state carried between decisions: forecaster, decision state, last sample time."""

    def __init__(
        self, spec: PolicySpec, step_s: float, max_horizon_steps: int, predictor: Predictor | None = None
    ) -> None:
        """``predictor`` replaces the spec's forecaster (the simulator's clairvoyant one measures what a
        perfect forecast would be worth); the live scaler never passes one."""
        self.spec = spec
        self.predictor = predictor or create_predictor(
            spec.forecast_model,
            step_s=step_s,
            max_horizon=max_horizon_steps,
            quantiles=sorted({0.5, 0.9, 0.95, spec.forecast_quantile} | _release_quantiles(spec)),
            residual_window=error_window(spec, step_s),
        )
        self.max_horizon_steps = max_horizon_steps
        self.state = DecisionState()
        self.last_observed_at: float | None = None

    def load(self, snapshot: Snapshot) -> float | None:
        """The demand the forecaster learns: token load in replicas at the policy's targets."""
        return demand_load(
            snapshot, self.spec.target_generation_tps_per_replica, self.spec.target_prompt_tps_per_replica
        )

    def fit_history(self, loads: Sequence[float]) -> None:
        """Start the forecaster from past demand (NaN marks gaps), e.g. after a restart."""
        self.predictor.fit(loads)

    def step(self, snapshot: Snapshot, now: float) -> Decision:
        """Learn from ``snapshot`` if it carries a new sample, forecast to the horizon, decide."""
        new_sample = snapshot.observed_at is not None and (
            self.last_observed_at is None or snapshot.observed_at > self.last_observed_at
        )
        load = self.load(snapshot)
        # A step without a new sample is a gap: time passes, nothing is learned.
        self.predictor.update(load if (new_sample and load is not None) else math.nan)
        if new_sample:
            self.last_observed_at = snapshot.observed_at
        horizon_s, _ = resolve_horizon(self.spec, snapshot)
        steps = min(self.max_horizon_steps, max(1, math.ceil(horizon_s / self.predictor.step_s)))
        forecast = self.predictor.forecast(steps) if self.predictor.observations > 0 else None
        decision, self.state = decide(snapshot, forecast, self.state, self.spec, now)
        return decision
