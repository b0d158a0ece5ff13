"""Fleet emulator: serves vLLM- and DCGM-shaped ``/metrics`` for emulated pods.

It stands in for GPU inference pods where there are none: a real Prometheus
scrapes it and the real scaler reads the result. Load is set per Deployment
(queue, running, token rates, KV usage, replicas) through ``set_load`` or the
HTTP ``POST /control`` endpoint; counters integrate the configured rates over
(injected) time. Metric names follow vLLM V1 and the DCGM exporter (metrics.md),
with DCGM's ``exported_namespace``/``exported_pod`` labels as the default chart
stores them.
"""

from __future__ import annotations

import hashlib
import json
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from prometheus_client import CollectorRegistry, generate_latest
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, HistogramMetricFamily, Metric
from prometheus_client.openmetrics.exposition import generate_latest as generate_openmetrics

Clock = Callable[[], float]
FB_TOTAL_MIB = 81_559.0  # an H100 80GB, as DCGM reports it
TTFT_BUCKETS = (0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, float("inf"))


@dataclass
class DeploymentLoad:
    """Load of one emulated Deployment, spread evenly over its ready pods."""

    namespace: str
    name: str
    replicas: int = 1
    queue: float = 0.0
    running: float = 0.0
    generation_tps: float = 0.0
    prompt_tps: float = 0.0
    request_rate: float = 0.0
    kv_cache_usage: float = 0.0
    gpu_utilization: float = 0.0
    ttft_s: float = 0.2
    model: str = "meta-llama/Llama-3.1-8B-Instruct"
    #: the pods' own names, when real pods stand behind the load (a control plane's); empty: made-up names
    pods: list[str] = field(default_factory=list)
    # integrated counters, per pod index
    counters: dict[str, list[float]] = field(default_factory=dict)
    ttft_counts: list[float] = field(default_factory=list)

    def pod_names(self) -> list[str]:
        """The given pods, else Deployment-style names: <deployment>-<replicaset hash>-<suffix>."""
        if self.pods:
            return list(self.pods)
        rs = hashlib.sha1(f"{self.namespace}/{self.name}".encode()).hexdigest()[:9]
        return [
            f"{self.name}-{rs}-{hashlib.sha1(f'{self.name}{i}'.encode()).hexdigest()[:5]}" for i in range(self.replicas)
        ]


class FleetEmulator:
    """Holds emulated Deployments and renders them as metric families at scrape time."""

    def __init__(self, clock: Clock = time.time) -> None:
        self.clock = clock
        self._lock = threading.Lock()
        self._deployments: dict[tuple[str, str], DeploymentLoad] = {}
        self._last = clock()
        self.registry = CollectorRegistry(auto_describe=False)
        self.registry.register(self)
        self.scrapes = 0

    def set_load(self, namespace: str, name: str, **values: Any) -> DeploymentLoad:
        """Create or update a Deployment's load; unknown fields are an error."""
        with self._lock:
            self._integrate()
            dep = self._deployments.setdefault((namespace, name), DeploymentLoad(namespace, name))
            for key, value in values.items():
                if key in ("namespace", "name", "counters", "ttft_counts") or not hasattr(dep, key):
                    raise ValueError(f"unknown load field {key!r}")
                if key == "pods":
                    dep.pods = [str(p) for p in value]
                    dep.replicas = len(dep.pods)
                    continue
                setattr(dep, key, type(getattr(dep, key))(value))
            return dep

    def remove(self, namespace: str, name: str) -> None:
        with self._lock:
            self._deployments.pop((namespace, name), None)

    def _integrate(self) -> None:
        now = self.clock()
        dt = max(0.0, now - self._last)
        self._last = now
        for dep in self._deployments.values():
            n = max(dep.replicas, 1)
            for key, rate in (
                ("generation", dep.generation_tps),
                ("prompt", dep.prompt_tps),
                ("success", dep.request_rate),
            ):
                acc = dep.counters.setdefault(key, [])
                acc.extend([0.0] * (dep.replicas - len(acc)))
                for i in range(dep.replicas):
                    acc[i] += rate / n * dt
            counts = dep.ttft_counts
            counts.extend([0.0] * (dep.replicas - len(counts)))
            for i in range(dep.replicas):
                counts[i] += dep.request_rate / n * dt

    def collect(self) -> Iterator[Metric]:
        with self._lock:
            self._integrate()
            self.scrapes += 1
            yield from self._families()

    def _families(self) -> Iterator[Metric]:
        engine_labels = ["model_name", "engine", "namespace", "pod"]
        gpu_labels = ["gpu", "UUID", "modelName", "Hostname", "exported_namespace", "exported_pod"]
        waiting = GaugeMetricFamily("vllm:num_requests_waiting", "Requests waiting", labels=engine_labels)
        running = GaugeMetricFamily("vllm:num_requests_running", "Requests running", labels=engine_labels)
        kv = GaugeMetricFamily("vllm:kv_cache_usage_perc", "KV-cache usage (1 = 100%)", labels=engine_labels)
        gen = CounterMetricFamily("vllm:generation_tokens", "Generated tokens", labels=engine_labels)
        prompt = CounterMetricFamily("vllm:prompt_tokens", "Prefill tokens", labels=engine_labels)
        success = CounterMetricFamily(
            "vllm:request_success", "Finished requests", labels=[*engine_labels, "finished_reason"]
        )
        ttft = HistogramMetricFamily("vllm:time_to_first_token_seconds", "TTFT", labels=engine_labels)
        util = GaugeMetricFamily("DCGM_FI_DEV_GPU_UTIL", "GPU utilization (%)", labels=gpu_labels)
        fb_used = GaugeMetricFamily("DCGM_FI_DEV_FB_USED", "Framebuffer used (MiB)", labels=gpu_labels)
        fb_free = GaugeMetricFamily("DCGM_FI_DEV_FB_FREE", "Framebuffer free (MiB)", labels=gpu_labels)
        for dep in self._deployments.values():
            n = dep.replicas
            for i, pod in enumerate(dep.pod_names()):
                labels = [dep.model, "0", dep.namespace, pod]
                waiting.add_metric(labels, dep.queue / n)
                running.add_metric(labels, dep.running / n)
                kv.add_metric(labels, dep.kv_cache_usage)
                gen.add_metric(labels, dep.counters.get("generation", [0.0] * n)[i])
                prompt.add_metric(labels, dep.counters.get("prompt", [0.0] * n)[i])
                success.add_metric([*labels, "stop"], dep.counters.get("success", [0.0] * n)[i])
                count = dep.ttft_counts[i] if i < len(dep.ttft_counts) else 0.0
                buckets = [(_fmt(b), count if dep.ttft_s <= b else 0.0) for b in TTFT_BUCKETS]
                ttft.add_metric(labels, buckets, count * dep.ttft_s)
                uuid = "GPU-" + hashlib.sha1(pod.encode()).hexdigest()[:12]
                gpu = ["0", uuid, "NVIDIA H100 80GB HBM3", f"node-{i}", dep.namespace, pod]
                # Engines pre-allocate ~90% of memory, so framebuffer use is flat: a guard, not a load signal.
                util.add_metric(gpu, 100.0 * dep.gpu_utilization)
                fb_used.add_metric(gpu, 0.9 * FB_TOTAL_MIB)
                fb_free.add_metric(gpu, 0.1 * FB_TOTAL_MIB)
        yield from (waiting, running, kv, gen, prompt, success, ttft, util, fb_used, fb_free)


def _fmt(bound: float) -> str:
    return "+Inf" if bound == float("inf") else repr(bound)


class _Handler(BaseHTTPRequestHandler):
    server: EmulatorServer

    def log_message(self, format: str, *args: Any) -> None:
        return

    def _reply(self, status: int, body: bytes, ctype: str) -> None:
        self.send_response(status)
        self.send_header("Content-Type", ctype)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def do_GET(self) -> None:
        if self.path.split("?")[0] != "/metrics":
            self._reply(404, b"not found\n", "text/plain")
            return
        if self.server.openmetrics:
            # What a recent prometheus-client serves when Prometheus asks for OpenMetrics:
            # colons in sample names become underscores (client_python #1177).
            body = generate_openmetrics(self.server.emulator.registry)  # type: ignore[no-untyped-call]
            self._reply(200, body, "application/openmetrics-text; version=1.0.0; charset=utf-8")
        else:
            body = generate_latest(self.server.emulator.registry)
            self._reply(200, body, "text/plain; version=0.0.4; charset=utf-8")

    def do_POST(self) -> None:
        if self.path != "/control":
            self._reply(404, b"not found\n", "text/plain")
            return
        try:
            payload = json.loads(self.rfile.read(int(self.headers.get("Content-Length", "0"))) or b"{}")
            namespace, name = payload.pop("namespace"), payload.pop("deployment")
            dep = self.server.emulator.set_load(namespace, name, **payload)
        except (ValueError, KeyError, TypeError) as exc:
            self._reply(400, json.dumps({"error": str(exc)}).encode(), "application/json")
            return
        self._reply(200, json.dumps({"pods": dep.pod_names()}).encode(), "application/json")


class EmulatorServer(ThreadingHTTPServer):
    daemon_threads = True

    def handle_error(self, request: object, client_address: object) -> None:
        """A scraper that gave up (timeout) closes the socket mid-reply: not an error worth a traceback."""

    def __init__(self, emulator: FleetEmulator, host: str = "127.0.0.1", port: int = 0, openmetrics: bool = False):
        super().__init__((host, port), _Handler)
        self.emulator = emulator
        self.openmetrics = openmetrics
        self._thread = threading.Thread(target=self.serve_forever, name="fleet-emulator", daemon=True)

    @property
    def port(self) -> int:
        return int(self.server_address[1])

    def start(self) -> EmulatorServer:
        self._thread.start()
        return self

    def stop(self) -> None:
        self.shutdown()
        self.server_close()
