"""The oracle as a yardstick: monotone in cold start and never above a plan another method finds.

Each check replays plans in the fleet model on a synthetic burst shape (the oracle's budget schedules
matter most where a uniform headroom over-provisions every minute for a few seconds of burst).
"""

from __future__ import annotations

import numpy as np
import pytest

from simulations.fleet.replay import ReplayResult, ReplaySettings, replay
from simulations.policies.compare import compare, initial_replicas
from simulations.policies.controllers import OracleController, PolicyContext
from simulations.policies.oracle_plans import future_load, per_minute_schedule
from simulations.policies.slo import Slo
from simulations.profiles import ColdStart, ReplicaProfile, load_profile
from simulations.traces.shapes import Shape, synthetic_trace
from simulations.traces.workload import Reshape, TraceWorkload, from_requests

BASE = load_profile("llama3-8b-h100")


def with_cold_start(seconds: float) -> ReplicaProfile:
    return BASE.model_copy(update={"cold_start": ColdStart.fixed(seconds)})


@pytest.fixture(scope="module")
def bursts() -> TraceWorkload:
    trace = synthetic_trace(Shape.BURSTS, 5.0, seed=11)
    return from_requests(trace, Reshape(end_s=1800.0), np.random.default_rng(0))


@pytest.fixture(scope="module")
def oracles(bursts: TraceWorkload) -> dict[float, tuple[ReplayResult, ReplayResult]]:
    """(the oracle, the headroom search's oracle) at 180 s and 200 s of cold start."""
    found = {}
    for cold_start in (180.0, 200.0):
        comparison = compare(bursts, with_cold_start(cold_start), ["oracle"], Slo(), ReplaySettings(seed=0))
        oracle, headroom = comparison.oracle(), comparison.headroom_oracle
        assert oracle is not None and headroom is not None
        found[cold_start] = (oracle, headroom)
    return found


def test_a_longer_cold_start_never_makes_the_oracle_cheaper(
    oracles: dict[float, tuple[ReplayResult, ReplayResult]],
) -> None:
    (fast, _), (slow, _) = oracles[180.0], oracles[200.0]
    assert fast.score.meets_slo and slow.score.meets_slo
    assert fast.gpu_hours <= slow.gpu_hours


def test_the_budget_schedules_beat_the_uniform_headroom_on_bursts(
    oracles: dict[float, tuple[ReplayResult, ReplayResult]],
) -> None:
    for oracle, headroom in oracles.values():
        assert headroom.score.meets_slo
        assert oracle.params["method"] == "budget"
        assert oracle.gpu_hours < headroom.gpu_hours


def test_no_scaled_per_minute_schedule_that_meets_the_slo_is_cheaper_than_the_oracle(
    bursts: TraceWorkload, oracles: dict[float, tuple[ReplayResult, ReplayResult]]
) -> None:
    profile = with_cold_start(180.0)
    context = PolicyContext(
        profile=profile, workload=bursts, initial_replicas=initial_replicas(bursts, profile, 1), seed=0
    )
    met = []
    bins = int(bursts.span_s // 10.0) + 1
    for scale in (0.8, 1.0, 1.25, 1.5, 2.0, 2.5, 3.0, 4.0):
        schedule = per_minute_schedule(future_load(bursts, profile, 60.0), scale, 10.0, bins, 1)
        plan = OracleController(context, schedule, 10.0)
        result = replay(bursts, profile, plan, Slo(), ReplaySettings(seed=0))
        if result.score.meets_slo:
            met.append(result.gpu_hours)
    assert met, "some scale of the per-minute schedule must meet the SLO for the check to mean anything"
    oracle, _ = oracles[180.0]
    assert oracle.gpu_hours <= min(met)
