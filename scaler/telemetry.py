"""The scaler's own Prometheus metrics: every decision and every failure, visible."""

from __future__ import annotations

import contextlib

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram

from scaler.decision import Ask, Decision
from scaler.snapshot import Signal, Snapshot

_WL = ("namespace", "scaledobject", "workload")
_LATENCY_BUCKETS = (0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5)


class Telemetry:
    """Owns a private registry so tests and several servers in one process never collide."""

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
        self.workloads = Gauge("gpuscale_workloads", "Workloads registered", registry=r)
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
            "Duration of one collection cycle",
            buckets=_LATENCY_BUCKETS,
            registry=r,
        )
        self.queries_per_refresh = Gauge(
            "gpuscale_queries_per_refresh", "PromQL queries issued by the last collection cycle", registry=r
        )
        self.rpc_latency = Histogram(
            "gpuscale_rpc_duration_seconds",
            "gRPC handling latency",
            ("method", "code"),
            buckets=_LATENCY_BUCKETS,
            registry=r,
        )
        self.rpcs = Counter("gpuscale_rpcs", "gRPC calls", ("method", "code"), registry=r)

    def observe_query(self, kind: str, seconds: float, error: str | None) -> None:
        self.query_latency.labels(kind).observe(seconds)
        if error is not None:
            self.query_errors.labels(kind).inc()

    def observe_rpc(self, method: str, code: str, seconds: float) -> None:
        self.rpc_latency.labels(method, code).observe(seconds)
        self.rpcs.labels(method, code).inc()

    def observe_decision(self, labels: tuple[str, str, str], snapshot: Snapshot, decision: Decision) -> None:
        self.reasons.labels(*labels, str(decision.reason)).inc()
        self.decision_valid.labels(*labels).set(1 if decision.valid else 0)
        self.active.labels(*labels).set(1 if decision.active else 0)
        self.horizon.labels(*labels).set(decision.horizon_s)
        self.forecast_quantile.labels(*labels).set(decision.forecast_quantile)
        if decision.replicas is not None:
            self.recommended.labels(*labels).set(decision.replicas)
        if decision.data_age_s is not None:
            self.data_age.labels(*labels).set(decision.data_age_s)
        for ask in Ask:
            value = decision.asks.get(ask)
            if value is not None:
                self.ask.labels(*labels, str(ask)).set(value)
            if decision.asks:
                self.dominant.labels(*labels, str(ask)).set(1 if decision.dominant == ask else 0)
        demand: tuple[tuple[str, float | None], ...] = (
            ("observed", decision.demand_load),
            ("forecast_mean", decision.forecast_mean),
            ("forecast_quantile", decision.forecast_quantile_value),
        )
        for kind, load in demand:
            if load is not None:
                self.demand.labels(*labels, kind).set(load)
        for signal in Signal:
            v = snapshot.get(signal)
            if v is not None:
                self.signal.labels(*labels, str(signal)).set(v)
        if snapshot.replicas is not None:
            for state in ("current", "ready", "starting"):
                self.replicas.labels(*labels, state).set(getattr(snapshot.replicas, state))

    def forget(self, labels: tuple[str, str, str]) -> None:
        """Drop a removed workload's series so dashboards do not show ghosts."""
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
        for kind in ("observed", "forecast_mean", "forecast_quantile"):
            _remove(self.demand, (*labels, kind))
        for state in ("current", "ready", "starting"):
            _remove(self.replicas, (*labels, state))


def _remove(metric: Gauge, labels: tuple[str, ...]) -> None:
    with contextlib.suppress(KeyError):
        metric.remove(*labels)
