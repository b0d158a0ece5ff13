"""Onboarding many workloads at once (a scaler restart does the same) never holds back served workloads.

The collector runs against a fake PromQL API (a table of what each query returns) and a fake clock, so the
order of events inside one cycle is visible: which decisions were published before any history was read,
how many workloads one cycle bootstraps, and that a slow history read defers fits instead of stalling.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

import pytest

from scaler.collector import HISTORY_BATCH, Collector, history_batch_size
from scaler.config import ServerConfig
from scaler.decision import Decision
from scaler.metadata import parse_trigger_metadata, resolve_policy
from scaler.policy import PolicySpec
from scaler.prometheus import RangeSeries, Sample
from scaler.telemetry import DecisionTelemetry
from scaler.workloads import Registry, Workload, WorkloadKey

URL = "http://prometheus.test:9090"
REFRESH_S = 10.0
START = 1_000_000.0


@dataclass
class FakePrometheus:
    """Every registered Deployment has one pod; instant queries answer 1.0 per pod (timestamps: now)."""

    clock: list[float]
    deployments: list[tuple[str, str]]
    #: seconds the fake clock advances during one range query (a slow history read)
    range_cost_s: float = 0.0
    events: list[str] = field(default_factory=list)

    def _labels(self, namespace: str, name: str) -> dict[str, str]:
        return {"namespace": namespace, "pod": f"{name}-7d9f8c6b5-x2x4z"}

    def instant(self, query: str, at: float | None = None) -> list[Sample]:
        value = self.clock[0] - 1.0 if "timestamp(" in query else 1.0
        return [Sample(self._labels(ns, name), value, self.clock[0]) for ns, name in self.deployments]

    def range(self, query: str, start: float, end: float, step_s: float) -> list[RangeSeries]:
        # the batch's pods are selected by name: pod=~"(model-1|model-7)-[a-z0-9]+-[a-z0-9]+"
        match = re.search(r'pod=~"\(([^)]*)\)-', query)
        names = set(match.group(1).split("|")) if match else {name for _, name in self.deployments}
        wanted = [(ns, name) for ns, name in self.deployments if name in names]
        self.events.append(f"range {len(wanted)}")
        self.clock[0] += self.range_cost_s
        times = [start + i * step_s for i in range(int((end - start) / step_s) + 1)]
        return [RangeSeries(self._labels(ns, name), [(t, 750.0) for t in times]) for ns, name in wanted]


@dataclass
class Fixture:
    collector: Collector
    registry: Registry
    prometheus: FakePrometheus
    clock: list[float]
    published: list[int]


def fleet(workloads: int, history_s: float = 600.0, range_cost_s: float = 0.0) -> Fixture:
    clock = [START]
    names = [("team-a", f"model-{i}") for i in range(workloads)]
    prometheus = FakePrometheus(clock, names, range_cost_s)
    config = ServerConfig(
        prometheus_url=URL, refresh_interval_s=REFRESH_S, history_s=history_s, kubernetes="off", rate_window="1m"
    )
    registry = Registry()
    for i, (ns, name) in enumerate(names):
        meta = parse_trigger_metadata({"deployment": name})
        key = WorkloadKey(ns, name, meta.metric_name)
        registry.add(Workload(key, meta, resolve_policy(meta, PolicySpec()), URL, START + i * 1e-3, START))
    published: list[int] = []

    def sink(decisions: list[tuple[WorkloadKey, Decision]]) -> None:
        prometheus.events.append(f"publish {len(decisions)}")
        published.append(len(decisions))

    collector = Collector(
        registry, config, DecisionTelemetry(), lambda: clock[0], sink=sink, open_source=lambda url: prometheus
    )
    return Fixture(collector, registry, prometheus, clock, published)


def loaded(f: Fixture) -> int:
    return sum(w.history_loaded for w in f.registry.all())


def test_served_workloads_are_published_before_new_ones_read_history() -> None:
    f = fleet(250)
    for w in f.registry.all()[:50]:  # served already: their history was read in an earlier life
        w.history_loaded = True
    f.collector.refresh()
    # 150 without history wait for later cycles; they and the 50 served ones are published first.
    assert f.prometheus.events == ["publish 150", "range 100", "range 100", "publish 100"]
    assert loaded(f) == 150


@pytest.mark.parametrize(
    ("name", "workloads", "cycles_to_load_all"),
    [
        ("one batch", 40, 1),
        ("exactly one batch", HISTORY_BATCH, 1),
        ("several batches, one per cycle", 3 * HISTORY_BATCH + 20, 4),
    ],
)
def test_history_is_read_a_bounded_batch_per_cycle(name: str, workloads: int, cycles_to_load_all: int) -> None:
    f = fleet(workloads)
    counts = []
    for _ in range(cycles_to_load_all):
        report = f.collector.refresh()
        assert len(report.decisions) == workloads, name  # every workload is decided every cycle
        counts.append(loaded(f))
        f.clock[0] += REFRESH_S
    assert counts == [min(workloads, HISTORY_BATCH * (i + 1)) for i in range(cycles_to_load_all)], name
    assert all(w.loop is not None and w.loop.predictor.observations >= 60 for w in f.registry.all()), name


def test_a_slow_history_read_defers_fits_to_later_cycles() -> None:
    # Each range query takes 3 s of a 10 s interval: after the two reads the fit budget (5 s) is spent,
    # so one workload is fitted (progress is guaranteed) and the other 99 wait for the next cycle.
    f = fleet(100, range_cost_s=3.0)
    first = f.collector.refresh()
    assert (loaded(f), first.history_deferred) == (1, 99)
    assert f.published == [100]  # all decided and published anyway, the deferred ones with a cold forecaster
    f.clock[0] += REFRESH_S
    second = f.collector.refresh()
    assert (loaded(f), second.history_deferred) == (2, 98)
    assert all(w.history_attempt_at is None for w in f.registry.all() if not w.history_loaded)


@pytest.mark.parametrize(
    ("name", "history_s", "refresh_s", "batch"),
    [
        ("an hour at 10 s", 3600.0, 10.0, HISTORY_BATCH),
        ("the shipped day at 10 s", 86400.0, 10.0, 11),
        ("a week at 1 min", 7 * 86400.0, 60.0, 9),
        ("a day at 1 min", 86400.0, 60.0, 69),
    ],
)
def test_a_longer_history_is_read_for_fewer_workloads_at_a_time(
    name: str, history_s: float, refresh_s: float, batch: int
) -> None:
    config = ServerConfig(prometheus_url=URL, history_s=history_s, refresh_interval_s=refresh_s, kubernetes="off")
    assert history_batch_size(config) == batch, name


@pytest.mark.parametrize(
    ("case", "metadata", "notes"),
    [
        ("a source by name", {"prometheus": "default"}, []),
        (
            "a source by its URL (deprecated)",
            {"prometheusAddress": URL},
            [
                "trigger key 'prometheusAddress' is deprecated and will be refused in the next release: name a"
                " configured source with 'prometheus' instead"
            ],
        ),
    ],
)
def test_a_deprecated_trigger_key_is_noted_on_every_decision(
    case: str, metadata: dict[str, str], notes: list[str]
) -> None:
    clock = [START]
    prometheus = FakePrometheus(clock, [("team-a", "model-0")])
    config = ServerConfig(prometheus_url=URL, refresh_interval_s=REFRESH_S, history_s=0, kubernetes="off")
    registry = Registry()
    meta = parse_trigger_metadata({"deployment": "model-0", **metadata})
    key = WorkloadKey("team-a", "model-0", meta.metric_name)
    registry.add(Workload(key, meta, resolve_policy(meta, PolicySpec()), URL, START, START))
    decisions: list[Decision] = []
    collector = Collector(
        registry,
        config,
        DecisionTelemetry(),
        lambda: clock[0],
        sink=lambda batch: decisions.extend(d for _, d in batch),
        open_source=lambda url: prometheus,
    )
    for _ in range(2):
        collector.refresh()
        clock[0] += REFRESH_S
    assert len(decisions) == 2, case
    for decision in decisions:
        assert [n for n in decision.notes if "deprecated" in n] == notes, case
