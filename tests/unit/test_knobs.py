"""Each knob declared once: trigger parsing, policy file, tuner space and docs all agree with it."""

from __future__ import annotations

import re
from collections.abc import Callable
from pathlib import Path
from typing import Annotated

import numpy as np
import pytest
from pydantic import BaseModel
from typer.testing import CliRunner

from scaler.knobs import Knob, Scale, Scaled, Search, knob_fields
from scaler.metadata import known_keys, parse_trigger_metadata, resolve_policy
from scaler.policy import POLICY_KNOBS, TRIGGER_KNOBS, PolicySpec
from scaler.policy_file import PolicyFile, dump_policy_file, load_policy_file
from scaler.trigger_keys import markdown_table, policy_file_rows
from simulations.cli import app
from simulations.policies.controllers import PolicyContext, gpuscale_spec
from simulations.profiles import ReplicaProfile, TokenDemand, load_profile
from simulations.traces.workload import TraceWorkload
from simulations.tuning.knob_space import Sizing, dimensions, profile_scales, spec_updates
from simulations.tuning.tuner import search_space

ROOT = Path(__file__).resolve().parents[2]
PROFILE = load_profile("llama3-8b-h100")
CALIBRATED = load_profile("llama3-8b-h100-vidur")
NO_REQUESTS = TraceWorkload("none", np.array([]), np.array([], np.int64), np.array([], np.int64))


def test_every_policy_field_is_a_declared_knob() -> None:
    assert [k.name for k in POLICY_KNOBS] == list(PolicySpec.model_fields)


def test_every_trigger_key_parses_its_own_default_back_to_the_default() -> None:
    for key, knob in TRIGGER_KNOBS.items():
        meta = parse_trigger_metadata({"deployment": "a", key: knob.default_text()})
        assert resolve_policy(meta, PolicySpec()) == PolicySpec(), key


def test_every_trigger_key_rejects_a_value_past_its_bound_with_the_declared_words() -> None:
    for key, knob in TRIGGER_KNOBS.items():
        _, high, _, _ = knob.bounds()
        if high is None:
            continue
        with pytest.raises(ValueError) as err:
            parse_trigger_metadata({"deployment": "a", key: str(high * 10 + 1)})
        assert str(err.value).endswith(f"; allowed: {knob.allowed()}"), key


def test_the_trigger_key_set_is_routing_keys_plus_declared_knobs() -> None:
    assert set(TRIGGER_KNOBS) <= set(known_keys())
    assert "maxHoldSeconds" in TRIGGER_KNOBS and "inflightPanicRatio" not in known_keys()


def test_the_policy_file_schema_is_the_policy_spec(tmp_path: Path) -> None:
    spec = PolicySpec(queue_drain_s=30, scale_down_forecast_quantile=0.8, min_replicas=2)
    path = tmp_path / "p.yaml"
    path.write_text(dump_policy_file(PolicyFile(name="p", policy=spec)), encoding="utf-8")
    assert load_policy_file(path).policy == spec


def test_a_policy_file_with_an_unknown_forecast_model_is_refused() -> None:
    with pytest.raises(ValueError, match="unknown forecast model 'prophet'; known: autoregressive"):
        PolicySpec(forecast_model="prophet")


def test_the_tuners_space_is_the_declared_searches_in_order() -> None:
    space = search_space("gpuscale", PROFILE, 20)
    searched = [k for k in POLICY_KNOBS if k.knob.search is not None]
    grouped = {k.knob.search.group for k in searched if k.knob.search and k.knob.search.group}
    assert [p.name for p in space] == [
        *sorted(grouped),
        *[k.name for k in searched if not k.knob.search.group and k.name != "min_replicas"],  # type: ignore[union-attr]
        "min_replicas",
    ]
    by_name = {p.name: p for p in space}
    assert (by_name["target_queue_per_replica"].low, by_name["target_queue_per_replica"].high) == (1.0, 256.0)
    assert (by_name["min_replicas"].high, by_name["min_replicas"].integer) == (20.0, True)
    for policy in ("hpa-gpu", "keda-queue", "keda-kv", "knative"):
        assert search_space(policy, PROFILE, 20)[-1] == by_name["min_replicas"], policy


def test_a_searched_value_above_off_above_means_off() -> None:
    context = PolicyContext(profile=PROFILE, workload=NO_REQUESTS, max_replicas=40)
    assert gpuscale_spec(context, {"scale_down_forecast_quantile": 0.995}).scale_down_forecast_quantile is None
    assert gpuscale_spec(context, {"scale_down_forecast_quantile": 0.8}).scale_down_forecast_quantile == 0.8


def test_utilization_sets_both_token_targets_as_a_share_of_capacity() -> None:
    scales = profile_scales(PROFILE, 10)
    updates = spec_updates({"utilization": 0.5}, scales)
    assert updates == {
        "target_generation_tps_per_replica": 0.5 * scales[Scale.DECODE_TPS],
        "target_prompt_tps_per_replica": 0.5 * scales[Scale.PREFILL_TPS],
    }


def test_without_a_sizing_utilization_is_a_share_of_half_a_batch_without_context() -> None:
    scales = profile_scales(CALIBRATED, 10)
    assert scales[Scale.DECODE_TPS] == CALIBRATED.decode_tps(CALIBRATED.max_num_seqs / 2)
    assert scales[Scale.PREFILL_TPS] == CALIBRATED.prefill_tokens_per_s


@pytest.mark.parametrize(
    ("profile", "sizing", "decode_batch"),
    [
        # context and prompt length cost nothing, and 2,000-token contexts leave room for half a batch: as before
        (PROFILE, Sizing(2_000.0, 3_000.0), None),
        # the calibrated profile at 2,000-token contexts: half a batch, decoding those contexts
        (CALIBRATED, Sizing(2_000.0, 3_000.0), CALIBRATED.max_num_seqs / 2),
        # 13,000-token contexts fill the KV cache before half a batch: the batch that fits
        (CALIBRATED, Sizing(13_000.0, 12_000.0), CALIBRATED.kv_capacity_tokens / 13_000.0),
        (PROFILE, Sizing(13_000.0, 12_000.0), PROFILE.kv_capacity_tokens / 13_000.0),
    ],
)
def test_a_sizing_scales_utilization_to_what_a_replica_sustains_at_those_token_lengths(
    profile: ReplicaProfile, sizing: Sizing, decode_batch: float | None
) -> None:
    scales = profile_scales(profile, 10, sizing)
    plain = profile_scales(profile, 10)
    if decode_batch is None:
        assert scales == plain
        return
    assert scales[Scale.DECODE_TPS] == pytest.approx(profile.decode_tps(decode_batch, sizing.context_tokens), rel=1e-12)
    assert scales[Scale.DECODE_TPS] < plain[Scale.DECODE_TPS]
    expected_prefill = (
        1.0 / (1.0 / profile.prefill_tokens_per_s + profile.prefill_attention_s_per_token2 * sizing.prompt_tokens)
        if profile.prefill_attention_s_per_token2
        else profile.prefill_tokens_per_s
    )
    assert scales[Scale.PREFILL_TPS] == pytest.approx(expected_prefill, rel=1e-12)


def test_the_sizing_of_several_windows_is_of_their_requests_together() -> None:
    short = TokenDemand.of_requests(np.array([100.0]), np.array([10.0]), 1.0)
    long = TokenDemand.of_requests(np.array([1_000.0, 3_000.0]), np.array([30.0, 60.0]), 1.0)
    sizing = Sizing.of([short, long])
    outputs = 10.0 + 30.0 + 60.0
    contexts = 10 * (100 + 5) + 30 * (1_000 + 15) + 60 * (3_000 + 30)
    assert sizing.context_tokens == pytest.approx(contexts / outputs, rel=1e-12)
    assert sizing.prompt_tokens == pytest.approx((100**2 + 1_000**2 + 3_000**2) / 4_100, rel=1e-12)
    assert Sizing.of([]) == Sizing(0.0, 0.0)


def test_a_parameter_set_carries_its_sizing_and_a_bad_one_is_refused() -> None:
    sizing = Sizing(13_126.04, 9_000.0)
    params = {"utilization": 0.5, **sizing.as_params()}
    assert params["sized_for_context_tokens"] == 13_126.0  # rounded to a tenth of a token
    assert Sizing.from_params(params) == Sizing(13_126.0, 9_000.0)
    assert Sizing.from_params({"utilization": 0.5}) is None
    context = PolicyContext(profile=CALIBRATED, workload=NO_REQUESTS)
    spec = gpuscale_spec(context, params)
    decode = profile_scales(CALIBRATED, 100, Sizing(13_126.0, 9_000.0))[Scale.DECODE_TPS]
    assert spec.target_generation_tps_per_replica == 0.5 * decode
    with pytest.raises(
        ValueError, match=r"^sized_for_prompt_tokens has invalid value None; allowed: a number of tokens from 0 to 1e8$"
    ):
        gpuscale_spec(context, {"utilization": 0.5, "sized_for_context_tokens": 100.0})
    with pytest.raises(ValueError, match=r"^sized_for_context_tokens has invalid value -1.0; allowed: "):
        gpuscale_spec(context, {"sized_for_context_tokens": -1.0, "sized_for_prompt_tokens": 5.0})


def test_a_misspelt_parameter_is_an_error_not_ignored() -> None:
    context = PolicyContext(profile=PROFILE, workload=NO_REQUESTS)
    with pytest.raises(ValueError, match=r"^unknown gpuscale parameter\(s\) forecast_quantil; known: "):
        gpuscale_spec(context, {"forecast_quantil": 0.7})


class _NotKnobs(BaseModel):
    a: float = 1.0


class _SplitGroup(BaseModel):
    a: Annotated[float, Knob(search=Search(Scaled(0.2, Scale.DECODE_TPS), Scaled(1, Scale.DECODE_TPS), group="g"))] = 1
    b: Annotated[
        float, Knob(search=Search(Scaled(0.1, Scale.PREFILL_TPS), Scaled(1, Scale.PREFILL_TPS), group="g"))
    ] = 1


def test_a_field_without_a_knob_is_not_a_knob() -> None:
    assert knob_fields(_NotKnobs) == ()


def test_a_group_whose_members_disagree_is_refused() -> None:
    with pytest.raises(ValueError, match=r"^the knobs of group 'g' declare different ranges"):
        dimensions(profile_scales(PROFILE, 10), knob_fields(_SplitGroup))


def _block(path: str, name: str) -> str:
    text = (ROOT / path).read_text(encoding="utf-8")
    match = re.search(rf"<!-- {name}:begin -->\n(.*?)<!-- {name}:end -->", text, re.S)
    assert match, f"{path} has no generated {name} table"
    return match.group(1)


GENERATED = [
    ("README.md", "trigger-keys-short", lambda: markdown_table(allowed=False)),
    ("docs/configuration.md", "trigger-keys", markdown_table),
    ("docs/configuration.md", "policy-file-knobs", lambda: markdown_table(policy_file_rows())),
]


@pytest.mark.parametrize(("path", "name", "table"), GENERATED, ids=[f"{g[0]}:{g[1]}" for g in GENERATED])
def test_the_docs_key_tables_are_the_generated_ones(path: str, name: str, table: Callable[[], str]) -> None:
    assert _block(path, name) == table(), "run: scripts/docs-tables"


def test_the_cli_prints_the_same_table() -> None:
    result = CliRunner().invoke(app, ["trigger-keys", "--markdown"])
    assert result.exit_code == 0
    assert result.output == markdown_table()
