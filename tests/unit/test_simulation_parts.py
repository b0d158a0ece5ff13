"""Pure pieces of the simulator: workload reshaping, Prometheus-style rate(), profiles, flaps, SLO."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import numpy as np
import pytest

from simulations.fleet.model import RequestLog
from simulations.fleet.monitoring import extrapolated_rate
from simulations.fleet.replay import count_flaps
from simulations.policies.oracle_plans import headroom_plan
from simulations.policies.slo import Slo, score
from simulations.profiles import ColdStart, ProfileError, ReplicaProfile, TokenDemand, load_profile, shipped_profiles
from simulations.traces.base import RateSeries, RequestTrace
from simulations.traces.workload import Reshape, TraceWorkload, from_rate, from_requests
from simulations.tuning.tuner import Trial, ranking

TRACE = RequestTrace(
    "t",
    np.array([0.0, 10.0, 20.0, 30.0]),
    np.array([100, 200, 300, 400], dtype=np.int64),
    np.array([10, 20, 30, 40], dtype=np.int64),
)


@pytest.mark.parametrize(
    ("name", "reshape", "requests", "span"),
    [
        ("unchanged", Reshape(), 4, 30.0),
        ("window re-bases to its start", Reshape(start_s=10.0, end_s=30.0), 2, 10.0),
        ("time scale stretches the span", Reshape(time_scale=2.0), 4, 60.0),
        ("rate scale 3 repeats every request three times", Reshape(rate_scale=3.0, copy_jitter_s=0.5), 12, 30.5),
    ],
)
def test_reshape(name: str, reshape: Reshape, requests: int, span: float) -> None:
    w = from_requests(TRACE, reshape, np.random.default_rng(0))
    assert w.requests == requests
    assert w.span_s == pytest.approx(span, abs=0.5)
    assert np.all(np.diff(w.arrival_s) >= 0)


def test_rate_scale_keeps_token_pairs() -> None:
    w = from_requests(TRACE, Reshape(rate_scale=2.0), np.random.default_rng(0))
    pairs = set(zip(w.prompt_tokens.tolist(), w.output_tokens.tolist(), strict=True))
    assert pairs == {(100, 10), (200, 20), (300, 30), (400, 40)}


@pytest.mark.parametrize(
    ("name", "kwargs", "message"),
    [
        ("zero rate scale", {"rate_scale": 0.0}, "rate_scale must be a positive number, got 0.0"),
        ("negative time scale", {"time_scale": -1.0}, "time_scale must be a positive number, got -1.0"),
        ("empty window", {"start_s": 5.0, "end_s": 5.0}, "end_s (5.0) must be after start_s (5.0)"),
    ],
)
def test_reshape_rejects(name: str, kwargs: dict[str, float], message: str) -> None:
    with pytest.raises(ValueError) as err:
        Reshape(**kwargs)
    assert str(err.value) == message


def test_rate_series_replays_as_poisson_arrivals() -> None:
    series = RateSeries("r", 600.0, np.array([1.0, 0.0, np.nan, 2.0]))
    w = from_rate(series, TRACE, Reshape(), np.random.default_rng(3))
    per_window = np.bincount((w.arrival_s // 600).astype(int), minlength=4)
    assert per_window[1] == 0 and per_window[2] == 0  # zero rate and a gap: nothing arrives
    assert abs(per_window[0] - 600) < 4 * 600**0.5
    assert abs(per_window[3] - 1200) < 4 * 1200**0.5
    assert set(w.prompt_tokens.tolist()) <= {100, 200, 300, 400}


@pytest.mark.parametrize(
    ("name", "times", "values", "window", "expected"),
    [
        ("steady counter over a full window", [15, 30, 45, 60], [15, 30, 45, 60], (0, 60), 1.0),
        # 15 + 5 (after the reset) + 15 over 45 s of samples, extended by 15 s to the window start.
        ("counter reset counts from zero", [15, 30, 45, 60], [15, 30, 5, 20], (0, 60), 35 / 45),
        ("no extrapolation before a counter that starts at zero", [30, 45, 60], [0, 15, 30], (0, 60), 0.5),
        ("a gap longer than 1.1 intervals adds half of one", [40, 50, 60], [100, 110, 120], (0, 60), 25 / 60),
    ],
)
def test_extrapolated_rate(
    name: str, times: list[float], values: list[float], window: tuple[float, float], expected: float
) -> None:
    assert extrapolated_rate(times, values, *window) == pytest.approx(expected)


def test_shipped_profiles_load() -> None:
    assert shipped_profiles() == ["llama3-70b-4xh100", "llama3-8b-h100", "llama3-8b-h100-vidur"]
    big = load_profile("llama3-70b-4xh100")
    assert big.gpus_per_replica == 4
    assert big.decode_tps(256) == pytest.approx(256 / (0.017 + 0.00008 * 256))


HAND = ReplicaProfile(
    name="hand",
    prefill_tokens_per_s=10_000,
    prefill_attention_s_per_token2=1e-7,
    decode_step_base_s=0.01,
    decode_step_per_seq_s=0.001,
    decode_step_per_kv_token_s=1e-5,
    kv_capacity_tokens=100_000,
    max_num_seqs=4,
    cold_start=ColdStart.fixed(60.0),
)


@pytest.mark.parametrize(
    ("name", "kv_capacity", "batch"),
    [
        ("a full batch fits", 100_000, 4.0),
        # contexts of 1,050.5 tokens: 2,000 tokens of KV cache hold 1.904 of them
        ("the KV cache cuts the batch short", 2_000, 2_000 / 1050.5),
    ],
)
def test_load_units_pays_attention_context_and_the_batch_that_fits(name: str, kv_capacity: int, batch: float) -> None:
    # Two requests of 1,000 prompt and 101 output tokens over 2 s: one per second.
    demand = TokenDemand.of_requests([1000, 1000], [101, 101], seconds=2.0)
    assert demand == TokenDemand(1000.0, 101.0, 1e6, 101 * 1050.5)
    profile = HAND.model_copy(update={"kv_capacity_tokens": kv_capacity})
    prefill = 1000 / 10_000 + 1e-7 * 1e6
    decode = 101 * (0.01 / batch + 0.001) + 1e-5 * 101 * 1050.5
    assert float(profile.load_units(demand)) == pytest.approx(prefill + decode)


@pytest.mark.parametrize(
    ("name", "kv_capacity", "prompt_tps", "decode_tps"),
    [
        # 1,000-token prompts: 1e-4 s per token linear + 1e-7 * 1000 s of attention per token
        ("a full batch fits", 100_000, 5000.0, 4 / (0.01 + 0.004 + 1e-5 * 4 * 1050.5)),
        ("the KV cache holds 1.904 contexts", 2_000, 5000.0, 1.0 / (0.01 / (2000 / 1050.5) + 0.001 + 0.010505)),
    ],
)
def test_capacity_at_a_token_mix(name: str, kv_capacity: int, prompt_tps: float, decode_tps: float) -> None:
    profile = HAND.model_copy(update={"kv_capacity_tokens": kv_capacity})
    capacity = profile.capacity_for(TokenDemand.of_requests([1000, 1000], [101, 101], seconds=1.0))
    assert (capacity.prompt_tps, capacity.decode_tps) == (pytest.approx(prompt_tps), pytest.approx(decode_tps))


def test_without_attention_prompt_capacity_is_the_profiles_rate_exactly() -> None:
    plain = load_profile("llama3-8b-h100")
    capacity = plain.capacity_for(TokenDemand.of_requests([100, 90_000], [10, 10], seconds=1.0))
    assert capacity.prompt_tps == plain.prefill_tokens_per_s


def test_without_context_terms_load_units_is_the_old_formula() -> None:
    # No attention or KV cost and no context given: prefill time plus decode time at a full batch.
    plain = load_profile("llama3-8b-h100")
    units = plain.load_units(TokenDemand(prompt_tps=3000.0, output_tps=500.0))
    assert float(units) == pytest.approx(3000 / 30_000 + 500 / plain.decode_tps(256))


def test_profile_errors_name_the_problem(tmp_path: Path) -> None:
    with pytest.raises(ProfileError) as err:
        load_profile("h200-mystery")
    assert str(err.value) == (
        "unknown profile 'h200-mystery'; allowed: a profile YAML file, or a shipped profile: "
        "llama3-70b-4xh100, llama3-8b-h100, llama3-8b-h100-vidur"
    )
    no_extension = tmp_path / "mine"  # a file is a file, with or without an extension
    no_extension.write_text("just: [a, list\n")
    with pytest.raises(ProfileError) as err:
        load_profile(no_extension)
    assert str(err.value).startswith(f"{no_extension}: not valid YAML: ")
    not_a_mapping = tmp_path / "words.yaml"  # the value is quoted, but not a whole file of it
    not_a_mapping.write_text("x" * 200 + "\n")
    with pytest.raises(ProfileError) as err:
        load_profile(not_a_mapping)
    assert str(err.value) == (
        f"{not_a_mapping}: (top level): Input should be a valid dictionary or instance of ReplicaProfile "
        f"(got '{'x' * 76}...)"
    )
    bad = tmp_path / "bad.yaml"
    bad.write_text(
        (Path(load_profile.__code__.co_filename).parent / "llama3-8b-h100.yaml")
        .read_text()
        .replace("max_num_seqs: 256", "max_num_seqs: 0")
    )
    with pytest.raises(ProfileError) as err:
        load_profile(bad)
    assert str(err.value) == f"{bad}: max_num_seqs: Input should be greater than or equal to 1 (got 0)"


@pytest.mark.parametrize(
    ("name", "changes", "flaps"),
    [
        ("steady growth", [(0, 1), (60, 2), (120, 1)], 0),
        ("up then down within the window", [(0, 2), (300, -2)], 1),
        ("up then down after the window", [(0, 2), (700, -2)], 0),
        ("see-saw", [(0, 1), (100, -1), (200, 1), (300, -1)], 3),
    ],
)
def test_count_flaps(name: str, changes: list[tuple[float, int]], flaps: int) -> None:
    assert count_flaps(changes, 600.0) == flaps


def test_oracle_plan_looks_ahead_and_keeps_pods_through_short_dips() -> None:
    load = np.array([1.0, 1.0, 0.0, 0.0, 4.0, 0.0, 0.0, 0.0, 0.0, 0.0])
    plan = headroom_plan(load, 10.0, 1.0, lookahead_s=10.0, keep_s=0.0, cap=100, floor=1)
    assert plan.tolist() == [1, 1, 1, 4, 4, 4, 1, 1, 1, 1]
    kept = headroom_plan(load, 10.0, 1.0, lookahead_s=10.0, keep_s=20.0, cap=3, floor=1)
    assert kept.tolist() == [1, 3, 3, 3, 3, 3, 1, 1, 1, 1]


def test_an_oracle_that_sees_demand_late_plans_the_same_steps_late() -> None:
    load = np.array([1.0, 1.0, 0.0, 0.0, 4.0, 0.0, 0.0, 0.0, 0.0, 0.0])
    late = headroom_plan(load, 10.0, 1.0, lookahead_s=10.0, keep_s=0.0, cap=100, floor=1, seen_late_s=30.0)
    assert late.tolist() == [1, 1, 1, 1, 1, 1, 4, 4, 4, 1]  # the step at bin 4 is met from bin 6, not 3
    # not knowing the future, it keeps pods for keep_s after they were last needed
    kept = headroom_plan(load, 10.0, 1.0, lookahead_s=10.0, keep_s=20.0, cap=100, floor=1, seen_late_s=30.0)
    assert kept.tolist() == [1, 1, 1, 1, 1, 1, 4, 4, 4, 4]


def test_score_counts_unserved_requests_as_misses() -> None:
    w = TraceWorkload("s", np.array([0.0, 1.0, 2.0, 3.0]), np.ones(4, np.int64), np.array([1, 1, 1, 3], np.int64))
    log = RequestLog.empty(4)
    log.admitted_at[:] = [0.0, 1.0, 2.5, np.nan]
    log.first_token_at[:] = [0.5, 4.0, 3.0, np.nan]
    log.finished_at[:] = [0.5, 4.0, 3.0, np.nan]
    s = score(w, log, Slo(ttft_s=2.0, attainment=0.5))
    assert (s.slo_attainment, s.meets_slo, s.unserved) == (0.5, True, 1)
    assert s.ttft_p50_s == pytest.approx(2.0)
    strict = score(w, log, Slo(ttft_s=2.0, queue_wait_s=0.4, attainment=0.5))
    assert strict.slo_attainment == 0.25


def test_gpuscale_search_starts_from_what_it_can_mimic() -> None:
    from simulations.tuning.tuner import gpuscale_starts, search_space

    profile = load_profile("llama3-8b-h100")
    tuned = {"keda-queue": {"target": 4.0, "scale_down_window_s": 60.0, "min_replicas": 3.0}}
    starts = gpuscale_starts(tuned, profile, fixed_replicas=20)
    names = {p.name for p in search_space("gpuscale", profile, 22)}
    assert all(set(start) <= names for start in starts)
    queue, defaults, fixed, lowest, low, mid = starts
    assert (queue["target_queue_per_replica"], queue["min_replicas"], queue["scale_down_stabilization_s"]) == (
        4.0,
        3.0,
        60.0,
    )
    assert (defaults["utilization"], defaults["forecast_quantile"]) == (0.7, 0.9)
    assert (fixed["min_replicas"], fixed["utilization"], fixed["target_kv_cache_usage"]) == (20.0, 1.0, 0.95)
    assert [(s["utilization"], s["forecast_quantile"], s["min_replicas"]) for s in (lowest, low, mid)] == [
        (0.25, 0.5, 10.0),
        (0.3, 0.9, 10.0),
        (0.5, 0.9, 10.0),
    ]
    assert len(gpuscale_starts({}, profile)) == 1  # no baselines and no fixed fleet: the defaults only


def _line_search(policy: str, feasible_up_to: float, best_meets: bool) -> list[float]:
    """Run boundary_search on a synthetic SLO that holds while the leaner distance is <= feasible_up_to
    (a richer walk: while the richer distance is >= feasible_up_to); return the distances it tried."""
    from simulations.tuning.tuner import Trial, boundary_search, leaner_direction, search_space

    space = search_space(policy, load_profile("llama3-8b-h100"), 20)
    direction = leaner_direction(policy, space)
    sign = 1.0 if best_meets else -1.0
    origin = {p.name: p.from_unit(0.5 - 0.4 * sign * d) for p, d in zip(space, direction, strict=True)}  # room to walk
    centre = np.array([p.to_unit(origin[p.name]) for p in space])
    tried: list[float] = []

    def run_trials(vectors: Sequence[Sequence[float]]) -> list[Trial]:
        out = []
        for v in vectors:
            moved = np.asarray(v) - centre
            distance = float(moved @ direction / (direction @ direction))
            tried.append(round(distance, 6))
            ok = distance <= feasible_up_to if best_meets else -distance >= feasible_up_to
            out.append(Trial({}, 1.0 - distance, 0.99 if ok else 0.9, ok, 1.0 - distance if ok else 5.0, feasible=ok))
        return out

    best = Trial(origin, 1.0, 0.995 if best_meets else 0.9, best_meets, 1.0 if best_meets else 5.0, best_meets)
    boundary_search(policy, space, best, run_trials)
    return tried


@pytest.mark.parametrize(
    ("case", "policy", "feasible_up_to", "best_meets", "refined"),
    [
        ("feasible-to-0.1", "keda-kv", 0.1, True, [0.12, 0.14, 0.16, 0.18]),
        ("feasible-to-0.03", "knative", 0.03, True, [0.026, 0.032, 0.038, 0.044]),
        ("feasible-everywhere", "keda-queue", 1.0, True, [0.24, 0.28, 0.32, 0.36]),
        ("infeasible-best-needs-0.05", "hpa-gpu", 0.05, False, [-0.026, -0.032, -0.038, -0.044]),
        ("infeasible-everywhere", "keda-kv", 9.0, False, [-0.28, -0.36, -0.44, -0.52]),
    ],
)
def test_line_search_brackets_the_slo_boundary(
    case: str, policy: str, feasible_up_to: float, best_meets: bool, refined: list[float]
) -> None:
    tried = _line_search(policy, feasible_up_to, best_meets)
    sign = 1 if best_meets else -1
    assert tried[:4] == [sign * d for d in (0.02, 0.05, 0.1, 0.2)], case
    assert tried[4:] == pytest.approx(refined), case


def test_line_search_direction_is_fewer_replicas() -> None:
    from simulations.tuning.tuner import leaner_direction, search_space

    space = search_space("gpuscale", load_profile("llama3-8b-h100"), 20)
    signs = dict(zip([p.name for p in space], leaner_direction("gpuscale", space), strict=True))
    assert signs == {
        "utilization": 1.0,
        "target_queue_per_replica": 1.0,
        "target_inflight_per_replica": 1.0,
        "inflight_window_s": 0.0,
        "target_kv_cache_usage": 1.0,
        "forecast_quantile": -1.0,
        "forecast_horizon_s": 0.0,
        "scale_down_stabilization_s": 0.0,
        "scale_down_quantile": 0.0,
        "scale_down_forecast_quantile": 0.0,
        "min_replicas": -1.0,
    }


def _walk(window_unit: float, best_feasible: bool) -> tuple[list[int], dict[str, float]]:
    """Run coordinate_walk for keda-kv on a synthetic SLO: each knob may go leaner by its own slack
    (target 0.16, window 0.06, floor none); GPU-hours fall by the target's distance and half the
    window's. Returns the trials per round and the cheapest feasible setting tried."""
    from simulations.tuning.tuner import Trial, coordinate_walk, search_space

    space = search_space("keda-kv", load_profile("llama3-8b-h100"), 20)
    origin = {
        "target": space[0].from_unit(0.5),
        "scale_down_window_s": space[1].from_unit(window_unit),
        "min_replicas": 10.0,
    }
    centre = np.array([p.to_unit(origin[p.name]) for p in space])
    rounds: list[int] = []
    tried: list[Trial] = []

    def run_trials(vectors: Sequence[Sequence[float]]) -> list[Trial]:
        rounds.append(len(vectors))
        for v in vectors:
            target, window, floor = np.asarray(v) - centre
            feasible = target <= 0.16 and -window <= 0.06 and floor >= 0
            params = {p.name: p.from_unit(u) for p, u in zip(space, v, strict=True)}
            hours = 1.0 - target + 0.5 * window
            tried.append(Trial(params, hours, 0.995 if feasible else 0.9, feasible, hours, feasible))
        return tried[-len(vectors) :]

    best = Trial(origin, 1.0, 0.995 if best_feasible else 0.9, best_feasible, 1.0, best_feasible)
    coordinate_walk("keda-kv", space, best, run_trials)
    cheapest = min((t for t in tried if t.feasible), key=lambda t: t.gpu_hours, default=best)
    return rounds, cheapest.params


@pytest.mark.parametrize(
    ("case", "window_unit", "best_feasible", "rounds", "target_unit", "window_s"),
    [
        # step 0.1: the target moves; step 0.1 again: nothing fits, so the step halves; step 0.05: the target
        # again (its 0.05 saves more than the window's)
        ("spends-the-target-slack-first", 0.5, True, [3, 3, 3], 0.65, 450.0),
        ("window-already-zero-is-not-tried", 0.0, True, [2, 2, 2], 0.65, 0.0),
        ("infeasible-best-has-no-slack", 0.5, False, [], 0.5, 450.0),
    ],
)
def test_coordinate_walk_spends_each_knobs_slack(
    case: str, window_unit: float, best_feasible: bool, rounds: list[int], target_unit: float, window_s: float
) -> None:
    from simulations.tuning.tuner import search_space

    target = search_space("keda-kv", load_profile("llama3-8b-h100"), 20)[0]
    tried, cheapest = _walk(window_unit, best_feasible)
    assert tried == rounds, case
    assert cheapest["target"] == pytest.approx(target.from_unit(target_unit)), case
    assert cheapest["scale_down_window_s"] == pytest.approx(window_s), case
    assert cheapest["min_replicas"] == 10.0, case


def test_walk_knobs_are_the_sizing_and_the_holding_ones() -> None:
    from simulations.tuning.tuner import search_space, walk_knobs

    space = search_space("gpuscale", load_profile("llama3-8b-h100"), 20)
    assert {space[i].name: sign for i, sign in walk_knobs("gpuscale", space)} == {
        "utilization": 1,
        "target_queue_per_replica": 1,
        "target_inflight_per_replica": 1,
        "target_kv_cache_usage": 1,
        "forecast_quantile": -1,
        "scale_down_stabilization_s": -1,
        "scale_down_quantile": -1,
        "scale_down_forecast_quantile": -1,
        "min_replicas": -1,
    }


@pytest.mark.parametrize(
    ("case", "searched", "expected"),
    [
        ("the top of the searched range is off: the window alone", 1.0, None),
        ("just above the highest a PolicySpec takes is off too", 0.995, None),
        ("the highest a PolicySpec takes is on", 0.99, 0.99),
        ("inside the range it is the quantile", 0.8, 0.8),
    ],
)
def test_searched_release_quantile_maps_to_the_policy(case: str, searched: float, expected: float | None) -> None:
    from simulations.policies.controllers import PolicyContext, gpuscale_spec
    from simulations.tuning.tuner import search_space

    profile = load_profile("llama3-8b-h100")
    assert search_space("gpuscale", profile, 20)[-2].high == 1.0, case
    empty = TraceWorkload("empty", np.zeros(0), np.zeros(0, dtype=np.int64), np.zeros(0, dtype=np.int64))
    context = PolicyContext(profile=profile, workload=empty)
    spec = gpuscale_spec(context, {"scale_down_forecast_quantile": searched})
    assert spec.scale_down_forecast_quantile == expected, case


@pytest.mark.parametrize(("option", "constant"), [("margin", "DEFAULT_MARGIN"), ("draws", "DEFAULT_DRAWS")])
def test_tune_command_defaults_are_the_tuners(option: str, constant: str) -> None:
    """The CLI spells the defaults out (it imports the tuner lazily); they must not drift from the tuner's."""
    import inspect

    from simulations.cli import tune as tune_command
    from simulations.tuning import tuner as tuning

    assert inspect.signature(tune_command).parameters[option].default == getattr(tuning, constant)


def test_cold_start_quantile_of_the_total() -> None:
    from simulations.profiles import ColdStart

    assert ColdStart.fixed(120.0).quantile(0.9) == pytest.approx(120.0)
    cold = load_profile("llama3-8b-h100").cold_start
    p90 = cold.quantile(0.9)
    assert p90 == cold.quantile(0.9)  # fixed seed: a profile always gives the same horizon
    # at least the slowest stage's p90 (the total exceeds every stage), at most the stages' p90s summed
    assert 110.0 <= p90 <= 45.0 + 110.0 + 80.0
    assert cold.quantile(0.5) < p90


@pytest.mark.parametrize(
    ("case", "smallest_feasible", "tried", "chosen"),
    [
        # the top of the range first, then halvings of (0, 100]: 50, 25, 37, 31, 34, 32, 33
        ("fleet-of-33", 33, [100, 50, 25, 37, 31, 34, 32, 33], 33),
        ("one-replica-is-enough", 1, [100, 50, 25, 12, 6, 3, 1], 1),
        ("the-whole-range", 100, [100, 50, 75, 87, 93, 96, 98, 99], 100),
        ("nothing-is-enough", 101, [100], 100),
    ],
)
def test_bisection_finds_the_smallest_feasible_fleet(
    case: str, smallest_feasible: int, tried: list[int], chosen: int
) -> None:
    """The fixed fleet's one knob: more replicas never miss the SLO where fewer met it."""
    from simulations.tuning.tuner import Trial, bisect_smallest_feasible, bisection_trials, search_space

    space = search_space("fixed", load_profile("llama3-8b-h100"), 20, max_replicas=100)
    trials: list[Trial] = []

    def run_trials(vectors: Sequence[Sequence[float]]) -> list[Trial]:
        (replicas,) = (space[0].from_unit(u) for (u,) in vectors)
        ok = replicas >= smallest_feasible
        trials.append(Trial({"replicas": replicas}, replicas, 0.995 if ok else 0.9, ok, replicas if ok else 500.0, ok))
        return trials[-1:]

    bisect_smallest_feasible(space, run_trials)
    assert [int(t.params["replicas"]) for t in trials] == tried, case
    assert min(trials, key=lambda t: (t.cost, t.gpu_hours)).params["replicas"] == chosen, case
    assert len(trials) <= bisection_trials(space) == 8, case


def _trial(gpu_hours: float, cost: float, feasible: bool) -> Trial:
    return Trial({"gpu_hours": gpu_hours}, gpu_hours, 0.995 if feasible else 0.95, feasible, cost, feasible)


@pytest.mark.parametrize(
    ("trials", "best"),
    [
        pytest.param(
            [_trial(300.0, 470.0, False), _trial(480.0, 480.0, True), _trial(500.0, 500.0, True)],
            480.0,
            id="a feasible trial costlier than a penalised one",
        ),
        pytest.param([_trial(20.0, 20.0, True), _trial(10.0, 10.0, True)], 10.0, id="the cheaper of two feasible"),
        pytest.param(
            [_trial(5.0, 50.0, False), _trial(8.0, 40.0, False)], 8.0, id="nothing feasible: the smallest penalty"
        ),
    ],
)
def test_the_tuned_setting_is_the_cheapest_feasible_trial(trials: list[Trial], best: float) -> None:
    assert min(trials, key=ranking).gpu_hours == best


@pytest.mark.parametrize(
    ("case", "policy", "params", "message"),
    [
        ("a known target and the common floor", "keda-queue", {"target": 8, "min_replicas": 2}, None),
        ("knative's window", "knative", {"target": 30, "stable_window_s": 60}, None),
        ("the fixed fleet", "fixed", {"replicas": 5}, None),
        ("an oracle plan", "oracle", {"method": "budget", "k": 0.7, "budget_requests": 10}, None),
        (
            "a misspelt target",
            "keda-kv",
            {"traget": 0.5},
            "unknown keda-kv parameter(s) traget; known: min_replicas, scale_down_window_s, target",
        ),
        (
            "a floor on the fixed fleet, which has none",
            "fixed",
            {"replicas": 4, "min_replicas": 2},
            "unknown fixed parameter(s) min_replicas; known: replicas",
        ),
    ],
)
def test_a_baselines_parameters_are_checked_by_name(
    case: str, policy: str, params: dict[str, float], message: str | None
) -> None:
    """A misspelt key used to be read with .get() and silently replaced by the default."""
    from simulations.policies.controllers import check_params

    if message is None:
        check_params(policy, params)
        return
    with pytest.raises(ValueError) as caught:
        check_params(policy, params)
    assert str(caught.value) == message, case
