"""Autoscaling policies the simulator compares, all driving the same fleet.

``gpuscale`` runs the live scaler's own :class:`~scaler.loop.DecisionLoop` (and so
``decide()``) on snapshots read through the monitoring path, then KEDA and the HPA.
The reactive baselines go through the same KEDA/HPA model with the metric their real
counterpart reads. Knative's autoscaler has its own loop (stable and panic windows).
The fixed fleet never changes. The oracle sees the future: it starts pods exactly one
cold start before they are needed. Policies are a registry keyed by name.
"""

from __future__ import annotations

import math
from abc import ABC, abstractmethod
from collections import deque
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, replace
from typing import Any, Protocol

import numpy as np

from predictors.base import Predictor
from scaler.decision import Decision
from scaler.kube import COLD_START_SAMPLES, cold_start_p90
from scaler.loop import DecisionLoop
from scaler.policy import DEFAULT_REFRESH_INTERVAL_S, PolicySpec
from scaler.snapshot import Replicas, ReplicaSource, Signal, Snapshot, no_series_snapshot
from simulations.fleet.hpa import DEFAULT_SCALE_DOWN, DEFAULT_SCALE_UP, HpaConfig, HpaState, HpaTimeline
from simulations.fleet.model import Fleet
from simulations.fleet.monitoring import Monitor
from simulations.policies.oracle_plans import arrivals_per_bin, budget_plan, future_load, headroom_plan
from simulations.profiles import ReplicaProfile
from simulations.traces.workload import TraceWorkload
from simulations.tuning.knob_space import Sizing, profile_scales, spec_updates


@dataclass(frozen=True)
class PolicyContext:
    """What every policy may know before the replay starts."""

    profile: ReplicaProfile
    workload: TraceWorkload
    min_replicas: int = 1
    max_replicas: int = 100
    initial_replicas: int = 1
    refresh_interval_s: float = DEFAULT_REFRESH_INTERVAL_S  # the scaler's collection step
    rate_window_s: float = 60.0  # the rate() window behind the token signals (shapes the history too)
    hpa: HpaConfig = field(default_factory=HpaConfig)  # timing and behavior; min/max come from above
    seed: int = 0

    def hpa_config(self, target: float = 1.0) -> HpaConfig:
        """The HPA that KEDA creates for this ScaledObject: our min/max and ``target``."""
        return replace(self.hpa, min_replicas=self.min_replicas, max_replicas=self.max_replicas, target=target)


class Controller(Protocol):
    """One policy's control loop; it changes the fleet only through ``Fleet.scale_to``/``add_pod``."""

    name: str

    def start(self, fleet: Fleet) -> None:
        """Create the fleet at t=0 (warm pods)."""

    def control(self, now: float, fleet: Fleet, monitor: Monitor) -> None:
        """Observe and act at ``now``; called every tick, acts on its own schedule."""

    def recommendations(self) -> list[tuple[float, float]]:
        """(time, the number this policy asked for) for plots and reports."""


def kube_replicas(fleet: Fleet, now: float) -> Replicas:
    active = fleet.active_pods()
    ready = sum(1 for p in active if p.ready_at <= now)
    return Replicas(current=len(active), ready=ready, starting=len(active) - ready, source=ReplicaSource.SIMULATOR)


def observed_cold_start(fleet: Fleet) -> float | None:
    """What the live scaler's Kubernetes source would report for this fleet."""
    return cold_start_p90(fleet.cold_starts[-COLD_START_SAMPLES:])


def snapshot_of(fleet: Fleet, monitor: Monitor, now: float, last_published: int | None = None) -> Snapshot:
    """What the live collector would build from Prometheus and Kubernetes at ``now``: the same rule for a
    workload none of whose pods reports (``no_series_snapshot``), so a fleet at zero replays as it runs."""
    signals: dict[Signal, float] = {}
    for signal in monitor.engine.queries:
        value = monitor.read(signal, now)
        if value is not None:
            signals[signal] = value
    replicas, cold = kube_replicas(fleet, now), observed_cold_start(fleet)
    newest = monitor.newest_sample_at(now)
    if newest is None and not signals:
        return no_series_snapshot(replicas, last_published, now, cold)
    return Snapshot(observed_at=newest, signals=signals, replicas=replicas, cold_start_s=cold)


class _HpaDriven(ABC):
    """Shared by policies whose number goes through KEDA and the HPA."""

    name = "hpa-driven"

    def __init__(self, context: PolicyContext, hpa: HpaConfig) -> None:
        self.context = context
        self.timeline = HpaTimeline(hpa, HpaState(replicas=context.initial_replicas))
        self._asked: list[tuple[float, float]] = []

    def start(self, fleet: Fleet) -> None:
        for _ in range(self.context.initial_replicas):
            fleet.add_pod(0.0, warm=True)

    @abstractmethod
    def value(self, now: float, fleet: Fleet, monitor: Monitor) -> tuple[float | None, bool]:
        """The number KEDA's trigger reports at ``now`` (``None``: the read failed), and activity."""

    def control(self, now: float, fleet: Fleet, monitor: Monitor) -> None:
        if self.timeline.next_due > now:
            return
        value, active = self.value(now, fleet, monitor)
        if value is not None:
            self._asked.append((now, value))
        replicas = self.timeline.advance(now, value, active)
        if replicas != len(fleet.active_pods()):
            fleet.scale_to(replicas, now)

    def recommendations(self) -> list[tuple[float, float]]:
        return self._asked


class GpuscaleController(_HpaDriven):
    """The live scaler's decision loop, refreshed every ``refresh_interval_s``; KEDA reads
    the latest decision at each HPA sync, exactly as ``GetMetrics`` serves it."""

    name = "gpuscale"

    def __init__(
        self, context: PolicyContext, spec: PolicySpec, max_horizon_steps: int = 120, predictor: Predictor | None = None
    ) -> None:
        super().__init__(context, context.hpa_config())
        self.spec = spec
        self.loop = DecisionLoop(spec, context.refresh_interval_s, max_horizon_steps, predictor)
        history = context.workload.history
        if history is not None and history.span_s > 0:
            self.loop.fit_history(
                history.loads(
                    spec.target_generation_tps_per_replica,
                    spec.target_prompt_tps_per_replica,
                    context.refresh_interval_s,
                    context.rate_window_s,
                )
            )
        self.next_refresh = 0.0
        self.decision: Decision | None = None
        self.decisions: list[Decision] = []

    def control(self, now: float, fleet: Fleet, monitor: Monitor) -> None:
        if now >= self.next_refresh:
            snapshot = snapshot_of(fleet, monitor, now, self.loop.state.last_published)
            self.decision = self.loop.step(snapshot, now)
            self.decisions.append(self.decision)
            self.next_refresh += self.context.refresh_interval_s
        super().control(now, fleet, monitor)

    def value(self, now: float, fleet: Fleet, monitor: Monitor) -> tuple[float | None, bool]:
        d = self.decision
        if d is None or not d.valid or d.replicas is None:
            return None, False
        return float(d.replicas), d.active


class MetricController(_HpaDriven):
    """A reactive trigger: the HPA sizes so that ``metric total / replicas`` meets ``target``."""

    def __init__(self, context: PolicyContext, name: str, signal: Signal, target: float, per_pod_mean: bool) -> None:
        super().__init__(context, context.hpa_config(target))
        self.name = name
        self.signal = signal
        self.per_pod_mean = per_pod_mean

    def value(self, now: float, fleet: Fleet, monitor: Monitor) -> tuple[float | None, bool]:
        value = monitor.read(self.signal, now)
        if value is None:
            return None, False
        if self.per_pod_mean:  # a mean over pods: the HPA's total is mean x reporting pods
            value *= monitor.pods_reporting(now)
        return value, value > 0


class KnativeController:
    """Knative's KPA: in-flight requests per pod, a stable and a panic window.

    Every ``tick_s`` it averages concurrency (waiting + running) over the stable and
    the panic window; it enters panic when the panic window asks for ``panic_threshold``
    times the ready pods, and in panic never scales down until a stable window passes
    without the condition. Scale-down is limited to ``1 / max_scale_down_rate`` per tick.
    """

    name = "knative"

    def __init__(
        self,
        context: PolicyContext,
        target_concurrency: float,
        stable_window_s: float = 60.0,
        panic_window_s: float = 6.0,
        panic_threshold: float = 2.0,
        max_scale_down_rate: float = 2.0,
        tick_s: float = 2.0,
    ) -> None:
        self.context = context
        self.target = target_concurrency
        self.stable_window_s = stable_window_s
        self.panic_window_s = panic_window_s
        self.panic_threshold = panic_threshold
        self.max_scale_down_rate = max_scale_down_rate
        self.tick_s = tick_s
        self.samples: deque[tuple[float, float]] = deque()
        self.next_tick = 0.0
        self.panic_since: float | None = None
        self._asked: list[tuple[float, float]] = []

    def start(self, fleet: Fleet) -> None:
        for _ in range(self.context.initial_replicas):
            fleet.add_pod(0.0, warm=True)

    def control(self, now: float, fleet: Fleet, monitor: Monitor) -> None:
        self.samples.append((now, len(fleet.queue) + sum(p.admitted for p in fleet.pods)))
        while self.samples and self.samples[0][0] <= now - self.stable_window_s:
            self.samples.popleft()
        if now < self.next_tick:
            return
        self.next_tick = now + self.tick_s
        stable = [c for _, c in self.samples]
        panic = [c for t, c in self.samples if t > now - self.panic_window_s]
        want_stable = math.ceil(sum(stable) / len(stable) / self.target)
        want_panic = math.ceil(sum(panic) / len(panic) / self.target)
        current = len(fleet.active_pods())
        ready = max(1, kube_replicas(fleet, now).ready)
        if want_panic / ready >= self.panic_threshold:
            self.panic_since = now if self.panic_since is None else self.panic_since
        elif self.panic_since is not None and now - self.panic_since >= self.stable_window_s:
            self.panic_since = None
        want = max(current, want_panic) if self.panic_since is not None else want_stable
        want = max(want, math.ceil(current / self.max_scale_down_rate))
        want = min(max(want, self.context.min_replicas), self.context.max_replicas)
        self._asked.append((now, float(want)))
        if want != current:
            fleet.scale_to(want, now)

    def recommendations(self) -> list[tuple[float, float]]:
        return self._asked


class FixedController:
    """A constant fleet: what many teams run in practice."""

    name = "fixed"

    def __init__(self, context: PolicyContext, replicas: int) -> None:
        self.replicas = replicas

    def start(self, fleet: Fleet) -> None:
        for _ in range(self.replicas):
            fleet.add_pod(0.0, warm=True)

    def control(self, now: float, fleet: Fleet, monitor: Monitor) -> None:
        return None

    def recommendations(self) -> list[tuple[float, float]]:
        return [(0.0, float(self.replicas))]


class OracleController:
    """Perfect knowledge of demand and of each pod's cold start: replays a plan of replicas per bin
    (``oracle_plans``). A pod needed from time ``s`` is created at ``s - its cold start`` and is Ready
    exactly when needed; pods are drained as soon as the plan drops them. The simulator searches the
    plans for the fewest GPU-hours that still meet the SLO, which makes this the lower bound."""

    name = "oracle"

    def __init__(self, context: PolicyContext, need: np.ndarray, bin_s: float) -> None:
        self.need = need
        self.bin_s = bin_s
        stages = context.profile.cold_start
        rng = np.random.default_rng([context.seed, 0x0AC1E])
        self.creations: deque[tuple[float, tuple[float, float]]] = deque()
        self.removals: deque[tuple[float, int]] = deque()
        planned: list[tuple[float, tuple[float, float]]] = []
        for k in range(1, self.need.shape[0]):
            delta = int(self.need[k] - self.need[k - 1])
            at = k * bin_s
            for _ in range(max(0, delta)):
                drawn = stages.sample(rng)
                planned.append((max(0.0, at - drawn[1]), drawn))
            if delta < 0:
                self.removals.append((at, -delta))
        self.creations.extend(sorted(planned, key=lambda c: c[0]))
        self._asked = [(k * bin_s, float(n)) for k, n in enumerate(self.need)]

    def start(self, fleet: Fleet) -> None:
        for _ in range(int(self.need[0])):
            fleet.add_pod(0.0, warm=True)

    def control(self, now: float, fleet: Fleet, monitor: Monitor) -> None:
        while self.creations and self.creations[0][0] <= now:
            _, cold = self.creations.popleft()
            fleet.add_pod(now, cold_start_s=cold)
        while self.removals and self.removals[0][0] <= now:
            _, count = self.removals.popleft()
            fleet.scale_to(max(0, len(fleet.active_pods()) - count), now, prefer_ready=True)

    def recommendations(self) -> list[tuple[float, float]]:
        return self._asked


#: How the oracle plans (``params["method"]``): one headroom over demand, or a violation budget.
ORACLE_METHODS = ("headroom", "budget")


def _oracle(context: PolicyContext, params: Mapping[str, Any]) -> OracleController:
    """The oracle replaying the plan ``params`` describe (``oracle_plans``)."""
    method = str(params.get("method", "headroom"))
    bin_s = float(params.get("bin_s", 10.0))
    cap = int(params.get("cap", 0)) or context.max_replicas
    load = future_load(context.workload, context.profile, bin_s)
    typical_cold_start = context.profile.cold_start.typical_s
    if method == "headroom":
        need = headroom_plan(
            load,
            bin_s,
            float(params.get("headroom", 1.0)),
            float(params.get("lookahead_s", 60.0)),
            typical_cold_start,
            cap,
            context.min_replicas,
            float(params.get("seen_late_s", 0.0)),
        )
    elif method == "budget":
        need = budget_plan(
            load,
            arrivals_per_bin(context.workload, bin_s),
            bin_s,
            float(params.get("lookahead_s", 0.0)),
            float(params.get("k", 1.0)),
            float(params.get("budget_requests", 0.0)),
            typical_cold_start,
            context.min_replicas,
            cap,
            cover_previous=bool(params.get("cover_previous", True)),
        )
    else:
        raise ValueError(f"oracle method {method!r} is not one of: {', '.join(ORACLE_METHODS)}")
    return OracleController(context, need, bin_s)


#: The untuned default's token targets, as fractions of one replica's capacity at the trace's token mix
#: (``ReplicaProfile.capacity_for``): decode at the fullest batch of its contexts that fits the KV cache,
#: prefill at the rate its prompts' lengths allow. A user knows their prompt and output lengths, if not
#: their arrivals; capacity at someone else's lengths misjudges long-context traffic by several times.
#: Decode keeps a fifth in reserve for the forecast's error; prefill keeps more, because its wait is what
#: the TTFT target measures and a chunked prefill shares every engine step with decode, so a replica
#: never prefills at its full rate.
DEFAULT_DECODE_UTILIZATION = 0.8
DEFAULT_PREFILL_UTILIZATION = 0.7


def profile_policy_spec(profile: ReplicaProfile, context: PolicyContext) -> PolicySpec:
    """gpuscale's untuned defaults sized for ``profile`` and the trace's token lengths: token targets at the
    default utilizations."""
    capacity = profile.capacity_for(context.workload.token_mix)
    return PolicySpec(
        min_replicas=context.min_replicas,
        max_replicas=context.max_replicas,
        # Waiting requests mean the replica is saturated; an eighth of its batch is a short wait.
        target_queue_per_replica=profile.max_num_seqs / 8,
        target_generation_tps_per_replica=DEFAULT_DECODE_UTILIZATION * capacity.decode_tps,
        target_prompt_tps_per_replica=DEFAULT_PREFILL_UTILIZATION * capacity.prompt_tps,
    )


PolicyFactory = Callable[[PolicyContext, Mapping[str, Any]], Controller]


def gpuscale_spec(context: PolicyContext, params: Mapping[str, Any]) -> PolicySpec:
    """The PolicySpec a parameter set means: an explicit ``spec``, or the profile's defaults with the
    knobs in ``params`` applied (``simulations.tuning.knob_space``: groups such as ``utilization``, and
    searched values that mean off)."""
    spec = params.get("spec")
    if isinstance(spec, PolicySpec):
        return spec
    scales = profile_scales(context.profile, context.max_replicas, Sizing.from_params(params))
    updates = spec_updates(params, scales)
    base = profile_policy_spec(context.profile, context)
    return PolicySpec.model_validate({**base.model_dump(), **updates})


def _gpuscale(context: PolicyContext, params: Mapping[str, Any]) -> Controller:
    return GpuscaleController(context, gpuscale_spec(context, params))


#: Policy name -> factory; ``params`` carries tunable settings (the tuner fills them).
POLICIES: dict[str, PolicyFactory] = {
    "gpuscale": _gpuscale,
    "hpa-gpu": lambda c, p: MetricController(
        c, "hpa-gpu", Signal.GPU_UTILIZATION, float(p.get("target", 0.7)), per_pod_mean=True
    ),
    "keda-queue": lambda c, p: MetricController(
        c, "keda-queue", Signal.QUEUE, float(p.get("target", 4.0)), per_pod_mean=False
    ),
    "keda-kv": lambda c, p: MetricController(
        c, "keda-kv", Signal.KV_CACHE_USAGE, float(p.get("target", 0.7)), per_pod_mean=True
    ),
    "knative": lambda c, p: KnativeController(
        c,
        float(p.get("target", 0.7 * c.profile.max_num_seqs / 4)),
        float(p.get("stable_window_s", 60.0)),
        panic_window_s=float(p.get("stable_window_s", 60.0)) / 10,  # Knative: panic window = 10 % of stable
    ),
    "fixed": lambda c, p: FixedController(c, int(p.get("replicas", c.initial_replicas))),
    "oracle": _oracle,
}

#: The order reports list them in.
POLICY_ORDER = ("gpuscale", "hpa-gpu", "keda-queue", "keda-kv", "knative", "fixed", "oracle")


#: The HPA behaviour of gpuscale's ScaledObject, as deploy/examples/scaledobject-external.yaml sets it:
#: every change of the ask acts (no +-10 % tolerance band on the way up), and scale-down follows after
#: a short window, because gpuscale applies its own. The baselines keep Kubernetes' defaults.
GPUSCALE_HPA_SCALE_UP = replace(DEFAULT_SCALE_UP, tolerance=0.0)
GPUSCALE_HPA_SCALE_DOWN = replace(DEFAULT_SCALE_DOWN, stabilization_s=60.0)


def with_common_params(name: str, context: PolicyContext, params: Mapping[str, Any]) -> PolicyContext:
    """Apply the settings every reactive policy has: the replica floor and the HPA's scale-down window."""
    if name == "gpuscale":
        context = replace(
            context, hpa=replace(context.hpa, scale_up=GPUSCALE_HPA_SCALE_UP, scale_down=GPUSCALE_HPA_SCALE_DOWN)
        )
    floor = params.get("min_replicas")
    spec = params.get("spec")
    if floor is None and isinstance(spec, PolicySpec):  # a policy file's floor is the Deployment's, too
        floor = spec.min_replicas
    if floor is not None:
        floor = max(1, int(floor))
        context = replace(context, min_replicas=floor, initial_replicas=max(context.initial_replicas, floor))
    window = params.get("scale_down_window_s")
    if window is not None:
        down = context.hpa.scale_down or DEFAULT_SCALE_DOWN
        context = replace(context, hpa=replace(context.hpa, scale_down=replace(down, stabilization_s=float(window))))
    return context


#: The parameters each baseline reads (besides the common floor and scale-down window of the reactive
#: ones); gpuscale's are its knobs (``simulations.tuning.knob_space``), checked where they are applied.
BASELINE_PARAMS: dict[str, frozenset[str]] = {
    "hpa-gpu": frozenset({"target"}),
    "keda-queue": frozenset({"target"}),
    "keda-kv": frozenset({"target"}),
    "knative": frozenset({"target", "stable_window_s"}),
    "fixed": frozenset({"replicas"}),
    "oracle": frozenset(
        {"method", "bin_s", "cap", "headroom", "lookahead_s", "seen_late_s", "k", "budget_requests", "cover_previous"}
    ),
}
#: What every reactive policy accepts: the replica floor and the HPA's scale-down window.
REACTIVE_COMMON_PARAMS = frozenset({"min_replicas", "scale_down_window_s"})


def check_params(name: str, params: Mapping[str, Any]) -> None:
    """A misspelt parameter of a baseline is an error naming what the policy reads, never silently ignored."""
    known = BASELINE_PARAMS.get(name)
    if known is None:  # gpuscale: checked against its knobs when its spec is built
        return
    if name not in ("fixed", "oracle"):
        known = known | REACTIVE_COMMON_PARAMS
    unknown = sorted(set(params) - known)
    if unknown:
        raise ValueError(f"unknown {name} parameter(s) {', '.join(unknown)}; known: {', '.join(sorted(known))}")


def create_controller(name: str, context: PolicyContext, params: Mapping[str, Any] | None = None) -> Controller:
    try:
        factory = POLICIES[name]
    except KeyError:
        raise ValueError(f"unknown policy {name!r}; valid: {', '.join(POLICY_ORDER)}, all") from None
    params = params or {}
    check_params(name, params)
    if name not in ("fixed", "oracle"):
        context = with_common_params(name, context, params)
    return factory(context, params)
