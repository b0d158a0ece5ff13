"""Run several policies on one workload and put them side by side, with the oracle.

The yardsticks (the fixed fleet in hindsight, unless a tuned size is given, and the oracle: the cheapest
of several searched plans, so it never costs more than any of them) are searched in ``references``; this
module runs them and the policies as independent tasks on a process pool and puts the results side by
side. The headroom search alone is kept in the comparison (``headroom_oracle``) so that what the budget
plans changed stays visible.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from simulations.fleet.replay import ReplayResult, ReplaySettings, replay
from simulations.policies.attribution import excess_over_oracle
from simulations.policies.controllers import POLICY_ORDER, PolicyContext, create_controller
from simulations.policies.oracle_plans import future_load
from simulations.policies.references import (
    BUDGET_PLANS,
    ORACLE_PLANS,
    error_budget_requests,
    fixed_search_start,
    pick_oracle,
    search_budget_plan,
    search_fixed,
    search_oracle_plan,
)
from simulations.policies.slo import Slo
from simulations.pools import local_pool
from simulations.profiles import ReplicaProfile
from simulations.traces.workload import TraceWorkload

Progress = Callable[[str], None]
#: One independent piece of a comparison: ("policy", name), ("fixed_search", None),
#: ("oracle_plan", (bin_s, lookahead_s)) or ("budget_plan", BudgetPlan).
Task = tuple[str, Any]


@dataclass
class Comparison:
    trace: str
    profile: str
    slo: Slo
    settings: ReplaySettings
    context: PolicyContext
    results: list[ReplayResult] = field(default_factory=list)
    #: the oracle had it only searched one headroom over demand (and the constant fleet)
    headroom_oracle: ReplayResult | None = None

    def oracle(self) -> ReplayResult | None:
        return next((r for r in self.results if r.policy == "oracle"), None)

    def to_json(self) -> dict[str, Any]:
        oracle = self.oracle()
        gpus = self.context.profile.gpus_per_replica
        rows = []
        for r in self.results:
            s = r.score
            rows.append(
                {
                    "name": r.policy,
                    "gpu_hours": round(r.gpu_hours, 4),
                    "gpu_hours_vs_oracle": (
                        round(r.gpu_hours / oracle.gpu_hours, 4) if oracle and oracle.gpu_hours > 0 else None
                    ),
                    "slo_attainment": round(s.slo_attainment, 6),
                    "ttft_p50_s": _finite(s.ttft_p50_s),
                    "ttft_p95_s": _finite(s.ttft_p95_s),
                    "ttft_p99_s": _finite(s.ttft_p99_s),
                    "queue_wait_p99_s": _finite(s.queue_wait_p99_s),
                    "scale_events": r.scale_events,
                    "flaps": r.flaps,
                    "meets_slo": s.meets_slo,
                    "mean_replicas": round(r.mean_replicas, 3),
                    "peak_replicas": r.peak_replicas,
                    "unserved": s.unserved,
                    "params": r.params,
                    "excess_over_oracle": (
                        excess_over_oracle(r, oracle, gpus).to_json() if oracle and r is not oracle else None
                    ),
                }
            )
        return {
            "headline": headline(rows),
            "trace": self.trace,
            "profile": self.profile,
            "requests": self.results[0].score.requests if self.results else 0,
            "slo": self.slo.model_dump(),
            "best_possible_attainment": round(best_possible_attainment(self.context, self.slo), 6),
            "seed": self.settings.seed,
            "policies": rows,
            "headroom_oracle": _oracle_summary(self.headroom_oracle),
        }


def _oracle_summary(result: ReplayResult | None) -> dict[str, Any] | None:
    if result is None:
        return None
    return {
        "gpu_hours": round(result.gpu_hours, 4),
        "slo_attainment": round(result.score.slo_attainment, 6),
        "meets_slo": result.score.meets_slo,
        "params": result.params,
    }


BASELINES = ("hpa-gpu", "keda-queue", "keda-kv", "knative", "fixed")


def headline(rows: list[dict[str, Any]]) -> dict[str, Any] | None:
    """gpuscale against the oracle and the cheapest baseline that meets the SLO: the share of
    the baseline-to-oracle GPU-hour gap gpuscale closes (the issue's target is 2/3 or more)."""
    by_name = {r["name"]: r for r in rows}
    ours, oracle = by_name.get("gpuscale"), by_name.get("oracle")
    meeting = [r for r in rows if r["name"] in BASELINES and r["meets_slo"]]
    if ours is None or oracle is None or not meeting:
        return None
    best = min(meeting, key=lambda r: r["gpu_hours"])
    gap = best["gpu_hours"] - oracle["gpu_hours"]
    return {
        "gpuscale_gpu_hours": ours["gpu_hours"],
        "gpuscale_meets_slo": ours["meets_slo"],
        "oracle_gpu_hours": oracle["gpu_hours"],
        "best_baseline": best["name"],
        "best_baseline_gpu_hours": best["gpu_hours"],
        "gpuscale_vs_oracle": round(ours["gpu_hours"] / oracle["gpu_hours"], 4) if oracle["gpu_hours"] else None,
        "gpuscale_vs_best_baseline": round(ours["gpu_hours"] / best["gpu_hours"], 4) if best["gpu_hours"] else None,
        "gap_closed": round((best["gpu_hours"] - ours["gpu_hours"]) / gap, 4) if gap > 1e-9 else None,
    }


def _finite(value: float) -> float | None:
    """JSON has no infinity: a percentile that hit unserved requests is ``null``."""
    return round(value, 4) if math.isfinite(value) else None


def best_possible_attainment(context: PolicyContext, slo: Slo) -> float:
    """Share of requests that can meet the TTFT target at all: alone on an idle replica, a
    prompt still needs its prefill steps. No policy, the oracle included, can beat this."""
    p = context.profile
    prompt = context.workload.prompt_tokens
    steps = np.ceil(prompt / p.max_batched_tokens)
    attention = p.prefill_attention_s_per_token2 * prompt**2
    alone = steps * p.decode_step_base_s + prompt / p.prefill_tokens_per_s + attention
    return float(np.mean(alone <= slo.ttft_s)) if prompt.size else 1.0


def initial_replicas(
    workload: TraceWorkload, profile: ReplicaProfile, min_replicas: int, utilization: float = 0.7
) -> int:
    """Where the reactive policies start: the first five minutes' mean demand at ``utilization``."""
    load = future_load(workload, profile, 10.0)[:30]
    return max(min_replicas, 1, math.ceil(float(np.mean(load)) / utilization - 1e-9))


@dataclass(frozen=True)
class ReplayJob:
    """What every replay of one comparison needs; sent once to each worker process."""

    workload: TraceWorkload
    profile: ReplicaProfile
    context: PolicyContext
    slo: Slo
    settings: ReplaySettings
    params: dict[str, dict[str, Any]]
    max_replicas: int

    def runner(self, progress: Progress | None = None) -> Callable[[str, dict[str, Any]], ReplayResult]:
        def run(name: str, extra: dict[str, Any]) -> ReplayResult:
            merged = {**self.params.get(name, {}), **extra}
            if progress is not None:
                progress(f"replaying {name} {_describe(merged)}".strip())
            controller = create_controller(name, self.context, merged)
            result = replay(self.workload, self.profile, controller, self.slo, self.settings)
            result.params = {k: _json_safe(v) for k, v in merged.items() if isinstance(v, int | float | str)}
            return result

        return run

    def do(self, task: Task, progress: Progress | None = None) -> Any:
        run = self.runner(progress)
        kind, argument = task
        if kind == "policy":
            return run(argument, {})
        if kind == "fixed_search":
            return search_fixed(run, self.max_replicas, start=fixed_search_start(self.workload, self.profile))
        if kind == "budget_plan":
            return search_budget_plan(run, argument, error_budget_requests(self.workload, self.slo))
        return search_oracle_plan(run, argument)

    def oracles(self, done: dict[Task, Any], progress: Progress | None = None) -> tuple[ReplayResult, ReplayResult]:
        """(the oracle, the headroom search's oracle) from the finished tasks of ``oracle_tasks``."""
        run = self.runner(progress)
        fixed = done[("fixed_search", None)]
        headroom = [done[("oracle_plan", plan)] for plan in ORACLE_PLANS]
        budget = [done[("budget_plan", plan)] for plan in BUDGET_PLANS]
        return pick_oracle(run, headroom + budget, fixed), pick_oracle(run, headroom, fixed)


def oracle_tasks() -> list[Task]:
    """The tasks behind the oracle: the constant fleet's search and every plan's."""
    return [
        ("fixed_search", None),
        *(("oracle_plan", plan) for plan in ORACLE_PLANS),
        *(("budget_plan", plan) for plan in BUDGET_PLANS),
    ]


def _task_done(task: Task) -> str:
    kind, argument = task
    if kind == "policy":
        return f"replayed {argument}"
    if kind == "fixed_search":
        return "searched the smallest fixed fleet"
    if kind == "budget_plan":
        return f"searched the oracle's budget schedules with {argument.describe()}"
    return f"searched the oracle's headroom with {argument[0]:g} s bins"


_WORKER_JOB: list[ReplayJob] = []


def _init_worker(job: ReplayJob) -> None:
    _WORKER_JOB[:] = [job]


def _run_task(task: Task) -> tuple[Task, Any]:
    return task, _WORKER_JOB[0].do(task)


def run_tasks(job: ReplayJob, tasks: Sequence[Task], workers: int, progress: Progress | None) -> dict[Task, Any]:
    """Every task's result, by task: in this process one after another, or in ``workers`` processes
    (the searches, which take longest, handed out first)."""
    if workers <= 1 or len(tasks) <= 1:
        return {task: job.do(task, progress) for task in tasks}
    ordered = sorted(tasks, key=lambda t: t[0] == "policy")
    done: dict[Task, Any] = {}
    with local_pool(min(workers, len(tasks)), _init_worker, (job,)) as pool:
        for task, result in pool.imap_unordered(_run_task, ordered):
            done[task] = result
            if progress is not None:
                progress(f"{_task_done(task)} ({len(done)} of {len(tasks)})")
    return done


def compare(
    workload: TraceWorkload,
    profile: ReplicaProfile,
    policies: Sequence[str],
    slo: Slo,
    settings: ReplaySettings,
    min_replicas: int = 1,
    max_replicas: int = 100,
    params: dict[str, dict[str, Any]] | None = None,
    progress: Progress | None = None,
    workers: int = 1,
) -> Comparison:
    """Replay each named policy; ``fixed`` (without tuned ``replicas``) and ``oracle`` are searched as
    described above.

    The replays are independent tasks: each policy, the fixed fleet's search and each of the oracle's
    plans. With ``workers`` > 1 they run in that many processes, with the same results. ``progress``
    hears a phrase per replay started (one process) or per task finished (several)."""
    unknown = [p for p in policies if p not in POLICY_ORDER]
    if unknown:
        raise ValueError(f"unknown policy {unknown[0]!r}; valid: {', '.join(POLICY_ORDER)}, all")
    context = PolicyContext(
        profile=profile,
        workload=workload,
        min_replicas=min_replicas,
        max_replicas=max_replicas,
        initial_replicas=initial_replicas(workload, profile, min_replicas),
        rate_window_s=settings.rate_window_s,
        seed=settings.seed,
    )
    job = ReplayJob(workload, profile, context, slo, settings, params or {}, max_replicas)
    names = [p for p in POLICY_ORDER if p in policies]
    tuned_fixed = "replicas" in job.params.get("fixed", {})
    tasks: list[Task] = [("policy", n) for n in names if n != "oracle" and not (n == "fixed" and not tuned_fixed)]
    if "oracle" in names:
        tasks.extend(oracle_tasks())  # the oracle always knows the constant plan that fits
    elif "fixed" in names and not tuned_fixed:
        tasks.append(("fixed_search", None))
    done = run_tasks(job, tasks, workers, progress)
    comparison = Comparison(workload.name, profile.name, slo, settings, context)
    for name in names:
        if name == "fixed":  # a tuned size (chosen on a training window) is replayed as it is
            comparison.results.append(done[("policy", "fixed") if tuned_fixed else ("fixed_search", None)])
        elif name == "oracle":
            oracle, comparison.headroom_oracle = job.oracles(done, progress)
            comparison.results.append(oracle)
        else:
            comparison.results.append(done[("policy", name)])
    return comparison


def _json_safe(value: float | str) -> float | str:
    return value if isinstance(value, str) or math.isfinite(value) else str(value)


def _describe(params: dict[str, Any]) -> str:
    shown = {k: v for k, v in params.items() if isinstance(v, int | float)}
    return " ".join(f"{k}={v:g}" for k, v in shown.items())
