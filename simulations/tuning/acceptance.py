"""Whether a tuned setting holds out of sample: the tuner's last word on every policy it tuned.

A setting tuned on one window and two cold-start draws can fit that window's accidents (a tuned Mooncake
setting met the SLO on its training window and attained 91.6 % on the held-out part). So a setting is
*accepted* only if it meets the SLO on every held-out window (the part after the training cut, and any
other trace given for validation) under ``ACCEPT_DRAWS`` cold-start draws none of which the search used,
and on rate-perturbed copies of those windows. With no held-out window (``--train-fraction 1``) the
training windows stand in, and the verdict says so.

A tuned gpuscale that never leaves its replica floor is a fixed fleet with extra steps: the trace gives
a forecast-driven policy nothing to gain, and the verdict recommends the fixed fleet instead.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence
from typing import Any

import numpy as np

from simulations.traces.perturb import Perturbation, perturbed
from simulations.profiles import ReplicaProfile
from simulations.fleet.replay import ReplaySettings
from simulations.policies.slo import Slo
from simulations.tuning.tuner import Trial
from simulations.traces.workload import TraceWorkload

#: Settings checked out of sample at most: the search's best, then cheapest ones with more margin.
MAX_CANDIDATES = 3
#: Cold-start draws a tuned setting must meet the SLO under, on every held-out window.
ACCEPT_DRAWS = 5
#: Rate-perturbed copies of each held-out window it must also meet the SLO on (rate x [0.8, 1.2] per 5 min).
ACCEPT_PERTURBATION = Perturbation(copies=2, spread=0.2)
RULE = (
    f"accepted only if it meets the SLO on every held-out window under {ACCEPT_DRAWS} cold-start draws the "
    f"search never used and on {ACCEPT_PERTURBATION.copies} copies of each with the rate moved "
    f"({ACCEPT_PERTURBATION.describe()}); when the search's best is not, the cheapest settings with more "
    f"training margin are checked, {MAX_CANDIDATES} in all"
)


def acceptance_candidates(best: Trial, trials: Sequence[Trial], limit: int = MAX_CANDIDATES) -> list[Trial]:
    """The settings to check, in order: the search's best, then the cheapest feasible trials whose worst
    training attainment is above the best's (more margin than the setting that just failed), each
    with more margin than the one before."""
    chosen = [best]
    for trial in sorted((t for t in trials if t.feasible), key=lambda t: t.gpu_hours):
        if len(chosen) >= limit:
            break
        if trial.attainment > chosen[-1].attainment and trial.params != chosen[-1].params:
            chosen.append(trial)
    return chosen


def acceptance(
    policy: str,
    params: dict[str, Any],
    held_out: Sequence[tuple[str, TraceWorkload]],
    train: Sequence[tuple[str, TraceWorkload]],
    profile: ReplicaProfile,
    slo: Slo,
    settings: ReplaySettings,
    first_unseen_seed: int,
    workers: int = 1,
) -> dict[str, Any]:
    """Replay ``params`` on every held-out window (or, with none, every training window) under the
    acceptance draws and on perturbed copies; JSON-ready, with the verdict and every replay."""
    windows, standing_in = (held_out, False) if held_out else (train, True)
    jobs: list[tuple[str, str, int, TraceWorkload]] = []
    for index, (name, window) in enumerate(windows):
        for draw in range(ACCEPT_DRAWS):
            jobs.append((name, f"draw {draw + 1}", first_unseen_seed + draw, window))
        for copy in range(ACCEPT_PERTURBATION.copies):
            rng = np.random.default_rng([first_unseen_seed, 0xACC, index, copy])
            jobs.append(
                (name, f"rate-perturbed #{copy + 1}", first_unseen_seed, perturbed(window, ACCEPT_PERTURBATION, rng))
            )
    from simulations.tuning.job import replay_each  # tune_job calls this module: imported when used

    replayed = [(window, dataclasses.replace(settings, seed=seed)) for _, _, seed, window in jobs]
    results = replay_each(policy, params, replayed, profile, slo, workers)
    replays: list[dict[str, Any]] = [
        {
            "window": name,
            "replay": label,
            "seed": seed,
            "slo_attainment": round(result.score.slo_attainment, 6),
            "meets_slo": result.score.meets_slo,
            "gpu_hours": round(result.gpu_hours, 4),
        }
        for (name, label, seed, _), result in zip(jobs, results, strict=True)
    ]
    accepted = all(r["meets_slo"] for r in replays)
    return {
        "rule": RULE,
        "accepted": accepted,
        "verdict": verdict(replays, standing_in),
        "held_out": not standing_in,
        "replays": replays,
    }


def verdict(replays: Sequence[dict[str, Any]], standing_in: bool) -> str:
    """One line: accepted or not, the worst miss, and the spread of attainment and GPU-hours over the replays
    (what a setting does out of sample over draws, not on the one draw it is scored on)."""
    missed = [r for r in replays if not r["meets_slo"]]
    where = "the training windows (no held-out part)" if standing_in else "the held-out windows"
    if not missed:
        head = f"accepted: met the SLO in all {len(replays)} replays on {where}"
    else:
        worst = min(missed, key=lambda r: r["slo_attainment"])
        head = (
            f"not accepted: missed the SLO in {len(missed)} of {len(replays)} replays on {where} "
            f"(worst {worst['slo_attainment']:.2%}, {worst['window']} {worst['replay']})"
        )
    attainment = [r["slo_attainment"] for r in replays]
    hours = [r["gpu_hours"] for r in replays]
    return (
        f"{head}; attainment {min(attainment):.2%} to {max(attainment):.2%}, "
        f"{min(hours):.2f} to {max(hours):.2f} GPU-h"
    )


def floor_advice(params: dict[str, Any], scores: Sequence[dict[str, Any]], fixed_replicas: int | None) -> str | None:
    """What to say when a tuned gpuscale never left its replica floor on any scored window, else None."""
    floor = params.get("min_replicas")
    if floor is None or not scores or any(row["peak_replicas"] > floor for row in scores):
        return None
    fleet = f"the tuned fixed fleet of {fixed_replicas}" if fixed_replicas else "a fixed fleet"
    return (
        f"gpuscale's tuned setting is a floor of {int(floor)} replicas that it never left: this trace gives a "
        f"forecast-driven policy nothing to gain; run {fleet} instead"
    )
