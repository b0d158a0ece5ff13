"""Server configuration: CLI options and an optional YAML file, validated up front."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any, Literal
from urllib.parse import urlsplit

import yaml
from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    ValidationError,
    field_validator,
    model_validator,
)

from scaler.policy import DEFAULT_REFRESH_INTERVAL_S, PolicySpec
from scaler.validation import first_error

#: Prometheus' limit on the points of one series in a range query.
PROMETHEUS_MAX_POINTS = 11_000
#: The name of the server's own ``prometheus_url`` among the Prometheus sources.
#: Resident memory of the server and its collector worker together: with no workload, and per collected
#: workload (forecaster and decision state in the worker, recent decisions in the server). Measured by
#: ``python -m benchmarks.soak`` with 1,000 workloads (docs/serve.md: 134 MiB; 0.35 MiB per workload
#: steady, 0.48 at the peak of a cold onboarding), rounded up; the shipped Deployment's memory limit is
#: checked against them (tests/deploy).
MEMORY_BASE_MIB = 150
MEMORY_PER_WORKLOAD_MIB = 0.5
DEFAULT_SOURCE = "default"
SOURCE_NAME = re.compile(r"[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?")
SOURCE_NAME_RULE = "lower-case letters, digits and '-' (a DNS label)"
BASE_URL_RULE = "an http:// or https:// base URL with no user, query or fragment"


def is_base_url(value: str) -> bool:
    """A Prometheus base URL the client can append ``/api/v1/...`` to and still reach that API: a
    query string or fragment would swallow the appended path (``?query=...#``), a user part would
    hide the host."""
    try:
        parts = urlsplit(value)
        port_ok = parts.port is None or 0 < parts.port < 65536
    except ValueError:
        return False
    return (
        parts.scheme in ("http", "https")
        and bool(parts.hostname)
        and port_ok
        and "@" not in parts.netloc
        and not parts.query
        and not parts.fragment
        and "?" not in value
        and "#" not in value
        and not any(c.isspace() or ord(c) < 0x20 for c in value)
    )


class ConfigError(ValueError):
    """The server configuration is invalid; the message names the field."""


class ServerConfig(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    host: str = Field("0.0.0.0", description="address the gRPC and metrics servers bind")
    port: int = Field(6000, ge=0, le=65535, description="gRPC port (0 = pick a free one)")
    metrics_port: int = Field(
        8080,
        ge=0,
        le=65535,
        description="port of /metrics and /decisions: HTTPS with client certificates when tls_client_ca is set",
    )
    probe_port: int = Field(
        8081, ge=0, le=65535, description="plain HTTP port of /healthz and /readyz alone (no tenant data), for probes"
    )
    prometheus_url: str = Field(
        "http://127.0.0.1:9090", description="the Prometheus of triggers that name none (the source 'default')"
    )
    prometheus_sources: dict[str, str] = Field(
        default_factory=dict,
        description="more Prometheus servers by name; a trigger selects one with its 'prometheus' key and can"
        " reach no other address",
    )
    refresh_interval_s: float = Field(
        DEFAULT_REFRESH_INTERVAL_S, gt=0, le=300, description="collection and forecast step"
    )
    rate_window: float = Field(
        60.0, ge=1, le=3600, description="PromQL rate() window in seconds, or as a duration: 30s, 1m, 1h"
    )
    history_s: float = Field(
        3600.0, ge=0, le=7 * 86400, description="history bootstrapped from Prometheus per new workload"
    )
    query_timeout_s: float = Field(2.0, gt=0, le=60, description="timeout of one Prometheus query")
    first_answer_timeout_s: float = Field(
        0.8, gt=0, le=2.5, description="budget to answer a workload seen for the first time"
    )
    workload_ttl_s: float = Field(3600.0, gt=0, description="forget a workload no RPC asked about for this long")
    max_workloads: int = Field(
        1000,
        ge=1,
        le=100_000,
        description="most workloads collected at once; a new one beyond it is refused with RESOURCE_EXHAUSTED"
        " (size the pod's memory limit from it: docs/serve.md)",
    )
    stream_interval_s: float = Field(1.0, gt=0, le=60, description="how often StreamIsActive re-checks activity")
    grace_s: float = Field(5.0, ge=0, le=120, description="graceful-stop grace period")
    max_horizon_steps: int = Field(120, ge=1, le=2000, description="longest forecast path, in steps")
    policy_dir: Path | None = Field(None, description="directory of tuned policy files named by the 'policy' key")
    tls_cert: Path | None = None
    tls_key: Path | None = None
    tls_client_ca: Path | None = Field(None, description="CA for client certificates: enables mTLS")
    kubernetes: Literal["auto", "off", "incluster", "kubeconfig"] = "auto"
    collector: Literal["process", "thread"] = Field(
        "process", description="run collection in a worker process (isolates RPC latency) or a thread"
    )
    log_level: Literal["debug", "info", "warning", "error"] = "info"
    decision_log: str | None = Field(None, description="JSON-lines decision log: a path, or '-' for stdout")
    default_policy: PolicySpec = Field(default_factory=PolicySpec)

    @property
    def decision_max_age_s(self) -> float:
        """A decision older than this means collection has stopped: RPCs then fail (for fallback)."""
        return 3 * self.refresh_interval_s + 30.0

    @field_validator("rate_window", mode="before")
    @classmethod
    def _duration(cls, value: object) -> object:
        return parse_duration(value)

    @field_validator("rate_window")
    @classmethod
    def _whole_seconds(cls, value: float) -> float:
        if not value.is_integer():
            raise ValueError("allowed: a whole number of seconds, or of s, m or h (30s, 1m, 1h)")
        return value

    @field_validator("prometheus_url")
    @classmethod
    def _http_url(cls, value: str) -> str:
        if not is_base_url(value):
            raise ValueError(BASE_URL_RULE)
        return value.rstrip("/")

    @field_validator("prometheus_sources")
    @classmethod
    def _sources(cls, value: dict[str, str]) -> dict[str, str]:
        for name, url in value.items():
            if not SOURCE_NAME.fullmatch(name) or name == DEFAULT_SOURCE:
                raise ValueError(f"source name {name!r}: {SOURCE_NAME_RULE}, not {DEFAULT_SOURCE!r}")
            if not is_base_url(url):
                raise ValueError(f"source {name!r}: {url!r} is not {BASE_URL_RULE}")
        return {name: url.rstrip("/") for name, url in value.items()}

    def prometheus_urls(self) -> dict[str, str]:
        """Every Prometheus a trigger may use, by name: the allow-list."""
        return {DEFAULT_SOURCE: self.prometheus_url, **self.prometheus_sources}

    @model_validator(mode="after")
    def _tls_pairs(self) -> ServerConfig:
        if (self.tls_cert is None) != (self.tls_key is None):
            raise ValueError("tls_cert and tls_key must be given together")
        if self.tls_client_ca is not None and self.tls_cert is None:
            raise ValueError("tls_client_ca (mTLS) needs tls_cert and tls_key")
        return self

    @model_validator(mode="after")
    def _history_fits_one_range_query(self) -> ServerConfig:
        # The bootstrap reads history at the refresh step; Prometheus refuses a range query over
        # 11,000 points per series, and a refused bootstrap would leave every forecast cold.
        points = self.history_s / self.refresh_interval_s
        if points > PROMETHEUS_MAX_POINTS:
            raise ValueError(
                f"history_s ({self.history_s:g}) / refresh_interval_s ({self.refresh_interval_s:g}) is"
                f" {points:.0f} points; Prometheus allows {PROMETHEUS_MAX_POINTS} per range query"
            )
        return self


#: Seconds per unit of the durations ``rate_window`` accepts (the forms PromQL shares with humans).
DURATION_UNITS = {"s": 1.0, "m": 60.0, "h": 3600.0}


def parse_duration(value: object) -> object:
    """``"1m"`` -> 60.0; a number is seconds already; anything else is left for the field's type to reject."""
    if isinstance(value, str):
        text = value.strip()
        if text and text[-1] in DURATION_UNITS and text[:-1].isdigit():
            return float(text[:-1]) * DURATION_UNITS[text[-1]]
        try:
            return float(text)
        except ValueError:
            raise ValueError("allowed: a whole number of seconds, or of s, m or h (30s, 1m, 1h)") from None
    return value


def promql_duration(seconds: float) -> str:
    """60.0 -> ``"60s"``: how a window in seconds is written in a PromQL range selector."""
    return f"{round(seconds)}s"


def load_config(path: Path | None, overrides: dict[str, Any]) -> ServerConfig:
    """Merge a YAML file (if any) with CLI overrides (``None`` values are ignored)."""
    data: dict[str, Any] = {}
    if path is not None:
        try:
            loaded = yaml.safe_load(path.read_text())
        except (OSError, yaml.YAMLError) as exc:
            raise ConfigError(f"cannot read config file {path}: {exc}") from None
        if loaded is not None and not isinstance(loaded, dict):
            raise ConfigError(f"config file {path}: top level must be a mapping, got {type(loaded).__name__}")
        data.update(loaded or {})
    data.update({k: v for k, v in overrides.items() if v is not None})
    try:
        return ServerConfig.model_validate(data)
    except ValidationError as exc:
        loc, message, got = first_error(exc)
        if not loc:  # a rule across fields: the message names them
            raise ConfigError(f"invalid server config: {message}") from None
        raise ConfigError(f"invalid server config: {loc}: {message} (got {got})") from None


def check_paths(config: ServerConfig) -> None:
    """The files and folders the server will open, checked before it starts.

    Kept out of the schema so a deployment's config validates on a machine without its mounts
    (tests/deploy). Without this, a missing certificate is a traceback at start and a decision log in a
    missing folder crashes the collector's worker process in a loop.
    """
    files = {"tls_cert": config.tls_cert, "tls_key": config.tls_key, "tls_client_ca": config.tls_client_ca}
    for field, path in files.items():
        if path is not None and not path.is_file():
            raise ConfigError(f"invalid server config: {field}: no such file (got {str(path)!r})")
    if config.policy_dir is not None and not config.policy_dir.is_dir():
        raise ConfigError(f"invalid server config: policy_dir: no such directory (got {str(config.policy_dir)!r})")
    log = config.decision_log
    if log is not None and log != "-" and not Path(log).parent.is_dir():
        raise ConfigError(
            f"invalid server config: decision_log: its directory {Path(log).parent} does not exist (got {log!r})"
        )
