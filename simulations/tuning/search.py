"""The tuner's global searches, a registry keyed by name (``gpuscale tune --search``).

A search explores the unit cube of a policy's search space for about ``budget`` trials; the tuner then
walks its best setting to the SLO's boundary (``tuning.boundary_search``) and spends what slack is left
one knob at a time (``tuning.coordinate_walk``). Two are built in:

- ``de``: scipy's differential evolution, each generation one parallel batch. Robust, but a
  population of at least 4 x dims and a few generations is most of a budget of a few hundred trials.
- ``tpe``: optuna's multivariate tree-structured Parzen estimator with the SLO as a constraint, asked for
  ``batch`` settings at a time (a constant liar keeps a batch apart). It models which settings were good
  from every trial so far instead of a generation's; at the headline's budgets it found nothing cheaper
  than ``de`` (docs/headline.md). Needs ``pip install 'gpuscale[tpe]'``.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
from scipy.optimize import differential_evolution  # type: ignore[import-untyped]


@dataclass(frozen=True)
class Outcome:
    """What a search learns from one trial: the cost to minimise and how far it missed the SLO.

    ``violation`` is 0 for a setting that meets the SLO (with the margin) and the share of the error
    budget it missed by otherwise; ``cost`` already charges an infeasible setting at least twice the fixed
    fleet, for searches that have no notion of a constraint."""

    cost: float
    gpu_hours: float
    violation: float


#: Evaluate a batch of points in the unit cube (in parallel) and return their outcomes, in order.
RunBatch = Callable[[Sequence[Sequence[float]]], list[Outcome]]


@dataclass(frozen=True)
class SearchTask:
    run_batch: RunBatch
    dims: int
    budget: int
    #: known settings (rows, in the unit cube) the search evaluates first: a warm start
    starts: np.ndarray | None
    seed: int
    #: settings a search may evaluate at once (the workers); DE's generations are larger anyway
    batch: int = 1


Search = Callable[[SearchTask], None]


def _de_shape(budget: int, dims: int) -> tuple[int, int]:
    """(popsize, generations after the first) for ``budget``: DE's population is popsize x dims."""
    popsize = max(4, min(10, budget // (3 * dims) or 1))
    return popsize, max(1, budget // (popsize * dims) - 1)


def differential_evolution_trials(budget: int, dims: int) -> int:
    """Whole generations: at most ``budget``, except that a small budget still buys two of at least
    4 x dims each (scipy stops early only if a generation's costs are all equal)."""
    popsize, generations = _de_shape(budget, dims)
    return popsize * dims * (1 + generations)


def differential_evolution_search(task: SearchTask) -> None:
    """scipy's differential evolution with the starts in its first generation."""
    popsize, generations = _de_shape(task.budget, task.dims)
    init: np.ndarray | str = "latinhypercube"
    if task.starts is not None and len(task.starts):
        rng = np.random.default_rng(task.seed)
        population = rng.random((max(popsize * task.dims, len(task.starts) + 1), task.dims))
        population[: len(task.starts)] = task.starts
        init = np.clip(population, 0.0, 1.0)

    def population_cost(x: np.ndarray) -> np.ndarray:  # x: (dims, S) when vectorized
        return np.asarray([o.cost for o in task.run_batch(list(x.T))], dtype=float)

    differential_evolution(
        population_cost,
        bounds=[(0.0, 1.0)] * task.dims,
        maxiter=generations,
        popsize=popsize,
        init=init,
        seed=task.seed,
        polish=False,
        updating="deferred",
        vectorized=True,
        tol=0.0,
    )


def tpe_search(task: SearchTask) -> None:
    """optuna's TPE on GPU-hours, with the SLO's shortfall as a constraint; ``budget`` trials in all."""
    optuna = _import_optuna()
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    sampler = optuna.samplers.TPESampler(seed=task.seed, multivariate=True, constant_liar=task.batch > 1)
    study = optuna.create_study(direction="minimize", sampler=sampler)
    names = [f"x{i}" for i in range(task.dims)]
    for row in task.starts if task.starts is not None else []:
        study.enqueue_trial({n: float(np.clip(v, 0.0, 1.0)) for n, v in zip(names, row, strict=True)})
    done = 0
    while done < task.budget:
        asked = [study.ask() for _ in range(min(max(1, task.batch), task.budget - done))]
        points = [[trial.suggest_float(n, 0.0, 1.0) for n in names] for trial in asked]
        for trial, outcome in zip(asked, task.run_batch(points), strict=True):
            trial.set_constraint("slo_shortfall", outcome.violation)  # feasible at 0 or less
            study.tell(trial, outcome.gpu_hours)
        done += len(asked)


def _import_optuna() -> Any:
    try:
        import optuna
    except ImportError:
        raise ValueError("--search tpe needs optuna: pip install 'gpuscale[tpe]'") from None
    return optuna


SEARCHES: dict[str, Search] = {"de": differential_evolution_search, "tpe": tpe_search}
#: trials each search runs for (budget, dims), for a progress bar's total
SEARCH_TRIALS: dict[str, Callable[[int, int], int]] = {
    "de": differential_evolution_trials,
    "tpe": lambda budget, dims: budget,
}
#: what a search needs installed, checked before any work starts
_REQUIRES: dict[str, Callable[[], object]] = {"tpe": _import_optuna}
DEFAULT_SEARCH = "de"


def get_search(name: str) -> Search:
    """The search called ``name``, once what it needs is known to be installed."""
    if name not in SEARCHES:
        raise ValueError(f"--search {name!r} is not a search; choose one of: {', '.join(SEARCHES)}")
    _REQUIRES.get(name, lambda: None)()
    return SEARCHES[name]
