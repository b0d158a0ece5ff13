"""A reply that is not Prometheus' fails the one query with a PrometheusError, not the whole cycle."""

from __future__ import annotations

import json
import threading
from collections.abc import Callable, Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from scaler.prometheus import PrometheusError, PrometheusSource

pytestmark = pytest.mark.integration

#: What a proxy or another API might answer on Prometheus' paths: the envelope, but results without values.
ODD_REPLY = {"status": "success", "data": {"resultType": "vector", "result": [{"metric": {"pod": "llama-0"}}]}}


class _Odd(BaseHTTPRequestHandler):
    def log_message(self, format: str, *args: object) -> None:
        return

    def do_POST(self) -> None:
        body = json.dumps(ODD_REPLY).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)


@pytest.fixture()
def odd_server() -> Iterator[str]:
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Odd)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()


@pytest.mark.parametrize(
    ("kind", "call"),
    [
        pytest.param("instant", lambda s: s.instant("up"), id="instant"),
        pytest.param("range", lambda s: s.range("up", 0.0, 60.0, 10.0), id="range"),
    ],
)
def test_a_reply_of_the_wrong_shape_is_a_prometheus_error(
    odd_server: str, kind: str, call: Callable[[PrometheusSource], object]
) -> None:
    source = PrometheusSource(odd_server, timeout_s=5)
    with pytest.raises(PrometheusError) as err:
        call(source)
    missing = "'value'" if kind == "instant" else "'values'"
    assert str(err.value) == (
        f"Prometheus {kind} query to {odd_server} returned an unexpected result: KeyError: {missing}"
    )
