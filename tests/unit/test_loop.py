"""DecisionLoop: the forecaster learns each sample once, and a step without a new sample is a gap."""

from __future__ import annotations

import pytest

from predictors.ensemble import OnlineEnsemble
from scaler.decision import Ask
from scaler.loop import MAX_ERROR_WINDOW, MIN_ERROR_WINDOW, DecisionLoop, error_window
from scaler.policy import PolicySpec
from scaler.snapshot import Replicas, ReplicaSource, Signal, Snapshot


def _snap(at: float, gen_tps: float) -> Snapshot:
    signals = {Signal.QUEUE: 0.0, Signal.GENERATION_TPS: gen_tps, Signal.KV_CACHE_USAGE: 0.2}
    return Snapshot(observed_at=at, signals=signals, replicas=Replicas(2, 2, 0, ReplicaSource.METRICS))


def test_each_sample_is_learned_once_and_repeats_are_gaps() -> None:
    loop = DecisionLoop(PolicySpec(forecast_horizon_s=30), step_s=10.0, max_horizon_steps=6)
    first = loop.step(_snap(100.0, 3000.0), now=101.0)
    assert loop.predictor.observations == 1 and loop.last_observed_at == 100.0
    assert first.demand_load == 2.0 and first.replicas == 2
    loop.step(_snap(100.0, 3000.0), now=111.0)  # the same sample again: time passes, nothing learned
    assert loop.predictor.observations == 1
    third = loop.step(_snap(110.0, 4500.0), now=112.0)
    assert loop.predictor.observations == 2 and loop.last_observed_at == 110.0
    assert third.asks[Ask.THROUGHPUT] == 3  # 4500 tok/s at 1500 per replica
    assert loop.state.last_published == third.replicas == max(third.asks.values())


def test_history_fit_then_step_forecasts_from_the_history() -> None:
    loop = DecisionLoop(PolicySpec(forecast_horizon_s=30), step_s=10.0, max_horizon_steps=6)
    loop.fit_history([2.0] * 100)
    decision = loop.step(_snap(1000.0, 3000.0), now=1001.0)
    assert decision.forecast_mean == 2.0 and decision.forecast_model == "profile_guarded"


ERROR_WINDOW_CASES = [
    ("the default memory at the default refresh", 2560.0, 10.0, 256),
    ("a shorter memory", 640.0, 10.0, 64),
    ("a faster refresh remembers more errors for the same time", 2560.0, 1.0, 2560),
    ("a slow refresh with a short memory keeps the fewest a band needs", 300.0, 300.0, MIN_ERROR_WINDOW),
    ("a fast refresh with a long memory is capped", 7200.0, 1.0, MAX_ERROR_WINDOW),
]


@pytest.mark.parametrize(
    ("memory_s", "step_s", "window"), [c[1:] for c in ERROR_WINDOW_CASES], ids=[c[0] for c in ERROR_WINDOW_CASES]
)
def test_error_memory_in_seconds_becomes_errors_per_horizon(memory_s: float, step_s: float, window: int) -> None:
    spec = PolicySpec(forecast_error_memory_s=memory_s)
    assert error_window(spec, step_s) == window
    loop = DecisionLoop(spec, step_s=step_s, max_horizon_steps=6)
    assert isinstance(loop.predictor, OnlineEnsemble)
    # the combination's bands, its member weights and every member's bands share the one memory
    assert loop.predictor._bands.window == window
    assert loop.predictor._errors.window == window
    assert {member._bands.window for member in loop.predictor.members} == {window}


def test_a_shorter_error_memory_forgets_a_noisy_hour_sooner() -> None:
    """After noise then calm, the short memory's band has only calm errors left; the default's has not."""
    noisy = [10.0 + (6.0 if i % 2 else -6.0) for i in range(400)]
    calm = [10.0] * 100
    widths = {}
    for memory_s in (640.0, 2560.0):
        loop = DecisionLoop(PolicySpec(forecast_error_memory_s=memory_s), step_s=10.0, max_horizon_steps=6)
        loop.fit_history(noisy + calm)
        forecast = loop.predictor.forecast(3)
        widths[memory_s] = forecast.quantile_at(0.9, 30.0) - forecast.mean_at(30.0)
    assert widths[640.0] == 0.0 and widths[2560.0] > 1.0, widths
