"""The tuner on a real trace: it improves a bad policy, its file round-trips through the scaler's
loader, it runs on a real local Ray cluster with the same results, and `gpuscale tune` works."""

from __future__ import annotations

import dataclasses
import hashlib
import json
import os
import re
import secrets
import shutil
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from scaler.policy_file import PolicyFileError, PolicyStore, dump_policy_file, load_policy_file
from simulations.fleet.replay import ReplaySettings
from simulations.policies.compare import compare
from simulations.policies.controllers import PolicyContext, gpuscale_spec
from simulations.policies.slo import Slo
from simulations.profiles import load_profile
from simulations.reports.html import write_tuning_report
from simulations.traces.perturb import Perturbation, perturbed_copies
from simulations.traces.scenario import build_workload
from simulations.traces.workload import Reshape, TraceWorkload
from simulations.tuning.job import open_pool, planned_trials, run_tuning, split, tuned_policy_file
from simulations.tuning.knob_space import Sizing
from simulations.tuning.tuner import FLEET_CANDIDATES, EvalContext, evaluate, fleet_equivalent, search_space, tune
from tests.conftest import TRACES
from tests.support.net import free_port

pytestmark = [
    pytest.mark.integration,
    pytest.mark.skipif(not TRACES.is_dir(), reason=f"shared traces not found at {TRACES}"),
]
PROFILE = load_profile("llama3-8b-h100")
GPUSCALE = [sys.executable, "-m", "simulations.cli"]


@pytest.fixture(scope="module")
def window() -> TraceWorkload:
    return build_workload(TRACES / "azure2023_code.csv", Reshape(rate_scale=10, end_s=900), seed=0)


def context(policy: str, workload: TraceWorkload) -> EvalContext:
    space = tuple(search_space(policy, PROFILE, 40))
    return EvalContext(policy, space, (workload,), PROFILE, Slo(), ReplaySettings(), 100, penalty_base=10.0)


@pytest.mark.parametrize("search", ["de", "tpe"])
def test_tuner_improves_a_deliberately_bad_policy(window: TraceWorkload, search: str) -> None:
    """Start: queue scaling at one waiting request per replica with a floor of 40 (meets the SLO, wastes GPUs)."""
    ctx = context("keda-queue", window)
    bad = {"target": 1.0, "scale_down_window_s": 900.0, "min_replicas": 40.0}
    start = evaluate(ctx, bad)
    with open_pool(ctx, workers=2, ray_address=None) as mapper:
        result = tune("keda-queue", ctx, mapper, budget=24, seed=0, start=bad, search=search, batch=2)
    assert start.params == bad and start in result.trials  # the bad policy was among the first trials
    assert result.best.meets_slo
    assert result.best.gpu_hours < 0.8 * start.gpu_hours
    assert len(result.trials) >= 24


def test_every_cold_start_draw_must_meet_the_slo(window: TraceWorkload) -> None:
    """With three draws a trial costs the draws' mean GPU-hours and attains the worst draw's share."""
    setting = {"target": 4.0, "scale_down_window_s": 60.0, "min_replicas": 8.0}
    single = [
        evaluate(dataclasses.replace(context("keda-queue", window), settings=ReplaySettings(seed=seed)), setting)
        for seed in (0, 1, 2)
    ]
    pooled = evaluate(dataclasses.replace(context("keda-queue", window), draws=3), setting)
    assert len({t.attainment for t in single}) > 1  # the draws differ: there is luck to average out
    assert pooled.attainment == min(t.attainment for t in single)
    assert pooled.gpu_hours == pytest.approx(sum(t.gpu_hours for t in single) / 3)
    assert pooled.feasible == all(t.feasible for t in single)


def test_fixed_fleet_is_sized_on_the_training_window_and_replayed_as_tuned(window: TraceWorkload) -> None:
    """The fixed baseline gets the tuner too: the smallest fleet that meets the SLO with the margin on the
    training window. Replayed elsewhere it keeps that size; only the oracle still sizes one in hindsight."""
    parts = split(window, 0.7)
    ctx = dataclasses.replace(context("fixed", parts.train), margin=0.1)
    with open_pool(ctx, workers=2, ray_address=None) as mapper:
        result = tune("fixed", ctx, mapper, budget=80, seed=0)
    replicas = result.best.params["replicas"]
    assert result.best.feasible and len(result.trials) <= 8
    assert not evaluate(ctx, {"replicas": replicas - 1}).feasible  # one fewer misses 99.1 %
    assert parts.validation is not None
    tuned = compare(
        parts.validation,
        PROFILE,
        ["fixed", "oracle"],
        Slo(),
        ReplaySettings(),
        params={"fixed": {"replicas": replicas}},
    )
    hindsight = compare(parts.validation, PROFILE, ["fixed"], Slo(), ReplaySettings())
    rows = {r.policy: r for r in tuned.results}
    assert rows["fixed"].params["replicas"] == replicas
    assert hindsight.results[0].params["replicas"] != replicas  # the held-out window alone needs another size
    assert rows["oracle"].gpu_hours <= hindsight.results[0].gpu_hours


@pytest.mark.parametrize("policy", sorted(FLEET_CANDIDATES))
def test_a_baseline_set_as_a_fixed_fleet_replays_as_that_fleet(window: TraceWorkload, policy: str) -> None:
    """The candidate every baseline's search is given: its floor at the fleet and its threshold where no
    signal asks for more. It replays tick for tick as the fixed fleet, so a tuned baseline never costs more."""
    fleet = evaluate(context("fixed", window), {"replicas": 31.0})
    point = fleet_equivalent(policy, search_space(policy, PROFILE, 40), 31)
    assert point["min_replicas"] == 31.0
    as_fleet = evaluate(context(policy, window), point)
    assert (as_fleet.gpu_hours, as_fleet.attainment) == (fleet.gpu_hours, fleet.attainment)


def test_the_fleet_candidate_is_tried_after_the_search(window: TraceWorkload) -> None:
    ctx = context("hpa-gpu", window)
    point = fleet_equivalent("hpa-gpu", ctx.space, 31)
    with open_pool(ctx, workers=2, ray_address=None) as mapper:
        without = tune("hpa-gpu", ctx, mapper, budget=9, seed=0, batch=2)
        with_fleet = tune("hpa-gpu", ctx, mapper, budget=9, seed=0, batch=2, fleet=31)
    assert point not in [t.params for t in without.trials]
    assert [t.params for t in with_fleet.trials].count(point) == 1
    # the search's own trials are the same; the candidate comes after them
    assert [t.params for t in with_fleet.trials if t.params != point] == [t.params for t in without.trials]
    assert with_fleet.best.gpu_hours <= evaluate(ctx, point).gpu_hours


@pytest.mark.parametrize(
    ("case", "margin", "feasible"),
    [("no-margin", 0.0, True), ("half-the-error-budget", 0.5, False)],
)
def test_margin_turns_a_bare_pass_infeasible(window: TraceWorkload, case: str, margin: float, feasible: bool) -> None:
    """A floor of 30 attains 98.90 % on this window: it meets a 98.9 % SLO, but not with half its budget spare."""
    ctx = dataclasses.replace(context("keda-queue", window), slo=Slo(attainment=0.989), margin=margin)
    trial = evaluate(ctx, {"target": 4.0, "scale_down_window_s": 300.0, "min_replicas": 30.0})
    assert trial.attainment == pytest.approx(0.98903, abs=1e-5), case
    assert (trial.meets_slo, trial.feasible) == (True, feasible), case
    required = 0.989 + margin * 0.011
    assert ctx.required_attainment == pytest.approx(required), case
    penalised = 10.0 * (2.0 + (required - trial.attainment) / 0.011)
    assert trial.cost == pytest.approx(trial.gpu_hours if feasible else penalised), case


def test_perturbed_copies_are_tuned_on_and_recorded(window: TraceWorkload) -> None:
    """A perturbed copy joins the training windows: every trial replays both, and the summary says so.
    Scores stay on the real windows only."""
    perturbation = Perturbation(copies=1, spread=0.3, block_s=120.0)
    parts = split(window, 0.7)
    summary = run_tuning(
        [parts], [], PROFILE, ["fixed"], Slo(), ReplaySettings(), budget=8, workers=2, perturbation=perturbation
    )
    (copy,) = perturbed_copies(parts.train, perturbation, seed=0)
    assert summary["perturbation"] == {
        "copies": 1,
        "spread": 0.3,
        "block_s": 120.0,
        "jitter_s": 1.0,
        "tuned_on": [{"name": copy.name, "requests": copy.requests}],
    }
    assert [s["kind"] for s in summary["policies"]["fixed"]["scores"]] == ["train", "validation"]
    # the search's best on both windows is the smallest fleet that meets the SLO with the margin on each
    fixed = summary["policies"]["fixed"]
    best = min((t for t in fixed["trials"] if t["feasible"]), key=lambda t: t["gpu_hours"])["params"]["replicas"]
    both = dataclasses.replace(context("fixed", parts.train), workloads=(parts.train, copy), margin=0.1)
    assert evaluate(both, {"replicas": best}).feasible
    assert not evaluate(both, {"replicas": best - 1}).feasible
    # it missed the SLO out of sample, so the tuned fleet is a larger one that did not
    assert fixed["acceptance"]["accepted"] and fixed["acceptance"]["candidates_checked"] >= 2
    assert fixed["params"]["replicas"] > best


@pytest.fixture(scope="module")
def tuning_summary(window: TraceWorkload) -> dict[str, object]:
    return run_tuning([split(window, 0.7)], [], PROFILE, ["gpuscale"], Slo(), ReplaySettings(), budget=16, workers=2)


def test_tuning_summary_scores_in_and_out_of_sample(tuning_summary: dict[str, object], window: TraceWorkload) -> None:
    tuned = tuning_summary["policies"]["gpuscale"]  # type: ignore[index]
    assert [s["kind"] for s in tuned["scores"]] == ["train", "validation"]
    train, held_out = tuning_summary["windows"]  # type: ignore[misc]
    # the held-out window is scored after a warm-up through the training window, as a running fleet
    assert (train["warm_up_s"], held_out["warm_up_s"]) == (0.0, round(0.7 * window.span_s, 1))
    assert held_out["span_s"] == round(0.3 * window.span_s, 1)
    assert train["requests"] + held_out["requests"] == window.requests
    assert set(tuned["degradation"]) == {
        "in_sample_vs_oracle",
        "out_of_sample_vs_oracle",
        "in_sample_attainment",
        "out_of_sample_attainment",
        "out_of_sample_meets_slo",
    }
    space = search_space("gpuscale", PROFILE, 2)
    # the progress bar's total is an upper bound: the knob walk stops early at a bound
    assert 16 <= len(tuned["trials"]) <= planned_trials("gpuscale", 16, space)
    # the searched knobs, and the token lengths its utilization is a share of a replica's capacity at
    assert set(tuned["params"]) == {p.name for p in space} | set(Sizing.PARAMS)
    sizing = Sizing.of([split(window, 0.7).train.token_mix]).as_params()
    assert {k: tuned["params"][k] for k in Sizing.PARAMS} == sizing
    assert all(t["params"][k] == sizing[k] for t in tuned["trials"] for k in Sizing.PARAMS)
    assert tuning_summary["margin"] == 0.1  # the default share of the error budget left unspent
    assert tuning_summary["required_attainment"] == pytest.approx(0.991)
    assert (tuning_summary["draws"], tuning_summary["scoring_seed"]) == (2, 2)  # scored on a draw not tuned on
    assert tuning_summary["perturbation"]["copies"] == 0  # perturbed copies are opt-in
    assert tuning_summary["perturbation"]["tuned_on"] == []
    # feasible = met 99.1 %, the SLO plus the margin; every feasible trial meets the SLO itself
    assert all(t["feasible"] == (t["slo_attainment"] >= 0.991 - 1e-12) for t in tuned["trials"])
    assert all(t["meets_slo"] for t in tuned["trials"] if t["feasible"])
    for score in tuned["scores"]:  # where each window's GPU-hours above the oracle went
        excess = score["excess_over_oracle"]
        assert sum(excess["by_reason"].values()) == pytest.approx(excess["over_gpu_hours"], abs=1e-3)
        oracle_hours = score["gpu_hours"] / score["gpu_hours_vs_oracle"]
        net = excess["over_gpu_hours"] - excess["under_gpu_hours"]
        assert net == pytest.approx(score["gpu_hours"] - oracle_hours, abs=0.03 * score["gpu_hours"])


def test_tuning_report_says_what_held_gpuscales_hours_above_the_oracle(
    tuning_summary: dict[str, object], tmp_path: Path
) -> None:
    page = write_tuning_report(tuning_summary, tmp_path).read_text()
    conditions = (
        "tuned on 1 training window; 2 cold-start draws per trial, each to meet 99.10%; scored on draw 2; "
        "held-out windows scored after replaying the trace before them as a warm-up"
    )
    assert f'<p class="note">{conditions}</p>' in page
    for score in tuning_summary["policies"]["gpuscale"]["scores"]:  # type: ignore[index]
        excess = score["excess_over_oracle"]
        over = excess["over_gpu_hours"]
        shares = ""
        if over > 0:  # nothing above the oracle, nothing to charge
            reason, held = next(iter(excess["by_reason"].items()))
            signal, asked = next(iter(excess["by_signal"].items()))
            shares = f" ({reason} {held / over:.0%}, {signal} {asked / over:.0%})"
        cell = f'<td class="text">{over:.2f}{shares}</td>'
        assert cell in page, cell


def test_tuned_policy_file_round_trips_through_the_scalers_loader(
    tmp_path: Path, tuning_summary: dict[str, object], window: TraceWorkload
) -> None:
    policy = tuned_policy_file("llama-tuned", tuning_summary, PROFILE, {"traces": [{"path": "azure2023_code.csv"}]})
    path = tmp_path / "llama-tuned.yaml"
    path.write_text(dump_policy_file(policy))
    assert load_policy_file(path) == policy
    assert PolicyStore(tmp_path).get("llama-tuned").policy == policy.policy
    params = tuning_summary["policies"]["gpuscale"]["params"]  # type: ignore[index]
    assert policy.policy.forecast_quantile == pytest.approx(params["forecast_quantile"], abs=1e-4)
    assert policy.policy.forecast_horizon_s == pytest.approx(params["forecast_horizon_s"], abs=1e-4)
    assert policy.policy.min_replicas == int(params["min_replicas"])
    # the token targets the file carries are the ones every tuning replay ran with, whichever window
    for part in (split(window, 0.7).train, split(window, 0.7).validation):
        assert part is not None
        replayed = gpuscale_spec(PolicyContext(profile=PROFILE, workload=part), params)
        assert replayed.target_generation_tps_per_replica == policy.policy.target_generation_tps_per_replica
        assert replayed.target_prompt_tps_per_replica == policy.policy.target_prompt_tps_per_replica
    assert policy.tuned_for["slo"] == {"ttft_s": 2.0, "queue_wait_s": None, "attainment": 0.99}
    assert policy.tuned_for["margin"] == 0.1


@pytest.mark.parametrize(
    ("case", "name", "body", "problem"),
    [
        (
            "a quantile out of range",
            "bad",
            "policy:\n  forecast_quantile: 2\n",
            "field 'policy.forecast_quantile': Input should be less than or equal to 0.99 (got 2)",
        ),
        (
            "a name with a path in it",
            "../bad",
            "policy: {}\n",
            "field 'name': String should match pattern '^[a-z0-9]([-a-z0-9_.]*[a-z0-9])?$' (got '../bad')",
        ),
    ],
)
def test_malformed_tuned_policy_file_is_rejected_naming_the_field(
    tmp_path: Path, case: str, name: str, body: str, problem: str
) -> None:
    path = tmp_path / "bad.yaml"
    path.write_text(f"apiVersion: gpuscale.dev/v1\nkind: Policy\nname: {name}\n{body}")
    with pytest.raises(PolicyFileError) as err:
        load_policy_file(path)
    assert str(err.value) == f"policy file {path}: {problem}", case


def test_the_policy_store_looks_up_names_only(tmp_path: Path) -> None:
    """The store builds a path from the name: one that is not a policy name never reaches the filesystem."""
    with pytest.raises(PolicyFileError) as err:
        PolicyStore(tmp_path).get("../etc/passwd")
    assert str(err.value) == (
        "'../etc/passwd' is not a policy name; allowed: lowercase letters, digits, '-', '_' and '.', "
        "starting and ending with a letter or digit"
    )


def test_tune_refuses_a_ray_address_with_no_head_at_once() -> None:
    """Ray would retry a dead address for minutes; the tuner says so before it loads a trace."""
    port = free_port()
    proc = subprocess.run(
        [*GPUSCALE, "tune", "--trace", str(TRACES / "azure2023_code.csv"), "--ray-address", f"127.0.0.1:{port}"],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert (proc.returncode, proc.stderr.splitlines()) == (
        2,
        [f"error: --ray-address '127.0.0.1:{port}': nothing answers at 127.0.0.1:{port} (Connection refused)"],
    )


@pytest.fixture()
def ray_cluster(monkeypatch: pytest.MonkeyPatch) -> Iterator[str]:
    """A real Ray head on loopback with token authentication (as a shared cluster should run)."""
    ray = shutil.which("ray", path=str(Path(sys.executable).parent))
    if ray is None:
        pytest.fail("the ray CLI is not installed: pip install 'gpuscale[ray]' (the dev extra has it)")
    monkeypatch.setenv("RAY_AUTH_MODE", "token")
    monkeypatch.setenv("RAY_AUTH_TOKEN", secrets.token_hex(16))
    port = free_port()
    start = [
        ray,
        "start",
        "--head",
        f"--port={port}",
        "--node-ip-address=127.0.0.1",
        "--num-cpus=2",
        "--include-dashboard=false",
        "--disable-usage-stats",
    ]
    subprocess.run(start, check=True, capture_output=True, timeout=120, env=dict(os.environ))
    try:
        yield f"127.0.0.1:{port}"
    finally:
        subprocess.run([ray, "stop", "--force"], capture_output=True, timeout=120, check=False, env=dict(os.environ))


def test_trials_run_on_a_local_ray_cluster_with_the_same_results(window: TraceWorkload, ray_cluster: str) -> None:
    import ray

    ctx = context("keda-kv", window)
    with open_pool(ctx, workers=2, ray_address=None) as mapper:
        local = tune("keda-kv", ctx, mapper, budget=12, seed=1)
    with open_pool(ctx, workers=2, ray_address=ray_cluster) as mapper:
        on_ray = tune("keda-kv", ctx, mapper, budget=12, seed=1)
        assert ray.is_initialized()
    assert [t.cost for t in on_ray.trials] == [t.cost for t in local.trials]
    assert on_ray.best == local.best
    # the pool disconnects this process: Ray would end a driver still attached once the cluster stops
    assert not ray.is_initialized()


def test_tune_command_writes_the_policy_file_and_summary(tmp_path: Path) -> None:
    proc = subprocess.run(
        [
            *GPUSCALE,
            "tune",
            "--trace",
            str(TRACES / "azure2023_code.csv"),
            "--rate-scale",
            "10",
            "--end",
            "600",
            "--budget",
            "8",
            "--workers",
            "2",
            "--search",
            "tpe",
            "--name",
            "llama-tuned",
            "--out",
            str(tmp_path),
            "--json",
        ],
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
    )
    assert proc.returncode == 0, proc.stderr
    summary = json.loads(proc.stdout)
    assert summary == json.loads((tmp_path / "tuning.json").read_text())
    assert summary["executor"] == "local processes (2)"
    assert summary["search"] == "tpe"
    policy = load_policy_file(tmp_path / "llama-tuned.yaml")
    assert policy.name == "llama-tuned" and policy.kind == "Policy"
    assert policy.tuned_for["search"] == "tpe"
    assert policy.scores["windows"] == summary["policies"]["gpuscale"]["scores"]
    # the whole scenario, so that a replay can be the same one: the trace's hash and its reshaping
    trace = TRACES / "azure2023_code.csv"
    assert policy.tuned_for["traces"] == [
        {"path": str(trace), "sha256": hashlib.sha256(trace.read_bytes()).hexdigest()}
    ]
    assert (policy.tuned_for["rate_scale"], policy.tuned_for["end_s"], policy.tuned_for["train_fraction"]) == (
        10.0,
        600.0,
        0.7,
    )


def test_tune_table_says_what_every_trial_had_to_survive(tmp_path: Path) -> None:
    args = ["--trace", str(TRACES / "azure2023_code.csv"), "--rate-scale", "10", "--end", "600", "--policy", "fixed"]
    proc = subprocess.run(
        [
            *GPUSCALE,
            "tune",
            *args,
            "--perturbed-copies",
            "2",
            "--workers",
            "2",
            "--out",
            str(tmp_path),
            "--report",
            str(tmp_path / "report"),
        ],
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
        env=os.environ | {"COLUMNS": "300"},
    )
    assert proc.returncode == 0, proc.stderr
    expected = (
        "tuned on 1 training window and 2 perturbed copies of each (rate ×[0.8, 1.2] per 300 s block); "
        "2 cold-start draws per trial, each to meet 99.10%; scored on draw 2; "
        "held-out windows scored after replaying the trace before them as a warm-up"
    )
    assert expected in proc.stdout.splitlines()
    tuned = json.loads((tmp_path / "tuning.json").read_text())["policies"]["fixed"]
    replicas = int(tuned["params"]["replicas"])
    assert any(line.startswith(f"fixed: replicas={replicas}; x oracle in sample ") for line in proc.stdout.splitlines())
    # stderr is a pipe here, as under nohup or in a Job: the progress comes as timestamped lines.
    *progress, wrote, last = proc.stderr.splitlines()
    assert wrote == f"wrote {tmp_path / 'tuning.json'}"
    assert last == f"wrote the report to {tmp_path / 'report' / 'report.html'}"
    assert all(re.fullmatch(r"\[\d+:\d\d:\d\d\] .+", line) for line in progress), progress
    stages = [line.split("] ", 1)[1].split(":")[0] for line in progress]
    assert list(dict.fromkeys(stages)) == [
        "sizing the fixed fleets and oracles of 2 windows",
        "tuning fixed",
        "checking fixed's setting out of sample",
        "scoring fixed on 2 windows",
        "done",
    ]
    # Accepted only on the held-out window's 5 unseen draws and 2 rate-perturbed copies, all meeting the SLO.
    checked = tuned["acceptance"]
    assert [(r["window"], r["replay"]) for r in checked["replays"]] == [
        ("azure2023_code [validation]", label)
        for label in ("draw 1", "draw 2", "draw 3", "draw 4", "draw 5", "rate-perturbed #1", "rate-perturbed #2")
    ]
    assert [r["seed"] for r in checked["replays"]] == [2, 3, 4, 5, 6, 2, 2]  # the search used seeds 0 and 1
    missed = [r for r in checked["replays"] if not r["meets_slo"]]
    assert checked["accepted"] is (not missed)
    assert f"  {checked['verdict']}" in proc.stdout.splitlines()
    rule = (
        "a setting is accepted only if it meets the SLO on every held-out window under 5 cold-start draws the "
        "search never used and on 2 copies of each with the rate moved (rate ×[0.8, 1.2] per 300 s block); "
        "when the search's best is not, the cheapest settings with more training margin are checked, 3 in all"
    )
    assert rule in proc.stdout.splitlines()
    trials = len(json.loads((tmp_path / "tuning.json").read_text())["policies"]["fixed"]["trials"])
    assert progress[-1].endswith(f"] done: {trials} trials")


@pytest.mark.parametrize(
    ("case", "flag", "value", "message"),
    [
        (
            "too many copies",
            "--perturbed-copies",
            "9",
            "Invalid value for '--perturbed-copies': '9'; allowed: an integer from 0 to 8",
        ),
        (
            "spread too wide",
            "--perturb-spread",
            "0.95",
            "Invalid value for '--perturb-spread': '0.95'; allowed: a number from 0.01 to 0.9",
        ),
        (
            "block too short",
            "--perturb-block",
            "5",
            "Invalid value for '--perturb-block': '5'; allowed: a number of at least 10",
        ),
    ],
)
def test_tune_rejects_bad_perturbation_flags(case: str, flag: str, value: str, message: str) -> None:
    proc = subprocess.run(
        [*GPUSCALE, "tune", "--trace", str(TRACES / "azure2023_code.csv"), flag, value],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
        env=os.environ | {"COLUMNS": "300", "NO_COLOR": "1", "TERM": "dumb"},
    )
    assert proc.returncode == 2, case
    assert proc.stderr.splitlines()[0] == f"error: {message}", case


@pytest.mark.parametrize(
    ("option", "value", "message"),
    [
        pytest.param(
            "--policy",
            "oracle",
            "--policy 'oracle' cannot be tuned; tunable: gpuscale, hpa-gpu, keda-queue, keda-kv, knative, fixed, all",
            id="untunable policy",
        ),
        pytest.param(
            "--search", "grid", "--search 'grid' is not a search; choose one of: de, tpe", id="unknown search"
        ),
        pytest.param(
            "--name",
            "../elsewhere",
            "--name '../elsewhere' is not a policy name; allowed: lowercase letters, digits, '-', '_' and '.', "
            "starting and ending with a letter or digit",
            id="a policy name with a path",
        ),
        pytest.param(
            "--column",
            "conversation",
            f"{TRACES / 'azure2023_code.csv'}: column 'conversation' does not apply: the azure format has no column "
            "option; only burstgpt_hourly, servegen_rate do",
            id="a column of a per-request trace",
        ),
        pytest.param(
            "--tokens",
            str(TRACES / "mooncake_conversation.jsonl"),
            f"--tokens {TRACES / 'mooncake_conversation.jsonl'} does not apply: {TRACES / 'azure2023_code.csv'} is a "
            "per-request trace with token lengths of its own; --tokens is for aggregated rate series (hourly "
            "BurstGPT, ServeGen)",
            id="token lengths for a per-request trace",
        ),
        pytest.param(
            "--ray-address",
            "http://head/",
            "--ray-address 'http://head/' is not an address; allowed: host:port, ray://host:port or auto",
            id="a Ray address that is a URL",
        ),
    ],
)
def test_tune_rejects_a_bad_choice(option: str, value: str, message: str) -> None:
    proc = subprocess.run(
        [*GPUSCALE, "tune", "--trace", str(TRACES / "azure2023_code.csv"), option, value],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert proc.returncode == 2
    assert f"error: {message}" in proc.stderr.splitlines()


def test_simulate_with_the_policy_file_reproduces_its_held_out_figures(tmp_path: Path) -> None:
    """The tuned file records the scenario, and replaying it as tuned_for says gives the scored figures to
    the last digit: the same workload (--seed), the same cold-start draw (--draw), the held-out part scored
    from the same cut (--score-from), and the file's replica floor as the Deployment's."""
    trace = str(TRACES / "azure2023_code.csv")
    window = ["--trace", trace, "--rate-scale", "10", "--end", "900"]
    tuned = subprocess.run(
        [*GPUSCALE, "tune", *window, "--budget", "8", "--policy", "gpuscale", "--out", str(tmp_path), "--json"],
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
    )
    assert tuned.returncode == 0, tuned.stderr
    held_out = next(r for r in json.loads(tuned.stdout)["policies"]["gpuscale"]["scores"] if r["kind"] == "validation")
    scenario = load_policy_file(tmp_path / "tuned.yaml").tuned_for
    assert (scenario["rate_scale"], scenario["end_s"], scenario["seed"], scenario["scoring_draw"]) == (
        10.0,
        900.0,
        0,
        2,
    )
    replayed = subprocess.run(
        [
            *GPUSCALE,
            "simulate",
            *window,
            "--policy-file",
            str(tmp_path / "tuned.yaml"),
            "--policy",
            "gpuscale",
            "--seed",
            str(scenario["seed"]),
            "--draw",
            str(scenario["scoring_draw"]),
            "--score-from",
            repr(scenario["held_out_from_s"]),
            "--json",
        ],
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
    )
    assert replayed.returncode == 0, replayed.stderr
    row = json.loads(replayed.stdout)["policies"][0]
    assert (row["gpu_hours"], row["slo_attainment"], row["peak_replicas"]) == (
        held_out["gpu_hours"],
        held_out["slo_attainment"],
        held_out["peak_replicas"],
    )
