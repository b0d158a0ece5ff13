"""The monitoring path of the simulated fleet: per-pod scrapes and PromQL-like reads.

Pods export what a vLLM pod and the DCGM exporter export (waiting and running requests,
KV-cache usage, GPU utilization, prompt/generation/success counters). A scrape every
``scrape_interval_s`` stores one sample per Ready or draining pod, as Prometheus would.
Signals are then read through the scaler's own engine profile (:mod:`scaler.inference_engines`):
the same per-pod aggregation, gauges as the newest sample within the lookback, counters
through ``rate()`` over the same window with Prometheus' extrapolation. A deleted pod's
series goes stale at once, but its samples stay inside ``rate()`` windows until they age out.
"""

from __future__ import annotations

import bisect
import itertools
import math
from dataclasses import dataclass, field

from scaler.inference_engines import VLLM, EngineProfile, Sampling, aggregate
from scaler.snapshot import Signal
from simulations.fleet.model import Fleet

LOOKBACK_S = 300.0  # Prometheus' default lookback delta for instant queries

# Fields of a pod's scrape sample, in order after the timestamp.
_WAITING, _RUNNING, _KV, _UTIL, _PROMPT, _GEN, _SUCCESS = range(7)
_POD_SERIES: dict[Signal, int] = {
    Signal.QUEUE: _WAITING,
    Signal.RUNNING: _RUNNING,
    Signal.KV_CACHE_USAGE: _KV,
    Signal.KV_CACHE_USAGE_MAX: _KV,
    Signal.GPU_UTILIZATION: _UTIL,
    Signal.PROMPT_TPS: _PROMPT,
    Signal.GENERATION_TPS: _GEN,
    Signal.REQUEST_RATE: _SUCCESS,
}
#: Engines pre-allocate ~90 % of GPU memory, so framebuffer use is flat (DESIGN.md).
GPU_MEMORY_PREALLOCATED = 0.9


@dataclass
class _Series:
    times: list[float] = field(default_factory=list)
    values: list[tuple[float, ...]] = field(default_factory=list)
    gone_at: float = math.inf
    last_busy_s: float = 0.0


def extrapolated_rate(times: list[float], values: list[float], start: float, end: float) -> float | None:
    """Prometheus' ``rate()`` of a counter over (start, end] (``extrapolatedRate`` in promql)."""
    if len(times) < 2:
        return None
    increase = 0.0
    for a, b in itertools.pairwise(values):
        increase += b - a if b >= a else b  # a reset restarts from zero
    sampled = times[-1] - times[0]
    if sampled <= 0:
        return None
    average_interval = sampled / (len(times) - 1)
    threshold = average_interval * 1.1
    to_start = times[0] - start
    to_end = end - times[-1]
    if increase > 0 and values[0] >= 0:
        to_zero = sampled * (values[0] / increase)
        to_start = min(to_start, to_zero)
    extended = sampled
    extended += to_start if to_start < threshold else average_interval / 2
    extended += to_end if to_end < threshold else average_interval / 2
    return increase * (extended / sampled) / (end - start)


class Monitor:
    """The scraped time series of one simulated Deployment, and queries over them."""

    def __init__(
        self,
        scrape_interval_s: float = 15.0,
        rate_window_s: float = 60.0,
        engine: EngineProfile = VLLM,
    ) -> None:
        self.scrape_interval_s = scrape_interval_s
        self.rate_window_s = rate_window_s
        self.engine = engine
        self._series: dict[int, _Series] = {}
        self.last_scrape_at: float | None = None

    def scrape(self, fleet: Fleet, now: float) -> None:
        """One scrape of every pod that serves metrics (Ready or draining)."""
        serving = [p for p in fleet.pods if p.ready_at <= now]
        accepting = sum(1 for p in serving if p.drain_deadline is None)
        waiting_each = len(fleet.queue) / accepting if accepting else 0.0
        capacity = fleet.profile.kv_capacity_tokens
        interval = self.scrape_interval_s
        for pod in serving:
            series = self._series.get(pod.index)
            if series is None:
                series = self._series[pod.index] = _Series(last_busy_s=pod.busy_s)
            util = min(1.0, (pod.busy_s - series.last_busy_s) / interval)
            series.last_busy_s = pod.busy_s
            series.times.append(now)
            series.values.append(
                (
                    waiting_each if pod.drain_deadline is None else 0.0,
                    float(pod.admitted),
                    min(1.0, pod.kv_tokens() / capacity),
                    util,
                    pod.prompt_total,
                    pod.gen_total,
                    pod.success_total,
                )
            )
        for pod in fleet.gone:
            series = self._series.get(pod.index)
            if series is not None and series.gone_at == math.inf and pod.deleted_at is not None:
                series.gone_at = pod.deleted_at
        self.last_scrape_at = now

    def prune(self, now: float) -> None:
        """Forget samples no query can reach any more (bounded memory on long replays)."""
        horizon = now - max(LOOKBACK_S, self.rate_window_s) - self.scrape_interval_s
        for index in [i for i, s in self._series.items() if s.gone_at < horizon]:
            del self._series[index]
        for series in self._series.values():
            cut = bisect.bisect_left(series.times, horizon)
            if cut > 1:
                del series.times[: cut - 1]
                del series.values[: cut - 1]

    def read(self, signal: Signal, now: float) -> float | None:
        """The workload's value of ``signal`` at ``now``, or ``None`` when no pod reports it."""
        if signal == Signal.GPU_MEMORY_USAGE:
            return GPU_MEMORY_PREALLOCATED if self.pods_reporting(now) else None
        query = self.engine.queries.get(signal)
        column = _POD_SERIES.get(signal)
        if query is None or column is None:
            return None
        per_pod: list[float] = []
        for series in self._series.values():
            value = self._pod_value(series, column, query.sampling, now)
            if value is not None:
                per_pod.append(value)
        return aggregate(per_pod, query.aggregate) if per_pod else None

    def _pod_value(self, series: _Series, column: int, sampling: Sampling, now: float) -> float | None:
        if sampling == Sampling.GAUGE:
            if series.gone_at <= now:
                return None
            k = bisect.bisect_right(series.times, now) - 1
            if k < 0 or now - series.times[k] > LOOKBACK_S:
                return None
            return series.values[k][column]
        if sampling == Sampling.RATE:
            start = now - self.rate_window_s
            lo = bisect.bisect_right(series.times, start)
            hi = bisect.bisect_right(series.times, now)
            if hi - lo < 2:
                return None
            values = [v[column] for v in series.values[lo:hi]]
            return extrapolated_rate(series.times[lo:hi], values, start, now)
        return None  # histograms are not simulated

    def pods_reporting(self, now: float) -> int:
        return sum(1 for s in self._series.values() if s.gone_at > now and s.times and now - s.times[-1] <= LOOKBACK_S)

    def newest_sample_at(self, now: float) -> float | None:
        times = [s.times[-1] for s in self._series.values() if s.times and s.gone_at > now and s.times[-1] <= now]
        return max(times) if times else None
