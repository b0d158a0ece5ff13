"""The policy: every tunable parameter of a scaling decision, each declared once.

A ``PolicySpec`` is what ``decide()`` reads, what the simulator replays and what the tuner writes to
a policy file. Each field carries its bounds, default and help (pydantic) and a ``Knob`` with its
trigger key, its ``off``/``auto`` word and the tuner's range (``scaler.knobs``): trigger parsing, the
policy file, the tuner and the docs are generated from these declarations alone.
"""

from __future__ import annotations

from typing import Annotated

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, model_validator

from predictors import predictor_names
from predictors.residuals import DEFAULT_RESIDUAL_WINDOW
from scaler.knobs import Knob, KnobField, Scale, Scaled, Search, by_trigger_key, knob_fields

DEFAULT_COLD_START_S = 180.0
#: The scaler's collection and forecast step (``ServerConfig.refresh_interval_s``) unless configured.
DEFAULT_REFRESH_INTERVAL_S = 10.0
#: The predictors' own error window at the default refresh (2560 s, about 43 minutes).
DEFAULT_FORECAST_ERROR_MEMORY_S = DEFAULT_RESIDUAL_WINDOW * DEFAULT_REFRESH_INTERVAL_S


def _known_predictor(name: str) -> str:
    if name not in predictor_names():
        raise ValueError(f"unknown forecast model {name!r}; known: {', '.join(predictor_names())}")
    return name


#: Token targets are searched as one fraction of the replica's capacity: the tuner's ``utilization``.
UTILIZATION = "utilization"


class PolicySpec(BaseModel):
    """Parameters of the decision; field docs state units and why they exist."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    min_replicas: Annotated[
        int,
        Field(ge=0, le=10_000, description="lower clamp of the recommendation"),
        Knob("minReplicas", search=Search(1, Scaled(1, Scale.FLOOR), integer=True)),
    ] = 0
    max_replicas: Annotated[
        int, Field(ge=1, le=10_000, description="upper clamp of the recommendation"), Knob("maxReplicas")
    ] = 100
    target_queue_per_replica: Annotated[
        float,
        Field(gt=0, le=1e6, description="waiting requests one ready replica may hold before more are asked for"),
        Knob("targetQueuePerReplica", search=Search(1, Scaled(1, Scale.MAX_NUM_SEQS), log=True)),
    ] = 4.0
    queue_drain_s: Annotated[
        float | None,
        Field(
            ge=5,
            le=3600,
            description="set: a queue asks for the replicas that keep up with its arrivals and drain it within"
            " this many seconds; off: one replica per targetQueuePerReplica waiting (KEDA's formula, which"
            " overshoots a backlog that drains before new pods start)",
        ),
        Knob("queueDrainSeconds", none_word="off", none_means="KEDA's queue formula", unit="seconds"),
    ] = 120.0
    target_generation_tps_per_replica: Annotated[
        float,
        Field(gt=0, le=1e9, description="generated tokens/s one replica should serve"),
        Knob(
            "targetTokensPerSecondPerReplica",
            unit="generated tokens/s",
            search=Search(Scaled(0.2, Scale.DECODE_TPS), Scaled(1.0, Scale.DECODE_TPS), group=UTILIZATION),
        ),
    ] = 1500.0
    target_prompt_tps_per_replica: Annotated[
        float,
        Field(gt=0, le=1e10, description="prompt tokens/s one replica should prefill (shares the GPU with decode)"),
        Knob(
            "targetPromptTokensPerSecondPerReplica",
            unit="prompt tokens/s",
            search=Search(Scaled(0.2, Scale.PREFILL_TPS), Scaled(1.0, Scale.PREFILL_TPS), group=UTILIZATION),
        ),
    ] = 30000.0
    target_inflight_per_replica: Annotated[
        float | None,
        Field(gt=0, le=1e6, description="requests in flight (waiting + running) one replica should hold"),
        Knob(
            "targetInflightPerReplica",
            none_word="off",
            none_means="this ask is off",
            unit="waiting + running requests per replica",
            search=Search(2, Scaled(2, Scale.MAX_NUM_SEQS), log=True),
        ),
    ] = None
    inflight_window_s: Annotated[
        float,
        Field(
            ge=0,
            le=3600,
            description="the in-flight ask uses the mean over this window (0: the latest count), unless the"
            " latest asks for inflight_panic_ratio times the ready replicas",
        ),
        Knob("inflightWindowSeconds", unit="seconds", search=Search(10, 600, log=True)),
    ] = 60.0
    inflight_panic_ratio: Annotated[
        float,
        Field(
            ge=1,
            le=100,
            description="when the latest in-flight count asks for this many times the ready replicas,"
            " use it instead of the window's mean",
        ),
        Knob(),
    ] = 2.0
    target_kv_cache_usage: Annotated[
        float,
        Field(gt=0, le=1.0, description="mean KV-cache usage (0-1) per ready replica to aim for"),
        Knob("targetKvCacheUsage", search=Search(0.3, 0.95)),
    ] = 0.8
    forecast_model: Annotated[
        str,
        Field(min_length=1, description="the predictor: default is the online ensemble guarded by the daily profile"),
        AfterValidator(_known_predictor),
        Knob("forecastModel", choices=predictor_names),
    ] = "default"
    forecast_quantile: Annotated[
        float,
        Field(ge=0.5, le=0.99, description="the forecast quantile the fleet is sized for"),
        Knob("forecastQuantile", search=Search(0.5, 0.99)),
    ] = 0.9
    forecast_horizon_s: Annotated[
        float | None,
        Field(
            ge=0,
            le=3600,
            description="seconds ahead to provision for; auto = the observed cold start (needs cluster read"
            " access), else default_cold_start_s",
        ),
        Knob(
            "forecastHorizonSeconds",
            none_word="auto",
            none_means="observed cold start",
            unit="seconds",
            search=Search(30, 900, log=True),
        ),
    ] = None
    forecast_error_memory_s: Annotated[
        float,
        Field(
            ge=300,
            le=7200,
            description="how far back the forecast's quantile band and member weights learn from its errors;"
            " shorter follows a change sooner, longer is steadier",
        ),
        Knob("forecastErrorMemorySeconds", unit="seconds"),
    ] = DEFAULT_FORECAST_ERROR_MEMORY_S
    default_cold_start_s: Annotated[
        float, Field(gt=0, le=3600, description="cold start assumed when none has been observed"), Knob()
    ] = DEFAULT_COLD_START_S
    scale_down_stabilization_s: Annotated[
        float,
        Field(ge=0, le=3600, description="a scale-down takes the highest recommendation of this window"),
        Knob("scaleDownStabilizationSeconds", unit="seconds", search=Search(0, 1200)),
    ] = 300.0
    scale_down_quantile: Annotated[
        float,
        Field(
            ge=0.5,
            le=1.0,
            description="a scale-down goes only as low as this quantile of the window's recommendations; 1 = the"
            " highest (as the HPA does); lower lets a noisy ask's lone spikes pass",
        ),
        Knob("scaleDownQuantile", search=Search(0.5, 1.0)),
    ] = 1.0
    scale_down_forecast_quantile: Annotated[
        float | None,
        Field(
            ge=0.5,
            le=0.99,
            description="a scale-down may go below the window's floor, down to what this forecast quantile needs"
            " at its highest over the horizon (a pod released now is back only after a cold start)",
        ),
        Knob(
            "scaleDownForecastQuantile",
            none_word="off",
            none_means="the window alone",
            search=Search(0.5, 1.0, off_above=0.99),
        ),
    ] = None
    scale_up_max_step: Annotated[
        int | None, Field(ge=1, le=10_000, description="most replicas added in one decision (unset: no limit)"), Knob()
    ] = None
    activation_queue_depth: Annotated[
        float,
        Field(ge=0, le=1e6, description="IsActive is true when waiting + running exceeds this (or demand is forecast)"),
        Knob("activationQueueDepth"),
    ] = 0.0
    activation_forecast_load: Annotated[
        float,
        Field(ge=0, le=1e6, description="active when the forecast quantile exceeds this many replicas of load"),
        Knob(),
    ] = 0.1
    stale_after_s: Annotated[
        float,
        Field(gt=0, le=3600, description="inputs older than this are stale (never a reason to scale down)"),
        Knob(),
    ] = 60.0
    max_hold_s: Annotated[
        float,
        Field(
            ge=0,
            le=86_400,
            description="how long the last good decision is held on stale inputs before the scaler answers"
            " UNAVAILABLE (KEDA's fallback then applies)",
        ),
        Knob("maxHoldSeconds", unit="seconds"),
    ] = 300.0

    @model_validator(mode="after")
    def _min_not_above_max(self) -> PolicySpec:
        if self.min_replicas > self.max_replicas:
            raise ValueError(f"min_replicas ({self.min_replicas}) must not exceed max_replicas ({self.max_replicas})")
        return self


#: Every knob of the policy, in declaration order.
POLICY_KNOBS: tuple[KnobField, ...] = knob_fields(PolicySpec)
#: Trigger key -> knob, for the knobs a ScaledObject may set.
TRIGGER_KNOBS = by_trigger_key(POLICY_KNOBS)
