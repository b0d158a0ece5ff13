"""The downstream path our number takes: KEDA's activation and the HPA's replica calculation.

Built to the facts in keda-contract.md (§3.4, §4, §5): milli-unit rounding, the AverageValue
formula with tolerance, ceil, stabilization windows (highest recommendation for scale-down,
lowest for scale-up), rate policies per period with selectPolicy, min/max clamping, the legacy
path when no ``behavior`` is set, and KEDA's 0 <-> 1 activation with the cooldown.
Everything is a pure function of its inputs and an explicit state; time is passed in.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from typing import Literal

PolicyKind = Literal["Pods", "Percent"]
Select = Literal["Max", "Min", "Disabled"]


@dataclass(frozen=True)
class ScalingPolicy:
    kind: PolicyKind
    value: int
    period_s: float


@dataclass(frozen=True)
class ScalingRules:
    stabilization_s: float
    policies: tuple[ScalingPolicy, ...]
    select: Select = "Max"
    tolerance: float = 0.1


#: Kubernetes defaults (v2/defaults.go): up 4 pods or 100 % per 15 s, no window; down 100 % per 15 s, 300 s window.
DEFAULT_SCALE_UP = ScalingRules(0.0, (ScalingPolicy("Pods", 4, 15.0), ScalingPolicy("Percent", 100, 15.0)))
DEFAULT_SCALE_DOWN = ScalingRules(300.0, (ScalingPolicy("Percent", 100, 15.0),))


@dataclass(frozen=True)
class HpaConfig:
    """One ScaledObject's HPA, as KEDA creates it (target 1, AverageValue: our contract)."""

    min_replicas: int = 0  # KEDA minReplicaCount; the HPA itself never goes below 1
    max_replicas: int = 100
    target: float = 1.0
    sync_period_s: float = 15.0
    polling_interval_s: float = 30.0  # KEDA's own loop: activation and scale to zero
    cooldown_s: float = 300.0
    scale_up: ScalingRules | None = DEFAULT_SCALE_UP  # None with scale_down None: no `behavior` (legacy path)
    scale_down: ScalingRules | None = DEFAULT_SCALE_DOWN
    legacy_downscale_window_s: float = 300.0


@dataclass(frozen=True)
class HpaState:
    replicas: int
    recommendations: tuple[tuple[float, int], ...] = ()  # (time, recommendation) for stabilization
    events: tuple[tuple[float, int], ...] = ()  # (time, replica change) for rate policies
    last_active_at: float | None = None


def milli(value: float) -> float:
    """KEDA >= 2.20 turns values into milli-units with ``%.3f`` (NaN, inf and negatives become 0)."""
    if not math.isfinite(value) or value < 0:
        return 0.0
    return round(value, 3)


def usage_ratio_replicas(values: Sequence[float], target: float, current: int, tol_up: float, tol_down: float) -> int:
    """``GetExternalPerPodMetricReplicas``: keep ``current`` inside the tolerance band, else ceil(total/target)."""
    total = sum(milli(v) for v in values)
    if current > 0:
        ratio = total / (target * current)
        if 1.0 - tol_down <= ratio <= 1.0 + tol_up:
            return current
    return math.ceil(round(total / target, 9))


def _period_change(events: tuple[tuple[float, int], ...], now: float, period_s: float, sign: int) -> int:
    return sum(d for t, d in events if t > now - period_s and (d > 0) == (sign > 0) and d != 0)


def _scale_up_limit(rules: ScalingRules, state: HpaState, now: float) -> int:
    limits = []
    for p in rules.policies:
        start = state.replicas - _period_change(state.events, now, p.period_s, +1)
        limits.append(start + p.value if p.kind == "Pods" else math.ceil(start * (1 + p.value / 100)))
    if rules.select == "Disabled" or not limits:
        return state.replicas
    return max(limits) if rules.select == "Max" else min(limits)


def _scale_down_limit(rules: ScalingRules, state: HpaState, now: float) -> int:
    limits = []
    for p in rules.policies:
        start = state.replicas - _period_change(state.events, now, p.period_s, -1)  # removals are negative
        limits.append(start - p.value if p.kind == "Pods" else math.floor(start * (1 - p.value / 100)))
    if rules.select == "Disabled" or not limits:
        return state.replicas
    # "Max" selects the policy that allows the largest change, i.e. the lowest floor.
    return min(limits) if rules.select == "Max" else max(limits)


def hpa_sync(values: Sequence[float], state: HpaState, config: HpaConfig, now: float) -> HpaState:
    """One HPA sync at ``now``: the new replica count (and state) for metric ``values``."""
    current = state.replicas
    if current == 0:
        return state  # ScalingDisabled at zero: only KEDA's activation leaves it
    legacy = config.scale_up is None and config.scale_down is None
    up = config.scale_up or DEFAULT_SCALE_UP
    down = config.scale_down or DEFAULT_SCALE_DOWN
    raw = usage_ratio_replicas(values, config.target, current, up.tolerance, down.tolerance)
    window_down = config.legacy_downscale_window_s if legacy else down.stabilization_s
    window_up = 0.0 if legacy else up.stabilization_s
    keep = max(window_down, window_up)
    recs = (*tuple((t, r) for t, r in state.recommendations if t > now - keep), (now, raw))
    desired = raw
    down_recs = [r for t, r in recs if t > now - window_down] if window_down > 0 else [raw]
    up_recs = [r for t, r in recs if t > now - window_up] if window_up > 0 else [raw]
    if raw < current:
        desired = min(current, max(down_recs))
    elif raw > current:
        desired = max(current, min(up_recs))
    if desired > current:
        cap = max(2 * current, 4) if legacy else _scale_up_limit(up, state, now)
        desired = min(desired, cap)
    elif desired < current and not legacy:
        desired = max(desired, _scale_down_limit(down, state, now))
    desired = min(max(desired, 1, config.min_replicas), config.max_replicas)
    events = tuple((t, d) for t, d in state.events if t > now - 1800.0)
    if desired != current:
        events = (*events, (now, desired - current))
    return replace(state, replicas=desired, recommendations=recs, events=events)


def keda_poll(active: bool, state: HpaState, config: HpaConfig, now: float) -> HpaState:
    """KEDA's polling loop: wake from zero when active; scale to zero after the cooldown."""
    last_active = now if active else state.last_active_at
    if state.replicas == 0:
        if active:
            return replace(
                state,
                replicas=max(config.min_replicas, 1),
                last_active_at=last_active,
                events=(*state.events, (now, max(config.min_replicas, 1))),
            )
        return replace(state, last_active_at=last_active)
    idle_for = math.inf if last_active is None else now - last_active
    if config.min_replicas == 0 and not active and idle_for >= config.cooldown_s:
        return replace(
            state,
            replicas=0,
            last_active_at=last_active,
            recommendations=(),
            events=(*state.events, (now, -state.replicas)),
        )
    return replace(state, last_active_at=last_active)


@dataclass
class HpaTimeline:
    """Drives ``hpa_sync`` and ``keda_poll`` on their own periods (a helper for replays)."""

    config: HpaConfig
    state: HpaState
    next_sync: float = 0.0
    next_poll: float = 0.0
    history: list[tuple[float, int]] = field(default_factory=list)

    @property
    def next_due(self) -> float:
        """When the next sync or poll happens (callers compute the metric only then)."""
        return min(self.next_sync, self.next_poll)

    def advance(self, now: float, value: float | None, active: bool) -> int:
        """Apply every sync and poll due by ``now`` with the scaler's current answer.

        ``value`` ``None`` is a failed metric read: the HPA and KEDA keep the replica count.
        """
        while (at := min(self.next_sync, self.next_poll)) <= now:
            before = self.state.replicas
            if value is None:
                if self.next_poll <= self.next_sync:
                    self.next_poll += self.config.polling_interval_s
                else:
                    self.next_sync += self.config.sync_period_s
                continue
            if self.next_poll <= self.next_sync:
                self.state = keda_poll(active, self.state, self.config, at)
                self.next_poll += self.config.polling_interval_s
            else:
                self.state = hpa_sync([value], self.state, self.config, at)
                self.next_sync += self.config.sync_period_s
            if self.state.replicas != before:
                self.history.append((at, self.state.replicas))
        return self.state.replicas
