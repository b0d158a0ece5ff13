"""A thin, bounded Prometheus client: short timeouts, no retries, every call measured.

The collector is the only caller. A slow or dead Prometheus costs one timeout
per query in the background, never an RPC's latency.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, Protocol

import requests
from prometheus_api_client import PrometheusConnect
from prometheus_api_client.exceptions import PrometheusApiClientException
from urllib3.util.retry import Retry

#: Called after every query with (kind, seconds, error or None).
QueryObserver = Callable[[str, float, str | None], None]


class PrometheusError(RuntimeError):
    """A query failed: connection refused, timeout, HTTP error or bad response."""


@dataclass(frozen=True)
class Sample:
    labels: dict[str, str]
    value: float
    timestamp: float


@dataclass(frozen=True)
class RangeSeries:
    labels: dict[str, str]
    points: list[tuple[float, float]]


class PromQLApi(Protocol):
    """What the collector asks of a Prometheus server: instant and range queries (tests pass their own)."""

    def instant(self, query: str, at: float | None = None) -> list[Sample]: ...

    def range(self, query: str, start: float, end: float, step_s: float) -> list[RangeSeries]: ...


def _to_float(raw: object) -> float:
    try:
        return float(str(raw))
    except ValueError:
        return math.nan


class PrometheusSource:
    """Instant and range queries against one Prometheus server."""

    def __init__(self, url: str, timeout_s: float = 2.0, observer: QueryObserver | None = None) -> None:
        self.url = url.rstrip("/")
        self.timeout_s = timeout_s
        self._observer = observer
        self._client = PrometheusConnect(
            url=self.url, disable_ssl=not self.url.startswith("https"), retry=Retry(total=0), method="POST"
        )

    def _run(self, kind: str, call: Callable[[], Any]) -> Any:
        start = time.perf_counter()
        error: str | None = None
        try:
            return call()
        except (requests.RequestException, PrometheusApiClientException, ValueError, KeyError) as exc:
            error = f"{type(exc).__name__}: {str(exc)[:300]}"
            raise PrometheusError(f"Prometheus {kind} query to {self.url} failed: {error}") from exc
        finally:
            if self._observer is not None:
                self._observer(kind, time.perf_counter() - start, error)

    def instant(self, query: str, at: float | None = None) -> list[Sample]:
        params = {} if at is None else {"time": f"{at:.3f}"}
        raw = self._run("instant", lambda: self._client.custom_query(query, params=params, timeout=self.timeout_s))
        try:
            return [
                Sample(
                    labels=dict(item["metric"]), value=_to_float(item["value"][1]), timestamp=float(item["value"][0])
                )
                for item in raw
            ]
        except (KeyError, IndexError, TypeError, ValueError) as exc:
            raise self._unexpected("instant", exc) from exc

    def range(self, query: str, start: float, end: float, step_s: float) -> list[RangeSeries]:
        raw = self._run(
            "range",
            lambda: self._client.custom_query_range(
                query,
                start_time=datetime.fromtimestamp(start, tz=UTC),
                end_time=datetime.fromtimestamp(end, tz=UTC),
                step=f"{step_s:g}",  # float seconds: "0.5s" is not a valid duration
                timeout=self.timeout_s * 2,
            ),
        )
        try:
            return [
                RangeSeries(
                    labels=dict(item["metric"]),
                    points=[(float(ts), _to_float(v)) for ts, v in item["values"]],
                )
                for item in raw
            ]
        except (KeyError, IndexError, TypeError, ValueError) as exc:
            raise self._unexpected("range", exc) from exc

    def _unexpected(self, kind: str, exc: Exception) -> PrometheusError:
        """A reply that is not Prometheus' (a proxy's page, another API): one query fails, not the whole cycle."""
        return PrometheusError(
            f"Prometheus {kind} query to {self.url} returned an unexpected result: {type(exc).__name__}: {exc}"
        )
