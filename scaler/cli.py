"""The ``gpuscale`` command line: every command has ``--help``; config is validated up front."""

from __future__ import annotations

import asyncio
import contextlib
import signal
import threading
from pathlib import Path
from typing import Annotated

import typer

from scaler.config import ConfigError, load_config
from scaler.logs import setup_logging

app = typer.Typer(
    name="gpuscale",
    help="KEDA external scaler for GPU LLM inference, and the simulator that tunes it.",
    no_args_is_help=True,
    add_completion=False,
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
            },
        )
    except ConfigError as exc:
        typer.echo(f"error: {exc}", err=True)
        raise typer.Exit(2) from None
    from scaler.server import run_server

    asyncio.run(run_server(cfg))


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


def main() -> None:
    app()


if __name__ == "__main__":
    main()
