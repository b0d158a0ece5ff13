"""The output of ``decide()`` and the explicit state it carries from one call to the next."""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass, field
from enum import StrEnum


class Ask(StrEnum):
    """The signals that ask for a replica count; the largest ask wins."""

    QUEUE = "queue"
    INFLIGHT = "inflight"
    THROUGHPUT = "throughput"
    FORECAST = "forecast"
    KV_CACHE = "kv_cache"


class HorizonSource(StrEnum):
    """Where the forecast horizon came from: a configured one, pods' observed cold starts, or the default."""

    CONFIGURED = "configured"
    OBSERVED = "observed"
    DEFAULT = "default"


class Reason(StrEnum):
    """Why the recommendation is what it is: one code per decision."""

    SCALE_UP = "scale_up"
    SCALE_DOWN = "scale_down"
    STEADY = "steady"
    HOLD_STABILIZATION = "hold_stabilization"  # a scale-down waits for the window
    HOLD_FORECAST = "hold_forecast"  # a scale-down past the window stops where the forecast still needs pods
    LIMIT_SCALE_UP_STEP = "limit_scale_up_step"
    AT_MAX = "at_max"
    AT_MIN = "at_min"
    HOLD_STALE_DATA = "hold_stale_data"  # inputs missing/stale: last good held
    HOLD_PARTIAL_DATA = "hold_partial_data"  # some inputs missing: no scale-down
    NO_DATA = "no_data"  # nothing observed yet: no number to give
    EXPIRED = "expired"  # held too long: let KEDA's fallback act


@dataclass(frozen=True)
class DecisionState:
    """What ``decide()`` remembers: recent recommendations and the last trustworthy one."""

    recent: tuple[tuple[float, int], ...] = ()  # (time, clamped raw recommendation)
    last_published: int | None = None
    last_fresh_at: float | None = None  # time of the last decision made on fresh data (bounds a hold)
    inflight: tuple[tuple[float, float], ...] = ()  # (time, waiting + running) over the in-flight window
    queue_seen: tuple[float, float] | None = None  # (sample time, waiting) of the newest sample seen
    queue_growth: float = 0.0  # waiting requests gained per second between the last two samples
    newest_sample_at: float | None = None  # sample time of the newest usable snapshot (data age in an outage)


@dataclass(frozen=True)
class Decision:
    """A recommendation and everything needed to explain it."""

    at: float
    replicas: int | None  # None when ``valid`` is False
    valid: bool  # False: the RPC answers with an error so KEDA's fallback can act
    active: bool
    reason: Reason
    dominant: Ask | None
    asks: dict[Ask, int]
    raw_replicas: int | None  # largest ask, clamped to [min, max], before stabilization
    demand_load: float | None  # observed load in replicas at target
    forecast_mean: float | None  # load forecast at the horizon
    forecast_quantile_value: float | None
    forecast_quantile: float
    forecast_model: str | None
    horizon_s: float
    horizon_source: HorizonSource
    data_age_s: float | None
    message: str
    notes: tuple[str, ...] = field(default=())

    def to_json(self) -> dict[str, object]:
        out = asdict(self)
        out["reason"] = str(self.reason)
        out["dominant"] = None if self.dominant is None else str(self.dominant)
        out["asks"] = {str(k): v for k, v in self.asks.items()}
        out["notes"] = list(self.notes)
        for key, value in out.items():
            if isinstance(value, float) and not math.isfinite(value):
                out[key] = None
        return out
