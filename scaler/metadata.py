"""Trigger metadata (strings from the ScaledObject) parsed into a typed, validated config.

Every rejection names the key, the value and what is allowed, because the
person reading it is a platform engineer looking at a ScaledObject's status.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Mapping
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from predictors import predictor_names
from scaler.config import HTTP_URL
from scaler.engines import ENGINES
from scaler.policy import PolicySpec
from scaler.policy_file import POLICY_NAME
from scaler.validation import shown

_DNS_LABEL = re.compile(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?$")
_LABEL_KEY = re.compile(r"^([a-z0-9]([-a-z0-9.]*[a-z0-9])?/)?[A-Za-z0-9]([-A-Za-z0-9_.]*[A-Za-z0-9])?$")
_LABEL_VALUE = re.compile(r"^([A-Za-z0-9]([-A-Za-z0-9_.]*[A-Za-z0-9])?)?$")
_METRIC_NAME = re.compile(r"^[a-zA-Z_:][a-zA-Z0-9_:]*$")
_PROM_LABEL = re.compile(r"^[a-zA-Z_][a-zA-Z0-9_]*$")

#: Keys KEDA itself reads from the same map; accepted and ignored.
KEDA_KEYS = frozenset({"scalerAddress", "enableTLS", "unsafeSsl"})
_TRUE = frozenset({"true", "1", "yes", "on"})
_FALSE = frozenset({"false", "0", "no", "off"})


class MetadataError(ValueError):
    """Bad trigger metadata; the message is what the user sees in KEDA's status."""

    def __init__(self, key: str, value: str | None, allowed: str) -> None:
        self.key, self.value, self.allowed = key, value, allowed
        quoted = "(missing)" if value is None else shown(value)
        super().__init__(f"trigger metadata key {key!r} has invalid value {quoted}; allowed: {allowed}")


def _allowed(text: str) -> dict[str, Any]:
    """What a key accepts, in words; quoted back to the user on rejection."""
    return {"allowed": text}


def is_dns_label(value: str) -> bool:
    """A Kubernetes namespace or Deployment name as gpuscale matches pods by it (RFC 1123 label)."""
    return len(value) <= 63 and bool(_DNS_LABEL.match(value))


class TriggerMetadata(BaseModel):
    """The keys a ScaledObject trigger may set; all optional but the workload identity."""

    model_config = ConfigDict(frozen=True, extra="forbid", populate_by_name=False)

    deployment: str | None = Field(
        None, json_schema_extra=_allowed("a Kubernetes Deployment name (lower-case DNS label, at most 63 characters)")
    )
    pod_selector: str | None = Field(
        None,
        alias="podSelector",
        json_schema_extra=_allowed(
            "comma-separated label pairs 'key=value,...' or 'regex:<pattern>' matched against pod names"
        ),
    )
    engine: Literal["vllm", "sglang", "tgi", "triton"] = Field(
        "vllm", json_schema_extra=_allowed("one of " + ", ".join(ENGINES))
    )
    prometheus_address: str | None = Field(
        None, alias="prometheusAddress", json_schema_extra=_allowed("an http:// or https:// URL")
    )
    min_replicas: int | None = Field(
        None, alias="minReplicas", ge=0, le=10_000, json_schema_extra=_allowed("an integer 0-10000")
    )
    max_replicas: int | None = Field(
        None, alias="maxReplicas", ge=1, le=10_000, json_schema_extra=_allowed("an integer 1-10000")
    )
    target_queue_per_replica: float | None = Field(
        None, alias="targetQueuePerReplica", gt=0, le=1e6, json_schema_extra=_allowed("a number > 0")
    )
    queue_drain_seconds: str | None = Field(
        None,
        alias="queueDrainSeconds",
        json_schema_extra=_allowed("'off' (KEDA's queue formula) or seconds 5-3600"),
    )
    target_tokens_per_second_per_replica: float | None = Field(
        None,
        alias="targetTokensPerSecondPerReplica",
        gt=0,
        le=1e9,
        json_schema_extra=_allowed("a number > 0 (generated tokens/s)"),
    )
    target_prompt_tokens_per_second_per_replica: float | None = Field(
        None,
        alias="targetPromptTokensPerSecondPerReplica",
        gt=0,
        le=1e10,
        json_schema_extra=_allowed("a number > 0 (prompt tokens/s)"),
    )
    target_inflight_per_replica: float | None = Field(
        None,
        alias="targetInflightPerReplica",
        gt=0,
        le=1e6,
        json_schema_extra=_allowed("a number > 0 (waiting + running requests per replica)"),
    )
    inflight_window_seconds: float | None = Field(
        None,
        alias="inflightWindowSeconds",
        ge=0,
        le=3600,
        json_schema_extra=_allowed("seconds 0-3600"),
    )
    target_kv_cache_usage: float | None = Field(
        None, alias="targetKvCacheUsage", gt=0, le=1, json_schema_extra=_allowed("a number in (0, 1]")
    )
    forecast_horizon_seconds: str | None = Field(
        None,
        alias="forecastHorizonSeconds",
        json_schema_extra=_allowed("'auto' (observed cold start) or seconds 0-3600"),
    )
    forecast_quantile: float | None = Field(
        None, alias="forecastQuantile", ge=0.5, le=0.99, json_schema_extra=_allowed("a number from 0.5 to 0.99")
    )
    forecast_model: str | None = Field(
        None, alias="forecastModel", json_schema_extra=_allowed("one of " + ", ".join(predictor_names()))
    )
    forecast_error_memory_seconds: float | None = Field(
        None, alias="forecastErrorMemorySeconds", ge=300, le=7200, json_schema_extra=_allowed("seconds 300-7200")
    )
    scale_down_stabilization_seconds: float | None = Field(
        None, alias="scaleDownStabilizationSeconds", ge=0, le=3600, json_schema_extra=_allowed("seconds 0-3600")
    )
    scale_down_quantile: float | None = Field(
        None, alias="scaleDownQuantile", ge=0.5, le=1, json_schema_extra=_allowed("a number from 0.5 to 1")
    )
    scale_down_forecast_quantile: str | None = Field(
        None,
        alias="scaleDownForecastQuantile",
        json_schema_extra=_allowed("'off' (the window alone) or a number from 0.5 to 0.99"),
    )
    activation_queue_depth: float | None = Field(
        None, alias="activationQueueDepth", ge=0, le=1e6, json_schema_extra=_allowed("a number >= 0")
    )
    policy: str | None = Field(
        None, json_schema_extra=_allowed("the name of a tuned policy file in the scaler's policy directory (no path)")
    )
    queue_metric: str | None = Field(None, alias="queueMetric", json_schema_extra=_allowed("a Prometheus metric name"))
    kv_cache_metric: str | None = Field(
        None, alias="kvCacheMetric", json_schema_extra=_allowed("a Prometheus metric name")
    )
    pod_label: str | None = Field(None, alias="podLabel", json_schema_extra=_allowed("a Prometheus label name"))
    namespace_label: str | None = Field(
        None, alias="namespaceLabel", json_schema_extra=_allowed("a Prometheus label name")
    )
    gpu_pod_label: str | None = Field(None, alias="gpuPodLabel", json_schema_extra=_allowed("a Prometheus label name"))
    gpu_namespace_label: str | None = Field(
        None, alias="gpuNamespaceLabel", json_schema_extra=_allowed("a Prometheus label name")
    )

    @field_validator("deployment")
    @classmethod
    def _dns_label(cls, value: str | None) -> str | None:
        if value is not None and not is_dns_label(value):
            raise ValueError("not a DNS label")
        return value

    @field_validator("pod_selector")
    @classmethod
    def _selector(cls, value: str | None) -> str | None:
        if value is not None:
            parse_pod_selector(value)
        return value

    @field_validator("prometheus_address")
    @classmethod
    def _url(cls, value: str | None) -> str | None:
        if value is not None and not HTTP_URL.match(value):
            raise ValueError("not an http(s) URL")
        return value

    @field_validator("forecast_horizon_seconds")
    @classmethod
    def _horizon(cls, value: str | None) -> str | None:
        if value is None or value == "auto":
            return value
        seconds = float(value)
        if not 0 <= seconds <= 3600:
            raise ValueError("out of range")
        return value

    @field_validator("scale_down_forecast_quantile")
    @classmethod
    def _release_quantile(cls, value: str | None) -> str | None:
        if value is None or value == "off":
            return value
        if not 0.5 <= float(value) <= 0.99:
            raise ValueError("out of range")
        return value

    @field_validator("queue_drain_seconds")
    @classmethod
    def _drain(cls, value: str | None) -> str | None:
        if value is None or value == "off":
            return value
        if not 5 <= float(value) <= 3600:
            raise ValueError("out of range")
        return value

    @field_validator("forecast_model")
    @classmethod
    def _model(cls, value: str | None) -> str | None:
        if value is not None and value not in predictor_names():
            raise ValueError("unknown model")
        return value

    @field_validator("policy")
    @classmethod
    def _policy_name(cls, value: str | None) -> str | None:
        if value is not None and not POLICY_NAME.match(value):
            raise ValueError("not a policy name")
        return value

    @field_validator("queue_metric", "kv_cache_metric")
    @classmethod
    def _metric_name(cls, value: str | None) -> str | None:
        if value is not None and not _METRIC_NAME.match(value):
            raise ValueError("not a metric name")
        return value

    @field_validator("pod_label", "namespace_label", "gpu_pod_label", "gpu_namespace_label")
    @classmethod
    def _label_name(cls, value: str | None) -> str | None:
        if value is not None and not _PROM_LABEL.match(value):
            raise ValueError("not a label name")
        return value

    # --- derived values ---------------------------------------------------------
    @property
    def workload_name(self) -> str:
        """A short, stable, lower-case name for the workload (Deployment name or selector digest)."""
        if self.deployment is not None:
            return self.deployment
        digest = hashlib.sha256((self.pod_selector or "").encode()).hexdigest()[:10]
        return f"selector-{digest}"

    @property
    def metric_name(self) -> str:
        """The metric name KEDA and the HPA see: lower-case, a valid URL path segment."""
        return f"gpuscale-{self.workload_name}"

    def policy_overrides(self) -> dict[str, Any]:
        """PolicySpec fields set by this metadata (they override a named policy file)."""
        mapping = {
            "min_replicas": self.min_replicas,
            "max_replicas": self.max_replicas,
            "target_queue_per_replica": self.target_queue_per_replica,
            "target_generation_tps_per_replica": self.target_tokens_per_second_per_replica,
            "target_prompt_tps_per_replica": self.target_prompt_tokens_per_second_per_replica,
            "target_inflight_per_replica": self.target_inflight_per_replica,
            "inflight_window_s": self.inflight_window_seconds,
            "target_kv_cache_usage": self.target_kv_cache_usage,
            "forecast_quantile": self.forecast_quantile,
            "forecast_model": self.forecast_model,
            "forecast_error_memory_s": self.forecast_error_memory_seconds,
            "scale_down_stabilization_s": self.scale_down_stabilization_seconds,
            "scale_down_quantile": self.scale_down_quantile,
            "activation_queue_depth": self.activation_queue_depth,
        }
        out: dict[str, Any] = {k: v for k, v in mapping.items() if v is not None}
        if self.forecast_horizon_seconds is not None:
            horizon = self.forecast_horizon_seconds
            out["forecast_horizon_s"] = None if horizon == "auto" else float(horizon)
        if self.scale_down_forecast_quantile is not None:
            release = self.scale_down_forecast_quantile
            out["scale_down_forecast_quantile"] = None if release == "off" else float(release)
        if self.queue_drain_seconds is not None:
            drain = self.queue_drain_seconds
            out["queue_drain_s"] = None if drain == "off" else float(drain)
        return out


def parse_pod_selector(value: str) -> tuple[dict[str, str], re.Pattern[str] | None]:
    """Split a ``podSelector`` into label equalities or a compiled pod-name regex."""
    if value.startswith("regex:"):
        pattern = value.removeprefix("regex:")
        if not pattern:
            raise ValueError("empty regex")
        try:
            return {}, re.compile(pattern)
        except re.error as exc:  # not a ValueError: pydantic would let it escape as a crash
            raise ValueError(f"bad regex: {exc}") from None
    labels: dict[str, str] = {}
    for pair in value.split(","):
        key, sep, val = pair.strip().partition("=")
        if not sep or not _LABEL_KEY.match(key) or not _LABEL_VALUE.match(val) or key in labels:
            raise ValueError("bad label pair")
        labels[key] = val
    return labels, None


def _strip_from_env(raw: Mapping[str, str]) -> dict[str, str]:
    """KEDA resolves ``<key>FromEnv`` and keeps that name; read it as ``<key>``."""
    out: dict[str, str] = {}
    for key, value in raw.items():
        if key in KEDA_KEYS:
            continue
        base = key.removesuffix("FromEnv") if key.endswith("FromEnv") else key
        out[base] = value
    return out


def _field_aliases() -> dict[str, str]:
    return {(f.alias or name): name for name, f in TriggerMetadata.model_fields.items()}


def _bool(key: str, value: str) -> bool:
    lowered = value.strip().lower()
    if lowered in _TRUE:
        return True
    if lowered in _FALSE:
        return False
    raise MetadataError(key, value, "true or false")


def parse_trigger_metadata(raw: Mapping[str, str]) -> TriggerMetadata:
    """Validate the trigger's metadata map; raise ``MetadataError`` naming the first bad key."""
    for key in ("enableTLS", "unsafeSsl"):
        if key in raw:
            _bool(key, raw[key])
    data = _strip_from_env(raw)
    aliases = _field_aliases()
    for key in sorted(data):
        if key not in aliases:
            allowed = ", ".join(sorted([*aliases, *KEDA_KEYS]))
            raise MetadataError(key, data[key], f"known keys are {allowed}")
    values: dict[str, Any] = {}
    for key, value in data.items():
        if not isinstance(value, str):
            raise MetadataError(key, repr(value), "a string")
        values[key] = value.strip()
    try:
        meta = TriggerMetadata.model_validate(values)
    except ValidationError as exc:
        first = exc.errors()[0]
        key = str(first["loc"][0]) if first["loc"] else "metadata"
        name = aliases.get(key, key)
        field = TriggerMetadata.model_fields.get(name)
        extra = field.json_schema_extra if field is not None else None
        allowed = str(extra.get("allowed")) if isinstance(extra, dict) else str(first["msg"])
        raise MetadataError(key, values.get(key), allowed) from None
    if meta.deployment is None and meta.pod_selector is None:
        raise MetadataError("deployment", None, "a Deployment name, or set 'podSelector' instead")
    if meta.deployment is not None and meta.pod_selector is not None:
        raise MetadataError("podSelector", meta.pod_selector, "unset when 'deployment' is set (use one of them)")
    if meta.min_replicas is not None and meta.max_replicas is not None and meta.min_replicas > meta.max_replicas:
        raise MetadataError("minReplicas", str(meta.min_replicas), f"at most maxReplicas ({meta.max_replicas})")
    return meta


def resolve_policy(meta: TriggerMetadata, base: PolicySpec) -> PolicySpec:
    """The effective policy: a policy file's (or the default) values overridden by metadata keys."""
    merged = {**base.model_dump(), **meta.policy_overrides()}
    try:
        return PolicySpec.model_validate(merged)
    except ValidationError as exc:
        first = exc.errors()[0]
        raise MetadataError("minReplicas", str(merged.get("min_replicas")), str(first["msg"])) from None
