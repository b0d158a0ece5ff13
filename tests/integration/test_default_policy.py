"""The untuned default on a synthetic 3x step: the backlog that builds while new pods are Pending no
longer buys the fleet that arrives after it drained (issue 31's queue trap)."""

from __future__ import annotations

import numpy as np

from simulations.fleet.replay import ReplaySettings
from simulations.policies.compare import compare
from simulations.policies.slo import Slo
from simulations.profiles import load_profile
from simulations.traces.shapes import Shape, synthetic_trace
from simulations.traces.workload import Reshape, from_requests

PROFILE = load_profile("llama3-8b-h100")


def test_a_step_does_not_buy_a_fleet_for_its_backlog() -> None:
    step = from_requests(synthetic_trace(Shape.STEP, 12.0, seed=5), Reshape(), np.random.default_rng(5))
    settings = ReplaySettings(seed=5)
    default = compare(step, PROFILE, ["gpuscale", "oracle"], Slo(), settings)
    rows = {r["name"]: r for r in default.to_json()["policies"]}
    keda_formula = compare(step, PROFILE, ["gpuscale"], Slo(), settings, params={"gpuscale": {"queue_drain_s": None}})
    trapped = keda_formula.to_json()["policies"][0]
    oracle_peak = rows["oracle"]["peak_replicas"]
    assert rows["gpuscale"]["peak_replicas"] <= 2 * oracle_peak
    assert trapped["peak_replicas"] > 5 * oracle_peak  # KEDA's formula: one replica per 32 waiting
    assert rows["gpuscale"]["gpu_hours"] < 0.7 * trapped["gpu_hours"]
