"""Trigger metadata (strings from the ScaledObject) parsed into a typed, validated config.

Every rejection names the key, the value and what is allowed, because the
person reading it is a platform engineer looking at a ScaledObject's status.
"""

from __future__ import annotations

import difflib
import functools
import hashlib
from collections.abc import Mapping
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from scaler.config import SOURCE_NAME, ServerConfig, is_base_url
from scaler.inference_engines import ENGINES
from scaler.policy import TRIGGER_KNOBS, PolicySpec
from scaler.policy_file import POLICY_NAME
from scaler.tenant_patterns import PodNamePattern, tenant_pattern
from scaler.validation import shown

# Every pattern here runs on tenant input: RE2 (linear time, no backtracking), never Python's re.
_DNS_LABEL = tenant_pattern(r"[a-z0-9]([-a-z0-9]*[a-z0-9])?")
_LABEL_KEY = tenant_pattern(r"([a-z0-9]([-a-z0-9.]*[a-z0-9])?/)?[A-Za-z0-9]([-A-Za-z0-9_.]*[A-Za-z0-9])?")
_LABEL_VALUE = tenant_pattern(r"([A-Za-z0-9]([-A-Za-z0-9_.]*[A-Za-z0-9])?)?")
_METRIC_NAME = tenant_pattern(r"[a-zA-Z_:][a-zA-Z0-9_:]*")
_PROM_LABEL = tenant_pattern(r"[a-zA-Z_][a-zA-Z0-9_]*")

#: Keys KEDA itself reads from the same map; accepted and ignored.
#: KEDA's documentation shows its TLS parameters under ``metadata`` too, and KEDA forwards the whole map.
KEDA_KEYS = frozenset({"scalerAddress", "enableTLS", "unsafeSsl", "caCert", "tlsClientCert", "tlsClientKey"})
_TRUE = frozenset({"true", "1", "yes", "on"})
_FALSE = frozenset({"false", "0", "no", "off"})


class MetadataError(ValueError):
    """Bad trigger metadata; the message is what the user sees in KEDA's status."""

    def __init__(self, key: str, value: str | None, allowed: str) -> None:
        self.key, self.value, self.allowed = key, value, allowed
        super().__init__(self._message(key, "(missing)" if value is None else shown(value), allowed))

    @staticmethod
    def _message(key: str, quoted: str, allowed: str) -> str:
        return f"trigger metadata key {key!r} has invalid value {quoted}; allowed: {allowed}"


class UnknownKeyError(MetadataError):
    """A key gpuscale does not read: most often a misspelling, so the closest known key is suggested."""

    @staticmethod
    def _message(key: str, quoted: str, allowed: str) -> str:
        return f"unknown trigger metadata key {key!r} (value {quoted}); {allowed}"


def _allowed(text: str) -> dict[str, Any]:
    """What a key accepts, in words; quoted back to the user on rejection."""
    return {"allowed": text}


def is_dns_label(value: str) -> bool:
    """A Kubernetes namespace or Deployment name as gpuscale matches pods by it (RFC 1123 label)."""
    return len(value) <= 63 and bool(_DNS_LABEL.fullmatch(value))


class TriggerMetadata(BaseModel):
    """The keys a ScaledObject trigger may set; all optional but the workload identity."""

    model_config = ConfigDict(frozen=True, extra="forbid", populate_by_name=False)

    deployment: str | None = Field(
        None,
        description="the target Deployment; its pods are matched by name (<deployment>-<hash>-<suffix>)",
        json_schema_extra=_allowed("a Kubernetes Deployment name (lower-case DNS label, at most 63 characters)"),
    )
    pod_selector: str | None = Field(
        None,
        alias="podSelector",
        description="instead of deployment: pod labels as Prometheus stores them, or a regex on pod names",
        json_schema_extra=_allowed(
            "comma-separated label pairs 'key=value,...' or 'regex:<pattern>' matched against pod names"
        ),
    )
    engine: str = Field(
        "vllm",
        description="the serving engine: which metric names to read",
        json_schema_extra=_allowed("one of " + ", ".join(ENGINES)),
    )
    prometheus: str | None = Field(
        None,
        description="which of the scaler's Prometheus sources holds this workload's metrics (unset: default)",
        json_schema_extra=_allowed("the name of a Prometheus source configured on the scaler (a DNS label)"),
    )
    prometheus_address: str | None = Field(
        None,
        alias="prometheusAddress",
        description="deprecated: the URL of a configured Prometheus source (any other address is refused)",
        json_schema_extra=_allowed("the base URL of a Prometheus source configured on the scaler"),
    )
    policy: str | None = Field(
        None,
        description="a tuned policy file in the server's --policy-dir; the knobs set here override it",
        json_schema_extra=_allowed("the name of a tuned policy file in the scaler's policy directory (no path)"),
    )
    queue_metric: str | None = Field(
        None,
        alias="queueMetric",
        description="another name for the queue-depth metric (the namespace scope is always added)",
        json_schema_extra=_allowed("a Prometheus metric name"),
    )
    kv_cache_metric: str | None = Field(
        None,
        alias="kvCacheMetric",
        description="another name for the KV-cache usage metric (the namespace scope is always added)",
        json_schema_extra=_allowed("a Prometheus metric name"),
    )
    pod_label: str | None = Field(
        None,
        alias="podLabel",
        description="the pod label of the engine's series (unset: pod)",
        json_schema_extra=_allowed("a Prometheus label name"),
    )
    namespace_label: str | None = Field(
        None,
        alias="namespaceLabel",
        description="the namespace label of the engine's series (unset: namespace)",
        json_schema_extra=_allowed("a Prometheus label name"),
    )
    gpu_pod_label: str | None = Field(
        None,
        alias="gpuPodLabel",
        description="the pod label of DCGM's series (unset: exported_pod)",
        json_schema_extra=_allowed("a Prometheus label name"),
    )
    gpu_namespace_label: str | None = Field(
        None,
        alias="gpuNamespaceLabel",
        description="the namespace label of DCGM's series (unset: exported_namespace)",
        json_schema_extra=_allowed("a Prometheus label name"),
    )
    #: The policy knobs this trigger sets, parsed by their declarations (``scaler.policy``); not a key.
    overrides: tuple[tuple[str, Any], ...] = Field((), alias="__overrides__")

    @field_validator("deployment")
    @classmethod
    def _dns_label(cls, value: str | None) -> str | None:
        if value is not None and not is_dns_label(value):
            raise ValueError("not a DNS label")
        return value

    @field_validator("engine")
    @classmethod
    def _engine(cls, value: str) -> str:
        if value not in ENGINES:
            raise ValueError("unknown engine")
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
        if value is not None and not is_base_url(value):
            raise ValueError("not a base URL")
        return value

    @field_validator("prometheus")
    @classmethod
    def _source_name(cls, value: str | None) -> str | None:
        if value is not None and not SOURCE_NAME.fullmatch(value):
            raise ValueError("not a source name")
        return value

    @field_validator("policy")
    @classmethod
    def _policy_name(cls, value: str | None) -> str | None:
        if value is not None and not POLICY_NAME.fullmatch(value):
            raise ValueError("not a policy name")
        return value

    @field_validator("queue_metric", "kv_cache_metric")
    @classmethod
    def _metric_name(cls, value: str | None) -> str | None:
        if value is not None and not _METRIC_NAME.fullmatch(value):
            raise ValueError("not a metric name")
        return value

    @field_validator("pod_label", "namespace_label", "gpu_pod_label", "gpu_namespace_label")
    @classmethod
    def _label_name(cls, value: str | None) -> str | None:
        if value is not None and not _PROM_LABEL.fullmatch(value):
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
        return dict(self.overrides)


def parse_pod_selector(value: str) -> tuple[dict[str, str], PodNamePattern | None]:
    """Split a ``podSelector`` into label equalities or a compiled pod-name pattern (RE2, as Prometheus)."""
    if value.startswith("regex:"):
        return {}, PodNamePattern(value.removeprefix("regex:"))
    labels: dict[str, str] = {}
    for pair in value.split(","):
        key, sep, val = pair.strip().partition("=")
        if not sep or not _LABEL_KEY.fullmatch(key) or not _LABEL_VALUE.fullmatch(val) or key in labels:
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


@functools.cache
def _routing_keys() -> dict[str, str]:
    """Trigger key -> TriggerMetadata field, for the keys that say which workload and where its metrics are."""
    return {(f.alias or name): name for name, f in TriggerMetadata.model_fields.items() if name != "overrides"}


def known_keys() -> list[str]:
    """Every key gpuscale reads from a trigger (KEDA's own are accepted besides)."""
    return sorted([*_routing_keys(), *TRIGGER_KNOBS])


def _bool(key: str, value: str) -> bool:
    lowered = value.strip().lower()
    if lowered in _TRUE:
        return True
    if lowered in _FALSE:
        return False
    raise MetadataError(key, value, "true or false")


def _unknown_key(key: str, value: str) -> MetadataError:
    known = sorted([*known_keys(), *KEDA_KEYS])
    close = difflib.get_close_matches(key, known, n=1, cutoff=0.6)
    hint = f"did you mean {close[0]!r}? " if close else ""
    return UnknownKeyError(key, value, f"{hint}known keys are {', '.join(known)}")


def parse_trigger_metadata(raw: Mapping[str, str]) -> TriggerMetadata:
    """Validate the trigger's metadata map; raise ``MetadataError`` naming the first bad key."""
    for key in ("enableTLS", "unsafeSsl"):
        if key in raw:
            _bool(key, raw[key])
    data = _strip_from_env(raw)
    routing = _routing_keys()
    for key in sorted(data):
        if key not in routing and key not in TRIGGER_KNOBS:
            raise _unknown_key(key, data[key])
    values: dict[str, str] = {}
    for key, value in data.items():
        if not isinstance(value, str):
            raise MetadataError(key, repr(value), "a string")
        values[key] = value.strip()
    overrides: list[tuple[str, Any]] = []
    for key in sorted(k for k in values if k in TRIGGER_KNOBS):
        knob = TRIGGER_KNOBS[key]
        try:
            overrides.append((knob.name, knob.parse(values[key])))
        except ValueError:
            raise MetadataError(key, values[key], knob.allowed()) from None
    try:
        meta = TriggerMetadata.model_validate(
            {**{k: v for k, v in values.items() if k in routing}, "__overrides__": tuple(overrides)}
        )
    except ValidationError as exc:
        first = exc.errors()[0]
        key = str(first["loc"][0]) if first["loc"] else "metadata"
        field = TriggerMetadata.model_fields.get(routing.get(key, key))
        extra = field.json_schema_extra if field is not None else None
        allowed = str(extra.get("allowed")) if isinstance(extra, dict) else str(first["msg"])
        raise MetadataError(key, values.get(key), allowed) from None
    if meta.deployment is None and meta.pod_selector is None:
        raise MetadataError("deployment", None, "a Deployment name, or set 'podSelector' instead")
    if meta.deployment is not None and meta.pod_selector is not None:
        raise MetadataError("podSelector", meta.pod_selector, "unset when 'deployment' is set (use one of them)")
    set_here = meta.policy_overrides()
    low, high = set_here.get("min_replicas"), set_here.get("max_replicas")
    if low is not None and high is not None and low > high:
        raise MetadataError("minReplicas", str(low), f"at most maxReplicas ({high})")
    return meta


def resolve_policy(meta: TriggerMetadata, base: PolicySpec, base_name: str = "the default policy") -> PolicySpec:
    """The effective policy: a policy file's (or the default) values overridden by metadata keys.

    Each key was validated alone when parsed; what can still fail is a key against the base's other
    values (a floor above the policy file's ceiling), and the error names the trigger's key."""
    overrides = meta.policy_overrides()
    merged = {**base.model_dump(), **overrides}
    low, high = merged["min_replicas"], merged["max_replicas"]
    if low > high:
        if "min_replicas" in overrides:
            raise MetadataError("minReplicas", str(low), f"at most maxReplicas ({high}, from {base_name})")
        raise MetadataError("maxReplicas", str(high), f"at least minReplicas ({low}, from {base_name})")
    return PolicySpec.model_validate(merged)


#: Trigger keys that still parse for one release, and what to write instead. Each one set on a trigger adds
#: a note to every decision of that workload (the decision log, /decisions), so the owner sees it.
DEPRECATED_KEYS: dict[str, str] = {
    "prometheusAddress": "name a configured source with 'prometheus' instead",
}


def deprecation_notes(meta: TriggerMetadata) -> tuple[str, ...]:
    """One note per deprecated key the trigger sets."""
    routing = _routing_keys()
    return tuple(
        f"trigger key '{key}' is deprecated and will be refused in the next release: {advice}"
        for key, advice in DEPRECATED_KEYS.items()
        if getattr(meta, routing[key]) is not None
    )


def prometheus_url_for(meta: TriggerMetadata, config: ServerConfig) -> str:
    """The allow-listed Prometheus a trigger selects: by name (``prometheus``), or, deprecated, by the exact
    URL of a configured source (``prometheusAddress``). No trigger can make the scaler call anything else."""
    sources = config.prometheus_urls()
    names = ", ".join(sources)
    if meta.prometheus is not None and meta.prometheus_address is not None:
        raise MetadataError("prometheusAddress", meta.prometheus_address, "unset when 'prometheus' is set")
    if meta.prometheus is not None:
        url = sources.get(meta.prometheus)
        if url is None:
            raise MetadataError("prometheus", meta.prometheus, f"a Prometheus source configured on the scaler: {names}")
        return url
    if meta.prometheus_address is not None:
        wanted = meta.prometheus_address.rstrip("/")
        for url in sources.values():
            if url == wanted:
                return url
        raise MetadataError(
            "prometheusAddress",
            meta.prometheus_address,
            f"the URL of a Prometheus source configured on the scaler; name one with 'prometheus' instead: {names}",
        )
    return config.prometheus_url
