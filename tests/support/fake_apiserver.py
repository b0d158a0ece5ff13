"""A minimal HTTP server answering the two list calls the scaler makes, with API-shaped JSON.

No kube-apiserver can run on these machines (see environment.md); this lets the real
``kubernetes`` client, configured from a real kubeconfig, exercise the scaler's code path.
"""

from __future__ import annotations

import json
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any


def deployment(name: str, namespace: str, replicas: int, ready: int) -> dict[str, Any]:
    return {
        "metadata": {"name": name, "namespace": namespace},
        "spec": {
            "replicas": replicas,
            "selector": {"matchLabels": {"app": name}},
            "template": {"metadata": {"labels": {"app": name}}, "spec": {"containers": []}},
        },
        "status": {"replicas": replicas, "readyReplicas": ready},
    }


def pod(name: str, namespace: str, created: str, ready_at: str | None) -> dict[str, Any]:
    conditions = [
        {"type": "Ready", "status": "True" if ready_at else "False", "lastTransitionTime": ready_at or created}
    ]
    return {
        "metadata": {"name": name, "namespace": namespace, "uid": f"uid-{name}", "creationTimestamp": created},
        "spec": {"containers": []},
        "status": {"phase": "Running" if ready_at else "Pending", "conditions": conditions},
    }


class FakeApiServer(ThreadingHTTPServer):
    daemon_threads = True

    def __init__(self) -> None:
        super().__init__(("127.0.0.1", 0), _Handler)
        self.deployments: dict[str, list[dict[str, Any]]] = {}
        self.pods: dict[str, list[dict[str, Any]]] = {}
        self.requests: list[str] = []
        threading.Thread(target=self.serve_forever, daemon=True).start()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server_address[1]}"

    def write_kubeconfig(self, path: Path) -> Path:
        path.write_text(
            json.dumps(
                {
                    "apiVersion": "v1",
                    "kind": "Config",
                    "current-context": "fake",
                    "clusters": [{"name": "fake", "cluster": {"server": self.url}}],
                    "users": [{"name": "fake", "user": {"token": "t"}}],
                    "contexts": [{"name": "fake", "context": {"cluster": "fake", "user": "fake"}}],
                }
            )
        )
        return path

    def stop(self) -> None:
        self.shutdown()
        self.server_close()


class _Handler(BaseHTTPRequestHandler):
    server: FakeApiServer

    def log_message(self, format: str, *args: Any) -> None:
        return

    def do_GET(self) -> None:
        path = self.path.split("?")[0]
        self.server.requests.append(path)
        parts = path.strip("/").split("/")
        if parts[:3] == ["apis", "apps", "v1"] and parts[-1] == "deployments":
            body = {
                "kind": "DeploymentList",
                "apiVersion": "apps/v1",
                "metadata": {},
                "items": self.server.deployments.get(parts[4], []),
            }
        elif parts[:2] == ["api", "v1"] and parts[-1] == "pods":
            body = {"kind": "PodList", "apiVersion": "v1", "metadata": {}, "items": self.server.pods.get(parts[3], [])}
        else:
            self.send_response(404)
            self.end_headers()
            return
        data = json.dumps(body).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)
