"""The policy: every tunable parameter of a scaling decision, validated in one place.

A ``PolicySpec`` is what ``decide()`` reads, what the simulator replays and what
the tuner writes to a policy file. Trigger metadata and policy files both end
up here, so the live scaler and the simulator can never disagree on meaning.
"""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field, model_validator

from predictors.residuals import DEFAULT_RESIDUAL_WINDOW

DEFAULT_COLD_START_S = 180.0
#: The scaler's collection and forecast step (``ServerConfig.refresh_interval_s``) unless configured.
DEFAULT_REFRESH_INTERVAL_S = 10.0
#: The predictors' own error window at the default refresh (2560 s, about 43 minutes).
DEFAULT_FORECAST_ERROR_MEMORY_S = DEFAULT_RESIDUAL_WINDOW * DEFAULT_REFRESH_INTERVAL_S


class PolicySpec(BaseModel):
    """Parameters of the decision; field docs state units and why they exist."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    min_replicas: int = Field(0, ge=0, le=10_000, description="lower clamp of the recommendation")
    max_replicas: int = Field(100, ge=1, le=10_000, description="upper clamp of the recommendation")
    target_queue_per_replica: float = Field(
        4.0, gt=0, le=1e6, description="waiting requests one ready replica may hold before more are asked for"
    )
    queue_drain_s: float | None = Field(
        None,
        ge=5,
        le=3600,
        description="when set, a queue beyond target_queue_per_replica asks for the replicas that keep up with its"
        " arrivals (the completion rate plus the queue's growth) and drain it within this many seconds, at the"
        " completion rate per ready replica observed; None = KEDA's queue trigger (one replica per"
        " target_queue_per_replica waiting requests), which overshoots a backlog that drains before new pods start",
    )
    target_generation_tps_per_replica: float = Field(
        1500.0, gt=0, le=1e9, description="generated tokens/s one replica should serve at target load"
    )
    target_prompt_tps_per_replica: float = Field(
        30000.0, gt=0, le=1e10, description="prompt (prefill) tokens/s one replica should serve at target load"
    )
    target_inflight_per_replica: float | None = Field(
        None,
        gt=0,
        le=1e6,
        description="requests in flight (waiting + running) one replica should hold; None = this ask is off",
    )
    inflight_window_s: float = Field(
        60.0, ge=0, le=3600, description="the in-flight ask uses the mean over this window (0 = the latest value)"
    )
    inflight_panic_ratio: float = Field(
        2.0,
        ge=1,
        le=100,
        description="when the latest in-flight count asks for this many times the ready replicas, use it",
    )
    target_kv_cache_usage: float = Field(
        0.8, gt=0, le=1.0, description="mean KV-cache usage (0-1) per ready replica to aim for"
    )
    forecast_model: str = Field("default", min_length=1, description="predictor registry name")
    forecast_quantile: float = Field(0.9, ge=0.5, le=0.99, description="forecast quantile the fleet is sized for")
    forecast_horizon_s: float | None = Field(
        None, ge=0, le=3600, description="seconds ahead to provision for; None = observed cold start"
    )
    forecast_error_memory_s: float = Field(
        DEFAULT_FORECAST_ERROR_MEMORY_S,
        ge=300,
        le=7200,
        description="seconds of recent forecast errors the quantile band and the default model's member weights"
        " are learned from; shorter follows a change of regime sooner, longer is steadier",
    )
    default_cold_start_s: float = Field(
        DEFAULT_COLD_START_S, gt=0, le=3600, description="cold start assumed when none has been observed"
    )
    scale_down_stabilization_s: float = Field(
        300.0, ge=0, le=3600, description="a scale-down takes the highest recommendation of this window"
    )
    scale_down_quantile: float = Field(
        1.0,
        ge=0.5,
        le=1.0,
        description="a scale-down goes only as low as this quantile of the window's recommendations; 1 = the"
        " highest (HPA semantics); lower lets one noisy spike in the window pass instead of holding it",
    )
    scale_down_forecast_quantile: float | None = Field(
        None,
        ge=0.5,
        le=0.99,
        description="a scale-down may go below the window's floor, down to what this forecast quantile needs at"
        " every step up to the horizon (a pod released now is back only after a cold start); None = the window"
        " alone",
    )
    scale_up_max_step: int | None = Field(
        None, ge=1, le=10_000, description="most replicas added in one decision (None = unlimited)"
    )
    activation_queue_depth: float = Field(
        0.0, ge=0, le=1e6, description="active (wake from zero) when waiting + running exceeds this"
    )
    activation_forecast_load: float = Field(
        0.1, ge=0, le=1e6, description="active when the forecast quantile exceeds this many replicas of load"
    )
    stale_after_s: float = Field(60.0, gt=0, le=3600, description="inputs older than this are stale")
    max_hold_s: float = Field(
        300.0, ge=0, le=86_400, description="how long a last good decision is held on stale inputs"
    )

    @model_validator(mode="after")
    def _min_not_above_max(self) -> PolicySpec:
        if self.min_replicas > self.max_replicas:
            raise ValueError(f"min_replicas ({self.min_replicas}) must not exceed max_replicas ({self.max_replicas})")
        return self
