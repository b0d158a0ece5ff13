"""``decide()``: the pure function that turns an observation into a recommendation.

No I/O, no clock, no globals: the live scaler and the simulator both call it,
so anything one does the other replays exactly. Time arrives as ``now``; the
memory between calls is the explicit ``DecisionState``.
"""

from __future__ import annotations

import math

from predictors import Forecast
from scaler.decision import Ask, Decision, DecisionState, HorizonSource, Reason
from scaler.policy import PolicySpec
from scaler.snapshot import Replicas, ReplicaSource, Signal, Snapshot, demand_load

_EPS = 1e-9
#: Asks that need a signal to be present; if one of their inputs is missing the
#: data is partial and the decision may not scale down.
_REQUIRED_SIGNALS = (Signal.QUEUE, Signal.GENERATION_TPS, Signal.KV_CACHE_USAGE)


def ceil_replicas(load: float) -> int:
    """Replicas to carry ``load`` (in replicas), robust to float noise such as 2.0000000001."""
    return max(0, math.ceil(load - _EPS))


def window_quantile(values: list[int], quantile: float) -> int:
    """Nearest-rank quantile of a window's recommendations (1.0 = the highest)."""
    ranked = sorted(values)
    return ranked[max(0, min(len(ranked), math.ceil(quantile * len(ranked) - _EPS)) - 1)]


def resolve_horizon(spec: PolicySpec, snapshot: Snapshot | None) -> tuple[float, HorizonSource]:
    """Seconds to provision ahead and where that number came from."""
    if spec.forecast_horizon_s is not None:
        return spec.forecast_horizon_s, HorizonSource.CONFIGURED
    if snapshot is not None and snapshot.cold_start_s is not None and snapshot.cold_start_s > 0:
        return snapshot.cold_start_s, HorizonSource.OBSERVED
    return spec.default_cold_start_s, HorizonSource.DEFAULT


def _queue_ask(
    snapshot: Snapshot, spec: PolicySpec, ready: int, starting: int, growth: float
) -> tuple[int | None, str | None]:
    """Replicas the queue asks for, counting starting pods as capacity already in flight, and a note.

    Each ready replica may hold ``target_queue_per_replica`` waiting requests; a queue within
    that asks for nothing (0), so it never blocks a scale-down that throughput justifies. Beyond
    it, KEDA's formula asks a replica per ``target_queue_per_replica`` of the excess (pods still
    starting absorb their share first); with ``queue_drain_s`` set, the drain formula asks instead.
    """
    queue = snapshot.get(Signal.QUEUE)
    if queue is None:
        return None, None
    excess = queue - spec.target_queue_per_replica * ready
    if excess <= _EPS:
        return 0, None
    if spec.queue_drain_s is not None:
        drained = _drain_ask(queue, snapshot.get(Signal.REQUEST_RATE), ready, growth, spec.queue_drain_s)
        if drained is not None:
            return drained
    needed = ceil_replicas(excess / spec.target_queue_per_replica)
    return ready + max(starting, needed), None


def _drain_ask(
    queue: float, completed_per_s: float | None, ready: int, growth: float, drain_s: float
) -> tuple[int, str] | None:
    """Replicas that keep up with a backlog's arrivals and drain it within ``drain_s``, or None (no rate).

    Arrivals are what the fleet completes plus what the queue gains each second; replicas are counted
    at the completion rate per ready replica. A backlog that the fleet drains before a new pod could
    start asks for little, where KEDA's formula would buy pods that arrive after it is gone. It never
    asks for fewer replicas than are serving the backlog.
    """
    if completed_per_s is None or completed_per_s <= _EPS or ready == 0:
        return None
    per_replica = completed_per_s / ready
    needed = max(ready, ceil_replicas((completed_per_s + growth + queue / drain_s) / per_replica))
    note = (
        f"queue: {queue:.0f} waiting, {growth:+.1f}/s, {completed_per_s:.1f}/s completed by {ready} ready:"
        f" {needed} keep up and drain it within {drain_s:.0f}s"
    )
    return needed, note


def _queue_growth(
    snapshot: Snapshot, spec: PolicySpec, state: DecisionState
) -> tuple[tuple[float, float] | None, float]:
    """The newest queue sample and how fast the queue grew since the one before (0 across a gap).

    Measured between distinct samples, so a decision that sees the same scrape again keeps the last rate.
    """
    queue, at = snapshot.get(Signal.QUEUE), snapshot.observed_at
    seen = state.queue_seen
    if queue is None or at is None or (seen is not None and at <= seen[0]):
        return seen, state.queue_growth
    if seen is None or at - seen[0] > spec.stale_after_s:
        return (at, queue), 0.0
    return (at, queue), (queue - seen[1]) / (at - seen[0])


def _starting(replicas: Replicas | None, state: DecisionState) -> int:
    """Pods in flight. Without Kubernetes, starting pods are invisible in metrics: pods we
    already recommended but that are not reporting yet are counted as starting, so a queue
    that grows during their cold start does not ask for them again (DESIGN.md's first trap)."""
    if replicas is None:
        return 0
    if replicas.source == ReplicaSource.METRICS and state.last_published is not None:
        return max(replicas.starting, state.last_published - replicas.ready)
    return replicas.starting


def _inflight_ask(
    snapshot: Snapshot, spec: PolicySpec, ready: int, state: DecisionState, now: float
) -> tuple[int | None, tuple[tuple[float, float], ...]]:
    """Replicas for the requests in flight (waiting + running) at ``target_inflight_per_replica``.

    In-flight requests are arrival rate times latency (Little's law) and move within a scrape.
    The ask uses their mean over ``inflight_window_s`` (so one burst does not buy a fleet that
    arrives after it ended), unless the latest count alone asks for ``inflight_panic_ratio``
    times the ready replicas: then it uses that (a Knative-style panic). Returns the ask and the
    window to remember.
    """
    if spec.target_inflight_per_replica is None:
        return None, ()
    queue = snapshot.get(Signal.QUEUE)
    running = snapshot.get(Signal.RUNNING)
    if queue is None or running is None:
        return None, state.inflight
    latest = queue + running
    window = (*(s for s in state.inflight if s[0] > now - spec.inflight_window_s), (now, latest))
    mean = sum(v for _, v in window) / len(window)
    now_ask = ceil_replicas(latest / spec.target_inflight_per_replica)
    if ready > 0 and now_ask >= spec.inflight_panic_ratio * ready:
        return now_ask, window
    return ceil_replicas(mean / spec.target_inflight_per_replica), window


def _kv_ask(snapshot: Snapshot, spec: PolicySpec, ready: int) -> int | None:
    """HPA-style proportional ask on mean KV-cache usage of the ready replicas."""
    usage = snapshot.get(Signal.KV_CACHE_USAGE)
    if usage is None or ready == 0:
        return None
    return ceil_replicas(ready * usage / spec.target_kv_cache_usage)


def _release_floor(forecast: Forecast | None, spec: PolicySpec, horizon_s: float) -> int | None:
    """The fewest replicas a scale-down may leave before its window has passed, or None (the window alone).

    A pod released now comes back only after a cold start, so the scale-down keeps what the forecast's
    ``scale_down_forecast_quantile`` needs at its highest step up to the horizon (and, in ``_stabilize``,
    never less than the asks now). The window waits out demand that merely might return; this lets a
    forecast that sees demand falling release pods sooner.
    """
    if spec.scale_down_forecast_quantile is None or forecast is None:
        return None
    return ceil_replicas(forecast.peak_quantile(spec.scale_down_forecast_quantile, horizon_s))


def _is_active(snapshot: Snapshot, spec: PolicySpec, forecast_q: float | None, replicas: int) -> bool:
    """Demand now or forecast within the horizon: the only way out of zero replicas."""
    in_flight = (snapshot.get(Signal.QUEUE) or 0.0) + (snapshot.get(Signal.RUNNING) or 0.0)
    if in_flight > spec.activation_queue_depth:
        return True
    if (snapshot.get(Signal.REQUEST_RATE) or 0.0) > 0.0 and spec.activation_queue_depth == 0:
        return True
    if forecast_q is not None and forecast_q > spec.activation_forecast_load:
        return True
    return replicas > 0 and spec.min_replicas > 0


def _is_fresh(snapshot: Snapshot, spec: PolicySpec, now: float) -> tuple[bool, float | None, str]:
    if snapshot.error is not None:
        return False, None, f"collection failed: {snapshot.error}"
    if snapshot.observed_at is None:
        return False, None, "no samples for this workload"
    age = max(0.0, now - snapshot.observed_at)
    if age > spec.stale_after_s:
        return False, age, f"newest sample is {age:.0f}s old (stale after {spec.stale_after_s:.0f}s)"
    return True, age, ""


def decide(
    snapshot: Snapshot,
    forecast: Forecast | None,
    state: DecisionState,
    spec: PolicySpec,
    now: float,
) -> tuple[Decision, DecisionState]:
    """Recommend a replica count for ``now``; return it with the next state."""
    horizon_s, horizon_source = resolve_horizon(spec, snapshot)
    fresh, age, stale_why = _is_fresh(snapshot, spec, now)
    if age is None and state.newest_sample_at is not None:
        # No sample at all (Prometheus down, series gone): the data is as old as the last one seen, and
        # that age keeps growing, so an alert on it fires during an outage instead of freezing.
        age = max(0.0, now - state.newest_sample_at)
    usable = [s for s in _REQUIRED_SIGNALS if snapshot.get(s) is not None]
    base = {
        "at": now,
        "forecast_quantile": spec.forecast_quantile,
        "horizon_s": horizon_s,
        "horizon_source": horizon_source,
        "data_age_s": age,
    }
    if not fresh or not usable:
        why = stale_why or "none of queue, generation rate or KV-cache usage was observed"
        return _hold(snapshot, state, spec, now, why, base)

    notes: list[str] = []
    garbage = snapshot.invalid_signals()
    if garbage:
        notes.append("ignored invalid values: " + ", ".join(sorted(str(s) for s in garbage)))
    replicas = snapshot.replicas
    ready = replicas.ready if replicas is not None else 0
    starting = _starting(replicas, state)

    asks: dict[Ask, int] = {}
    queue_seen, queue_growth = _queue_growth(snapshot, spec, state)
    queue_ask, queue_note = _queue_ask(snapshot, spec, ready, starting, queue_growth)
    if queue_ask is not None:
        asks[Ask.QUEUE] = queue_ask
    if queue_note is not None:
        notes.append(queue_note)
    inflight_ask, inflight_window = _inflight_ask(snapshot, spec, ready, state, now)
    if inflight_ask is not None:
        asks[Ask.INFLIGHT] = inflight_ask
    load = demand_load(snapshot, spec.target_generation_tps_per_replica, spec.target_prompt_tps_per_replica)
    if load is not None:
        asks[Ask.THROUGHPUT] = ceil_replicas(load)
    forecast_mean = forecast_q = None
    if forecast is not None:
        forecast_mean = forecast.mean_at(horizon_s)
        forecast_q = forecast.quantile_at(spec.forecast_quantile, horizon_s)
        asks[Ask.FORECAST] = ceil_replicas(forecast_q)
        notes.extend(forecast.notes)
    kv_ask = _kv_ask(snapshot, spec, ready)
    if kv_ask is not None:
        asks[Ask.KV_CACHE] = kv_ask

    # Largest ask wins; ties go to the earlier (faster, more direct) signal.
    dominant = max(asks, key=lambda a: asks[a]) if asks else None
    wanted = asks[dominant] if dominant is not None else 0
    raw = min(max(wanted, spec.min_replicas), spec.max_replicas)
    partial = len(usable) < len(_REQUIRED_SIGNALS) or bool(garbage)
    if partial:
        missing = [str(s) for s in _REQUIRED_SIGNALS if s not in usable]
        if missing:
            notes.append("missing: " + ", ".join(missing))

    recent = tuple((t, r) for t, r in state.recent if t > now - spec.scale_down_stabilization_s)
    previous = state.last_published
    if previous is None and replicas is not None and replicas.source != ReplicaSource.METRICS:
        # First decision (e.g. after a restart): the fleet as it stands is the baseline, and
        # it seeds the window, so a restart never causes an immediate scale-down.
        previous = replicas.current
        recent = ((now, min(max(previous, spec.min_replicas), spec.max_replicas)),)
    recent = (*recent, (now, raw))
    release_floor = _release_floor(forecast, spec, horizon_s)
    replicas_out, reason, window_held = _stabilize(raw, wanted, previous, recent, spec, partial, release_floor)
    if window_held is not None:
        notes.append(
            f"the forecast released pods the window would hold: {replicas_out} instead of {window_held}"
            f" (q{spec.scale_down_forecast_quantile:g} needs {release_floor} within {horizon_s:.0f}s)"
        )
    decision = Decision(
        replicas=replicas_out,
        valid=True,
        active=_is_active(snapshot, spec, forecast_q, replicas_out),
        reason=reason,
        dominant=dominant,
        asks=asks,
        raw_replicas=raw,
        demand_load=load,
        forecast_mean=forecast_mean,
        forecast_quantile_value=forecast_q,
        forecast_model=None if forecast is None else forecast.model,
        message=_explain(reason, dominant, asks, replicas_out, previous),
        notes=tuple(notes),
        **base,  # type: ignore[arg-type]
    )
    new_state = DecisionState(
        recent=recent,
        last_published=replicas_out,
        last_fresh_at=now,
        inflight=inflight_window,
        queue_seen=queue_seen,
        queue_growth=queue_growth,
        newest_sample_at=snapshot.observed_at,
    )
    return decision, new_state


def _stabilize(
    raw: int,
    wanted: int,
    previous: int | None,
    recent: tuple[tuple[float, int], ...],
    spec: PolicySpec,
    partial: bool,
    release_floor: int | None,
) -> tuple[int, Reason, int | None]:
    """Apply the scale-down window (or the forecast's release below it), the scale-up step limit and the
    partial-data floor. Returns the replicas, the reason and, when the forecast released pods, what the
    window alone would have held."""
    window_held = None
    if previous is None:
        out, reason = raw, Reason.STEADY
    elif raw > previous:
        out, reason = raw, Reason.SCALE_UP
        if spec.scale_up_max_step is not None and raw - previous > spec.scale_up_max_step:
            out, reason = previous + spec.scale_up_max_step, Reason.LIMIT_SCALE_UP_STEP
    elif raw < previous:
        # HPA semantics (quantile 1): a scale-down goes only as low as the highest recent recommendation.
        window_floor = window_quantile([r for _, r in recent], spec.scale_down_quantile)
        floor, held = window_floor, Reason.HOLD_STABILIZATION
        if release_floor is not None and max(raw, release_floor) < window_floor:
            floor, held = max(raw, release_floor), Reason.HOLD_FORECAST
        out, window_held = min(previous, floor), min(previous, window_floor)
        reason = held if out > raw else Reason.SCALE_DOWN
    else:
        out, reason = raw, Reason.STEADY
    if partial and previous is not None and out < previous:
        out, reason = previous, Reason.HOLD_PARTIAL_DATA
    if reason in (Reason.STEADY, Reason.SCALE_UP, Reason.SCALE_DOWN):
        if wanted > spec.max_replicas and out == spec.max_replicas:
            reason = Reason.AT_MAX
        elif wanted < spec.min_replicas and out == spec.min_replicas:
            reason = Reason.AT_MIN
    return out, reason, (window_held if window_held is not None and out < window_held else None)


def _hold(
    snapshot: Snapshot,
    state: DecisionState,
    spec: PolicySpec,
    now: float,
    why: str,
    base: dict[str, object],
) -> tuple[Decision, DecisionState]:
    """Inputs unusable: hold the last recommendation for ``max_hold_s``, then give up."""
    previous = state.last_published
    held_for = None if state.last_fresh_at is None else now - state.last_fresh_at
    if previous is None:
        reason, valid, out = Reason.NO_DATA, False, None
        message = f"no recommendation yet: {why}"
    elif held_for is not None and held_for > spec.max_hold_s:
        reason, valid, out = Reason.EXPIRED, False, None
        message = (
            f"held {previous} replicas for {held_for:.0f}s (limit {spec.max_hold_s:.0f}s); "
            f"failing so KEDA's fallback applies: {why}"
        )
    else:
        reason, valid, out = Reason.HOLD_STALE_DATA, True, previous
        message = f"holding {previous} replicas: {why}"
    decision = Decision(
        replicas=out,
        valid=valid,
        # While holding, stay active if we were serving: never let stale data scale to zero.
        active=bool(out),
        reason=reason,
        dominant=None,
        asks={},
        raw_replicas=None,
        demand_load=None,
        forecast_mean=None,
        forecast_quantile_value=None,
        forecast_model=None,
        message=message,
        notes=(),
        **base,  # type: ignore[arg-type]
    )
    return decision, state


def _explain(reason: Reason, dominant: Ask | None, asks: dict[Ask, int], out: int, previous: int | None) -> str:
    parts = ", ".join(f"{a}={n}" for a, n in asks.items()) or "no asks"
    lead = f"{reason}: {out} replicas"
    if previous is not None and previous != out:
        lead += f" (was {previous})"
    if dominant is not None:
        lead += f"; {dominant} asks most"
    return f"{lead} [{parts}]"
