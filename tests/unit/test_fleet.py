"""The fleet model on cases small enough to work out by hand."""

from __future__ import annotations

import numpy as np
import pytest

from simulations.fleet.model import Fleet
from simulations.profiles import ColdStart, ReplicaProfile
from simulations.traces.workload import TraceWorkload

PROFILE = ReplicaProfile(
    name="hand",
    prefill_tokens_per_s=10_000,
    decode_step_base_s=0.01,
    decode_step_per_seq_s=0.001,
    kv_capacity_tokens=100_000,
    max_num_seqs=4,
    max_batched_tokens=8192,
    cold_start=ColdStart.fixed(60.0),
)


def workload(*requests: tuple[float, int, int]) -> TraceWorkload:
    arrival, prompt, output = zip(*requests, strict=True)
    return TraceWorkload("hand", np.array(arrival, float), np.array(prompt, np.int64), np.array(output, np.int64))


def run(fleet: Fleet, until: float) -> None:
    t = 0.0
    while t < until:
        fleet.step(t)
        t += fleet.tick_s


def test_one_request_first_token_after_one_prefill_step() -> None:
    # A 1,000-token prompt alone: one step of 0.01 s + 1000 / 10,000 s = 0.11 s after arrival.
    fleet = Fleet(PROFILE, workload((0.2, 1000, 1)), np.random.default_rng(0), tick_s=0.5)
    fleet.add_pod(0.0, warm=True)
    run(fleet, 1.0)
    log = fleet.request_log()
    assert log.admitted_at[0] == pytest.approx(0.2)
    assert log.first_token_at[0] == pytest.approx(0.31)
    assert log.finished_at[0] == pytest.approx(0.31)  # one output token: done at the first


def test_decode_takes_one_step_per_token() -> None:
    # 101 output tokens: 100 decode steps of 0.01 + 0.001 * 1 = 1.1 s after the first token.
    fleet = Fleet(PROFILE, workload((0.0, 1000, 101)), np.random.default_rng(0), tick_s=0.5)
    fleet.add_pod(0.0, warm=True)
    run(fleet, 3.0)
    log = fleet.request_log()
    assert log.first_token_at[0] == pytest.approx(0.11)
    assert log.finished_at[0] == pytest.approx(0.11 + 1.1, abs=0.02)


def test_an_idle_pod_holds_exactly_nothing_in_its_kv_cache() -> None:
    # Decode bookkeeping in floats once left a residue of ~1e-13 tokens on idle pods, negative in about a
    # third of such runs: a negative KV-cache usage, which the scaler rightly ignores as garbage, and then
    # it held the fleet for partial data instead of scaling down.
    requests = [(0.32, 2286, 53), (0.59, 2988, 209), (1.03, 277, 232), (1.14, 767, 40), (1.29, 482, 40),
                (1.63, 807, 114), (1.90, 967, 22), (1.90, 265, 127), (1.96, 2698, 144), (2.18, 810, 200),
                (2.43, 2767, 172), (2.60, 2301, 137)]  # fmt: skip
    fleet = Fleet(PROFILE, workload(*requests), np.random.default_rng(0), tick_s=0.5)
    pod = fleet.add_pod(0.0, warm=True)
    run(fleet, 60.0)
    assert np.isfinite(fleet.request_log().finished_at).all()
    assert (pod.admitted, pod.n_decode, pod.kv_tokens()) == (0, 0, 0.0)


def test_requests_queue_when_every_slot_is_taken() -> None:
    # max_num_seqs 4 on one pod: the fifth request waits in the gateway queue.
    fleet = Fleet(PROFILE, workload(*[(0.0, 100, 1000)] * 5), np.random.default_rng(0), tick_s=0.5)
    fleet.add_pod(0.0, warm=True)
    run(fleet, 1.0)
    log = fleet.request_log()
    assert np.isfinite(log.admitted_at[:4]).all()
    assert np.isnan(log.admitted_at[4])
    assert list(fleet.queue) == [4]


def test_routing_picks_the_least_loaded_pod() -> None:
    fleet = Fleet(PROFILE, workload(*[(0.0, 100, 1000)] * 4), np.random.default_rng(0), tick_s=0.5)
    pods = [fleet.add_pod(0.0, warm=True) for _ in range(2)]
    run(fleet, 0.5)
    assert [p.admitted for p in pods] == [2, 2]


def test_kv_cache_room_blocks_admission() -> None:
    small = PROFILE.model_copy(update={"kv_capacity_tokens": 1500})
    fleet = Fleet(small, workload((0.0, 1000, 1000), (0.0, 1000, 1000)), np.random.default_rng(0), tick_s=0.5)
    fleet.add_pod(0.0, warm=True)
    run(fleet, 0.5)
    assert fleet.pods[0].admitted == 1
    assert list(fleet.queue) == [1]


def test_scale_down_follows_replicaset_order() -> None:
    """Not-ready pods go first (deleted at once); then the most recently ready pod drains."""
    fleet = Fleet(PROFILE, workload((0.0, 100, 10_000)), np.random.default_rng(0), tick_s=0.5)
    older = fleet.add_pod(0.0, warm=True)
    newer = fleet.add_pod(0.0, warm=True)
    older.ready_at, newer.ready_at = -5.0, -1.0
    fleet.step(0.0)
    assert (older.admitted, newer.admitted) == (1, 0)  # a tie goes to the first pod
    fleet.scale_to(3, 1.0)
    cold = fleet.pods[-1]
    assert cold.ready_at == pytest.approx(61.0)
    fleet.scale_to(2, 2.0)
    assert cold not in fleet.pods and cold.deleted_at == 2.0
    fleet.scale_to(1, 3.0)
    assert fleet.active_pods() == [older]
    assert newer not in fleet.pods and newer.deleted_at == 3.0  # idle: gone at once
    fleet.scale_to(0, 4.0)
    assert older.draining and older in fleet.pods  # busy: drains, still paid for


def test_gpu_time_is_paid_from_creation() -> None:
    fleet = Fleet(PROFILE, workload((0.0, 100, 1)), np.random.default_rng(0), tick_s=0.5)
    two_gpus = PROFILE.model_copy(update={"gpus_per_replica": 2})
    fleet.profile = two_gpus
    fleet.add_pod(10.0)  # ready at 70 s, still paid from 10 s
    fleet.scale_to(0, 40.0)  # deleted while starting
    fleet.add_pod(50.0, warm=True)
    assert fleet.gpu_seconds(100.0) == pytest.approx(2 * ((40 - 10) + (100 - 50)))


def test_draining_pod_finishes_its_requests_then_goes() -> None:
    fleet = Fleet(PROFILE, workload((0.0, 100, 50)), np.random.default_rng(0), tick_s=0.5)
    pod = fleet.add_pod(0.0, warm=True)
    fleet.step(0.0)
    fleet.scale_to(0, 0.5)
    assert pod.draining and pod in fleet.pods
    run_from = 0.5
    while pod in fleet.pods:
        fleet.step(run_from)
        run_from += 0.5
    log = fleet.request_log()
    assert np.isfinite(log.finished_at[0]) and not log.interrupted[0]
    assert pod.deleted_at == pytest.approx(run_from)
