"""Trigger metadata: accepted forms, exact rejection messages, and fuzzing."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from scaler.config import ServerConfig
from scaler.metadata import (
    MetadataError,
    TriggerMetadata,
    known_keys,
    parse_pod_selector,
    parse_trigger_metadata,
    prometheus_url_for,
    resolve_policy,
)
from scaler.policy import PolicySpec
from scaler.validation import shown

KNOWN_KEYS = known_keys()


def test_minimal_metadata_is_a_deployment_name() -> None:
    meta = parse_trigger_metadata({"deployment": "llama-8b"})
    assert (meta.engine, meta.metric_name, meta.workload_name) == ("vllm", "gpuscale-llama-8b", "llama-8b")
    assert resolve_policy(meta, PolicySpec()) == PolicySpec()


def test_keda_keys_and_from_env_are_accepted() -> None:
    meta = parse_trigger_metadata(
        {"deploymentFromEnv": "llama", "scalerAddress": "gpuscale.keda:6000", "enableTLS": "true", "unsafeSsl": "false"}
    )
    assert meta.deployment == "llama"


def test_overrides_reach_the_policy() -> None:
    meta = parse_trigger_metadata(
        {
            "deployment": "llama",
            "engine": "sglang",
            "minReplicas": "1",
            "maxReplicas": "12",
            "targetQueuePerReplica": "2.5",
            "queueDrainSeconds": "45",
            "targetTokensPerSecondPerReplica": "900",
            "targetPromptTokensPerSecondPerReplica": "12000",
            "targetKvCacheUsage": "0.7",
            "forecastHorizonSeconds": "240",
            "forecastQuantile": "0.95",
            "forecastModel": "last_value",
            "forecastErrorMemorySeconds": "1280",
            "scaleDownStabilizationSeconds": "600",
            "scaleDownQuantile": "0.75",
            "scaleDownForecastQuantile": "0.8",
            "activationQueueDepth": "3",
        }
    )
    spec = resolve_policy(meta, PolicySpec())
    assert spec == PolicySpec(
        min_replicas=1,
        max_replicas=12,
        target_queue_per_replica=2.5,
        queue_drain_s=45,
        target_generation_tps_per_replica=900,
        target_prompt_tps_per_replica=12000,
        target_kv_cache_usage=0.7,
        forecast_horizon_s=240,
        forecast_quantile=0.95,
        forecast_model="last_value",
        forecast_error_memory_s=1280,
        scale_down_stabilization_s=600,
        scale_down_quantile=0.75,
        scale_down_forecast_quantile=0.8,
        activation_queue_depth=3,
    )
    assert (
        resolve_policy(
            parse_trigger_metadata({"deployment": "a", "forecastHorizonSeconds": "auto"}),
            PolicySpec(forecast_horizon_s=30),
        ).forecast_horizon_s
        is None
    )
    assert (
        resolve_policy(
            parse_trigger_metadata({"deployment": "a", "scaleDownForecastQuantile": "off"}),
            PolicySpec(scale_down_forecast_quantile=0.9),
        ).scale_down_forecast_quantile
        is None
    )
    assert (
        resolve_policy(
            parse_trigger_metadata({"deployment": "a", "queueDrainSeconds": "off"}), PolicySpec(queue_drain_s=30)
        ).queue_drain_s
        is None
    )


def test_pod_selector_forms() -> None:
    labels = parse_trigger_metadata({"podSelector": "app.kubernetes.io/name=llama,tier=gpu"})
    assert labels.metric_name.startswith("gpuscale-selector-") and labels.metric_name == labels.metric_name.lower()
    regex = parse_trigger_metadata({"podSelector": "regex:llama-(a|b)-.*"})
    assert regex.metric_name != labels.metric_name


REJECTIONS = [
    (
        "no identity",
        {},
        "trigger metadata key 'deployment' has invalid value (missing); allowed: a Deployment name, "
        "or set 'podSelector' instead",
    ),
    (
        "both identities",
        {"deployment": "a", "podSelector": "app=a"},
        "trigger metadata key 'podSelector' has invalid "
        "value 'app=a'; allowed: unset when 'deployment' is set (use one of them)",
    ),
    (
        "upper-case deployment",
        {"deployment": "Llama"},
        "trigger metadata key 'deployment' has invalid value 'Llama'; "
        "allowed: a Kubernetes Deployment name (lower-case DNS label, at most 63 characters)",
    ),
    (
        "unknown engine",
        {"deployment": "a", "engine": "ollama"},
        "trigger metadata key 'engine' has invalid value 'ollama'; allowed: one of vllm, sglang, tgi, triton",
    ),
    (
        "non-integer max",
        {"deployment": "a", "maxReplicas": "ten"},
        "trigger metadata key 'maxReplicas' has invalid value 'ten'; allowed: an integer 1-10000",
    ),
    (
        "min above max",
        {"deployment": "a", "minReplicas": "5", "maxReplicas": "3"},
        "trigger metadata key 'minReplicas' has invalid value '5'; allowed: at most maxReplicas (3)",
    ),
    (
        "quantile out of range",
        {"deployment": "a", "forecastQuantile": "0.999"},
        "trigger metadata key 'forecastQuantile' has invalid value '0.999'; allowed: a number from 0.5 to 0.99",
    ),
    (
        "horizon word",
        {"deployment": "a", "forecastHorizonSeconds": "soon"},
        "trigger metadata key "
        "'forecastHorizonSeconds' has invalid value 'soon'; allowed: 'auto' (observed cold start) or seconds 0-3600",
    ),
    (
        "error memory too short",
        {"deployment": "a", "forecastErrorMemorySeconds": "60"},
        "trigger metadata key 'forecastErrorMemorySeconds' has invalid value '60'; allowed: seconds 300-7200",
    ),
    (
        "drain time too short",
        {"deployment": "a", "queueDrainSeconds": "1"},
        "trigger metadata key 'queueDrainSeconds' has invalid value '1'; "
        "allowed: 'off' (KEDA's queue formula) or seconds 5-3600",
    ),
    (
        "drain time a word",
        {"deployment": "a", "queueDrainSeconds": "fast"},
        "trigger metadata key 'queueDrainSeconds' has invalid value 'fast'; "
        "allowed: 'off' (KEDA's queue formula) or seconds 5-3600",
    ),
    (
        "release quantile of one",
        {"deployment": "a", "scaleDownForecastQuantile": "1"},
        "trigger metadata key 'scaleDownForecastQuantile' has invalid value '1'; "
        "allowed: 'off' (the window alone) or a number from 0.5 to 0.99",
    ),
    (
        "kv above one",
        {"deployment": "a", "targetKvCacheUsage": "1.5"},
        "trigger metadata key 'targetKvCacheUsage' has invalid value '1.5'; allowed: a number in (0, 1]",
    ),
    (
        "policy path",
        {"deployment": "a", "policy": "../etc/passwd"},
        "trigger metadata key 'policy' has invalid value "
        "'../etc/passwd'; allowed: the name of a tuned policy file in the scaler's policy directory (no path)",
    ),
    (
        "bad regex",
        {"podSelector": "regex:("},
        "trigger metadata key 'podSelector' has invalid value 'regex:('; "
        "allowed: comma-separated label pairs 'key=value,...' or 'regex:<pattern>' matched against pod names",
    ),
    (
        "bad boolean",
        {"deployment": "a", "enableTLS": "maybe"},
        "trigger metadata key 'enableTLS' has invalid value 'maybe'; allowed: true or false",
    ),
    (
        "bad url",
        {"deployment": "a", "prometheusAddress": "prometheus:9090"},
        "trigger metadata key "
        "'prometheusAddress' has invalid value 'prometheus:9090'; allowed: the base URL of a Prometheus source "
        "configured on the scaler",
    ),
    (
        "unknown model",
        {"deployment": "a", "forecastModel": "prophet"},
        "trigger metadata key 'forecastModel' has "
        "invalid value 'prophet'; allowed: one of autoregressive, daily_profile, damped_trend, default, ensemble, "
        "last_value, profile_guarded, seasonal_daily, seasonal_naive_daily, seasonal_naive_weekly, seasonal_weekly",
    ),
    (
        "a long value is quoted, not all of it",
        {"deployment": "a", "engine": "v" * 500},
        f"trigger metadata key 'engine' has invalid value '{'v' * 76}...; allowed: one of vllm, sglang, tgi, triton",
    ),
]


@pytest.mark.parametrize(("name", "raw", "message"), REJECTIONS, ids=[r[0] for r in REJECTIONS])
def test_rejections_name_key_value_and_allowed(name: str, raw: dict[str, str], message: str) -> None:
    with pytest.raises(ValueError) as err:
        parse_trigger_metadata(raw)
    assert str(err.value) == message


ALL_KEYS = ", ".join(
    sorted([*known_keys(), "scalerAddress", "enableTLS", "unsafeSsl", "caCert", "tlsClientCert", "tlsClientKey"])
)
UNKNOWN_KEYS = [
    ("a missing s", "maxReplica", "10", "did you mean 'maxReplicas'? "),
    ("a shortened key", "targetQueue", "3", "did you mean 'targetQueuePerReplica'? "),
    ("nothing close", "colour", "blue", ""),
]


@pytest.mark.parametrize(("name", "key", "value", "hint"), UNKNOWN_KEYS, ids=[u[0] for u in UNKNOWN_KEYS])
def test_unknown_key_says_unknown_and_suggests_the_closest(name: str, key: str, value: str, hint: str) -> None:
    with pytest.raises(MetadataError) as err:
        parse_trigger_metadata({"deployment": "a", key: value})
    assert str(err.value) == f"unknown trigger metadata key {key!r} (value {value!r}); {hint}known keys are {ALL_KEYS}"


def test_keda_tls_keys_in_metadata_are_accepted_and_ignored() -> None:
    """KEDA's docs show caCert/tlsClientCert/tlsClientKey under metadata and KEDA forwards the whole map."""
    meta = parse_trigger_metadata(
        {"deployment": "a", "caCert": "-----BEGIN CERTIFICATE-----", "tlsClientCert": "x", "tlsClientKey": "y"}
    )
    assert meta.policy_overrides() == {}


def test_max_hold_seconds_is_a_trigger_key() -> None:
    spec = resolve_policy(parse_trigger_metadata({"deployment": "a", "maxHoldSeconds": "600"}), PolicySpec())
    assert spec.max_hold_s == 600.0


CONFLICTS = [
    (
        "a floor above the policy file's ceiling blames minReplicas",
        {"minReplicas": "6"},
        PolicySpec(max_replicas=4),
        "trigger metadata key 'minReplicas' has invalid value '6'; allowed: at most maxReplicas (4, from policy 'p')",
    ),
    (
        "a ceiling below the policy file's floor blames maxReplicas",
        {"maxReplicas": "3"},
        PolicySpec(min_replicas=5),
        "trigger metadata key 'maxReplicas' has invalid value '3'; allowed: at least minReplicas (5, from policy 'p')",
    ),
]


@pytest.mark.parametrize(("name", "raw", "base", "message"), CONFLICTS, ids=[c[0] for c in CONFLICTS])
def test_a_key_against_the_policy_file_names_that_key(
    name: str, raw: dict[str, str], base: PolicySpec, message: str
) -> None:
    with pytest.raises(MetadataError) as err:
        resolve_policy(parse_trigger_metadata({"deployment": "a", **raw}), base, "policy 'p'")
    assert str(err.value) == message


values = st.one_of(
    st.text(max_size=40),
    st.sampled_from(["", "0", "-1", "1e309", "nan", "inf", "auto", "true", "regex:.*", "app=x", "llama", "0.9"]),
)
keys = st.one_of(st.sampled_from([*KNOWN_KEYS, "scalerAddress", "enableTLS", "unsafeSsl"]), st.text(max_size=20))


@settings(max_examples=600, deadline=None)
@given(st.dictionaries(keys, values, max_size=8))
def test_fuzzed_metadata_is_parsed_or_rejected_by_key(raw: dict[str, str]) -> None:
    try:
        meta = parse_trigger_metadata(raw)
    except MetadataError as exc:
        assert str(exc).startswith(
            (f"trigger metadata key {exc.key!r} has invalid value ", f"unknown trigger metadata key {exc.key!r}")
        )
        assert exc.key in raw or f"{exc.key}FromEnv" in raw or (exc.key == "deployment" and exc.value is None)
        assert exc.allowed and str(exc).endswith(exc.allowed)
        return
    assert isinstance(meta, TriggerMetadata)
    assert meta.metric_name == meta.metric_name.lower() and "/" not in meta.metric_name and "%" not in meta.metric_name


def test_inflight_target_reaches_the_policy() -> None:
    meta = parse_trigger_metadata({"deployment": "llama", "targetInflightPerReplica": "16"})
    assert resolve_policy(meta, PolicySpec()).target_inflight_per_replica == 16.0
    with pytest.raises(MetadataError) as err:
        parse_trigger_metadata({"deployment": "llama", "targetInflightPerReplica": "0"})
    assert str(err.value) == (
        "trigger metadata key 'targetInflightPerReplica' has invalid value '0'; "
        "allowed: 'off' (this ask is off) or a number > 0 (waiting + running requests per replica)"
    )
    off = parse_trigger_metadata({"deployment": "llama", "targetInflightPerReplica": "off"})
    assert resolve_policy(off, PolicySpec(target_inflight_per_replica=8)).target_inflight_per_replica is None


ADDRESS_ATTACKS = [
    (
        "a query string and fragment that would swallow /api/v1/query",
        "http://127.0.0.1:9090/?query=sum(vllm:num_requests_waiting{namespace=%22secret-ns%22})>3#",
    ),
    ("a fragment alone", "http://127.0.0.1:9090#"),
    ("a user part hiding the host", "http://127.0.0.1:9090@evil.example:80"),
    ("not http", "file:///etc/passwd"),
]


@pytest.mark.parametrize(("name", "address"), ADDRESS_ATTACKS, ids=[a[0] for a in ADDRESS_ATTACKS])
def test_an_address_with_a_query_fragment_or_user_is_refused(name: str, address: str) -> None:
    with pytest.raises(MetadataError) as err:
        parse_trigger_metadata({"deployment": "a", "prometheusAddress": address})
    assert str(err.value) == (
        f"trigger metadata key 'prometheusAddress' has invalid value {shown(address)}; "
        "allowed: the base URL of a Prometheus source configured on the scaler"
    )


CONFIG = ServerConfig(prometheus_url="http://prom.monitoring:9090", prometheus_sources={"team-b": "http://b:9090/"})
SOURCES = [
    ("no key: the default source", {}, "http://prom.monitoring:9090"),
    ("a configured name", {"prometheus": "team-b"}, "http://b:9090"),
    ("the default by name", {"prometheus": "default"}, "http://prom.monitoring:9090"),
    ("a configured URL (deprecated key)", {"prometheusAddress": "http://b:9090/"}, "http://b:9090"),
]


@pytest.mark.parametrize(("name", "raw", "url"), SOURCES, ids=[s[0] for s in SOURCES])
def test_a_trigger_selects_only_an_allow_listed_prometheus(name: str, raw: dict[str, str], url: str) -> None:
    assert prometheus_url_for(parse_trigger_metadata({"deployment": "a", **raw}), CONFIG) == url


REFUSED_SOURCES = [
    (
        "an address nobody configured",
        {"prometheusAddress": "http://10.0.0.7:9090"},
        "trigger metadata key 'prometheusAddress' has invalid value 'http://10.0.0.7:9090'; allowed: the URL of a "
        "Prometheus source configured on the scaler; name one with 'prometheus' instead: default, team-b",
    ),
    (
        "an unknown name",
        {"prometheus": "team-c"},
        "trigger metadata key 'prometheus' has invalid value 'team-c'; allowed: a Prometheus source configured on "
        "the scaler: default, team-b",
    ),
    (
        "both keys",
        {"prometheus": "team-b", "prometheusAddress": "http://b:9090"},
        "trigger metadata key 'prometheusAddress' has invalid value 'http://b:9090'; allowed: unset when "
        "'prometheus' is set",
    ),
]


@pytest.mark.parametrize(("name", "raw", "message"), REFUSED_SOURCES, ids=[s[0] for s in REFUSED_SOURCES])
def test_a_trigger_cannot_reach_another_address(name: str, raw: dict[str, str], message: str) -> None:
    with pytest.raises(MetadataError) as err:
        prometheus_url_for(parse_trigger_metadata({"deployment": "a", **raw}), CONFIG)
    assert str(err.value) == message


def test_a_backtracking_pattern_matches_in_linear_time() -> None:
    """``(.|.)*!`` held Python's re for minutes on a long name; RE2 answers at once (no timing asserted:
    with re this test would not finish)."""
    meta = parse_trigger_metadata({"podSelector": "regex:(.|.)*!"})
    _, pattern = parse_pod_selector(meta.pod_selector or "")
    assert pattern is not None
    assert pattern.fullmatch("a" * 5000) is False
    assert pattern.fullmatch("a" * 5000 + "!") is True


PATTERN_REJECTIONS = [
    ("a backreference RE2 does not support", "regex:(a)\\1"),
    ("longer than 256 characters", "regex:" + "a" * 257),
    ("empty", "regex:"),
]


@pytest.mark.parametrize(("name", "selector"), PATTERN_REJECTIONS, ids=[p[0] for p in PATTERN_REJECTIONS])
def test_a_pattern_re2_refuses_is_a_metadata_error(name: str, selector: str) -> None:
    with pytest.raises(MetadataError) as err:
        parse_trigger_metadata({"podSelector": selector})
    assert str(err.value) == (
        f"trigger metadata key 'podSelector' has invalid value {shown(selector)}; allowed: comma-separated label "
        "pairs 'key=value,...' or 'regex:<pattern>' matched against pod names"
    )
