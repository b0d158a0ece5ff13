"""Perturbed copies of a training window: block-wise rate factors, real timing, deterministic by seed."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest

from simulations.traces.perturb import Perturbation, perturbed, perturbed_copies
from simulations.traces.workload import TokenHistory, TraceWorkload

#: 600 s of one request per second, alternating two token pairs, with a history before it
ARRIVALS = np.arange(600, dtype=np.float64)
WINDOW = TraceWorkload(
    "w",
    ARRIVALS,
    np.where(np.arange(600) % 2 == 0, 100, 200).astype(np.int64),
    np.where(np.arange(600) % 2 == 0, 10, 20).astype(np.int64),
    TokenHistory(10.0, np.ones(6), np.ones(6)),
)


class _FixedFactors(np.random.Generator):
    """A generator whose block factors are chosen by the test; every other draw is seeded."""

    def __init__(self, factors: list[float]) -> None:
        super().__init__(np.random.PCG64(0))
        self._factors = np.asarray(factors)

    def uniform(self, low: object = 0.0, high: object = 1.0, size: object = None) -> np.ndarray:  # type: ignore[override]
        return self._factors


@pytest.mark.parametrize(
    ("name", "factors", "per_block"),
    [
        ("whole factors repeat or drop every request of a block", [2.0, 0.0], [600, 0]),
        ("unchanged blocks keep their requests", [1.0, 1.0], [300, 300]),
        ("a factor of 3 triples the second block only", [1.0, 3.0], [300, 900]),
    ],
)
def test_each_block_gets_its_own_factor(name: str, factors: list[float], per_block: list[int]) -> None:
    perturbation = Perturbation(copies=1, spread=0.5, block_s=300.0, jitter_s=0.5)
    copy = perturbed(WINDOW, perturbation, _FixedFactors(factors))
    # copies land up to 0.5 s after their original (whole seconds): flooring puts them in its block
    counts = np.bincount((np.floor(copy.arrival_s) // 300).astype(int), minlength=2)[:2].tolist()
    assert counts == per_block, name
    assert np.all(np.diff(copy.arrival_s) >= 0), name


def test_a_copy_keeps_token_pairs_history_and_span() -> None:
    (copy,) = perturbed_copies(WINDOW, Perturbation(copies=1, spread=0.3), seed=7)
    pairs = set(zip(copy.prompt_tokens.tolist(), copy.output_tokens.tolist(), strict=True))
    assert pairs == {(100, 10), (200, 20)}
    assert copy.history is WINDOW.history  # the forecaster starts from the same past
    assert copy.name == "w perturbed #1"
    assert 0.7 * 600 <= copy.requests <= 1.3 * 600
    assert copy.span_s <= 600.0


def test_a_copy_of_a_held_out_window_is_scored_from_the_same_cut() -> None:
    """A held-out window is the whole trace scored from the cut; its copy must not score the training part."""
    held_out = dataclasses.replace(WINDOW, scored_from_s=420.0)
    (copy,) = perturbed_copies(held_out, Perturbation(copies=1, spread=0.3), seed=7)
    assert copy.scored_from_s == 420.0
    assert bool(copy.scored[copy.arrival_s < 420.0].any()) is False


def test_copies_are_deterministic_by_seed_and_differ_from_each_other() -> None:
    first = perturbed_copies(WINDOW, Perturbation(copies=2, spread=0.3, block_s=60.0), seed=1)
    again = perturbed_copies(WINDOW, Perturbation(copies=2, spread=0.3, block_s=60.0), seed=1)
    other_window = perturbed_copies(WINDOW, Perturbation(copies=2, spread=0.3, block_s=60.0), seed=1, stream=1)
    assert [c.name for c in first] == ["w perturbed #1", "w perturbed #2"]
    assert all(np.array_equal(a.arrival_s, b.arrival_s) for a, b in zip(first, again, strict=True))
    assert not np.array_equal(first[0].arrival_s, first[1].arrival_s)
    assert not np.array_equal(first[0].arrival_s, other_window[0].arrival_s)


def test_no_copies_means_no_workloads() -> None:
    assert perturbed_copies(WINDOW, Perturbation(), seed=0) == []


@pytest.mark.parametrize(
    ("name", "kwargs", "message"),
    [
        ("too many copies", {"copies": 9}, "perturbed copies must be between 0 and 8, got 9"),
        ("negative copies", {"copies": -1}, "perturbed copies must be between 0 and 8, got -1"),
        ("spread of one", {"spread": 1.0}, "perturbation spread must be above 0 and below 1, got 1.0"),
        ("zero spread", {"spread": 0.0}, "perturbation spread must be above 0 and below 1, got 0.0"),
        ("tiny block", {"block_s": 0.5}, "perturbation block must be at least 1 second, got 0.5"),
        ("infinite block", {"block_s": float("inf")}, "perturbation block must be at least 1 second, got inf"),
    ],
)
def test_bad_perturbations_are_rejected(name: str, kwargs: dict[str, float], message: str) -> None:
    with pytest.raises(ValueError) as err:
        Perturbation(**kwargs)  # type: ignore[arg-type]
    assert str(err.value) == message, name


def test_describe() -> None:
    assert Perturbation(copies=1, spread=0.2, block_s=300.0).describe() == "rate ×[0.8, 1.2] per 300 s block"
