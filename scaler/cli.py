"""The scaler's commands of the ``gpuscale`` CLI (``serve``).

The offline commands are added by ``simulations.cli``, which owns the entry
point, so ``scaler`` never imports ``simulations``.
"""

from __future__ import annotations

import asyncio
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


@app.command()
def serve(
    port: Annotated[int | None, typer.Option(help="gRPC port for KEDA [default: 6000]")] = None,
    metrics_port: Annotated[
        int | None, typer.Option(help="HTTP port for /metrics and /decisions [default: 8080]")
    ] = None,
    prometheus_url: Annotated[
        str | None,
        typer.Option(help="Prometheus for triggers without prometheusAddress [default: http://127.0.0.1:9090]"),
    ] = None,
    host: Annotated[str | None, typer.Option(help="bind address [default: 0.0.0.0]")] = None,
    config: Annotated[Path | None, typer.Option(help="YAML server config; options given here override it")] = None,
    policy_dir: Annotated[
        Path | None, typer.Option(help="directory of tuned policy files, named by the 'policy' key")
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
    log_level: Annotated[str, typer.Option(help="debug, info, warning or error")] = "info",
) -> None:
    """Run the KEDA external scaler (gRPC) with its /metrics and /decisions HTTP endpoints."""
    setup_logging(log_level)
    try:
        cfg = load_config(
            config,
            {
                "port": port,
                "metrics_port": metrics_port,
                "prometheus_url": prometheus_url,
                "host": host,
                "policy_dir": policy_dir,
                "refresh_interval_s": refresh_interval,
                "tls_cert": tls_cert,
                "tls_key": tls_key,
                "tls_client_ca": tls_client_ca,
                "kubernetes": kubernetes,
                "decision_log": decision_log,
                "log_level": log_level,
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
