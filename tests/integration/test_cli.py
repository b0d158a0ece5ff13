"""The `gpuscale` command as users run it: a real subprocess."""

from __future__ import annotations

import json
import os
import re
import signal
import socket
import subprocess
import sys
import threading
from pathlib import Path

import grpc
import pytest
import typer
from grpc_health.v1 import health_pb2, health_pb2_grpc

from emulation.emulator import EmulatorServer, FleetEmulator
from emulation.keda_client import KedaLikeClient
from emulation.local_prometheus import PrometheusServer
from simulations.cli import app
from tests.support.net import free_port, wait_for
from tests.support.scaler import ref

pytestmark = pytest.mark.integration
GPUSCALE = [sys.executable, "-m", "simulations.cli"]


def _serving(port: int) -> bool:
    try:
        stub = health_pb2_grpc.HealthStub(grpc.insecure_channel(f"127.0.0.1:{port}"))
        return bool(
            stub.Check(health_pb2.HealthCheckRequest(), timeout=0.5).status == health_pb2.HealthCheckResponse.SERVING
        )
    except grpc.RpcError:
        return False


def test_serve_logs_decisions_and_drains_on_sigterm(
    tmp_path: Path, emulator: tuple[FleetEmulator, EmulatorServer], prometheus: PrometheusServer
) -> None:
    fleet, _ = emulator
    fleet.set_load("cli", "llama", replicas=1, queue=2, running=3, generation_tps=500, kv_cache_usage=0.3)
    prometheus.wait_for_series('vllm:num_requests_waiting{namespace="cli"}')
    port, log = free_port(), tmp_path / "decisions.jsonl"
    proc = subprocess.Popen(
        [
            *GPUSCALE,
            "serve",
            "--host",
            "127.0.0.1",
            "--port",
            str(port),
            "--metrics-port",
            str(free_port()),
            "--probe-port",
            "0",
            "--prometheus-url",
            prometheus.url,
            "--refresh-interval",
            "0.5",
            "--kubernetes",
            "off",
            "--decision-log",
            str(log),
        ],
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        wait_for(lambda: _serving(port), timeout=20, what="gpuscale serve to report SERVING")
        so = ref("llama", "cli", deployment="llama")
        result = KedaLikeClient.connect(f"127.0.0.1:{port}").poll(so)
        assert (result.metric_name, result.target, result.active) == ("gpuscale-llama", 1.0, True)
        channel = grpc.insecure_channel(f"127.0.0.1:{port}")
        stream = KedaLikeClient(
            __import__("scaler.rpc.externalscaler_pb2_grpc", fromlist=["x"]).ExternalScalerStub(channel)
        ).stub.StreamIsActive(so)
        first = next(stream)
        assert first.result is True

        def complete_decision_logged() -> bool:
            lines = [json.loads(line) for line in log.read_text().splitlines()]
            return bool(lines) and len(lines[-1]["decision"]["asks"]) == 4

        wait_for(complete_decision_logged, timeout=20, what="a decision with every signal's ask in the log")
        ended: dict[str, object] = {}
        reader = threading.Thread(target=lambda: ended.update(rest=list(stream), code=stream.code()), daemon=True)
        reader.start()
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(timeout=15) == 0
        reader.join(timeout=5)
        assert ended["code"] == grpc.StatusCode.OK  # KEDA reconnects at once after a clean end
    finally:
        if proc.poll() is None:
            proc.kill()
    stderr = proc.stderr.read() if proc.stderr else ""
    records = [json.loads(line) for line in stderr.splitlines() if line.startswith("{")]
    assert records and all({"ts", "level", "logger", "msg"} <= set(r) for r in records)
    assert records[-1]["msg"] == "gpuscale stopped"
    lines = [json.loads(line) for line in log.read_text().splitlines()]
    assert lines, "the decision log is empty"
    last = lines[-1]
    assert last["event"] == "decision" and last["workload"] == "cli/llama/gpuscale-llama"
    assert last["snapshot"]["signals"]["queue"] == 2.0 and last["snapshot"]["replicas"]["source"] == "metrics"
    assert set(last["decision"]["asks"]) == {"queue", "throughput", "forecast", "kv_cache"}
    assert last["policy"]["target_queue_per_replica"] == 4.0


@pytest.mark.parametrize(
    ("args", "message"),
    [
        pytest.param(
            ["--tls-cert", "server.crt"],
            "invalid server config: tls_cert and tls_key must be given together",
            id="tls cert without key",
        ),
        pytest.param(
            ["--tls-cert", "missing.crt", "--tls-key", "server.key"],
            "invalid server config: tls_cert: no such file (got 'missing.crt')",
            id="a certificate that is not there",
        ),
        pytest.param(
            ["--kubernetes", "sometimes"],
            "invalid server config: kubernetes: Input should be 'auto', 'off', 'incluster' or 'kubeconfig' "
            "(got 'sometimes')",
            id="unknown kubernetes mode",
        ),
        pytest.param(
            ["--refresh-interval", "0"],
            "invalid server config: refresh_interval_s: Input should be greater than 0 (got 0.0)",
            id="zero refresh interval",
        ),
        pytest.param(
            ["--config", "server.yaml"],
            "invalid server config: history_s (172800) / refresh_interval_s (10) is 17280 points;"
            " Prometheus allows 11000 per range query",
            id="history over one range query",
        ),
        pytest.param(
            ["--prometheus-url", "prometheus:9090"],
            "invalid server config: prometheus_url: an http:// or https:// base URL with no user, query or fragment "
            "(got 'prometheus:9090')",
            id="a Prometheus address that is not a URL",
        ),
        pytest.param(
            ["--policy-dir", "policies"],
            "invalid server config: policy_dir: no such directory (got 'policies')",
            id="a policy directory that is not there",
        ),
        pytest.param(
            ["--decision-log", "logs/decisions.jsonl"],
            "invalid server config: decision_log: its directory logs does not exist (got 'logs/decisions.jsonl')",
            id="a decision log in a missing directory",
        ),
    ],
)
def test_serve_rejects_bad_config_before_starting(args: list[str], message: str, tmp_path: Path) -> None:
    (tmp_path / "server.yaml").write_text("history_s: 172800\n")
    (tmp_path / "server.crt").write_text("not used: the config is refused first\n")
    (tmp_path / "server.key").write_text("not used: the config is refused first\n")
    proc = subprocess.run(
        [*GPUSCALE, "serve", *args], check=False, capture_output=True, text=True, timeout=30, cwd=tmp_path
    )
    assert (proc.returncode, proc.stderr.strip()) == (2, f"error: {message}")


@pytest.mark.parametrize(
    ("args", "message"),
    [
        pytest.param(
            ["serve", "--host", "127.0.0.1", "--port", "{busy}", "--metrics-port", "0", "--probe-port", "0"],
            "cannot listen for gRPC on 127.0.0.1:{busy} (--port): the address is in use or not available",
            id="serve: gRPC port in use",
        ),
        pytest.param(
            ["serve", "--host", "127.0.0.1", "--port", "0", "--metrics-port", "{busy}", "--probe-port", "0"],
            "cannot listen for HTTP on 127.0.0.1:{busy} (--metrics-port): Address already in use",
            id="serve: metrics port in use",
        ),
        pytest.param(
            ["serve", "--host", "127.0.0.1", "--port", "0", "--metrics-port", "0", "--probe-port", "{busy}"],
            "cannot listen for HTTP on 127.0.0.1:{busy} (--probe-port): Address already in use",
            id="serve: probe port in use",
        ),
        pytest.param(
            ["emulate", "--port", "{busy}"],
            "cannot listen on 127.0.0.1:{busy} (--port): Address already in use",
            id="emulate: port in use",
        ),
    ],
)
def test_a_port_in_use_is_a_clear_error(args: list[str], message: str) -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        busy = taken.getsockname()[1]
        command = [a.format(busy=busy) for a in args]
        proc = subprocess.run([*GPUSCALE, *command], check=False, capture_output=True, text=True, timeout=60)
    assert proc.returncode == 1
    assert proc.stderr.splitlines()[-1] == "error: " + message.format(busy=busy)
    assert "Traceback" not in proc.stderr


def test_config_file_errors_name_the_field(tmp_path: Path) -> None:
    config = tmp_path / "server.yaml"
    config.write_text("port: 6000\ndefault_policy:\n  max_replicas: 0\n")
    proc = subprocess.run(
        [*GPUSCALE, "serve", "--config", str(config)], check=False, capture_output=True, text=True, timeout=30
    )
    assert proc.returncode == 2
    assert (
        "error: invalid server config: default_policy.max_replicas: Input should be greater than or equal to 1 "
        "(got 0)" in proc.stderr
    )


COMMANDS = [
    "serve",
    "trigger-keys",
    "emulate",
    "live-demo",
    "backtest",
    "simulate",
    "tune",
    "demo",
    "report",
    "profile-fit",
    "synth",
]


def test_the_help_tests_cover_every_command() -> None:
    assert list(typer.main.get_command(app).commands) == COMMANDS  # type: ignore[attr-defined]


def _help_rows(args: list[str]) -> dict[str, str]:
    """Option -> the rest of its first help row, from a wide, uncoloured ``--help``."""
    env = {**os.environ, "COLUMNS": "200", "NO_COLOR": "1", "TERM": "dumb"}
    proc = subprocess.run(
        [*GPUSCALE, *args, "--help"], check=False, capture_output=True, text=True, timeout=30, env=env
    )
    assert proc.returncode == 0 and "Usage: " in proc.stdout, proc.stderr
    rows = {}
    for line in proc.stdout.splitlines():
        cells = line.strip("│ ").lstrip("* ").split(maxsplit=1)
        if cells and cells[0].startswith("--"):
            rows[cells[0]] = cells[1] if len(cells) > 1 else ""
    return rows


@pytest.mark.parametrize("command", COMMANDS)
def test_every_command_has_help(command: str) -> None:
    rows = _help_rows([command])
    assert rows["--help"] == "Show this message and exit."
    assert [option for option, rest in rows.items() if "<bool>" in rest] == []


@pytest.mark.parametrize(
    ("args", "option", "shown"),
    [
        pytest.param([], "--help", "Show this message and exit.", id="the group's own help flag shows no type"),
        pytest.param(
            ["simulate"], "--json", "print machine-readable JSON instead of a table", id="a flag shows no type"
        ),
        pytest.param(["simulate"], "--report", "<path>", id="an option with a value keeps its type"),
        pytest.param(["tune"], "--budget", "<int range> [8<=x<=100000]", id="and its range"),
    ],
)
def test_help_shows_a_type_only_where_a_value_is_taken(args: list[str], option: str, shown: str) -> None:
    assert _help_rows(args)[option].startswith(shown)


def test_live_demo_scales_up_with_the_ramp() -> None:
    """The README's first command, shortened: the whole loop runs and reacts to the load ramp."""
    proc = subprocess.run(
        [*GPUSCALE, "live-demo", "--seconds", "24", "--cold-start", "4"],
        check=False,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert proc.returncode == 0, proc.stderr[-2000:]
    lines = proc.stdout.splitlines()
    rows = [line.split() for line in lines if line[:6].strip().replace(".", "").isdigit()]
    assert len(rows) >= 10  # one row per KEDA poll every 2 s
    # Not a terminal: one header and one line per poll, no table repeating them (cut to 80 columns).
    assert sum(line.startswith("t (s)  demand tok/s") for line in lines) == 1
    assert len({r[0] for r in rows}) == len(rows)
    assert not any(ch in proc.stdout for ch in "┃│┏━")
    recommended = [int(r[5]) for r in rows if len(r) >= 7]
    assert recommended[0] == 1 and max(recommended) >= 4  # quiet start, then the ramp asks for more
    assert any(r[6] == "scale_up" for r in rows if len(r) >= 7)
    assert "KEDA polls." in proc.stdout


def _gpuscale_help(block: str = "") -> str:
    """``gpuscale --help`` through the installed entry point's code (``scaler.cli:main``)."""
    code = f"import sys\n{block}\nsys.argv = ['gpuscale', '--help']\nfrom scaler.cli import main\nmain()"
    env = {**os.environ, "COLUMNS": "200"}
    proc = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=60, env=env, check=False
    )
    assert proc.returncode == 0, proc.stderr
    return proc.stdout


@pytest.mark.parametrize(
    ("name", "block", "offered", "hint"),
    [
        ("with the simulator", "", True, False),
        ("the scaler's image: no matplotlib", "sys.modules['matplotlib'] = None", False, True),
        ("the scaler's image: no scipy", "sys.modules['scipy'] = None", False, True),
    ],
)
def test_the_simulators_commands_come_with_its_dependencies(name: str, block: str, offered: bool, hint: bool) -> None:
    """`gpuscale` is the scaler's entry point; the simulator adds its commands when it is installed."""
    out = _gpuscale_help(block)
    commands = set(re.findall(r"^│ ([a-z][a-z-]+)  ", out, flags=re.M))  # the Commands panel's first column
    assert {"serve", "trigger-keys"} <= commands, name
    assert ({"simulate", "tune", "demo", "backtest"} <= commands) is offered, name
    assert (commands == {"serve", "trigger-keys"}) is not offered, name
    assert ("pip install 'gpuscale[simulator]'" in out) is hint, name
