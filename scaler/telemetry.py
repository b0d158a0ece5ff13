"""The scaler's own Prometheus metrics: every decision and every failure, visible.

Two registries, because collection may run in a worker process: ``RpcTelemetry``
lives with the gRPC server, ``DecisionTelemetry`` with the collector. ``/metrics``
serves both.
"""

from __future__ import annotations

import contextlib

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, generate_latest

from scaler.decision import Ask, Decision
from scaler.snapshot import Signal, Snapshot

_WL = ("namespace", "scaledobject", "workload")
#: A cycle is seconds when healthy and up to minutes when a source is slow: the slow ones must show.
_CYCLE_BUCKETS = (0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 20.0, 30.0, 60.0, 120.0)
_LATENCY_BUCKETS = (0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5)
DEMAND_KINDS = ("observed", "forecast_mean", "forecast_quantile")
REPLICA_STATES = ("current", "ready", "starting")
WorkloadLabels = tuple[str, str, str]


class RpcTelemetry:
    """RPC latency and counts by method and status code, and the number of workloads served."""

    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        r = self.registry
        self.rpc_latency = Histogram(
            "gpuscale_rpc_duration_seconds",
            "gRPC handling latency",
            ("method", "code"),
            buckets=_LATENCY_BUCKETS,
            registry=r,
        )
        self.rpcs = Counter("gpuscale_rpcs", "gRPC calls", ("method", "code"), registry=r)
        self.workloads = Gauge("gpuscale_workloads", "Workloads registered by KEDA's calls", registry=r)
        self._children: dict[tuple[str, str], tuple[Histogram, Counter]] = {}

    def observe_rpc(self, method: str, code: str, seconds: float) -> None:
        children = self._children.get((method, code))
        if children is None:  # labels() costs ~8 µs: resolve each pair once
            children = (self.rpc_latency.labels(method, code), self.rpcs.labels(method, code))
            self._children[(method, code)] = children
        children[0].observe(seconds)
        children[1].inc()

    def exposition(self) -> bytes:
        return bytes(generate_latest(self.registry))


class DecisionTelemetry:
    """Per-workload decisions and inputs, and the cost of reading Prometheus."""

    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        r = self.registry
        self.recommended = Gauge("gpuscale_recommended_replicas", "Replicas gpuscale recommends", _WL, registry=r)
        self.ask = Gauge("gpuscale_signal_ask_replicas", "Replicas each signal asks for", (*_WL, "signal"), registry=r)
        self.dominant = Gauge(
            "gpuscale_dominant_signal", "1 for the signal whose ask won, 0 for the others", (*_WL, "signal"), registry=r
        )
        self.demand = Gauge(
            "gpuscale_demand_load_replicas",
            "Token load in replicas at target: observed, forecast mean and forecast quantile at the horizon",
            (*_WL, "kind"),
            registry=r,
        )
        self.forecast_quantile = Gauge(
            "gpuscale_forecast_quantile", "Forecast quantile the fleet is sized for", _WL, registry=r
        )
        self.horizon = Gauge("gpuscale_forecast_horizon_seconds", "Provisioning horizon in use", _WL, registry=r)
        self.signal = Gauge("gpuscale_signal_value", "Observed inputs per workload", (*_WL, "signal"), registry=r)
        self.replicas = Gauge(
            "gpuscale_observed_replicas", "Replicas of the target as observed", (*_WL, "state"), registry=r
        )
        self.data_age = Gauge("gpuscale_data_age_seconds", "Age of the newest input sample", _WL, registry=r)
        self.active = Gauge(
            "gpuscale_active", "1 when the workload is active (demand now or forecast)", _WL, registry=r
        )
        self.decision_valid = Gauge(
            "gpuscale_decision_valid", "0 while the scaler answers errors so KEDA's fallback applies", _WL, registry=r
        )
        self.reasons = Counter("gpuscale_decisions", "Decisions by reason code", (*_WL, "reason"), registry=r)
        self.query_latency = Histogram(
            "gpuscale_prometheus_query_duration_seconds",
            "Prometheus query latency",
            ("kind",),
            buckets=_LATENCY_BUCKETS,
            registry=r,
        )
        self.query_errors = Counter(
            "gpuscale_prometheus_query_errors", "Failed Prometheus queries", ("kind",), registry=r
        )
        self.refresh_duration = Histogram(
            "gpuscale_refresh_duration_seconds",
            "Duration of one collection cycle (a slow Prometheus source's own collection included)",
            buckets=_CYCLE_BUCKETS,
            registry=r,
        )
        self.queries_per_refresh = Gauge(
            "gpuscale_queries_per_refresh", "PromQL queries issued by the last collection cycle", registry=r
        )
        self._series: dict[WorkloadLabels, _WorkloadSeries] = {}

    def exposition(self) -> bytes:
        return bytes(generate_latest(self.registry))

    def observe_query(self, kind: str, seconds: float, error: str | None) -> None:
        self.query_latency.labels(kind).observe(seconds)
        if error is not None:
            self.query_errors.labels(kind).inc()

    def _children(self, labels: WorkloadLabels) -> _WorkloadSeries:
        """Labelled children of one workload, resolved once: ``labels()`` costs ~8 µs a call."""
        series = self._series.get(labels)
        if series is None:
            series = _WorkloadSeries(self, labels)
            self._series[labels] = series
        return series

    def observe_decision(self, labels: WorkloadLabels, snapshot: Snapshot, decision: Decision) -> None:
        s = self._children(labels)
        reason = str(decision.reason)
        counter = s.reasons.get(reason)
        if counter is None:
            counter = s.reasons[reason] = self.reasons.labels(*labels, reason)
        counter.inc()
        s.valid.set(1 if decision.valid else 0)
        s.active.set(1 if decision.active else 0)
        s.horizon.set(decision.horizon_s)
        s.quantile.set(decision.forecast_quantile)
        if decision.replicas is not None:
            s.recommended.set(decision.replicas)
        if decision.data_age_s is not None:
            s.data_age.set(decision.data_age_s)
        for ask, child in s.asks.items():
            value = decision.asks.get(ask)
            if value is not None:
                child.set(value)
            if decision.asks:
                s.dominant[ask].set(1 if decision.dominant == ask else 0)
        for kind, load in (
            ("observed", decision.demand_load),
            ("forecast_mean", decision.forecast_mean),
            ("forecast_quantile", decision.forecast_quantile_value),
        ):
            if load is not None:
                s.demand[kind].set(load)
        for signal, child in s.signals.items():
            v = snapshot.get(signal)
            if v is not None:
                child.set(v)
        if snapshot.replicas is not None:
            s.replicas["current"].set(snapshot.replicas.current)
            s.replicas["ready"].set(snapshot.replicas.ready)
            s.replicas["starting"].set(snapshot.replicas.starting)

    def forget(self, labels: WorkloadLabels) -> None:
        """Drop a removed workload's series so dashboards do not show ghosts."""
        series = self._series.pop(labels, None)
        for metric in (
            self.recommended,
            self.data_age,
            self.active,
            self.decision_valid,
            self.horizon,
            self.forecast_quantile,
        ):
            _remove(metric, labels)
        for ask in Ask:
            _remove(self.ask, (*labels, str(ask)))
            _remove(self.dominant, (*labels, str(ask)))
        for signal in Signal:
            _remove(self.signal, (*labels, str(signal)))
        for kind in DEMAND_KINDS:
            _remove(self.demand, (*labels, kind))
        for state in REPLICA_STATES:
            _remove(self.replicas, (*labels, state))
        for reason in series.reasons if series is not None else ():
            _remove(self.reasons, (*labels, reason))


class _WorkloadSeries:
    """One workload's labelled metric children."""

    def __init__(self, t: DecisionTelemetry, labels: WorkloadLabels) -> None:
        self.recommended = t.recommended.labels(*labels)
        self.data_age = t.data_age.labels(*labels)
        self.active = t.active.labels(*labels)
        self.valid = t.decision_valid.labels(*labels)
        self.horizon = t.horizon.labels(*labels)
        self.quantile = t.forecast_quantile.labels(*labels)
        self.asks = {a: t.ask.labels(*labels, str(a)) for a in Ask}
        self.dominant = {a: t.dominant.labels(*labels, str(a)) for a in Ask}
        self.demand = {k: t.demand.labels(*labels, k) for k in DEMAND_KINDS}
        self.signals = {s: t.signal.labels(*labels, str(s)) for s in Signal}
        self.replicas = {r: t.replicas.labels(*labels, r) for r in REPLICA_STATES}
        self.reasons: dict[str, Counter] = {}


def _remove(metric: Gauge | Counter, labels: tuple[str, ...]) -> None:
    with contextlib.suppress(KeyError):
        metric.remove(*labels)
