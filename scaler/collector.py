"""The background loop: collect signals, update forecasts, call ``decide()``, publish.

One cycle runs a fixed set of batched queries per workload group, routes the
per-pod results to workloads, and publishes one Decision per workload. RPC
handlers only read what this loop published.
"""

from __future__ import annotations

import logging
import math
import threading
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor, wait
from dataclasses import dataclass, field, replace

import numpy as np

from scaler.config import ServerConfig, promql_duration
from scaler.decision import Decision, HorizonSource
from scaler.decision_log import DecisionLog
from scaler.inference_engines import ENGINES, PodAggregate, aggregate
from scaler.kube import KubeObservation, KubeSource
from scaler.loop import DecisionLoop
from scaler.metadata import deprecation_notes
from scaler.prometheus import PrometheusError, PrometheusSource, PromQLApi, Sample
from scaler.queries import GroupKey, PlannedQuery, group_key, plan, plan_history
from scaler.snapshot import Replicas, ReplicaSource, Signal, Snapshot, no_series_snapshot, token_load
from scaler.telemetry import DecisionTelemetry
from scaler.workloads import Registry, Workload, WorkloadIndex, WorkloadKey

log = logging.getLogger(__name__)
Clock = Callable[[], float]
#: Ratios and histogram quantiles are NaN when there is nothing to divide: "no data", not garbage.
_NAN_MEANS_ABSENT = frozenset({Signal.TTFT_P95_S, Signal.GPU_MEMORY_USAGE, Signal.GPU_UTILIZATION})
#: A failed history bootstrap is retried this much later, not every cycle.
HISTORY_RETRY_S = 60.0
#: Most new workloads whose history one cycle reads per workload group.
HISTORY_BATCH = 100
#: Most points one history range query may return (with ``HISTORY_PODS_GUESS`` pods per workload): a
#: day at 10 s is 8,640 points per series, and a reply's JSON is parsed whole (~200 bytes per point), so
#: the batch shrinks with the history's length to keep the worker's transient memory near 100 MiB.
HISTORY_POINTS_PER_QUERY = 400_000
HISTORY_PODS_GUESS = 4
#: Share of the refresh interval a source's cycle may spend fitting new workloads' forecasters on history;
#: the rest wait for the next cycle (at least one is fitted per cycle, so onboarding always progresses).
HISTORY_FIT_SHARE = 0.5


@dataclass
class _Observed:
    values: dict[Signal, list[float]] = field(default_factory=dict)
    pods: set[str] = field(default_factory=set)
    newest: float | None = None


@dataclass(frozen=True)
class _GroupInputs:
    """What one workload group's collection observed, from which each member's snapshot is built."""

    observed: dict[WorkloadKey, _Observed]
    error: str | None
    kube: dict[WorkloadKey, KubeObservation]
    now: float

    def of(self, w: Workload) -> tuple[_Observed | None, str | None, KubeObservation | None, float]:
        return self.observed.get(w.key), self.error, self.kube.get(w.key), self.now


@dataclass
class CycleReport:
    workloads: int = 0
    queries: int = 0
    errors: int = 0
    decisions: list[tuple[WorkloadKey, Decision]] = field(default_factory=list)
    #: workloads not collected because their source was still busy from an earlier cycle
    skipped: int = 0
    #: sources still collecting when the cycle stopped waiting (they publish when done)
    late_sources: int = 0
    #: new workloads whose history was read but not fitted for lack of time (fitted in a later cycle)
    history_deferred: int = 0


#: Where decisions go as soon as a source's are computed (the worker ships them to the server).
DecisionSink = Callable[[list[tuple[WorkloadKey, Decision]]], None]
#: Opens the query API of an allow-listed Prometheus URL (tests pass a table-driven fake).
SourceFactory = Callable[[str], PromQLApi]


class Collector:
    def __init__(
        self,
        registry: Registry,
        config: ServerConfig,
        telemetry: DecisionTelemetry,
        clock: Clock,
        kube: KubeSource | None = None,
        kube_status: str = "kubernetes access disabled",
        decision_log: DecisionLog | None = None,
        sink: DecisionSink | None = None,
        open_source: SourceFactory | None = None,
    ) -> None:
        self.registry = registry
        self.config = config
        self.telemetry = telemetry
        self.clock = clock
        self.kube = kube
        self.kube_status = kube_status
        self.decision_log = decision_log
        self.sink = sink
        self._open_source = open_source or (
            lambda url: PrometheusSource(url, config.query_timeout_s, telemetry.observe_query)
        )
        self._sources: dict[str, PromQLApi] = {}
        self._sources_lock = threading.Lock()
        #: each source's collection of the latest full cycle
        self._busy: dict[str, Future[CycleReport]] = {}
        #: sources whose last collection failed, and since when (logged once per outage)
        self._failing_since: dict[str, float] = {}
        #: namespaces the cluster refused to list (logged once until they read again)
        self._kube_failing: set[str] = set()
        # Sources are allow-listed (ServerConfig.prometheus_urls), so their number is bounded: one thread
        # each for cycles, one each for first-seen refreshes running beside them.
        self._pool = ThreadPoolExecutor(
            max_workers=2 * len(config.prometheus_urls()) + 2, thread_name_prefix="gpuscale-source"
        )

    def source(self, url: str) -> PromQLApi:
        with self._sources_lock:
            src = self._sources.get(url)
            if src is None:
                src = self._sources[url] = self._open_source(url)
            return src

    # --- one cycle ---------------------------------------------------------------
    def refresh(self, workloads: list[Workload] | None = None, bootstrap: bool = True) -> CycleReport:
        """Collect and decide for ``workloads`` (default: all registered ones, a full cycle).

        Each Prometheus source is collected on its own thread and its workloads' decisions are
        published (``sink``) as soon as that source is done, so a slow or silent source delays only
        the workloads that read it. A full cycle waits for its sources at most one refresh interval;
        a source still busy from an earlier cycle is skipped (its workloads keep their last decision,
        which ages toward UNAVAILABLE). A targeted refresh (a first-seen workload) waits for its own.
        """
        now = self.clock()
        full = workloads is None
        if workloads is None:
            workloads = self.registry.all()
        report = CycleReport(workloads=len(workloads))
        by_source: dict[str, dict[GroupKey, list[Workload]]] = {}
        for w in workloads:
            key = group_key(w)
            by_source.setdefault(key.prometheus_url, {}).setdefault(key, []).append(w)
        kube = self._observe_kube(workloads)
        futures: dict[Future[CycleReport], str] = {}
        for url, groups in by_source.items():
            if full:
                with self._sources_lock:
                    busy = self._busy.get(url)
                if busy is not None and not busy.done():
                    report.skipped += sum(len(members) for members in groups.values())
                    log.warning("Prometheus source %s is still busy from an earlier cycle: its workloads wait", url)
                    continue
            future = self._pool.submit(self._collect_source, groups, kube, now, bootstrap)
            if full:
                with self._sources_lock:
                    self._busy[url] = future
            futures[future] = url
        done, late = wait(futures, timeout=self.config.refresh_interval_s if full else None)
        for future in done:
            part = future.result()
            report.queries += part.queries
            report.errors += part.errors
            report.history_deferred += part.history_deferred
            report.decisions.extend(part.decisions)
        report.late_sources = len(late)
        self.telemetry.queries_per_refresh.set(report.queries)
        if not late:
            self.telemetry.refresh_duration.observe(max(0.0, self.clock() - now))
        for future in late:  # the cycle's true length shows when its last late source finishes
            future.add_done_callback(lambda _: self.telemetry.refresh_duration.observe(max(0.0, self.clock() - now)))
        return report

    def _collect_source(
        self,
        groups: dict[GroupKey, list[Workload]],
        kube: dict[WorkloadKey, KubeObservation],
        now: float,
        bootstrap: bool,
    ) -> CycleReport:
        """One Prometheus source's share of a cycle: its queries, decisions and bootstraps.

        Decisions of workloads that need no history now are published first; new workloads' history is
        read and fitted afterwards, a bounded batch per cycle (:meth:`_history_batch`), and their
        decisions follow. Onboarding a thousand workloads (or a restart) thus never holds back the
        decisions of the workloads already served, which would age toward UNAVAILABLE meanwhile.
        """
        part = CycleReport()
        try:
            for key, members in groups.items():
                observed, error = self._collect_group(key, members, part)
                self._note_source_health(key.prometheus_url, error, len(members), now)
                batch = self._history_batch(members, now) if bootstrap and error is None else []
                waiting = {w.key for w in batch}
                inputs = _GroupInputs(observed, error, kube, now)
                self._decide_and_publish([w for w in members if w.key not in waiting], inputs, part)
                if batch:
                    self._bootstrap(key, batch, now, part)
                    self._decide_and_publish(batch, inputs, part)
        except Exception:
            log.exception("collection of one Prometheus source failed")
        return part

    def _decide_and_publish(self, workloads: list[Workload], inputs: _GroupInputs, part: CycleReport) -> None:
        """Decide for ``workloads`` and hand their decisions to the sink at once (not at the cycle's end)."""
        decided = [(w.key, self._decide(w, self._snapshot(w, *inputs.of(w)), inputs.now)) for w in workloads]
        part.decisions.extend(decided)
        if decided and self.sink is not None:
            self.sink(decided)

    def _history_batch(self, members: list[Workload], now: float) -> list[Workload]:
        """The new workloads whose history this cycle reads: oldest first, at most ``history_batch_size``."""
        due = [
            w
            for w in members
            if not w.history_loaded and (w.history_attempt_at is None or now - w.history_attempt_at >= HISTORY_RETRY_S)
        ]
        due.sort(key=lambda w: w.created_at)
        return due[: history_batch_size(self.config)]

    def forget(self, key: WorkloadKey) -> None:
        """Stop collecting for a workload and drop its series.

        A cycle may be deciding for it right now: the workload is marked under its lock, so that decision
        neither publishes nor brings the series back (they stayed in /metrics for good: issue 29).
        """
        workload = self.registry.get(key)
        self.registry.remove(key)
        if workload is None:
            self.telemetry.forget(_labels(key))
            return
        with workload.lock:
            workload.forgotten = True
            self.telemetry.forget(_labels(key))

    def _note_source_health(self, url: str, error: str | None, workloads: int, now: float) -> None:
        """Log a source's failure when it starts and its recovery when it ends: once each, not every cycle."""
        with self._sources_lock:
            since = self._failing_since.get(url)
            if error is not None and since is None:
                self._failing_since[url] = now
            elif error is None and since is not None:
                del self._failing_since[url]
        if error is not None and since is None:
            log.warning(
                "Prometheus source %s is failing; holding the last decisions of %d workload(s), no scale-down: %s",
                url,
                workloads,
                error,
            )
        elif error is None and since is not None:
            log.warning("Prometheus source %s answers again after %.0fs", url, now - since)

    def _collect_group(
        self, key: GroupKey, members: list[Workload], report: CycleReport
    ) -> tuple[dict[WorkloadKey, _Observed], str | None]:
        index = WorkloadIndex(members)
        source = self.source(key.prometheus_url)
        observed: dict[WorkloadKey, _Observed] = {w.key: _Observed() for w in members}
        deployments = {w.meta.deployment for w in members if w.meta.deployment is not None}
        for pq in plan(key, {w.namespace for w in members}, promql_duration(self.config.rate_window), deployments):
            report.queries += 1
            try:
                samples = source.instant(pq.promql)
            except PrometheusError as exc:
                report.errors += 1
                if pq.freshness:
                    return observed, str(exc)
                log.warning("signal query failed: %s", exc)
                continue
            self._route(pq, samples, index, observed)
        return observed, None

    @staticmethod
    def _route(
        pq: PlannedQuery, samples: list[Sample], index: WorkloadIndex, observed: dict[WorkloadKey, _Observed]
    ) -> None:
        for sample in samples:
            ns = sample.labels.get(pq.namespace_label)
            pod = sample.labels.get(pq.pod_label)
            if ns is None or pod is None:
                continue
            for w in index.lookup(ns, pod, sample.labels):
                obs = observed[w.key]
                if pq.freshness:
                    obs.pods.add(pod)
                    if math.isfinite(sample.value):
                        obs.newest = sample.value if obs.newest is None else max(obs.newest, sample.value)
                    continue
                for signal, _ in pq.targets:
                    obs.values.setdefault(signal, []).append(sample.value)

    def _observe_kube(self, workloads: list[Workload]) -> dict[WorkloadKey, KubeObservation]:
        if self.kube is None:
            return {}
        wanted: dict[str, set[str]] = {}
        for w in workloads:
            if w.meta.deployment is not None:
                wanted.setdefault(w.namespace, set()).add(w.meta.deployment)
        found: dict[tuple[str, str], KubeObservation] = {}
        for namespace, names in wanted.items():
            try:
                for name, obs in self.kube.observe(namespace, names).items():
                    found[(namespace, name)] = obs
            except Exception as exc:  # the kubernetes client raises several unrelated types
                if namespace not in self._kube_failing:  # once per namespace until it reads again
                    self._kube_failing.add(namespace)
                    log.warning(
                        "cannot list pods and Deployments in namespace %s (is gpuscale's RoleBinding there?); "
                        "its cold starts are not observed: %s",
                        namespace,
                        str(exc)[:300],
                    )
            else:
                self._kube_failing.discard(namespace)
        return {
            w.key: found[(w.namespace, w.meta.deployment)]
            for w in workloads
            if w.meta.deployment is not None and (w.namespace, w.meta.deployment) in found
        }

    def _snapshot(
        self, w: Workload, obs: _Observed | None, error: str | None, kube: KubeObservation | None, now: float
    ) -> Snapshot:
        kube_replicas = kube.replicas if kube is not None else None
        cold = kube.cold_start_s if kube is not None else None
        if error is not None:
            return Snapshot(observed_at=None, replicas=kube_replicas, cold_start_s=cold, error=error)
        if obs is None or not obs.pods:
            last = w.loop.state.last_published if w.loop is not None else None
            return no_series_snapshot(kube_replicas, last, now, cold)
        signals: dict[Signal, float] = {}
        queries = ENGINES[w.meta.engine].queries
        for signal, values in obs.values.items():
            query = queries.get(signal)
            value = aggregate(values, query.aggregate if query is not None else PodAggregate.SUM)
            if math.isnan(value) and signal in _NAN_MEANS_ABSENT:
                continue
            signals[signal] = value
        replicas = kube_replicas or Replicas(len(obs.pods), len(obs.pods), 0, ReplicaSource.METRICS)
        return Snapshot(observed_at=obs.newest, signals=signals, replicas=replicas, cold_start_s=cold)

    def _loop(self, w: Workload) -> DecisionLoop:
        """The workload's decision loop, created on first use (call with ``w.lock`` held)."""
        if w.loop is None:
            w.loop = DecisionLoop(w.spec, self.config.refresh_interval_s, self.config.max_horizon_steps)
        return w.loop

    def _bootstrap(self, key: GroupKey, fresh: list[Workload], now: float, report: CycleReport) -> None:
        """Fit new workloads' forecasters on their recent history (one range query per signal), for as long as
        ``HISTORY_FIT_SHARE`` of the refresh interval allows."""
        if not fresh or self.config.history_s <= 0:
            for w in fresh:
                w.history_loaded = True
            return
        step = self.config.refresh_interval_s
        end = now - step
        start = end - self.config.history_s
        grid = np.arange(start, end + step / 2, step)
        for w in fresh:
            w.history_attempt_at = now
        index = WorkloadIndex(fresh)
        per_signal: dict[Signal, dict[WorkloadKey, np.ndarray]] = {}
        source = self.source(key.prometheus_url)
        deployments = {w.meta.deployment for w in fresh if w.meta.deployment is not None}
        namespaces = {w.namespace for w in fresh}
        for signal, pq in plan_history(key, namespaces, promql_duration(self.config.rate_window), deployments).items():
            report.queries += 1
            try:
                series = source.range(pq.promql, start, end, step)
            except PrometheusError as exc:
                report.errors += 1
                log.warning("history query failed, forecasts start cold: %s", exc)
                return  # retried next cycle
            sums: dict[WorkloadKey, np.ndarray] = {}
            for s in series:
                ns, pod = s.labels.get(pq.namespace_label), s.labels.get(pq.pod_label)
                if ns is None or pod is None:
                    continue
                for w in index.lookup(ns, pod, s.labels):
                    acc = sums.setdefault(w.key, np.full(grid.shape, np.nan))
                    for ts, value in s.points:
                        i = round((ts - start) / step)
                        if 0 <= i < grid.size and math.isfinite(value):
                            acc[i] = value if math.isnan(acc[i]) else acc[i] + value
            per_signal[signal] = sums
        fit_until = now + HISTORY_FIT_SHARE * self.config.refresh_interval_s
        for n, w in enumerate(fresh):
            if n > 0 and self.clock() > fit_until:  # the rest are read and fitted again next cycle
                for later in fresh[n:]:
                    later.history_attempt_at = None
                report.history_deferred += len(fresh) - n
                return
            gen = per_signal.get(Signal.GENERATION_TPS, {}).get(w.key)
            prompt = per_signal.get(Signal.PROMPT_TPS, {}).get(w.key)
            if gen is None and prompt is None:
                w.history_loaded = True
                continue
            absent = np.full(grid.shape, np.nan)
            gen_tps, prompt_tps = (absent if a is None else a for a in (gen, prompt))
            present = np.isfinite(gen_tps) | np.isfinite(prompt_tps)  # one rate alone counts the other as 0
            load = token_load(
                np.nan_to_num(gen_tps),
                np.nan_to_num(prompt_tps),
                w.spec.target_generation_tps_per_replica,
                w.spec.target_prompt_tps_per_replica,
            )
            with w.lock:  # a first-seen refresh may be deciding for this workload right now
                self._loop(w).fit_history(np.where(present, load, np.nan).tolist())
                w.history_loaded = True

    # --- decision ------------------------------------------------------------------
    def _decide(self, w: Workload, snapshot: Snapshot, now: float) -> Decision:
        with w.lock:
            decision = self._loop(w).step(snapshot, now)
            if self.kube is None and decision.horizon_source == HorizonSource.DEFAULT:
                decision = _with_note(decision, f"horizon is the configured default: {self.kube_status}")
            for note in deprecation_notes(w.meta):
                decision = _with_note(decision, note)
            if w.forgotten:  # removed while this cycle ran: nothing to publish or show
                return decision
            w.publish_decision(decision)
            self.telemetry.observe_decision(_labels(w.key), snapshot, decision)
        if self.decision_log is not None:
            self.decision_log.write(str(w.key), snapshot, decision, w.spec.model_dump())
        return decision


def history_batch_size(config: ServerConfig) -> int:
    """New workloads one cycle reads history for: ``HISTORY_BATCH``, fewer for a long history."""
    points = max(1.0, config.history_s / config.refresh_interval_s) * HISTORY_PODS_GUESS
    return max(1, min(HISTORY_BATCH, int(HISTORY_POINTS_PER_QUERY // points)))


def _labels(key: WorkloadKey) -> tuple[str, str, str]:
    return key.namespace, key.scaled_object, key.metric_name


def _with_note(decision: Decision, note: str) -> Decision:
    return replace(decision, notes=(*decision.notes, note))
