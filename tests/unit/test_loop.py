"""DecisionLoop: the forecaster learns each sample once, and a step without a new sample is a gap."""

from __future__ import annotations

from scaler.decision import Ask
from scaler.loop import DecisionLoop
from scaler.policy import PolicySpec
from scaler.snapshot import Replicas, Signal, Snapshot


def _snap(at: float, gen_tps: float) -> Snapshot:
    signals = {Signal.QUEUE: 0.0, Signal.GENERATION_TPS: gen_tps, Signal.KV_CACHE_USAGE: 0.2}
    return Snapshot(observed_at=at, signals=signals, replicas=Replicas(2, 2, 0, "metrics"))


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
