"""decide(): a table of named cases, plus the state it carries between calls."""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import pytest

from predictors import Forecast
from scaler.decide import ceil_replicas, decide, resolve_horizon, window_quantile
from scaler.decision import Ask, DecisionState, HorizonSource, Reason
from scaler.policy import PolicySpec
from scaler.snapshot import Replicas, ReplicaSource, Signal, Snapshot

NOW = 10_000.0
S = Signal


def snap(
    age: float = 1.0, ready: int = 2, starting: int = 0, source: ReplicaSource = ReplicaSource.METRICS, **signals: float
) -> Snapshot:
    values = {Signal(k): v for k, v in signals.items()}
    return Snapshot(observed_at=NOW - age, signals=values, replicas=Replicas(ready + starting, ready, starting, source))


def flat_forecast(value: float, q90: float, steps: int = 30, step_s: float = 10.0) -> Forecast:
    return Forecast(
        step_s=step_s,
        mean=np.full(steps, value),
        quantiles={0.5: np.full(steps, value), 0.9: np.full(steps, q90)},
        model="test",
    )


def linear_forecast(start: float, end: float, steps: int = 30, step_s: float = 10.0) -> Forecast:
    """A q0.9 path moving linearly from ``start`` to ``end`` (the median at half of it)."""
    q90 = np.linspace(start, end, steps)
    return Forecast(step_s=step_s, mean=q90 / 2, quantiles={0.5: q90 / 2, 0.9: q90}, model="test")


RELEASE = PolicySpec(scale_down_forecast_quantile=0.9)
HELD_AT_6 = DecisionState(recent=((NOW - 200, 6), (NOW - 100, 6)), last_published=6)

IDLE = {"queue": 0.0, "running": 0.0, "generation_tps": 0.0, "prompt_tps": 0.0, "kv_cache_usage": 0.0}


@dataclass
class Case:
    name: str
    snapshot: Snapshot
    expected: int | None
    reason: Reason
    dominant: Ask | None = None
    forecast: Forecast | None = None
    state: DecisionState = field(default_factory=DecisionState)
    spec: PolicySpec = field(default_factory=PolicySpec)
    valid: bool = True
    active: bool | None = None


CASES = [
    Case(
        "queue excess beyond target asks for more",
        snap(queue=30, generation_tps=1500, kv_cache_usage=0.5),
        8,
        Reason.STEADY,
        Ask.QUEUE,
    ),
    Case(
        "queue within target asks for nothing",
        snap(queue=8, generation_tps=1500, kv_cache_usage=0.2),
        1,
        Reason.STEADY,
        Ask.THROUGHPUT,
    ),
    Case(
        "starting pods absorb queue excess first",
        snap(ready=2, starting=6, queue=30, generation_tps=0, kv_cache_usage=0.1),
        8,
        Reason.STEADY,
        Ask.QUEUE,
    ),
    Case(
        "in-flight requests ask at their per-replica target",
        snap(queue=10, running=90, generation_tps=1500, kv_cache_usage=0.2),
        5,
        Reason.STEADY,
        Ask.INFLIGHT,
        spec=PolicySpec(target_inflight_per_replica=20),
    ),
    Case(
        "in-flight ask takes the mean over its window",
        snap(ready=4, queue=0, running=100, generation_tps=1500, kv_cache_usage=0.2),
        2,  # (20 + 20 + 20 + 100) / 4 = 40 in flight -> 2; the sample 100 s ago is out of the window
        Reason.STEADY,
        Ask.INFLIGHT,
        spec=PolicySpec(target_inflight_per_replica=20, inflight_window_s=60),
        state=DecisionState(inflight=((NOW - 100, 400.0), (NOW - 30, 20.0), (NOW - 20, 20.0), (NOW - 10, 20.0))),
    ),
    Case(
        "in-flight panic: the latest count asks for twice the ready replicas",
        snap(ready=2, queue=0, running=100, generation_tps=1500, kv_cache_usage=0.2),
        5,  # the mean (25) would ask for 2; the latest (100) asks for 5 >= 2 x 2 ready
        Reason.STEADY,
        Ask.INFLIGHT,
        spec=PolicySpec(target_inflight_per_replica=20, inflight_window_s=60),
        state=DecisionState(inflight=((NOW - 30, 0.0), (NOW - 20, 0.0), (NOW - 10, 0.0))),
    ),
    Case(
        "in-flight ask is off unless a target is set",
        snap(queue=0, running=90, generation_tps=1500, kv_cache_usage=0.2),
        1,
        Reason.STEADY,
        Ask.THROUGHPUT,
    ),
    Case(
        "in-flight ask needs the running count",
        snap(queue=0, generation_tps=1500, kv_cache_usage=0.2),
        1,
        Reason.STEADY,
        Ask.THROUGHPUT,
        spec=PolicySpec(target_inflight_per_replica=1),
    ),
    Case(
        "throughput: generation and prompt share the GPU",
        snap(queue=0, generation_tps=3000, prompt_tps=30000, kv_cache_usage=0.1),
        3,
        Reason.STEADY,
        Ask.THROUGHPUT,
    ),
    Case(
        "exact multiple does not round up on float noise",
        snap(queue=0, generation_tps=4500.0000000001, kv_cache_usage=0.1),
        3,
        Reason.STEADY,
        Ask.THROUGHPUT,
    ),
    Case(
        "kv-cache pressure is proportional to ready replicas",
        snap(ready=4, queue=0, generation_tps=100, kv_cache_usage=0.9),
        5,
        Reason.STEADY,
        Ask.KV_CACHE,
    ),
    Case(
        "forecast quantile provisions ahead",
        snap(queue=0, generation_tps=1500, kv_cache_usage=0.1),
        6,
        Reason.STEADY,
        Ask.FORECAST,
        forecast=flat_forecast(4.0, 5.5),
    ),
    Case(
        "scale up from the previous recommendation",
        snap(queue=40, generation_tps=100, kv_cache_usage=0.1),
        10,
        Reason.SCALE_UP,
        Ask.QUEUE,
        state=DecisionState(recent=((NOW - 20, 3),), last_published=3),
    ),
    Case(
        "scale down waits for the stabilization window",
        snap(queue=0, generation_tps=1500, kv_cache_usage=0.1),
        6,
        Reason.HOLD_STABILIZATION,
        Ask.THROUGHPUT,
        state=DecisionState(recent=((NOW - 200, 6), (NOW - 100, 4)), last_published=6),
    ),
    Case(
        "a scale-down quantile below 1 lets a lone spike in the window pass",
        snap(queue=0, generation_tps=1500, kv_cache_usage=0.1),
        2,  # window 9, 2, 2, 1 (now): the 0.75 nearest-rank quantile is 2, the highest would be 9
        Reason.HOLD_STABILIZATION,
        Ask.THROUGHPUT,
        spec=PolicySpec(scale_down_quantile=0.75),
        state=DecisionState(recent=((NOW - 200, 9), (NOW - 100, 2), (NOW - 50, 2)), last_published=9),
    ),
    Case(
        "scale down once the window has passed",
        snap(queue=0, generation_tps=1500, kv_cache_usage=0.1),
        1,
        Reason.SCALE_DOWN,
        Ask.THROUGHPUT,
        state=DecisionState(recent=((NOW - 400, 6),), last_published=6),
    ),
    Case(
        # q0.9 falls from 3.5 to 0.5: at the 180 s horizon it asks 2, but it needs 4 at the path's start
        "a falling forecast releases pods the window would hold, down to the path's peak",
        snap(queue=0, generation_tps=1500, kv_cache_usage=0.1),
        4,
        Reason.HOLD_FORECAST,
        Ask.FORECAST,
        forecast=linear_forecast(3.5, 0.5),
        spec=RELEASE,
        state=HELD_AT_6,
    ),
    Case(
        "a forecast that stays low lets the scale-down go as far as the asks",
        snap(queue=0, generation_tps=1500, kv_cache_usage=0.1),
        1,
        Reason.SCALE_DOWN,
        Ask.THROUGHPUT,
        forecast=flat_forecast(0.5, 0.8),
        spec=RELEASE,
        state=HELD_AT_6,
    ),
    Case(
        "a forecast peak above the window's floor releases nothing",
        snap(queue=0, generation_tps=1500, kv_cache_usage=0.1),
        6,
        Reason.HOLD_STABILIZATION,
        Ask.FORECAST,
        forecast=linear_forecast(8.0, 1.0),
        spec=RELEASE,
        state=HELD_AT_6,
    ),
    Case(
        "the release never goes below what a signal asks now",
        snap(queue=0, generation_tps=4400, kv_cache_usage=0.1),
        3,
        Reason.SCALE_DOWN,
        Ask.THROUGHPUT,
        forecast=flat_forecast(0.5, 0.8),
        spec=RELEASE,
        state=HELD_AT_6,
    ),
    Case(
        "without a forecast the window alone holds",
        snap(queue=0, generation_tps=1500, kv_cache_usage=0.1),
        6,
        Reason.HOLD_STABILIZATION,
        Ask.THROUGHPUT,
        spec=RELEASE,
        state=HELD_AT_6,
    ),
    Case(
        "partial data never scales down, whatever the forecast releases",
        snap(queue=0, generation_tps=1500),
        6,
        Reason.HOLD_PARTIAL_DATA,
        Ask.FORECAST,
        forecast=linear_forecast(3.5, 0.5),
        spec=RELEASE,
        state=HELD_AT_6,
    ),
    Case(
        "partial data never scales down (kv missing)",
        snap(queue=0, generation_tps=1500),
        6,
        Reason.HOLD_PARTIAL_DATA,
        Ask.THROUGHPUT,
        state=DecisionState(recent=((NOW - 400, 6),), last_published=6),
    ),
    Case(
        "garbage values never scale down",
        snap(queue=float("nan"), generation_tps=1500, kv_cache_usage=0.1),
        6,
        Reason.HOLD_PARTIAL_DATA,
        Ask.THROUGHPUT,
        state=DecisionState(recent=((NOW - 400, 6),), last_published=6),
    ),
    Case(
        "clamped at max",
        snap(queue=1000, generation_tps=100, kv_cache_usage=0.1),
        20,
        Reason.AT_MAX,
        Ask.QUEUE,
        spec=PolicySpec(max_replicas=20),
    ),
    Case("clamped at min", snap(**IDLE), 2, Reason.AT_MIN, Ask.QUEUE, spec=PolicySpec(min_replicas=2), active=True),
    Case(
        "idle with min 0 recommends 0 and is inactive", snap(ready=0, **IDLE), 0, Reason.STEADY, Ask.QUEUE, active=False
    ),
    Case(
        "forecast demand wakes a workload at zero",
        snap(ready=0, **IDLE),
        1,
        Reason.STEADY,
        Ask.FORECAST,
        forecast=flat_forecast(0.5, 0.8),
        active=True,
    ),
    Case(
        "scale-up step limit",
        snap(queue=100, generation_tps=100, kv_cache_usage=0.1),
        6,
        Reason.LIMIT_SCALE_UP_STEP,
        Ask.QUEUE,
        spec=PolicySpec(scale_up_max_step=4),
        state=DecisionState(recent=((NOW - 20, 2),), last_published=2),
    ),
    Case(
        "restart: current fleet seeds the window, no immediate scale-down",
        snap(ready=5, source=ReplicaSource.KUBERNETES, queue=0, generation_tps=100, kv_cache_usage=0.1),
        5,
        Reason.HOLD_STABILIZATION,
        Ask.THROUGHPUT,
    ),
    Case(
        "stale data holds the last recommendation",
        snap(age=120, **IDLE),
        7,
        Reason.HOLD_STALE_DATA,
        state=DecisionState(recent=((NOW - 60, 7),), last_published=7, last_fresh_at=NOW - 60),
        active=True,
    ),
    Case(
        "a hold expires so KEDA's fallback applies",
        snap(age=400, **IDLE),
        None,
        Reason.EXPIRED,
        state=DecisionState(recent=(), last_published=7, last_fresh_at=NOW - 400),
        valid=False,
    ),
    Case("nothing ever observed gives no number", Snapshot(observed_at=None), None, Reason.NO_DATA, valid=False),
    Case(
        "collection error holds",
        Snapshot(observed_at=None, error="boom"),
        3,
        Reason.HOLD_STALE_DATA,
        state=DecisionState(recent=(), last_published=3, last_fresh_at=NOW - 10),
    ),
]


@pytest.mark.parametrize("case", CASES, ids=[c.name for c in CASES])
def test_decide(case: Case) -> None:
    decision, state = decide(case.snapshot, case.forecast, case.state, case.spec, NOW)
    assert (decision.replicas, decision.reason, decision.valid) == (case.expected, case.reason, case.valid)
    assert decision.dominant == case.dominant
    if case.active is not None:
        assert decision.active is case.active
    if decision.valid and decision.asks:
        assert state.last_published == decision.replicas and state.last_fresh_at == NOW


def test_hold_messages_name_the_cause() -> None:
    held, _ = decide(snap(age=120, **IDLE), None, DecisionState((), 7, NOW - 60), PolicySpec(), NOW)
    assert held.message == "holding 7 replicas: newest sample is 120s old (stale after 60s)"
    expired, _ = decide(snap(age=400, **IDLE), None, DecisionState((), 7, NOW - 400), PolicySpec(), NOW)
    assert expired.message == (
        "held 7 replicas for 400s (limit 300s); failing so KEDA's fallback applies: "
        "newest sample is 400s old (stale after 60s)"
    )


def test_explanation_lists_every_ask() -> None:
    decision, _ = decide(
        snap(queue=30, generation_tps=1500, kv_cache_usage=0.5),
        None,
        DecisionState(((NOW - 10, 2),), 2),
        PolicySpec(),
        NOW,
    )
    assert decision.message == "scale_up: 8 replicas (was 2); queue asks most [queue=8, throughput=1, kv_cache=2]"


def test_a_forecast_release_says_what_the_window_would_have_held() -> None:
    decision, _ = decide(
        snap(queue=0, generation_tps=1500, kv_cache_usage=0.1), linear_forecast(3.5, 0.5), HELD_AT_6, RELEASE, NOW
    )
    assert decision.notes == (
        "the forecast released pods the window would hold: 4 instead of 6 (q0.9 needs 4 within 180s)",
    )
    held, _ = decide(
        snap(queue=0, generation_tps=1500, kv_cache_usage=0.1), linear_forecast(8.0, 1.0), HELD_AT_6, RELEASE, NOW
    )
    assert held.notes == ()


@pytest.mark.parametrize(
    ("case", "start", "end", "horizon_s", "expected"),
    [
        ("a falling path peaks at its first step", 3.5, 0.5, 180.0, 3.5),
        ("a rising path peaks at the horizon's step (the 18th: 0.5 + 17 x 0.1)", 0.5, 3.4, 180.0, 2.2),
        ("one step ahead is the first step alone", 0.5, 3.4, 10.0, 0.5),
        ("a horizon past the path stops at its end", 0.5, 3.4, 1000.0, 3.4),
    ],
)
def test_peak_quantile(case: str, start: float, end: float, horizon_s: float, expected: float) -> None:
    assert linear_forecast(start, end).peak_quantile(0.9, horizon_s) == pytest.approx(expected)


def test_decide_is_pure_and_deterministic() -> None:
    args = (
        snap(queue=12, generation_tps=2000, kv_cache_usage=0.7),
        flat_forecast(2, 3),
        DecisionState(),
        PolicySpec(),
        NOW,
    )
    first = decide(*args)
    assert decide(*args) == first


def test_stabilization_window_rolls_over_calls() -> None:
    spec = PolicySpec(scale_down_stabilization_s=60)
    state = DecisionState()
    busy = {"queue": 40.0, "generation_tps": 100.0, "kv_cache_usage": 0.2}
    outputs = []
    for t, signals in [(0, busy), (20, IDLE), (40, IDLE), (59, IDLE), (61, IDLE), (90, IDLE)]:
        s = Snapshot(
            observed_at=NOW + t,
            signals={Signal(k): v for k, v in signals.items()},
            replicas=Replicas(2, 2, 0, ReplicaSource.METRICS),
        )
        d, state = decide(s, None, state, spec, NOW + t)
        outputs.append((d.replicas, str(d.reason)))
    assert outputs == [
        (10, "steady"),
        (10, "hold_stabilization"),
        (10, "hold_stabilization"),
        (10, "hold_stabilization"),
        (0, "scale_down"),
        (0, "steady"),
    ]


@pytest.mark.parametrize(
    ("load", "expected"),
    [(0.0, 0), (1e-12, 0), (0.2, 1), (2.0, 2), (2.0000000001, 2), (2.001, 3)],
    ids=str,
)
def test_ceil_replicas(load: float, expected: int) -> None:
    assert ceil_replicas(load) == expected


def test_horizon_sources() -> None:
    cold = Snapshot(observed_at=NOW, cold_start_s=240.0)
    got = [
        resolve_horizon(PolicySpec(forecast_horizon_s=120), None),
        resolve_horizon(PolicySpec(), cold),
        resolve_horizon(PolicySpec(), Snapshot(observed_at=NOW)),
    ]
    assert got == [(120, HorizonSource.CONFIGURED), (240.0, HorizonSource.OBSERVED), (180.0, HorizonSource.DEFAULT)]
    assert {type(source) for _, source in got} == {HorizonSource}  # a type, not a string that reads alike


def test_recommended_pods_not_yet_reporting_count_as_starting() -> None:
    """Without Kubernetes, 8 recommended but 2 reporting means 6 are starting: a growing queue
    asks for more only once it exceeds what those 6 will absorb."""
    state = DecisionState(recent=((NOW - 5, 8),), last_published=8, last_fresh_at=NOW - 5)
    within, _ = decide(snap(ready=2, queue=30, generation_tps=100, kv_cache_usage=0.2), None, state, PolicySpec(), NOW)
    assert (within.replicas, within.asks[Ask.QUEUE]) == (8, 8)
    beyond, _ = decide(snap(ready=2, queue=50, generation_tps=100, kv_cache_usage=0.2), None, state, PolicySpec(), NOW)
    assert (beyond.replicas, beyond.asks[Ask.QUEUE]) == (13, 13)


@pytest.mark.parametrize(
    ("case", "values", "quantile", "expected"),
    [
        ("1 is the highest (HPA semantics)", [3, 9, 1, 2], 1.0, 9),
        ("0.75 of four drops the highest", [3, 9, 1, 2], 0.75, 3),
        ("0.5 of four is the second lowest", [3, 9, 1, 2], 0.5, 2),
        ("one value is every quantile", [4], 0.5, 4),
        ("float noise does not skip a rank", [1, 2, 3, 4, 5, 6, 7, 8, 9, 10], 0.7, 7),
    ],
)
def test_window_quantile(case: str, values: list[int], quantile: float, expected: int) -> None:
    assert window_quantile(values, quantile) == expected, case


DRAIN = PolicySpec(queue_drain_s=60)
SEEN_AT = NOW - 1  # snap()'s sample time


@pytest.mark.parametrize(
    ("queue", "completed", "state", "spec", "ask", "growth"),
    [
        # 9 ready complete 10 requests/s (1.11 each); 180 waiting drain in 60 s at 3/s more: 13/s -> 11.7 -> 12.
        pytest.param(180, 10, DecisionState(), DRAIN, 12, 0.0, id="a backlog asks to keep up and drain it"),
        pytest.param(
            180, 10, DecisionState(), PolicySpec(queue_drain_s=None), 45, 0.0, id="KEDA's formula: 9 + (180 - 36) / 4"
        ),
        # The default drains within 120 s: (10 + 180 / 120) / 1.11 = 10.35 -> 11, not KEDA's 45.
        pytest.param(180, 10, DecisionState(), PolicySpec(), 11, 0.0, id="by default a backlog drains within 120 s"),
        pytest.param(
            180,
            10,
            DecisionState(queue_seen=(SEEN_AT - 30, 0.0)),
            DRAIN,
            18,  # arrivals are 10 + 6 = 16/s, plus 3/s to drain: 19 / 1.11 = 17.1
            6.0,
            id="a growing backlog asks for its arrivals too",
        ),
        pytest.param(
            180,
            10,
            DecisionState(queue_seen=(SEEN_AT - 30, 360.0)),
            DRAIN,
            9,  # (10 - 6 + 3) / 1.11 = 6.3: fewer than are serving it
            -6.0,
            id="a shrinking backlog asks for no fewer than are draining it",
        ),
        pytest.param(
            180,
            10,
            DecisionState(queue_seen=(SEEN_AT, 150.0), queue_growth=6.0),
            DRAIN,
            18,
            6.0,
            id="the same scrape seen again keeps the last growth",
        ),
        pytest.param(
            180,
            10,
            DecisionState(queue_seen=(SEEN_AT - 100, 0.0), queue_growth=9.0),
            DRAIN,
            12,
            0.0,
            id="no growth across a gap longer than stale_after_s",
        ),
        pytest.param(180, 0, DecisionState(), DRAIN, 45, 0.0, id="nothing completed falls back to KEDA's formula"),
        pytest.param(30, 10, DecisionState(), DRAIN, 0, 0.0, id="a queue within target asks for nothing"),
    ],
)
def test_queue_drain_ask(
    queue: float, completed: float, state: DecisionState, spec: PolicySpec, ask: int, growth: float
) -> None:
    snapshot = snap(ready=9, queue=queue, request_rate=completed, generation_tps=100, kv_cache_usage=0.1)
    decision, after = decide(snapshot, None, state, spec, NOW)
    assert decision.asks[Ask.QUEUE] == ask
    assert after.queue_growth == pytest.approx(growth)
    seen_again = state.queue_seen is not None and state.queue_seen[0] == SEEN_AT
    assert after.queue_seen == (state.queue_seen if seen_again else (SEEN_AT, queue))


def test_a_drain_ask_says_how_it_counted() -> None:
    decision, _ = decide(
        snap(ready=9, queue=180, request_rate=10, generation_tps=100, kv_cache_usage=0.1),
        None,
        DecisionState(queue_seen=(SEEN_AT - 30, 0.0)),
        DRAIN,
        NOW,
    )
    assert decision.notes == (
        "queue: 180 waiting, +6.0/s, 10.0/s completed by 9 ready: 18 keep up and drain it within 60s",
    )


@pytest.mark.parametrize(
    ("case", "snapshot"),
    [
        ("Prometheus unreachable", Snapshot(observed_at=None, error="connection refused")),
        ("the series are gone", Snapshot(observed_at=None)),
    ],
    ids=lambda v: v if isinstance(v, str) else "",
)
def test_data_age_keeps_growing_through_an_outage(case: str, snapshot: Snapshot) -> None:
    """The data-age gauge once froze at its last value while Prometheus was down, so its alert never fired."""
    _, state = decide(snap(age=2.0, **IDLE), None, DecisionState(), PolicySpec(), NOW)
    assert state.newest_sample_at == NOW - 2.0
    first, state = decide(snapshot, None, state, PolicySpec(), NOW + 60)
    later, _ = decide(snapshot, None, state, PolicySpec(), NOW + 240)
    assert (first.data_age_s, later.data_age_s) == (62.0, 242.0), case
    assert (first.reason, later.replicas) == (Reason.HOLD_STALE_DATA, first.replicas)
