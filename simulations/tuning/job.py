"""A whole tuning job: split traces into training and validation windows, tune each policy,
replay the winners out of sample next to the fixed fleet and the oracle, and summarise.

The parallel ``map`` comes from :func:`open_pool`: local processes by default, or a Ray
cluster (``ray.util.multiprocessing.Pool``) when an address is given.
"""

from __future__ import annotations

import contextlib
import dataclasses
import hashlib
import os
import socket
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from scaler.policy import PolicySpec
from scaler.policy_file import PolicyFile
from simulations.fleet.replay import ReplayResult, ReplaySettings, replay
from simulations.policies.attribution import excess_over_oracle
from simulations.policies.compare import ReplayJob, initial_replicas, oracle_tasks, run_tasks
from simulations.policies.controllers import PolicyContext, create_controller, gpuscale_spec
from simulations.policies.slo import Slo
from simulations.pools import local_pool
from simulations.profiles import ReplicaProfile
from simulations.traces.perturb import Perturbation, perturbed_copies
from simulations.traces.workload import TraceWorkload
from simulations.tuning.acceptance import acceptance, acceptance_candidates, floor_advice
from simulations.tuning.knob_space import Sizing
from simulations.tuning.search import DEFAULT_SEARCH, get_search
from simulations.tuning.tuner import (
    DEFAULT_DRAWS,
    DEFAULT_MARGIN,
    TUNABLE,
    EvalContext,
    Mapper,
    Param,
    Trial,
    TuneResult,
    _init_worker,
    gpuscale_starts,
    required_attainment,
    search_space,
    tune,
    tune_trials,
)


@dataclass(frozen=True)
class Split:
    trace: str
    train: TraceWorkload
    validation: TraceWorkload | None


def split(workload: TraceWorkload, train_fraction: float) -> Split:
    """The first ``train_fraction`` of the span to tune on, and the rest to validate: the whole trace
    scored from the cut, so every policy reaches the held-out part as it would running (its fleet, its
    windows, its forecaster's view of the training part), not from a fresh fleet."""
    if not 0.1 <= train_fraction <= 1.0:
        raise ValueError(f"--train-fraction must be between 0.1 and 1.0, got {train_fraction}")
    cut = workload.span_s * train_fraction
    head = workload.arrival_s < cut
    train = TraceWorkload(
        f"{workload.name} (train)",
        workload.arrival_s[head],
        workload.prompt_tokens[head],
        workload.output_tokens[head],
        workload.history,
    )
    validation = None
    if train_fraction < 1.0 and not head.all():
        validation = dataclasses.replace(workload, name=f"{workload.name} (validation)", scored_from_s=cut)
    return Split(workload.name, train, validation)


#: Ray's default ports: the client server (ray://) and the GCS of a head.
_RAY_PORTS = {"ray://": 10001, "": 6379}


def check_ray_address(address: str, timeout_s: float = 5.0) -> None:
    """Fail at once, naming the address, when nothing listens where it points.

    Ray itself retries an address with no head behind it for minutes before it gives up, after the
    traces are loaded. ``auto`` (a head on this machine, found by Ray) is left to Ray.
    """
    if address == "auto":
        return
    scheme = "ray://" if address.startswith("ray://") else ""
    target = address.removeprefix(scheme)
    host, colon, port = target.rpartition(":")
    if not colon:
        host, port = target, str(_RAY_PORTS[scheme])
    if not host or "/" in target or not port.isdigit():
        raise ValueError(f"--ray-address {address!r} is not an address; allowed: host:port, ray://host:port or auto")
    try:
        socket.create_connection((host.strip("[]"), int(port)), timeout=timeout_s).close()
    except OSError as exc:
        raise ValueError(
            f"--ray-address {address!r}: nothing answers at {host}:{port} ({exc.strerror or exc})"
        ) from None


@contextlib.contextmanager
def open_pool(ctx: EvalContext, workers: int, ray_address: str | None) -> Iterator[Mapper]:
    """A ``map`` over trials: a local process pool, or Ray's when ``ray_address`` is set."""
    if ray_address is not None:
        try:
            import ray
            from ray.util.multiprocessing import Pool as RayPool
        except ImportError:
            raise ValueError("--ray-address needs Ray: pip install 'gpuscale[ray]'") from None
        connected_before = ray.is_initialized()
        ray_pool = RayPool(
            processes=workers or None, initializer=_init_worker, initargs=(ctx,), ray_address=ray_address
        )
        try:
            yield ray_pool.map
        finally:
            ray_pool.terminate()  # type: ignore[no-untyped-call]
            # Disconnect what the pool connected: a driver left attached to a cluster that later stops
            # is ended by Ray (exit 1, a minute after the cluster is gone), whatever it is doing then.
            if not connected_before:
                ray.shutdown()
        return
    if workers <= 1:
        _init_worker(ctx)
        yield lambda fn, items: [fn(i) for i in items]
        return
    with local_pool(workers, _init_worker, (ctx,)) as pool:
        yield pool.map


def _replay_context(workload: TraceWorkload, profile: ReplicaProfile, settings: ReplaySettings) -> PolicyContext:
    """What every tuning replay's policy knows: one replica at least, 100 at most."""
    return PolicyContext(
        profile=profile,
        workload=workload,
        initial_replicas=initial_replicas(workload, profile, 1),
        rate_window_s=settings.rate_window_s,
        seed=settings.seed,
    )


def replay_params(
    policy: str,
    params: dict[str, Any],
    workload: TraceWorkload,
    profile: ReplicaProfile,
    slo: Slo,
    settings: ReplaySettings,
) -> ReplayResult:
    context = _replay_context(workload, profile, settings)
    result = replay(workload, profile, create_controller(policy, context, params), slo, settings)
    result.params = dict(params)
    return result


def _replay_window(
    args: tuple[str, dict[str, Any], TraceWorkload, ReplicaProfile, Slo, ReplaySettings],
) -> ReplayResult:
    return replay_params(*args)


def replay_each(
    policy: str,
    params: dict[str, Any],
    replays: Sequence[tuple[TraceWorkload, ReplaySettings]],
    profile: ReplicaProfile,
    slo: Slo,
    workers: int,
) -> list[ReplayResult]:
    """``policy`` replayed once per (window, settings), side by side on up to ``workers`` processes."""
    args = [(policy, params, window, profile, slo, settings) for window, settings in replays]
    if workers <= 1 or len(args) <= 1:
        return [_replay_window(a) for a in args]
    with local_pool(min(workers, len(args))) as pool:  # a window goes to one worker: sent once either way
        return pool.map(_replay_window, args)


def replay_windows(
    policy: str,
    params: dict[str, float],
    windows: Sequence[TraceWorkload],
    profile: ReplicaProfile,
    slo: Slo,
    settings: ReplaySettings,
    workers: int,
) -> list[ReplayResult]:
    """``policy`` replayed on every window: scoring a tuned setting on a day-long training window and
    the whole day after it takes minutes each, so the windows run side by side."""
    return replay_each(policy, params, [(w, settings) for w in windows], profile, slo, workers)


def references(
    workload: TraceWorkload,
    profile: ReplicaProfile,
    slo: Slo,
    settings: ReplaySettings,
    max_replicas: int,
    workers: int = 1,
) -> tuple[ReplayResult, ReplayResult]:
    """The fixed fleet and the oracle on ``workload``: the baseline everyone runs and the floor. The
    fleet's search and the oracle's plans run side by side on ``workers`` processes."""
    job = ReplayJob(workload, profile, _replay_context(workload, profile, settings), slo, settings, {}, max_replicas)
    done = run_tasks(job, oracle_tasks(), workers, None)
    return done[("fixed_search", None)], job.oracles(done)[0]


def _row(result: ReplayResult, oracle: ReplayResult) -> dict[str, Any]:
    return {
        "gpu_hours": round(result.gpu_hours, 4),
        "peak_replicas": result.peak_replicas,
        "scale_events": result.scale_events,
        "gpu_hours_vs_oracle": round(result.gpu_hours / oracle.gpu_hours, 4) if oracle.gpu_hours > 0 else None,
        "slo_attainment": round(result.score.slo_attainment, 6),
        "meets_slo": result.score.meets_slo,
        "ttft_p99_s": result.score.ttft_p99_s if np.isfinite(result.score.ttft_p99_s) else None,
    }


Window = tuple[str, str, TraceWorkload]  # (trace, kind, workload): kind is train, validation or other trace


def run_tuning(
    splits: Sequence[Split],
    extra_validation: Sequence[TraceWorkload],
    profile: ReplicaProfile,
    policies: Sequence[str],
    slo: Slo,
    settings: ReplaySettings,
    budget: int,
    workers: int,
    ray_address: str | None = None,
    max_replicas: int = 100,
    progress: Callable[[str, int], None] | None = None,
    margin: float = DEFAULT_MARGIN,
    draws: int = DEFAULT_DRAWS,
    perturbation: Perturbation | None = None,
    search: str = DEFAULT_SEARCH,
) -> dict[str, Any]:
    """Tune ``policies`` on the training windows (and ``perturbation``'s copies of them) with the global
    ``search``; score the winners on the real windows. JSON-ready. ``progress(stage, trials)`` hears of
    each stage (with 0) and of each batch of trials done."""
    unknown = [p for p in policies if p not in TUNABLE]
    if unknown:
        raise ValueError(f"--policy {unknown[0]!r} cannot be tuned; tunable: {', '.join(TUNABLE)}, all")
    get_search(search)  # an unknown name or a missing optuna fails before any replay
    held_out: list[Window] = [(s.trace, "validation", s.validation) for s in splits if s.validation is not None]
    held_out += [(w.name, "other trace", w) for w in extra_validation]
    job = _TuningJob(
        splits=splits,
        held_out=held_out,
        profile=profile,
        slo=slo,
        settings=settings,
        # Scores come from a cold-start draw the search never saw (it used seeds seed .. seed + draws - 1).
        scoring=dataclasses.replace(settings, seed=settings.seed + draws),
        budget=budget,
        workers=workers,
        ray_address=ray_address,
        max_replicas=max_replicas,
        progress=progress,
        margin=margin,
        draws=draws,
        perturbation=perturbation or Perturbation(),
        search=search,
    )
    return job.run(policies)


@dataclass
class _TuningJob:
    """One tuning run's inputs and the state its stages share: references, then each policy's search,
    acceptance out of sample and scores."""

    splits: Sequence[Split]
    held_out: list[Window]
    profile: ReplicaProfile
    slo: Slo
    settings: ReplaySettings
    scoring: ReplaySettings
    budget: int
    workers: int
    ray_address: str | None
    max_replicas: int
    progress: Callable[[str, int], None] | None
    margin: float
    draws: int
    perturbation: Perturbation
    search: str

    def run(self, policies: Sequence[str]) -> dict[str, Any]:
        train = [s.train for s in self.splits]
        evaluation: list[Window] = [(s.trace, "train", s.train) for s in self.splits] + self.held_out
        self._report(f"sizing the fixed fleets and oracles of {len(evaluation)} window{_s(evaluation)}", 0)
        refs = {
            id(w): references(w, self.profile, self.slo, self.scoring, self.max_replicas, self.workers)
            for _, _, w in evaluation
        }
        copies = [c for i, w in enumerate(train) for c in perturbed_copies(w, self.perturbation, self.settings.seed, i)]
        # Trials that miss the SLO are charged at least twice the fixed fleets' GPU-hours, to steer the search;
        # a perturbed copy spans its window, so the same fleet costs the same there.
        penalty = sum(refs[id(w)][0].gpu_hours for w in train) * (1 + self.perturbation.copies)
        max_floor = max(_fleet_size(refs[id(w)][0]) for w in train)
        out = self._header(evaluation, refs, copies)
        tuned_params: dict[str, dict[str, float]] = {}
        # The fixed fleet first (the other policies' floors may reach it), gpuscale last: the tuned baselines'
        # settings warm-start its search (see gpuscale_starts).
        for policy in sorted(policies, key=lambda p: (p == "gpuscale", p != "fixed")):
            ctx = EvalContext(
                policy,
                tuple(search_space(policy, self.profile, max_floor + 2, self.max_replicas)),
                (*train, *copies),
                self.profile,
                self.slo,
                self.settings,
                self.max_replicas,
                penalty,
                self.margin,
                self.draws,
                # gpuscale's utilization is a fraction of what a replica sustains at the training windows' token
                # lengths, the same fraction on every window and in the exported file
                Sizing.of(w.token_mix for w in train).as_params() if policy == "gpuscale" else {},
            )
            result = self._search(policy, ctx, tuned_params, max_floor)
            chosen, checked = self._accept(policy, result)
            tuned_params[policy] = chosen.params
            if policy == "fixed" and chosen.feasible:
                max_floor = max(max_floor, int(chosen.params["replicas"]))
            scores = self._score(policy, chosen, evaluation, refs)
            out["policies"][policy] = {
                "params": {k: round(v, 4) for k, v in chosen.params.items()},
                "scores": scores,
                "degradation": degradation(scores),
                "acceptance": checked,
                "trials": [_trial(t) for t in result.trials],
            }
            if policy == "gpuscale":
                fixed_replicas = tuned_params.get("fixed", {}).get("replicas")
                out["policies"][policy]["advice"] = floor_advice(
                    chosen.params, scores, None if fixed_replicas is None else int(fixed_replicas)
                )
        out["policies"] = {p: out["policies"][p] for p in policies}  # the order asked for
        return out

    def _report(self, stage: str, done: int) -> None:
        if self.progress is not None:
            self.progress(stage, done)

    def _header(
        self, evaluation: list[Window], refs: dict[int, tuple[ReplayResult, ReplayResult]], copies: list[TraceWorkload]
    ) -> dict[str, Any]:
        """What the run was: its settings, windows and their reference fleets (the policies come after)."""
        return {
            "profile": self.profile.name,
            "slo": self.slo.model_dump(),
            "seed": self.settings.seed,
            "scoring_seed": self.scoring.seed,
            "budget_per_policy": self.budget,
            "search": self.search,
            "margin": self.margin,
            "required_attainment": required_attainment(self.slo, self.margin),
            "draws": self.draws,
            "perturbation": dataclasses.asdict(self.perturbation)
            | {"tuned_on": [{"name": c.name, "requests": c.requests} for c in copies]},
            "executor": f"ray ({self.ray_address})" if self.ray_address else f"local processes ({self.workers})",
            "windows": [
                {
                    "trace": trace,
                    "kind": kind,
                    "requests": w.scored_requests,
                    "span_s": round(w.scored_span_s, 1),
                    "warm_up_s": round(w.scored_from_s, 1),
                }
                for trace, kind, w in evaluation
            ],
            "references": {
                f"{trace} [{kind}]": {
                    "fixed": _row(refs[id(w)][0], refs[id(w)][1]) | {"replicas": refs[id(w)][0].params.get("replicas")},
                    "oracle": _row(refs[id(w)][1], refs[id(w)][1]),
                }
                for trace, kind, w in evaluation
            },
            "policies": {},
        }

    def _search(
        self, policy: str, ctx: EvalContext, tuned_params: dict[str, dict[str, float]], max_floor: int
    ) -> TuneResult:
        """The global search for ``policy`` on the training windows and their perturbed copies."""
        stage = f"tuning {policy}"
        self._report(stage, 0)
        with open_pool(ctx, self.workers, self.ray_address) as mapper:
            fleet = int(tuned_params.get("fixed", {}).get("replicas", max_floor))
            starts = gpuscale_starts(tuned_params, self.profile, fleet) if policy == "gpuscale" else None
            return tune(
                policy,
                ctx,
                mapper,
                trials_for(self.budget, len(ctx.space)),
                self.settings.seed,
                start=starts or None,
                on_trials=lambda done: self._report(stage, done),
                search=self.search,
                batch=max(1, self.workers),
                fleet=fleet,
            )

    def _accept(self, policy: str, result: TuneResult) -> tuple[Trial, dict[str, Any]]:
        """Acceptance picks the setting: the search's best, or the cheapest setting with more training margin
        that holds out of sample (simulations.tuning.acceptance)."""
        self._report(f"checking {policy}'s setting out of sample", 0)
        chosen, checks = result.best, []
        for candidate in acceptance_candidates(result.best, result.trials):
            checks.append(
                acceptance(
                    policy,
                    candidate.params,
                    [(f"{trace} [{kind}]", w) for trace, kind, w in self.held_out],
                    [(f"{s.trace} [train]", s.train) for s in self.splits],
                    self.profile,
                    self.slo,
                    self.settings,
                    self.scoring.seed,
                    self.workers,
                )
            )
            if checks[-1]["accepted"]:
                chosen = candidate
                break
        checked = checks[-1] if checks[-1]["accepted"] else checks[0]
        checked["candidates_checked"] = len(checks)
        if chosen is not result.best:
            checked["verdict"] += (
                f"; the search's best was not accepted, so this is the cheapest setting with more training margin"
                f" that was ({len(checks) - 1} not accepted before it)"
            )
        return chosen, checked

    def _score(
        self,
        policy: str,
        chosen: Trial,
        evaluation: list[Window],
        refs: dict[int, tuple[ReplayResult, ReplayResult]],
    ) -> list[dict[str, Any]]:
        """The chosen setting replayed on every window, beside its oracle."""
        self._report(f"scoring {policy} on {len(evaluation)} window{_s(evaluation)}", 0)
        windows = [w for _, _, w in evaluation]
        replays = replay_windows(policy, chosen.params, windows, self.profile, self.slo, self.scoring, self.workers)
        scores = []
        for (trace, kind, w), replayed in zip(evaluation, replays, strict=True):
            oracle = refs[id(w)][1]
            excess = excess_over_oracle(replayed, oracle, self.profile.gpus_per_replica).to_json()
            scores.append({"trace": trace, "kind": kind} | _row(replayed, oracle) | {"excess_over_oracle": excess})
        return scores


def _fleet_size(fixed: ReplayResult) -> int:
    """The replicas of a fixed fleet's replay (1 if it records none)."""
    replicas = fixed.params.get("replicas", 1)
    return int(replicas) if isinstance(replicas, int | float) else 1


def _s(items: Sequence[object]) -> str:
    return "" if len(items) == 1 else "s"


#: ``budget`` buys this many searched parameters; a larger space gets proportionally more trials,
#: so every policy gets the same search effort per parameter (gpuscale has 8, the baselines 2-3).
BUDGET_DIMENSIONS = 3


def trials_for(budget: int, dimensions: int) -> int:
    return max(budget, round(budget * dimensions / BUDGET_DIMENSIONS))


def planned_trials(policy: str, budget: int, space: Sequence[Param], search: str = DEFAULT_SEARCH) -> int:
    """Trials tuning ``policy`` takes at most (a progress bar's total) for the CLI's ``budget``."""
    return tune_trials(policy, space, trials_for(budget, len(space)), search)


def planned_total(
    policies: Sequence[str], budget: int, profile: ReplicaProfile, max_replicas: int, search: str = DEFAULT_SEARCH
) -> int:
    """A tuning run's progress total: every policy's ``planned_trials``."""
    return sum(planned_trials(p, budget, search_space(p, profile, 2, max_replicas), search) for p in policies)


def _trial(t: Trial) -> dict[str, Any]:
    return {
        "params": {k: round(v, 4) for k, v in t.params.items()},
        "gpu_hours": round(t.gpu_hours, 4),
        "slo_attainment": round(t.attainment, 6),
        "meets_slo": t.meets_slo,
        "feasible": t.feasible,
    }


def degradation(scores: Sequence[dict[str, Any]]) -> dict[str, Any]:
    """In-sample against out-of-sample: GPU-hours relative to the oracle, and SLO attainment."""
    inside = [s for s in scores if s["kind"] == "train"]
    outside = [s for s in scores if s["kind"] != "train"]

    def mean(rows: Sequence[dict[str, Any]], key: str) -> float | None:
        values = [r[key] for r in rows if r[key] is not None]
        return round(float(np.mean(values)), 4) if values else None

    return {
        "in_sample_vs_oracle": mean(inside, "gpu_hours_vs_oracle"),
        "out_of_sample_vs_oracle": mean(outside, "gpu_hours_vs_oracle"),
        "in_sample_attainment": mean(inside, "slo_attainment"),
        "out_of_sample_attainment": mean(outside, "slo_attainment"),
        "out_of_sample_meets_slo": all(s["meets_slo"] for s in outside) if outside else None,
    }


def file_fingerprint(path: Path) -> dict[str, str]:
    """A trace as a policy file records it: the path given and the SHA-256 of its bytes, so a replay can
    tell that it has the very same trace."""
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return {"path": str(path), "sha256": digest.hexdigest()}


def tuned_policy_file(
    name: str, summary: dict[str, Any], profile: ReplicaProfile, scenario: dict[str, Any]
) -> PolicyFile:
    """The versioned file the live scaler loads: gpuscale's tuned parameters, the whole scenario they
    were tuned on (traces and their hashes, rate and time scale, window, profile, SLO, draws), and what
    was measured."""
    tuned = summary["policies"]["gpuscale"]
    context = PolicyContext(profile=profile, workload=_EMPTY, min_replicas=int(tuned["params"].get("min_replicas", 1)))
    spec: PolicySpec = gpuscale_spec(context, tuned["params"])
    return PolicyFile(
        name=name,
        policy=spec,
        tuned_for={
            **scenario,
            "profile": profile.name,
            "slo": summary["slo"],
            "budget": summary["budget_per_policy"],
            "search": summary.get("search", DEFAULT_SEARCH),
            "margin": summary.get("margin", 0.0),
            "draws": summary.get("draws", 1),
            "perturbed_copies": summary.get("perturbation", {}).get("copies", 0),
            "seed": summary["seed"],
        },
        scores={
            "windows": tuned["scores"],
            "degradation": tuned["degradation"],
            "accepted": tuned["acceptance"]["accepted"],
            "acceptance": tuned["acceptance"]["verdict"],
        },
    )


_EMPTY = TraceWorkload("none", np.zeros(0), np.zeros(0, dtype=np.int64), np.zeros(0, dtype=np.int64))


def default_workers() -> int:
    return max(1, len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else (os.cpu_count() or 1))
