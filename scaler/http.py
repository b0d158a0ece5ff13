"""HTTP side of the scaler: /metrics for Prometheus, /decisions for people and tools, probes for kubelet.

Decisions and metrics name every tenant's workloads: when the scaler runs with mTLS they are served over
HTTPS to clients with a certificate from the same CA, and kubelet's probes get a port of their own that
serves nothing else."""

from __future__ import annotations

import json
import ssl
import threading
from collections.abc import Callable
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, urlparse

from prometheus_client import CONTENT_TYPE_LATEST

from scaler.workloads import Registry

MetricsSource = Callable[[], bytes]
#: Why the scaler is not ready, or None when it is.
Readiness = Callable[[], str | None]


class _Handler(BaseHTTPRequestHandler):
    server: _Server

    def log_message(self, format: str, *args: Any) -> None:
        return  # access logs would drown the decision log

    def _send(self, status: int, body: bytes, content_type: str) -> None:
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def _json(self, status: int, payload: object) -> None:
        self._send(status, json.dumps(payload, default=str).encode(), "application/json")

    def do_GET(self) -> None:
        url = urlparse(self.path)
        parts = [p for p in url.path.split("/") if p]
        if self.server.probes_only and url.path not in ("/healthz", "/readyz"):
            self._json(404, {"error": f"no such path {url.path!r} on the probe port; try /healthz or /readyz"})
        elif url.path == "/metrics":
            self._send(200, b"".join(source() for source in self.server.metrics), CONTENT_TYPE_LATEST)
        elif url.path == "/healthz":  # liveness: the process answers
            self._send(200, b"ok\n", "text/plain")
        elif url.path == "/readyz":  # readiness: collection runs and decisions are fresh
            why = self.server.ready()
            self._send(200 if why is None else 503, b"ok\n" if why is None else f"{why}\n".encode(), "text/plain")
        elif parts and parts[0] == "decisions":
            self._decisions(parts[1:], parse_qs(url.query))
        else:
            self._json(404, {"error": f"no such path {url.path!r}; try /metrics or /decisions"})

    def _decisions(self, parts: list[str], query: dict[str, list[str]]) -> None:
        """``/decisions`` lists workloads; ``/decisions/<namespace>/<scaledobject>`` returns recent decisions."""
        if len(parts) not in (0, 2):  # a namespace alone, or more after the name, would be quietly dropped
            path = "/".join(["", "decisions", *parts])
            self._json(
                404, {"error": f"no such path {path!r}; try /decisions or /decisions/<namespace>/<scaledobject>"}
            )
            return
        raw = query.get("limit", ["50"])[0]
        limit = int(raw) if raw.isdigit() else 0
        if limit < 1:  # 0 would slice to every decision ([-0:]), a negative one from the wrong end
            self._json(400, {"error": f"limit has invalid value {raw!r}; allowed: a whole number of at least 1"})
            return
        workloads = self.server.registry.all()
        if len(parts) == 2:
            namespace, name = parts[0], parts[1]
            chosen = [w for w in workloads if w.key.namespace == namespace and w.key.scaled_object == name]
            if not chosen:
                self._json(404, {"error": f"no workload for ScaledObject {namespace}/{name}"})
                return
            self._json(
                200,
                [
                    {"workload": str(w.key), "decisions": [d.to_json() for d in list(w.decisions)[-limit:]]}
                    for w in chosen
                ],
            )
            return
        self._json(
            200,
            [
                {
                    "workload": str(w.key),
                    "latest": None if w.latest is None else w.latest.to_json(),
                }
                for w in workloads
            ],
        )


class _Server(ThreadingHTTPServer):
    daemon_threads = True

    def __init__(
        self,
        address: tuple[str, int],
        metrics: list[MetricsSource],
        registry: Registry,
        ready: Readiness,
        probes_only: bool,
        tls: ssl.SSLContext | None,
    ) -> None:
        super().__init__(address, _Handler)
        self.metrics = metrics
        self.registry = registry
        self.ready = ready
        self.probes_only = probes_only
        if tls is not None:
            # the handshake runs in each request's own thread (on first read), never in the accept loop
            self.socket = tls.wrap_socket(self.socket, server_side=True, do_handshake_on_connect=False)

    def handle_error(self, request: Any, client_address: Any) -> None:
        return  # a client without a valid certificate fails its handshake: nothing to log per attempt


class HttpEndpoint:
    """Runs the HTTP server on a daemon thread."""

    def __init__(
        self,
        host: str,
        port: int,
        metrics: list[MetricsSource],
        registry: Registry,
        ready: Readiness = lambda: None,
        probes_only: bool = False,
        tls: ssl.SSLContext | None = None,
    ) -> None:
        self._server = _Server((host, port), metrics, registry, ready, probes_only, tls)
        self._thread = threading.Thread(target=self._server.serve_forever, name="gpuscale-http", daemon=True)

    @property
    def port(self) -> int:
        return int(self._server.server_address[1])

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        if self._thread.is_alive():  # shutdown() waits for serve_forever, which never runs if start() did not
            self._server.shutdown()
        self._server.server_close()
