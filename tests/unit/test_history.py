"""What a scaler running before the replay window had already seen: token history, its windows, its use."""

from __future__ import annotations

import numpy as np
import pytest

from scaler.policy import PolicySpec
from simulations.policies.controllers import GpuscaleController, PolicyContext
from simulations.profiles import load_profile
from simulations.traces.scenario import build_workload
from simulations.traces.workload import Reshape, TokenHistory, TraceWorkload, token_history
from simulations.tuning.job import split

PROFILE = load_profile("llama3-8b-h100")


def _workload(arrival: list[float], prompt: list[int], output: list[int]) -> TraceWorkload:
    return TraceWorkload("w", np.array(arrival), np.array(prompt, np.int64), np.array(output, np.int64))


def test_token_history_bins_tokens_per_second_per_step() -> None:
    history = token_history(_workload([1.0, 5.0, 12.0, 25.0], [100, 100, 50, 999], [10, 10, 5, 999]), 20.0)
    assert history.step_s == 10.0 and history.span_s == 20.0
    np.testing.assert_array_equal(history.prompt_tps, [20.0, 5.0])  # the request at 25 s is past the span
    np.testing.assert_array_equal(history.output_tps, [2.0, 0.5])


@pytest.mark.parametrize(
    ("case", "step_s", "rate_window_s", "expected"),
    [
        ("refresh step equals the history step, no smoothing", 10.0, 10.0, [1.0, 2.0, 3.0, 4.0]),
        ("a trailing rate() window averages what it covers", 10.0, 20.0, [1.0, 1.5, 2.5, 3.5]),
        ("a coarser refresh reads the end of each of its steps", 20.0, 20.0, [1.5, 3.5]),
    ],
)
def test_history_loads_are_what_the_live_loop_would_have_read(
    case: str, step_s: float, rate_window_s: float, expected: list[float]
) -> None:
    history = TokenHistory(10.0, np.array([100.0, 200.0, 300.0, 400.0]), np.zeros(4))
    assert history.loads(1500.0, 100.0, step_s, rate_window_s) == pytest.approx(expected), case


def test_history_refuses_a_refresh_step_it_cannot_build() -> None:
    with pytest.raises(ValueError) as err:
        TokenHistory(10.0, np.zeros(3), np.zeros(3)).loads(1.0, 1.0, 15.0, 60.0)
    assert str(err.value) == "history step 10 s does not divide the refresh step 15 s"


def test_build_workload_keeps_the_trace_before_the_window_as_history(tmp_path) -> None:  # type: ignore[no-untyped-def]
    trace = tmp_path / "t.csv"
    rows = [(t, 1000 + t, 10) for t in range(0, 300, 5)]
    trace.write_text("arrival_s,prompt_tokens,output_tokens\n" + "".join(f"{a},{p},{o}\n" for a, p, o in rows))
    workload = build_workload(trace, Reshape(start_s=200.0), 0, history_s=150.0)
    assert workload.history is not None and workload.history.span_s == 150.0
    before = [p for a, p, _ in rows if 50 <= a < 200]
    assert workload.history.prompt_tps.sum() * 10.0 == pytest.approx(sum(before))
    assert build_workload(trace, Reshape(start_s=200.0), 0).history is None
    assert build_workload(trace, Reshape(), 0, history_s=150.0).history is None  # nothing before the start
    with pytest.raises(ValueError) as err:
        build_workload(trace, Reshape(), 0, history_s=-1.0)
    assert str(err.value) == "history must be >= 0 seconds, got -1.0"


def test_the_validation_window_is_the_whole_trace_scored_from_the_cut() -> None:
    """Every policy reaches the held-out part as it would running: through the training part (a warm-up)
    with the history before it, not from a fresh fleet at the cut."""
    history = TokenHistory(10.0, np.array([7.0, 7.0]), np.array([1.0, 1.0]))
    workload = _workload([0.0, 15.0, 60.0, 95.0], [100, 100, 100, 100], [10, 10, 10, 10])
    parts = split(
        TraceWorkload(workload.name, workload.arrival_s, workload.prompt_tokens, workload.output_tokens, history), 0.5
    )
    assert parts.train.history is history
    np.testing.assert_array_equal(parts.train.arrival_s, [0.0, 15.0])
    assert parts.train.scored_from_s == 0.0 and parts.train.scored_requests == 2
    validation = parts.validation
    assert validation is not None and validation.history is history
    assert validation.name == "w (validation)"
    np.testing.assert_array_equal(validation.arrival_s, workload.arrival_s)
    assert validation.scored_from_s == 47.5
    assert validation.scored.tolist() == [False, False, True, True]
    assert (validation.scored_requests, validation.scored_span_s) == (2, 47.5)
    assert split(workload, 1.0).validation is None


def test_gpuscale_starts_with_the_history_in_its_forecaster() -> None:
    workload = _workload([0.0, 1.0], [10, 10], [1, 1])
    history = TokenHistory(10.0, np.full(360, 3000.0), np.full(360, 150.0))
    context = PolicyContext(
        PROFILE, TraceWorkload("w", workload.arrival_s, workload.prompt_tokens, workload.output_tokens, history)
    )
    spec = PolicySpec(target_prompt_tps_per_replica=1000.0, target_generation_tps_per_replica=100.0)
    controller = GpuscaleController(context, spec)
    assert controller.loop.predictor.observations == 360
    assert controller.loop.predictor.forecast(1).mean[0] == pytest.approx(4.5)  # 3 + 1.5 replicas of load
