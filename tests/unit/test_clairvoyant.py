"""The clairvoyant forecaster: the truth, indexed by time, whatever it is fed."""

from __future__ import annotations

import math

import numpy as np
import pytest

from scaler.policy import PolicySpec
from simulations.policies.clairvoyant import Clairvoyant, demand_loads
from simulations.traces.workload import TraceWorkload


def test_it_forecasts_the_steps_after_the_one_just_seen_and_gaps_are_time() -> None:
    truth = np.arange(10, dtype=float) * 1.5
    model = Clairvoyant(truth, 10.0, max_horizon=4)
    model.fit([7.0, 7.0, 7.0])  # history before the window: ignored, time starts at 0
    model.update(123.0)  # what it is fed does not matter: step 0 seen
    assert model.forecast(3).mean.tolist() == [1.5, 3.0, 4.5]
    model.update(math.nan)  # a gap is a step of time too
    forecast = model.forecast(2)
    assert forecast.mean.tolist() == [3.0, 4.5]
    assert all(path.tolist() == [3.0, 4.5] for path in forecast.quantiles.values())
    for _ in range(10):
        model.update(0.0)
    assert model.forecast(2).mean.tolist() == [13.5, 13.5]  # past the end: the last value holds


def test_demand_loads_are_the_windowed_token_rate_at_the_targets() -> None:
    """Two requests at 5 s and 25 s: each 1000 prompt and 100 output tokens; targets 1000 and 100 tokens/s
    per replica make each request 2 replica-seconds; over a 20 s window, 0.1 replicas per request inside."""
    workload = TraceWorkload(
        "two", np.asarray([5.0, 25.0]), np.asarray([1000, 1000]), np.asarray([100, 100]), scored_from_s=0.0
    )
    spec = PolicySpec(target_prompt_tps_per_replica=1000.0, target_generation_tps_per_replica=100.0)
    loads = demand_loads(workload, spec, 10.0, 20.0)
    assert loads.tolist() == pytest.approx([0.1, 0.1, 0.1, 0.1])
