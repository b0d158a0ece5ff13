"""Shared by the RPC benchmarks: KEDA's requests for N workloads, starting `gpuscale serve` and the bare
grpcio baseline as subprocesses, percentiles, and reading a process's resident memory."""

from __future__ import annotations

import math
import statistics
import subprocess
import sys
from pathlib import Path

import grpc
from grpc_health.v1 import health_pb2, health_pb2_grpc

from benchmarks._fleet import workload_names
from emulation.local_prometheus import free_port, wait_for
from scaler.rpc import externalscaler_pb2 as pb
from scaler.rpc import externalscaler_pb2_grpc as pb_grpc

ROOT = Path(__file__).resolve().parents[1]


def get_metrics_requests(workloads: int) -> list[pb.GetMetricsRequest]:
    """What KEDA sends for each workload's trigger (one ScaledObject per Deployment)."""
    return [
        pb.GetMetricsRequest(
            scaledObjectRef=pb.ScaledObjectRef(name=name, namespace=ns, scalerMetadata={"deployment": name}),
            metricName=f"gpuscale-{name}",
        )
        for ns, name in workload_names(workloads)
    ]


def start_scaler(prometheus_url: str, refresh_s: str, port: int, *extra: str) -> subprocess.Popen[bytes]:
    """`gpuscale serve` on loopback with its collector in a worker process, Kubernetes off."""
    return subprocess.Popen(
        [
            sys.executable,
            "-m",
            "scaler.cli",
            "serve",
            "--host",
            "127.0.0.1",
            "--port",
            str(port),
            "--metrics-port",
            str(free_port()),
            "--probe-port",
            str(free_port()),
            "--prometheus-url",
            prometheus_url,
            "--refresh-interval",
            refresh_s,
            "--kubernetes",
            "off",
            "--log-level",
            "warning",
            *extra,
        ],
        cwd=ROOT,
    )


def start_bare(port: int) -> subprocess.Popen[bytes]:
    return subprocess.Popen([sys.executable, "-m", "benchmarks.bare_server", str(port)], cwd=ROOT)


def wait_serving(port: int, timeout_s: float = 30.0, health: bool = True) -> None:
    """Until the gRPC health service on ``port`` says SERVING (``health=False``: until GetMetrics answers,
    for the bare server, which has no health service)."""

    def serving() -> bool:
        channel = grpc.insecure_channel(f"127.0.0.1:{port}")
        try:
            if not health:
                pb_grpc.ExternalScalerStub(channel).GetMetrics(get_metrics_requests(1)[0], timeout=0.5)
                return True
            stub = health_pb2_grpc.HealthStub(channel)
            return bool(stub.Check(health_pb2.HealthCheckRequest(), timeout=0.5).status == 1)
        except grpc.RpcError:
            return False
        finally:
            channel.close()

    wait_for(serving, timeout=timeout_s, what=f"a gRPC server on port {port}")


def percentile_ms(values: list[float], p: float) -> float:
    """The ``p``-th percentile of latencies in seconds, in milliseconds (NaN with fewer than two)."""
    if len(values) < 2:
        return math.nan
    return statistics.quantiles(values, n=1000)[int(p * 10) - 1] * 1e3


def stop(*processes: subprocess.Popen[bytes]) -> None:
    for process in processes:
        if process.poll() is None:
            process.terminate()
    for process in processes:
        try:
            process.wait(timeout=15)
        except subprocess.TimeoutExpired:
            process.kill()


def rss_bytes(pid: int) -> int:
    """Resident memory of a process (Linux /proc); 0 once it is gone."""
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) * 1024
    except OSError:
        return 0
    return 0


def children(pid: int) -> list[int]:
    """Direct children of a process (the scaler's collector worker)."""
    found: list[int] = []
    try:
        for task in Path(f"/proc/{pid}/task").iterdir():
            text = (task / "children").read_text().split()
            found.extend(int(c) for c in text)
    except OSError:
        return found
    return found
