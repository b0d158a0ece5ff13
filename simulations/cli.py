"""The ``gpuscale`` entry point: the scaler's commands plus the offline ones.

Every command has ``--help``; options are validated before work starts.
"""

from __future__ import annotations

import contextlib
import json
import signal
import threading
from pathlib import Path
from typing import Annotated, Any

import typer

from scaler.cli import app


@app.command()
def emulate(
    port: Annotated[int, typer.Option(help="HTTP port of /metrics and POST /control")] = 9400,
    host: Annotated[str, typer.Option(help="bind address")] = "127.0.0.1",
    namespace: Annotated[str, typer.Option(help="namespace of the emulated Deployment")] = "llm",
    deployment: Annotated[str, typer.Option(help="name of the emulated Deployment")] = "llama",
    replicas: Annotated[int, typer.Option(help="emulated ready pods")] = 2,
    queue: Annotated[float, typer.Option(help="waiting requests over all pods")] = 0.0,
    generation_tps: Annotated[float, typer.Option(help="generated tokens/s over all pods")] = 500.0,
    prompt_tps: Annotated[float, typer.Option(help="prompt tokens/s over all pods")] = 2000.0,
    kv_cache_usage: Annotated[float, typer.Option(help="KV-cache usage per pod, 0-1")] = 0.3,
    openmetrics: Annotated[bool, typer.Option(help="serve OpenMetrics (colons become underscores)")] = False,
) -> None:
    """Serve vLLM- and DCGM-shaped metrics of an emulated GPU fleet (no GPU needed)."""
    from simulations.emulator import EmulatorServer, FleetEmulator

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
    server = EmulatorServer(emulator, host, port, openmetrics).start()
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
    from rich.table import Table

    from simulations.live_demo import run_live_demo

    console = Console()
    console.print(f"[bold]gpuscale live demo[/]: {seconds:.0f}s, cold start {cold_start:.0f}s; starting Prometheus...")
    table = Table("t (s)", "demand tok/s", "ready+starting", "queue", "asks q/t/f/kv", "recommended", "reason")
    rows = 0
    try:
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
            table.add_row(*cells)
            console.print("  ".join(cells))
            rows += 1
    except (RuntimeError, TimeoutError) as exc:
        console.print(f"[red]error:[/] {exc}")
        raise typer.Exit(1) from None
    console.print(table)
    console.print(f"{rows} KEDA polls. Every decision is explained at /decisions while `gpuscale serve` runs.")


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
    json_output: Annotated[bool, typer.Option("--json", help="print machine-readable JSON instead of a table")] = False,
) -> None:
    """Rolling-origin backtest of forecasters on a trace: MASE, sMAPE, pinball loss and quantile coverage."""
    from rich.console import Console
    from rich.progress import Progress

    from simulations.backtesting import DEFAULT_HORIZONS_S, DEFAULT_MODELS, run_backtest
    from simulations.traces import TraceError

    console = Console(stderr=True)
    models = model or list(DEFAULT_MODELS)
    try:
        with Progress(console=console, transient=True, disable=json_output) as bar:
            task = bar.add_task("backtesting", total=len(models))

            def advance(name: str) -> None:
                bar.update(task, advance=1, description=f"backtesting {name}")

            result = run_backtest(
                str(trace), step, horizon or list(DEFAULT_HORIZONS_S), models, series, column=column, progress=advance
            )
    except (TraceError, ValueError) as exc:
        typer.echo(f"error: {exc}", err=True)
        raise typer.Exit(2) from None
    if json_output:
        typer.echo(json.dumps(result, indent=2))
        return
    _print_backtest(result)


def _print_backtest(result: dict[str, Any]) -> None:
    from rich.console import Console
    from rich.table import Table

    table = Table(title=f"{result['series']} — step {result['step_s']:g} s, {result['points']} points")
    for column in ("model", "horizon", "MASE", "sMAPE %", "pinball", "p50 cov", "p90 cov", "p95 cov", "µs/update"):
        table.add_column(column, justify="left" if column == "model" else "right")
    best: dict[float, float] = {}
    for row in result["results"]:
        if row["mase"] is not None:
            best[row["horizon_s"]] = min(best.get(row["horizon_s"], float("inf")), row["mase"])
    for row in result["results"]:
        mase = row["mase"]
        shown = (
            "-" if mase is None else (f"[bold]{mase:.3f}[/]" if mase == best.get(row["horizon_s"]) else f"{mase:.3f}")
        )
        cov = row["coverage"]
        table.add_row(
            row["model"],
            f"{row['horizon_s']:g} s",
            shown,
            _fmt(row["smape"], "{:.1f}"),
            _fmt(row["pinball"], "{:.3f}"),
            _fmt(cov.get("0.5"), "{:.2f}"),
            _fmt(cov.get("0.9"), "{:.2f}"),
            _fmt(cov.get("0.95"), "{:.2f}"),
            f"{row['update_us']:.0f}",
        )
    Console().print(table)
    notes = {row["model"]: row["notes"] for row in result["results"] if row["notes"]}
    for name, lines in notes.items():
        Console().print(f"[dim]{name}: {'; '.join(lines)}[/]")
    if result["skipped_horizons_s"]:
        Console().print(f"skipped (longer than the series allows): {result['skipped_horizons_s']}")


def _fmt(value: float | None, pattern: str) -> str:
    return "-" if value is None else pattern.format(value)


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
    time_scale: Annotated[float, typer.Option(min=0.001, help="stretch time (2 = half the rate, twice as long)")] = 1.0,
    start: Annotated[float, typer.Option(min=0, help="window start, seconds into the trace")] = 0.0,
    end: Annotated[float | None, typer.Option(min=0, help="window end, seconds into the trace")] = None,
    min_replicas: Annotated[int, typer.Option(min=1, help="KEDA minReplicaCount for every policy")] = 1,
    max_replicas: Annotated[int, typer.Option(min=1, help="maxReplicaCount for every policy")] = 100,
    seed: Annotated[int, typer.Option(help="random seed (cold starts, rescaling, rate-series arrivals)")] = 0,
    tick: Annotated[float, typer.Option(min=0.05, max=5.0, help="simulation tick, seconds")] = 0.5,
    scrape_interval: Annotated[float, typer.Option(min=1, help="Prometheus scrape interval, seconds")] = 15.0,
    rate_window: Annotated[float, typer.Option(min=1, help="rate() window, seconds")] = 60.0,
    json_output: Annotated[bool, typer.Option("--json", help="print machine-readable JSON instead of a table")] = False,
    out: Annotated[Path | None, typer.Option(help="directory for per-request results and time series")] = None,
) -> None:
    """Replay a trace through a simulated GPU fleet under each policy, beside the oracle."""
    from rich.console import Console
    from rich.progress import Progress, SpinnerColumn, TextColumn, TimeElapsedColumn

    from scaler.policy_file import PolicyFileError, load_policy_file
    from simulations.compare import compare
    from simulations.outputs import write_outputs
    from simulations.policies import POLICY_ORDER
    from simulations.profiles import ProfileError, load_profile
    from simulations.replay import ReplaySettings
    from simulations.scenario import build_workload
    from simulations.slo import Slo
    from simulations.traces import TraceError
    from simulations.workload import Reshape

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
        reshape = Reshape(start_s=start, end_s=end, time_scale=time_scale, rate_scale=rate_scale)
        workload = build_workload(trace, reshape, seed, tokens=tokens, column=column)
        settings = ReplaySettings(tick_s=tick, scrape_interval_s=scrape_interval, rate_window_s=rate_window, seed=seed)
        with Progress(
            SpinnerColumn(), TextColumn("{task.description}"), TimeElapsedColumn(), console=console, transient=True
        ) as bar:
            task = bar.add_task("replaying", total=None)

            def show(what: str) -> None:
                bar.update(task, description=f"replaying {what}")

            comparison = compare(
                workload, replica_profile, names, slo, settings, min_replicas, max_replicas, params, progress=show
            )
    except (TraceError, ProfileError, PolicyFileError, ValueError) as exc:
        typer.echo(f"error: {exc}", err=True)
        raise typer.Exit(2) from None
    if out is not None:
        write_outputs(comparison, workload, out)
    summary = comparison.to_json()
    if json_output:
        typer.echo(json.dumps(summary, indent=2))
        return
    _print_simulation(summary, workload.span_s)
    if out is not None:
        console.print(f"wrote per-request results and time series to {out}")


def _print_simulation(summary: dict[str, Any], span_s: float) -> None:
    from rich.console import Console
    from rich.table import Table

    slo = summary["slo"]
    title = (
        f"{summary['trace']} on {summary['profile']}: {summary['requests']} requests over {span_s / 60:.0f} min; "
        f"SLO: TTFT <= {slo['ttft_s']:g} s for {slo['attainment']:.1%}"
    )
    table = Table(title=title)
    headers = ("policy", "GPU-h", "x oracle", "SLO att.", "TTFT p50", "p95", "p99", "events", "flaps", "meets SLO")
    for header in headers:
        table.add_column(header, justify="left" if header == "policy" else "right")
    for row in summary["policies"]:
        ratio = row["gpu_hours_vs_oracle"]
        table.add_row(
            row["name"],
            f"{row['gpu_hours']:.2f}",
            "-" if ratio is None else f"{ratio:.2f}",
            f"{row['slo_attainment']:.2%}",
            _seconds(row["ttft_p50_s"]),
            _seconds(row["ttft_p95_s"]),
            _seconds(row["ttft_p99_s"]),
            str(row["scale_events"]),
            str(row["flaps"]),
            "[green]yes[/]" if row["meets_slo"] else "[red]no[/]",
        )
    Console().print(table)
    if summary["best_possible_attainment"] < slo["attainment"]:
        Console().print(
            f"[yellow]This SLO is out of reach on this profile: only {summary['best_possible_attainment']:.2%} of "
            f"requests can get a first token within {slo['ttft_s']:g} s even alone on an idle replica.[/]"
        )


def _seconds(value: float | None) -> str:
    return "unserved" if value is None else f"{value:.2f} s"


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

    from scaler.prometheus import PrometheusError, PrometheusSource
    from simulations.profile_fit import FitError, fit_from_prometheus
    from simulations.profiles import ProfileError, load_profile

    try:
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


def main() -> None:
    app()


if __name__ == "__main__":
    main()
