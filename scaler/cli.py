"""The ``gpuscale`` entry point and the scaler's commands (``serve``, ``trigger-keys``).

Other installed packages add their commands through the ``gpuscale.commands`` entry-point group: the
simulator's (``simulate``, ``tune``, ``demo``, ...) come with ``gpuscale[simulator]``. The scaler never
imports them, so its image runs ``gpuscale serve`` without the simulator's dependencies.
"""

from __future__ import annotations

import asyncio
from enum import StrEnum
from importlib.metadata import entry_points
from pathlib import Path
from typing import Annotated

import typer

from scaler.cli_errors import ExplainingGroup
from scaler.config import ConfigError, check_paths, load_config
from scaler.logs import setup_logging

app = typer.Typer(
    name="gpuscale",
    cls=ExplainingGroup,
    help="KEDA external scaler for GPU LLM inference, and the simulator that tunes it.",
    no_args_is_help=True,
    add_completion=False,
    # Markdown, not rich markup: in rich markup "[default: 6000]" and "gpuscale[tpe]" are style tags and
    # vanish from the help.
    rich_markup_mode="markdown",
)


#: Entry-point group of the packages that add commands to ``gpuscale``.
COMMAND_PLUGINS = "gpuscale.commands"
SIMULATOR_MISSING = (
    "The simulator's commands (simulate, tune, backtest, demo, report, ...) are not installed here:"
    " pip install 'gpuscale[simulator]'."
)


def load_command_plugins() -> list[str]:
    """Import every installed command plugin (importing one adds its commands); those that cannot load."""
    failed = []
    for plugin in entry_points(group=COMMAND_PLUGINS):
        try:
            plugin.load()
        except ImportError as exc:
            failed.append(f"{plugin.name}: {exc}")
    return failed


def main() -> None:
    if load_command_plugins():
        app.info.epilog = SIMULATOR_MISSING
    app()


def _named_sources(pairs: list[str]) -> dict[str, str] | None:
    """``--prometheus-source NAME=URL`` options as a mapping (None when none was given)."""
    if not pairs:
        return None
    out: dict[str, str] = {}
    for pair in pairs:
        name, sep, url = pair.partition("=")
        if not sep or not name or not url:
            raise ConfigError(f"--prometheus-source {pair!r}: expected NAME=URL")
        if name in out:
            raise ConfigError(f"--prometheus-source {name!r} is given twice")
        out[name] = url
    return out


class LogLevel(StrEnum):
    DEBUG = "debug"
    INFO = "info"
    WARNING = "warning"
    ERROR = "error"


@app.command()
def serve(
    port: Annotated[int | None, typer.Option(help="gRPC port for KEDA [default: 6000]")] = None,
    metrics_port: Annotated[
        int | None, typer.Option(help="HTTP port for /metrics and /decisions [default: 8080]")
    ] = None,
    probe_port: Annotated[
        int | None, typer.Option(help="plain HTTP port for /healthz and /readyz only [default: 8081]")
    ] = None,
    prometheus_url: Annotated[
        str | None,
        typer.Option(help="Prometheus for triggers without prometheusAddress [default: http://127.0.0.1:9090]"),
    ] = None,
    prometheus_source: Annotated[
        list[str] | None,
        typer.Option(
            help="another Prometheus a trigger may select by name ('prometheus: NAME'), as NAME=URL; repeatable."
            " Triggers reach no address but these and --prometheus-url"
        ),
    ] = None,
    host: Annotated[str | None, typer.Option(help="bind address [default: 0.0.0.0]")] = None,
    config: Annotated[Path | None, typer.Option(help="YAML server config; options given here override it")] = None,
    policy_dir: Annotated[
        Path | None, typer.Option(help="directory of tuned policy files, named by the 'policy' key")
    ] = None,
    max_workloads: Annotated[
        int | None, typer.Option(help="most workloads collected at once; more are refused [default: 1000]")
    ] = None,
    refresh_interval: Annotated[
        float | None, typer.Option(help="seconds between collections (the forecast step) [default: 10]")
    ] = None,
    tls_cert: Annotated[Path | None, typer.Option(help="server certificate (PEM); enables TLS")] = None,
    tls_key: Annotated[Path | None, typer.Option(help="server private key (PEM)")] = None,
    tls_client_ca: Annotated[Path | None, typer.Option(help="CA of client certificates (PEM); enables mTLS")] = None,
    kubernetes: Annotated[
        str | None, typer.Option(help="cluster access: auto, off, incluster or kubeconfig [default: auto]")
    ] = None,
    decision_log: Annotated[
        str | None, typer.Option(help="JSON-lines decision log: a file path, or - for stdout")
    ] = None,
    log_level: Annotated[LogLevel, typer.Option(help="how much to log")] = LogLevel.INFO,
) -> None:
    """Run the KEDA external scaler (gRPC) with its /metrics and /decisions HTTP endpoints."""
    setup_logging(log_level.value)
    try:
        sources = _named_sources(prometheus_source or [])
        cfg = load_config(
            config,
            {
                "prometheus_sources": sources,
                "port": port,
                "metrics_port": metrics_port,
                "probe_port": probe_port,
                "prometheus_url": prometheus_url,
                "host": host,
                "policy_dir": policy_dir,
                "refresh_interval_s": refresh_interval,
                "max_workloads": max_workloads,
                "tls_cert": tls_cert,
                "tls_key": tls_key,
                "tls_client_ca": tls_client_ca,
                "kubernetes": kubernetes,
                "decision_log": decision_log,
                "log_level": log_level.value,
            },
        )
        check_paths(cfg)
    except ConfigError as exc:
        typer.echo(f"error: {exc}", err=True)
        raise typer.Exit(2) from None
    from scaler.server import BindError, run_server

    try:
        asyncio.run(run_server(cfg))
    except BindError as exc:
        typer.echo(f"error: {exc}", err=True)
        raise typer.Exit(1) from None


@app.command("trigger-keys")
def trigger_keys(
    markdown: Annotated[
        bool, typer.Option(help="print Markdown (the README's table) instead of a terminal table")
    ] = False,
    policy_file: Annotated[
        bool, typer.Option(help="list the knobs only a policy file sets, under their policy-file names")
    ] = False,
) -> None:
    """The keys a ScaledObject trigger may set: default, allowed values and meaning (from their declarations)."""
    from rich.console import Console
    from rich.table import Table

    from scaler.trigger_keys import key_rows, markdown_table, policy_file_rows

    rows = policy_file_rows() if policy_file else key_rows()
    if markdown:
        typer.echo(markdown_table(rows), nl=False)
        return
    table = Table("key", "default", "allowed", "meaning", show_lines=False)
    for row in rows:
        table.add_row(row.key, row.default, row.allowed, row.meaning)
    Console(markup=False).print(table)


if __name__ == "__main__":
    # ``python -m scaler.cli``: run the importable module's app, the one plugins add their commands to
    # (this file runs as ``__main__``, a second copy of it).
    import importlib

    importlib.import_module("scaler.cli").main()
