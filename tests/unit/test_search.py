"""The tuner's global searches on a small constrained problem whose answer is known.

Minimise x0 + x1 + x2 subject to x0 + x1 >= 0.8 in the unit cube: the cheapest feasible cost is 0.8.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pytest

from simulations.tuning.search import SEARCH_TRIALS, SEARCHES, Outcome, SearchTask, get_search

START = [1.0, 1.0, 1.0]  # feasible and as costly as it gets


class Recorder:
    """Runs the toy problem and remembers every batch it was asked for."""

    def __init__(self) -> None:
        self.batches: list[list[list[float]]] = []

    def __call__(self, points: Sequence[Sequence[float]]) -> list[Outcome]:
        self.batches.append([list(map(float, p)) for p in points])
        outcomes = []
        for p in points:
            hours = float(sum(p))
            violation = max(0.0, 0.8 - (p[0] + p[1])) / 0.8
            cost = hours if violation == 0 else 3.0 * (2.0 + violation)  # infeasible loses to any feasible
            outcomes.append(Outcome(cost, hours, violation))
        return outcomes

    @property
    def points(self) -> list[list[float]]:
        return [p for batch in self.batches for p in batch]

    def best_feasible(self) -> float:
        return min(sum(p) for p in self.points if p[0] + p[1] >= 0.8)


def task(recorder: Recorder, budget: int, batch: int) -> SearchTask:
    return SearchTask(recorder, dims=3, budget=budget, starts=np.array([START]), seed=0, batch=batch)


@pytest.mark.parametrize("name", sorted(SEARCHES))
def test_search_starts_from_the_warm_start_and_improves_on_it(name: str) -> None:
    recorder = Recorder()
    get_search(name)(task(recorder, budget=60, batch=2))
    assert recorder.points[0] == START
    assert recorder.best_feasible() < 0.5 * sum(START)


def test_tpe_asks_in_batches_of_the_workers_and_spends_exactly_its_budget() -> None:
    recorder = Recorder()
    get_search("tpe")(task(recorder, budget=25, batch=4))
    assert [len(b) for b in recorder.batches] == [4] * 6 + [1]
    assert SEARCH_TRIALS["tpe"](25, 3) == len(recorder.points) == 25  # what the progress bar plans
    assert all(0.0 <= x <= 1.0 for p in recorder.points for x in p)


def test_tpe_learns_the_constraint() -> None:
    """After its random start-up trials, most of TPE's settings should meet the constraint."""
    recorder = Recorder()
    get_search("tpe")(task(recorder, budget=60, batch=1))
    later = recorder.points[30:]
    assert sum(p[0] + p[1] >= 0.8 for p in later) >= 0.6 * len(later)
    assert recorder.best_feasible() < 1.0


def test_differential_evolution_evaluates_whole_generations() -> None:
    recorder = Recorder()
    get_search("de")(task(recorder, budget=60, batch=1))
    sizes = {len(b) for b in recorder.batches}
    assert sizes == {18}  # a population of 6 x 3 dims, one batch per generation
    assert len(recorder.points) == 54  # the first generation and two more: what fits in 60
    assert SEARCH_TRIALS["de"](60, 3) == 54  # what the progress bar plans


@pytest.mark.parametrize(
    ("case", "budget", "dims", "generations"),
    [
        pytest.param("a budget of whole generations", 60, 3, [18, 18, 18], id="fits"),
        pytest.param("a small budget still buys two generations of 4 x dims", 10, 3, [12, 12], id="small"),
        pytest.param("many dimensions: a population of 4 x dims", 100, 11, [44, 44], id="wide"),
    ],
)
def test_differential_evolution_runs_the_trials_it_plans(
    case: str, budget: int, dims: int, generations: list[int]
) -> None:
    recorder = Recorder()
    get_search("de")(SearchTask(recorder, dims=dims, budget=budget, starts=None, seed=0))
    assert [len(b) for b in recorder.batches] == generations, case
    assert SEARCH_TRIALS["de"](budget, dims) == sum(generations), case


def test_unknown_search_is_rejected_naming_the_choices() -> None:
    with pytest.raises(ValueError) as excinfo:
        get_search("grid")
    assert str(excinfo.value) == "--search 'grid' is not a search; choose one of: de, tpe"
