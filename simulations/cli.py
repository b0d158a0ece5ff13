"""The simulator's commands of ``gpuscale``: importing this module adds them to the scaler's app.

``gpuscale`` (``scaler.cli:main``) imports it through the ``gpuscale.commands`` entry point when the
simulator's dependencies are installed (``gpuscale[simulator]``). Every command has ``--help``; options
are validated before work starts.
"""

from __future__ import annotations

import contextlib
import importlib.util
import json
import math
import signal
import threading
from dataclasses import replace
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer

from scaler.cli import app
from simulations.reports.tables import print_backtest, print_simulation, print_tuning

#: What the simulator needs beyond the scaler (the ``simulator`` extra).
SIMULATOR_MODULES = ("scipy", "matplotlib")


def _missing(modules: tuple[str, ...]) -> list[str]:
    out = []
    for name in modules:
        try:
            if importlib.util.find_spec(name) is None:
                out.append(name)
        except (ImportError, ValueError):  # a module blocked in sys.modules has no spec
            out.append(name)
    return out


if _MISSING := _missing(SIMULATOR_MODULES):
    raise ImportError(f"the simulator needs {', '.join(_MISSING)}: pip install 'gpuscale[simulator]'")


if TYPE_CHECKING:
    from simulations.profiles import ReplicaProfile
    from simulations.traces.workload import Reshape

#: ``--copy-jitter``, shared by simulate and tune (the default, 1 s, is ``Reshape.copy_jitter_s``'s).
CopyJitter = Annotated[
    float,
    typer.Option(
        min=0,
        max=3600,
        help="with --rate-scale above 1, each extra copy of a request lands up to this many seconds after it"
        " (1: the trace's bursts scale with it; more: copies spread out like independent users)",
    ),
]


@app.command()
def emulate(
    port: Annotated[int, typer.Option(min=0, max=65535, help="HTTP port of /metrics and POST /control")] = 9400,
    host: Annotated[str, typer.Option(help="bind address")] = "127.0.0.1",
    namespace: Annotated[str, typer.Option(help="namespace of the emulated Deployment")] = "llm",
    deployment: Annotated[str, typer.Option(help="name of the emulated Deployment")] = "llama",
    replicas: Annotated[int, typer.Option(min=0, help="emulated ready pods")] = 2,
    queue: Annotated[float, typer.Option(min=0, help="waiting requests over all pods")] = 0.0,
    generation_tps: Annotated[float, typer.Option(min=0, help="generated tokens/s over all pods")] = 500.0,
    prompt_tps: Annotated[float, typer.Option(min=0, help="prompt tokens/s over all pods")] = 2000.0,
    kv_cache_usage: Annotated[float, typer.Option(min=0, max=1, help="KV-cache usage per pod, 0-1")] = 0.3,
    openmetrics: Annotated[bool, typer.Option(help="serve OpenMetrics (colons become underscores)")] = False,
) -> None:
    """Serve vLLM- and DCGM-shaped metrics of an emulated GPU fleet (no GPU needed)."""
    from emulation.emulator import EmulatorServer, FleetEmulator

    emulator = FleetEmulator()
    emulator.set_load(
        namespace,
        deployment,
        replicas=replicas,
        queue=queue,
        generation_tps=generation_tps,
        prompt_tps=prompt_tps,
        kv_cache_usage=kv_cache_usage,
        running=min(replicas * 8.0, queue + replicas),
        request_rate=generation_tps / 200.0,
        gpu_utilization=0.6,
    )
    try:
        server = EmulatorServer(emulator, host, port, openmetrics).start()
    except OSError as exc:
        typer.echo(f"error: cannot listen on {host}:{port} (--port): {exc.strerror or exc}", err=True)
        raise typer.Exit(1) from None
    typer.echo(f"fleet emulator on http://{host}:{server.port}/metrics (POST /control to change load)")
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    with contextlib.suppress(KeyboardInterrupt):
        stop.wait()
    server.stop()


@app.command("live-demo")
def live_demo(
    seconds: Annotated[float, typer.Option(min=15, help="how long to run (wall-clock seconds)")] = 60.0,
    cold_start: Annotated[float, typer.Option(min=1, help="seconds an emulated pod takes to become ready")] = 8.0,
) -> None:
    """Run the real control loop locally: emulated pods -> Prometheus -> gpuscale -> a KEDA-like client.

    Needs Debian's prometheus binary (scripts/setup installs it); no cluster, no GPU.
    """
    from rich.console import Console
    from rich.live import Live
    from rich.markup import escape
    from rich.table import Table

    from emulation.live_demo import run_live_demo

    console = Console()
    console.print(f"[bold]gpuscale live demo[/]: {seconds:.0f}s, cold start {cold_start:.0f}s; starting Prometheus...")
    header = ("t (s)", "demand tok/s", "ready+starting", "queue", "asks q/t/f/kv", "recommended", "reason")
    table = Table(*header)
    rows = 0
    # A terminal gets one table that grows in place; a pipe or a log gets one plain line per poll (a table
    # printed after the lines repeated every row, cut to 80 columns: issue 29).
    live = Live(table, console=console, auto_refresh=False) if console.is_terminal else contextlib.nullcontext()
    if not console.is_terminal:
        typer.echo("  ".join(header))
    try:
        with live:
            for row in run_live_demo(seconds=seconds, cold_start_s=cold_start):
                asks = "/".join(str(row.asks.get(k, "-")) for k in ("queue", "throughput", "forecast", "kv_cache"))
                cells = (
                    f"{row.t:5.1f}",
                    f"{row.demand_tps:7.0f}",
                    f"{row.ready}+{row.starting}",
                    f"{row.queue:6.1f}",
                    asks,
                    str(row.recommended),
                    row.reason,
                )
                rows += 1
                if isinstance(live, Live):
                    table.add_row(*cells)
                    live.refresh()
                else:
                    typer.echo("  ".join(cells))
    except (RuntimeError, TimeoutError) as exc:
        console.print(f"[red]error:[/] {escape(str(exc))}")
        raise typer.Exit(1) from None
    console.print(f"{rows} KEDA polls. Every decision is explained at /decisions while `gpuscale serve` runs.")


def _output_dir(option: str, path: Path | None) -> None:
    """Make an output folder before the work that fills it: a long replay or tuning run must not end on a
    path it cannot write."""
    if path is None:
        return
    if path.exists() and not path.is_dir():
        raise ValueError(f"{option} {path} is a file; allowed: a directory (made when missing)")
    try:
        path.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise ValueError(f"{option} {path}: cannot make the directory ({exc.strerror or exc})") from None


def _check_tokens(tokens: Path | None, traces: list[Path]) -> None:
    """``--tokens`` feeds rate series only: given with per-request traces alone it would be ignored, so a
    user who meant to replace their token lengths learns that it does not."""
    from simulations.traces import is_rate_series

    if tokens is None or any(is_rate_series(t) for t in traces):
        return
    names = ", ".join(str(t) for t in traces)
    raise ValueError(
        f"--tokens {tokens} does not apply: {names} "
        + (
            "is a per-request trace with token lengths of its own"
            if len(traces) == 1
            else "are per-request traces with token lengths of their own"
        )
        + "; --tokens is for aggregated rate series (hourly BurstGPT, ServeGen)"
    )


def _reshape(start: float, end: float | None, time_scale: float, rate_scale: float, copy_jitter: float) -> Reshape:
    """The trace window and rescaling, with a mistake named by its options (not the fields behind them)."""
    from simulations.traces.workload import Reshape

    if end is not None and end <= start:
        raise ValueError(f"--end {end:g} is not after --start {start:g}; allowed: an end after the start")
    return Reshape(start_s=start, end_s=end, time_scale=time_scale, rate_scale=rate_scale, copy_jitter_s=copy_jitter)


def _replica_range(min_replicas: int, max_replicas: int) -> None:
    if min_replicas > max_replicas:
        raise ValueError(
            f"--min-replicas {min_replicas} is above --max-replicas {max_replicas}; allowed: at most --max-replicas"
        )


def _require_positive_seconds(option: str, values: list[float]) -> None:
    """Reject a duration that is not a finite number of seconds above 0, naming the option and the value."""
    for value in values:
        if not (math.isfinite(value) and value > 0):
            raise ValueError(f"{option} has invalid value {value:g}; allowed: a finite number of seconds above 0")


@app.command()
def backtest(
    trace: Annotated[Path, typer.Option(help="trace file (Azure, BurstGPT, Mooncake, ServeGen or generic CSV)")],
    step: Annotated[
        float | None, typer.Option(help="seconds per step: bins per-request traces (default 10), coarsens rate series")
    ] = None,
    horizon: Annotated[
        list[float] | None, typer.Option(help="forecast horizon in seconds, repeatable [default: 60 300 600 1800]")
    ] = None,
    model: Annotated[
        list[str] | None, typer.Option(help="predictor name, repeatable [default: a comparison set]")
    ] = None,
    series: Annotated[str, typer.Option(help="requests, output_tokens or prompt_tokens")] = "requests",
    column: Annotated[str | None, typer.Option(help="column of an aggregated trace (e.g. conversation)")] = None,
    baselines: Annotated[
        bool,
        typer.Option(
            "--baselines",
            help="also score statsforecast's AutoETS, AutoARIMA, MSTL, damped ES and seasonal naive on the same"
            " origins (needs pip install 'gpuscale[forecast-baselines]')",
        ),
    ] = False,
    origins: Annotated[
        int | None,
        typer.Option(
            min=1, help="score at most this many evenly spaced origins [default: every step; 150 with --baselines]"
        ),
    ] = None,
    json_output: Annotated[bool, typer.Option("--json", help="print machine-readable JSON instead of a table")] = False,
) -> None:
    """Rolling-origin backtest of forecasters on a trace: MASE, pinball loss and coverage, per horizon."""
    from rich.console import Console

    from simulations.forecasting.backtest import DEFAULT_HORIZONS_S, DEFAULT_MODELS, run_backtest
    from simulations.forecasting.baselines import SPECS, BaselinesUnavailableError
    from simulations.reports.progress import show_progress
    from simulations.traces import TraceError

    console = Console(stderr=True)
    models = model or list(DEFAULT_MODELS)
    horizons = horizon or list(DEFAULT_HORIZONS_S)
    try:
        _require_positive_seconds("--step", [] if step is None else [step])
        _require_positive_seconds("--horizon", horizons)
        total = len(models) + (len(SPECS) if baselines else 0)
        with show_progress(console, "backtesting", total=total, unit="models", disable=json_output) as bar:

            def advance(name: str) -> None:
                bar.update(f"backtesting {name}", advance=1)

            result = run_backtest(
                str(trace),
                step,
                horizons,
                models,
                series,
                column=column,
                progress=advance,
                baselines=baselines,
                origins=origins,
            )
    except (TraceError, ValueError, BaselinesUnavailableError) as exc:
        typer.echo(f"error: {exc}", err=True)
        raise typer.Exit(2) from None
    if json_output:
        typer.echo(json.dumps(result, indent=2))
        return
    print_backtest(result)


@app.command()
def simulate(
    trace: Annotated[
        Path, typer.Option(help="trace file: per-request (Azure, BurstGPT, Mooncake, generic) or rate series")
    ],
    policy: Annotated[
        list[str] | None, typer.Option(help="policy to replay, repeatable, or 'all' [default: all]")
    ] = None,
    profile: Annotated[str, typer.Option(help="replica profile: a shipped name or a YAML file")] = "llama3-8b-h100",
    policy_file: Annotated[
        Path | None, typer.Option(help="gpuscale policy file (apiVersion gpuscale.dev/v1) to replay as 'gpuscale'")
    ] = None,
    tokens: Annotated[
        Path | None, typer.Option(help="per-request trace to draw token lengths from (for rate series)")
    ] = None,
    column: Annotated[str | None, typer.Option(help="column of an aggregated trace (e.g. conversation)")] = None,
    ttft_slo: Annotated[float, typer.Option(min=0.001, help="TTFT target, seconds")] = 2.0,
    queue_wait_slo: Annotated[float | None, typer.Option(min=0.001, help="queue-wait target, seconds")] = None,
    slo_attainment: Annotated[
        float, typer.Option(min=0.5, max=1.0, help="share of requests that must meet the targets")
    ] = 0.99,
    rate_scale: Annotated[float, typer.Option(min=0.001, help="multiply the request rate")] = 1.0,
    copy_jitter: CopyJitter = 1.0,
    time_scale: Annotated[float, typer.Option(min=0.001, help="stretch time (2 = half the rate, twice as long)")] = 1.0,
    start: Annotated[float, typer.Option(min=0, help="window start, seconds into the trace")] = 0.0,
    end: Annotated[float | None, typer.Option(min=0, help="window end, seconds into the trace")] = None,
    history: Annotated[
        float,
        typer.Option(
            min=0,
            help="seconds of the trace before --start that gpuscale's forecaster has already seen, as a scaler"
            " running before the window would have (e.g. 86400 for yesterday's shape)",
        ),
    ] = 0.0,
    min_replicas: Annotated[int, typer.Option(min=1, help="KEDA minReplicaCount for every policy")] = 1,
    max_replicas: Annotated[int, typer.Option(min=1, help="maxReplicaCount for every policy")] = 100,
    seed: Annotated[int, typer.Option(min=0, help="random seed (cold starts, rescaling, rate-series arrivals)")] = 0,
    draw: Annotated[
        int,
        typer.Option(
            min=0,
            help="cold-start draw: pods' cold starts come from seed + draw, the workload from --seed alone (a tuned"
            " policy file's figures are on draw tuned_for.draws)",
        ),
    ] = 0,
    score_from: Annotated[
        float,
        typer.Option(
            min=0,
            help="score only requests arriving this many seconds into the window; the part before is a warm-up"
            " (a tuned policy file's held-out figures: tuned_for.held_out_from_s)",
        ),
    ] = 0.0,
    tick: Annotated[float, typer.Option(min=0.05, max=5.0, help="simulation tick, seconds")] = 0.5,
    scrape_interval: Annotated[float, typer.Option(min=1, help="Prometheus scrape interval, seconds")] = 15.0,
    rate_window: Annotated[float, typer.Option(min=1, help="rate() window, seconds")] = 60.0,
    json_output: Annotated[bool, typer.Option("--json", help="print machine-readable JSON instead of a table")] = False,
    out: Annotated[Path | None, typer.Option(help="directory for per-request results and time series")] = None,
    report: Annotated[Path | None, typer.Option(help="write report.html and its PNG plots here")] = None,
    workers: Annotated[
        int | None, typer.Option(min=1, help="replays run side by side [default: all local cores]")
    ] = None,
) -> None:
    """Replay a trace through a simulated GPU fleet under each policy, beside the oracle."""
    from rich.console import Console

    from scaler.policy_file import PolicyFileError, load_policy_file
    from simulations.fleet.replay import ReplaySettings
    from simulations.policies.compare import compare
    from simulations.policies.controllers import POLICY_ORDER
    from simulations.policies.slo import Slo
    from simulations.profiles import ProfileError, load_profile
    from simulations.reports.outputs import write_outputs
    from simulations.reports.progress import show_progress
    from simulations.traces import TraceError
    from simulations.traces.scenario import build_workload
    from simulations.tuning.job import default_workers

    console = Console(stderr=True)
    chosen = policy or ["all"]
    names = list(POLICY_ORDER) if "all" in chosen else chosen
    try:
        unknown = [n for n in names if n not in POLICY_ORDER]
        if unknown:
            raise ValueError(f"--policy {unknown[0]!r} is not a policy; valid: {', '.join(POLICY_ORDER)}, all")
        replica_profile = load_profile(profile)
        params: dict[str, dict[str, Any]] = {}
        if policy_file is not None:
            params["gpuscale"] = {"spec": load_policy_file(policy_file).policy}
        slo = Slo(ttft_s=ttft_slo, queue_wait_s=queue_wait_slo, attainment=slo_attainment)
        _replica_range(min_replicas, max_replicas)
        reshape = _reshape(start, end, time_scale, rate_scale, copy_jitter)
        workload = build_workload(trace, reshape, seed, tokens=tokens, column=column, history_s=history)
        if score_from > 0:
            if score_from >= workload.span_s:
                raise ValueError(
                    f"--score-from {score_from:g} is not inside the window; allowed: below its {workload.span_s:.0f} s"
                )
            workload = replace(workload, scored_from_s=score_from)
        _check_tokens(tokens, [trace])
        _output_dir("--out", out)  # after the inputs are known good, before the replay
        _output_dir("--report", report)
        settings = ReplaySettings(
            tick_s=tick, scrape_interval_s=scrape_interval, rate_window_s=rate_window, seed=seed + draw
        )
        what = f"replaying {len(names)} {'policies' if len(names) > 1 else 'policy'}"
        with show_progress(console, what, disable=json_output) as bar:
            comparison = compare(
                workload,
                replica_profile,
                names,
                slo,
                settings,
                min_replicas,
                max_replicas,
                params,
                progress=bar.update,
                workers=workers or default_workers(),
            )
    except (TraceError, ProfileError, PolicyFileError, ValueError) as exc:
        typer.echo(f"error: {exc}", err=True)
        raise typer.Exit(2) from None
    if out is not None:
        write_outputs(comparison, workload, out)
    if report is not None:
        from simulations.reports.html import write_report

        if out is None or out.resolve() != report.resolve():
            write_outputs(comparison, workload, report)
        report_path: Path | None = write_report(report)
    else:
        report_path = None
    summary = comparison.to_json()
    if json_output:
        typer.echo(json.dumps(summary, indent=2))
        return
    print_simulation(summary, workload.span_s)
    if out is not None:
        console.print(f"wrote per-request results and time series to {out}", soft_wrap=True, markup=False)
    if report_path is not None:
        console.print(f"wrote the report to {report_path}", soft_wrap=True, markup=False)


@app.command()
def tune(
    trace: Annotated[
        list[Path], typer.Option(help="trace to tune on, repeatable (its first part; see --train-fraction)")
    ],
    policy: Annotated[
        list[str] | None, typer.Option(help="policy to tune, repeatable, or 'all' [default: gpuscale]")
    ] = None,
    validate_trace: Annotated[
        list[Path] | None, typer.Option(help="other traces to score the tuned policies on, repeatable")
    ] = None,
    train_fraction: Annotated[
        float,
        typer.Option(
            min=0.1, max=1.0, help="share of each trace to tune on; the rest validates, replayed after it as a warm-up"
        ),
    ] = 0.7,
    budget: Annotated[
        int, typer.Option(min=8, max=100_000, help="trials per policy with 3 searched parameters (more for more)")
    ] = 120,
    search: Annotated[
        str,
        typer.Option(
            help="global search: de (scipy's differential evolution) or tpe (optuna's TPE; pip install 'gpuscale[tpe]')"
        ),
    ] = "de",
    workers: Annotated[int | None, typer.Option(min=1, help="parallel trials [default: all local cores]")] = None,
    ray_address: Annotated[
        str | None, typer.Option(help="run trials on a Ray cluster (e.g. ray://head:10001, or 'auto')")
    ] = None,
    name: Annotated[str, typer.Option(help="name of the tuned policy file (the trigger's 'policy' key)")] = "tuned",
    out: Annotated[Path, typer.Option(help="directory for the policy file and tuning.json")] = Path("tuning"),
    profile: Annotated[str, typer.Option(help="replica profile: a shipped name or a YAML file")] = "llama3-8b-h100",
    tokens: Annotated[Path | None, typer.Option(help="per-request trace for token lengths (rate series)")] = None,
    column: Annotated[str | None, typer.Option(help="column of an aggregated trace")] = None,
    ttft_slo: Annotated[float, typer.Option(min=0.001, help="TTFT target, seconds")] = 2.0,
    queue_wait_slo: Annotated[float | None, typer.Option(min=0.001, help="queue-wait target, seconds")] = None,
    slo_attainment: Annotated[float, typer.Option(min=0.5, max=1.0, help="share within target")] = 0.99,
    margin: Annotated[
        float,
        typer.Option(
            min=0.0, max=0.9, help="share of the SLO's error budget to leave unspent when tuning (0.1: 99.1 % for 99 %)"
        ),
    ] = 0.1,
    draws: Annotated[
        int,
        typer.Option(min=1, max=16, help="cold-start draws each trial is replayed with; every one must meet the SLO"),
    ] = 2,
    perturbed_copies: Annotated[
        int,
        typer.Option(
            min=0, max=8, help="also tune on this many copies of each training window with the rate moved per block"
        ),
    ] = 0,
    perturb_spread: Annotated[
        float, typer.Option(min=0.01, max=0.9, help="a copy's blocks get rate factors drawn from 1 ± this")
    ] = 0.2,
    perturb_block: Annotated[float, typer.Option(min=10, help="seconds per block of a perturbed copy")] = 300.0,
    rate_scale: Annotated[float, typer.Option(min=0.001, help="multiply the request rate")] = 1.0,
    copy_jitter: CopyJitter = 1.0,
    time_scale: Annotated[float, typer.Option(min=0.001, help="stretch time")] = 1.0,
    start: Annotated[float, typer.Option(min=0, help="window start, seconds into each trace")] = 0.0,
    end: Annotated[float | None, typer.Option(min=0, help="window end, seconds into each trace")] = None,
    history: Annotated[
        float, typer.Option(min=0, help="seconds before --start gpuscale's forecaster has already seen")
    ] = 0.0,
    max_replicas: Annotated[int, typer.Option(min=1, help="maxReplicaCount for every policy")] = 100,
    seed: Annotated[int, typer.Option(min=0, help="random seed")] = 0,
    report: Annotated[Path | None, typer.Option(help="also write the HTML report and plots here")] = None,
    json_output: Annotated[bool, typer.Option("--json", help="print tuning.json instead of a table")] = False,
) -> None:
    """Tune policies (gpuscale and the baselines) for the fewest GPU-hours that meet the SLO."""
    from rich.console import Console

    from scaler.policy_file import POLICY_NAME, POLICY_NAME_RULE
    from simulations.fleet.replay import ReplaySettings
    from simulations.policies.slo import Slo
    from simulations.profiles import ProfileError, load_profile
    from simulations.reports.progress import show_progress
    from simulations.traces import TraceError
    from simulations.traces.perturb import Perturbation
    from simulations.traces.scenario import build_workload
    from simulations.tuning.job import (
        check_ray_address,
        default_workers,
        file_fingerprint,
        planned_total,
        run_tuning,
        split,
    )
    from simulations.tuning.search import get_search
    from simulations.tuning.tuner import TUNABLE

    console = Console(stderr=True)
    chosen = policy or ["gpuscale"]
    names = list(TUNABLE) if "all" in chosen else chosen
    try:
        untunable = [n for n in names if n not in TUNABLE]
        if untunable:
            raise ValueError(f"--policy {untunable[0]!r} cannot be tuned; tunable: {', '.join(TUNABLE)}, all")
        get_search(search)
        if ray_address is not None:
            check_ray_address(ray_address)
        if not POLICY_NAME.fullmatch(name):
            raise ValueError(f"--name {name!r} is not a policy name; allowed: {POLICY_NAME_RULE}")

        replica_profile = load_profile(profile)
        slo = Slo(ttft_s=ttft_slo, queue_wait_s=queue_wait_slo, attainment=slo_attainment)
        reshape = _reshape(start, end, time_scale, rate_scale, copy_jitter)
        splits = [split(build_workload(t, reshape, seed, tokens, column, history), train_fraction) for t in trace]
        others = [build_workload(t, reshape, seed, tokens, column, history) for t in validate_trace or []]
        _check_tokens(tokens, [*trace, *(validate_trace or [])])
        _output_dir("--out", out)  # after the inputs are known good, before the search
        _output_dir("--report", report)
        total = planned_total(names, budget, replica_profile, max_replicas, search)
        with show_progress(console, "tuning", total=total, unit="trials", disable=json_output) as bar:

            def show(what: str, done: int) -> None:
                bar.update(what, advance=done)

            summary = run_tuning(
                splits,
                others,
                replica_profile,
                names,
                slo,
                ReplaySettings(seed=seed),
                budget,
                workers or default_workers(),
                ray_address,
                max_replicas,
                progress=show,
                margin=margin,
                draws=draws,
                perturbation=Perturbation(perturbed_copies, perturb_spread, perturb_block),
                search=search,
            )
    except (TraceError, ProfileError, ValueError) as exc:
        typer.echo(f"error: {exc}", err=True)
        raise typer.Exit(2) from None
    scenario = {
        "traces": [file_fingerprint(t) for t in trace],
        "rate_scale": rate_scale,
        "copy_jitter_s": copy_jitter,
        "time_scale": time_scale,
        "start_s": start,
        "end_s": end,
        "train_fraction": train_fraction,
        "history_s": history,
        "tokens": None if tokens is None else file_fingerprint(tokens),
        "column": column,
        # simulate --seed SEED --draw DRAWS (--score-from HELD_OUT_FROM_S) replays the scored figures
        "scoring_draw": draws,
        "held_out_from_s": next((s.validation.scored_from_s for s in splits if s.validation is not None), None),
    }
    _write_tuning(summary, out, name, replica_profile, scenario)
    tuning_report: Path | None = None
    if report is not None:
        from simulations.reports.html import write_tuning_report

        tuning_report = write_tuning_report(summary, report)
    if json_output:
        typer.echo(json.dumps(summary, indent=2))
        return
    print_tuning(summary)
    written = f"wrote {out / 'tuning.json'}" + (f" and {out / (name + '.yaml')}" if "gpuscale" in names else "")
    console.print(written, soft_wrap=True, markup=False)  # a path is one line in a log, however long
    if tuning_report is not None:
        console.print(f"wrote the report to {tuning_report}", soft_wrap=True, markup=False)


def _write_tuning(
    summary: dict[str, Any], out: Path, name: str, profile: ReplicaProfile, scenario: dict[str, Any]
) -> None:
    """tuning.json, and the tuned policy file that records the whole scenario it was tuned on."""
    from scaler.policy_file import dump_policy_file
    from simulations.tuning.job import tuned_policy_file

    out.mkdir(parents=True, exist_ok=True)
    (out / "tuning.json").write_text(json.dumps(summary, indent=2) + "\n", encoding="utf-8")
    if "gpuscale" in summary["policies"]:
        policy_file = tuned_policy_file(name, summary, profile, scenario)
        (out / f"{name}.yaml").write_text(dump_policy_file(policy_file), encoding="utf-8")


@app.command()
def demo(
    out: Annotated[Path, typer.Option(help="where to write report.html, its plots and summary.json")] = Path(
        "gpuscale-demo"
    ),
    seed: Annotated[int, typer.Option(min=0, help="random seed (cold starts)")] = 0,
    json_output: Annotated[bool, typer.Option("--json", help="print summary.json instead of a table")] = False,
) -> None:
    """The main job on a built-in default: a real trace through gpuscale, the baselines and the oracle.

    Replays the Azure LLM code trace shipped in the package (CC BY 4.0; see simulations/data/NOTICE.md)
    at 10x its rate on the llama3-8b-h100 profile, with each policy's tuned settings, and writes an
    HTML report. No cluster, no Prometheus and no download.
    """
    from rich.console import Console

    from simulations.demo import DEMO_RATE_SCALE, demo_params, demo_trace_path, demo_tuning
    from simulations.fleet.replay import ReplaySettings
    from simulations.policies.compare import compare
    from simulations.policies.controllers import POLICY_ORDER
    from simulations.policies.slo import Slo
    from simulations.profiles import load_profile
    from simulations.reports.html import write_report
    from simulations.reports.outputs import write_outputs
    from simulations.reports.progress import show_progress
    from simulations.traces.scenario import build_workload
    from simulations.traces.workload import Reshape
    from simulations.tuning.job import default_workers

    console = Console(stderr=True)
    try:
        _output_dir("--out", out)
    except ValueError as exc:
        typer.echo(f"error: {exc}", err=True)
        raise typer.Exit(2) from None
    profile = load_profile("llama3-8b-h100")
    workload = build_workload(demo_trace_path(), Reshape(rate_scale=DEMO_RATE_SCALE), seed)
    with show_progress(console, f"replaying {len(POLICY_ORDER)} policies", disable=json_output) as bar:
        comparison = compare(
            workload,
            profile,
            list(POLICY_ORDER),
            Slo(),
            ReplaySettings(seed=seed),
            params=demo_params(),
            progress=bar.update,
            workers=default_workers(),
        )
        bar.update("writing the report")
        write_outputs(comparison, workload, out)
        tuning = demo_tuning()
        if tuning is not None:  # the report then shows every tuning trial on the Pareto plot
            (out / "tuning.json").write_text(json.dumps(tuning, indent=2) + "\n", encoding="utf-8")
        report_path = write_report(out)
    summary = comparison.to_json()
    if json_output:
        typer.echo(json.dumps(summary, indent=2))
        return
    print_simulation(summary, workload.span_s)
    h = summary["headline"]
    if h is not None:
        gap = "n/a" if h["gap_closed"] is None else f"{h['gap_closed']:.0%}"
        Console().print(
            f"gpuscale: {h['gpuscale_gpu_hours']:.2f} GPU-h ({h['gpuscale_vs_oracle']:.2f}x the oracle), "
            f"best baseline {h['best_baseline']}: {h['best_baseline_gpu_hours']:.2f} GPU-h; "
            f"gpuscale closes {gap} of the gap between them"
            + ("" if h["gpuscale_meets_slo"] else " [red](but misses the SLO)[/]")
        )
    console.print(f"report: {report_path}", soft_wrap=True, markup=False)


@app.command("report")
def report_command(
    directory: Annotated[Path, typer.Argument(help="a directory written by simulate --out or tune --out")],
    out: Annotated[
        Path | None, typer.Option(help="where to write report.html and the PNGs [default: DIRECTORY]")
    ] = None,
) -> None:
    """Write a self-contained HTML report with PNG plots from simulation or tuning results."""
    from simulations.reports.html import ReportError, write_report

    try:
        _output_dir("--out", out)
        path = write_report(directory, out)
    except (ReportError, OSError, ValueError) as exc:
        typer.echo(f"error: {exc}", err=True)
        raise typer.Exit(2) from None
    typer.echo(f"wrote {path}")


@app.command("profile-fit")
def profile_fit(
    prometheus: Annotated[str, typer.Option(help="Prometheus base URL")],
    namespace: Annotated[str, typer.Option(help="namespace of the Deployment")],
    deployment: Annotated[str, typer.Option(help="Deployment whose pods' vLLM history to fit")],
    base: Annotated[str, typer.Option(help="profile whose cold start and limits are kept")] = "llama3-8b-h100",
    hours: Annotated[float, typer.Option(min=0.25, max=24 * 30, help="history to fit on, hours")] = 24.0,
    out: Annotated[Path | None, typer.Option(help="write the fitted profile YAML here (default: print it)")] = None,
) -> None:
    """Fit a replica profile (decode step, prefill rate, KV-cache capacity) from Prometheus history."""
    import time

    import yaml

    from scaler.config import BASE_URL_RULE, is_base_url
    from scaler.metadata import is_dns_label
    from scaler.prometheus import PrometheusError, PrometheusSource
    from simulations.profiles import ProfileError, load_profile
    from simulations.profiles.fit import FitError, fit_from_prometheus

    try:
        if not is_base_url(prometheus):
            raise FitError(f"--prometheus {prometheus!r} is not {BASE_URL_RULE}")
        for option, value in (("--namespace", namespace), ("--deployment", deployment)):
            if not is_dns_label(value):
                raise FitError(
                    f"{option} {value!r} is not a Kubernetes name; allowed: a lower-case DNS label, "
                    "at most 63 characters"
                )
        report = fit_from_prometheus(
            PrometheusSource(prometheus, timeout_s=30.0), namespace, deployment, load_profile(base), time.time(), hours
        )
    except (FitError, ProfileError, PrometheusError) as exc:
        typer.echo(f"error: {exc}", err=True)
        raise typer.Exit(2) from None
    header = "".join(f"# {note}\n" for note in report.notes)
    header += f"# residual of the decode-step fit: {report.rmse_s * 1000:.2f} ms over {report.points} samples\n"
    text = header + yaml.safe_dump(report.profile.model_dump(mode="json"), sort_keys=False)
    if out is None:
        typer.echo(text, nl=False)
    else:
        out.write_text(text, encoding="utf-8")
        typer.echo(f"wrote {out}", err=True)


@app.command()
def synth(
    shape: Annotated[str, typer.Argument(help="ramp, step, bursts or diurnal (docs/simulator.md)")],
    out: Annotated[Path, typer.Option(help="CSV to write (arrival_s,prompt_tokens,output_tokens)")],
    rate: Annotated[float, typer.Option(min=0.001, max=10_000, help="the shape's lowest rate, requests/s")] = 20.0,
    seed: Annotated[int, typer.Option(min=0, help="draw of arrivals, bursts and token lengths")] = 0,
    day: Annotated[float, typer.Option(min=600, help="length of the diurnal day, seconds")] = 86_400.0,
) -> None:
    """Write a synthetic load shape as a per-request trace, to replay or tune on traffic no real trace has."""
    from simulations.traces.shapes import Shape, synthetic_trace, write_csv

    try:
        chosen = Shape(shape)
    except ValueError:
        typer.echo(f"error: shape {shape!r} is not one of: {', '.join(s.value for s in Shape)}", err=True)
        raise typer.Exit(2) from None
    trace = synthetic_trace(chosen, rate, seed, day)
    write_csv(trace, str(out))
    typer.echo(f"wrote {trace.requests} requests over {trace.span_s / 60:.0f} min to {out}", err=True)


def main() -> None:
    """``python -m simulations.cli``: this module's commands are already on the app (no plugin lookup)."""
    app()


if __name__ == "__main__":
    main()
