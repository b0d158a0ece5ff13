"""gpuscale's search space and parameter sets, generated from the knobs declared on ``PolicySpec``.

The tuner never names a gpuscale knob itself: each knob with a ``Search`` becomes one searched
dimension (a group, such as ``utilization``, one dimension for all its members), with its bounds
resolved against the replica profile. A searched point becomes a ``PolicySpec`` here too, so the
meaning of ``off_above`` and of a group lives in one place.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, ClassVar

from scaler.knobs import Bound, KnobField, Scale, Scaled
from scaler.policy import POLICY_KNOBS
from simulations.profiles import ReplicaProfile, TokenDemand


@dataclass(frozen=True)
class Dimension:
    """One searched coordinate: a knob, or a group of knobs set as a fraction of their scales."""

    name: str
    low: float
    high: float
    log: bool
    integer: bool
    members: tuple[KnobField, ...]

    @property
    def is_group(self) -> bool:
        return self.members[0].name != self.name


@dataclass(frozen=True)
class Sizing:
    """The token lengths a tuned setting's ``utilization`` is measured at: a fraction of what one replica
    sustains with these contexts and prompts.

    The tuner takes them from its training windows and writes them into every parameter set it makes,
    so the same fraction means the same token targets on the training windows, the held-out ones and in
    the exported policy file. Without them a fraction is of the context-free rates (a parameter set
    written before sizing existed keeps its meaning). Where context costs nothing and the KV cache holds
    half a batch (the older profiles, short contexts) the two are the same.
    """

    context_tokens: float  # the context an output token is decoded with, on average
    prompt_tokens: float  # the token-weighted mean prompt length (each token pays its prompt's attention)

    PARAMS: ClassVar[tuple[str, str]] = ("sized_for_context_tokens", "sized_for_prompt_tokens")

    @classmethod
    def of(cls, mixes: Iterable[TokenDemand]) -> Sizing:
        """The sizing of several workloads' token mixes taken together."""
        prompt = output = prompt_sq = context = 0.0
        for mix in mixes:
            prompt += float(mix.prompt_tps)
            output += float(mix.output_tps)
            prompt_sq += float(mix.prompt_sq_tps)
            context += float(mix.context_tps)
        return cls(context / output if output > 0 else 0.0, prompt_sq / prompt if prompt > 0 else 0.0)

    def demand(self) -> TokenDemand:
        """One request a second of these lengths: what ``ReplicaProfile.capacity_for`` sizes a replica for."""
        return TokenDemand(1.0, 1.0, self.prompt_tokens, self.context_tokens)

    def as_params(self) -> dict[str, float]:
        return dict(zip(self.PARAMS, (round(self.context_tokens, 1), round(self.prompt_tokens, 1)), strict=True))

    @classmethod
    def from_params(cls, params: Mapping[str, Any]) -> Sizing | None:
        """The sizing a parameter set carries, or None (a fraction of the context-free rates)."""
        if not any(name in params for name in cls.PARAMS):
            return None
        values = []
        for name in cls.PARAMS:
            value = params.get(name)
            if not isinstance(value, (int, float)) or not 0 <= value < 1e8:
                raise ValueError(f"{name} has invalid value {value!r}; allowed: a number of tokens from 0 to 1e8")
            values.append(float(value))
        return cls(*values)


def profile_scales(profile: ReplicaProfile, max_floor: int, sizing: Sizing | None = None) -> dict[Scale, float]:
    """The quantities search bounds are multiples of, for one replica profile (at ``sizing``'s token lengths)."""
    context = 0.0 if sizing is None else sizing.context_tokens
    batch = min(profile.max_num_seqs / 2, float(profile.full_batch(context)))
    prefill = profile.prefill_tokens_per_s if sizing is None else profile.capacity_for(sizing.demand()).prompt_tps
    return {
        Scale.MAX_NUM_SEQS: float(profile.max_num_seqs),
        Scale.DECODE_TPS: profile.decode_tps(batch, context),
        Scale.PREFILL_TPS: prefill,
        Scale.FLOOR: float(max(2, max_floor)),
    }


def _resolve(bound: Bound, scales: Mapping[Scale, float]) -> float:
    return bound.factor * scales[bound.scale] if isinstance(bound, Scaled) else float(bound)


def dimensions(scales: Mapping[Scale, float], knobs: Sequence[KnobField] = POLICY_KNOBS) -> list[Dimension]:
    """Every searched dimension of gpuscale: groups first, then single knobs in declaration order, the
    replica floor (the one knob every tuned policy shares) last."""
    groups: dict[str, list[KnobField]] = {}
    singles: list[Dimension] = []
    floors: list[Dimension] = []
    for field in knobs:
        search = field.knob.search
        if search is None:
            continue
        if search.group is not None:
            groups.setdefault(search.group, []).append(field)
            continue
        dim = Dimension(
            field.name,
            _resolve(search.low, scales),
            _resolve(search.high, scales),
            search.log,
            search.integer,
            (field,),
        )
        is_floor = isinstance(search.high, Scaled) and search.high.scale is Scale.FLOOR
        (floors if is_floor else singles).append(dim)
    grouped = [_group_dimension(name, members) for name, members in groups.items()]
    return [*grouped, *singles, *floors]


def _group_dimension(name: str, members: list[KnobField]) -> Dimension:
    """A group's coordinate is the fraction of each member's scale; every member must declare the same."""
    fractions = set()
    for field in members:
        search = field.knob.search
        assert search is not None
        if not (isinstance(search.low, Scaled) and isinstance(search.high, Scaled)):
            raise ValueError(f"knob {field.name} is in group {name!r} but its search bounds are not scaled")
        fractions.add((search.low.factor, search.high.factor, search.log))
    if len(fractions) != 1:
        raise ValueError(f"the knobs of group {name!r} declare different ranges: {sorted(fractions)}")
    ((low, high, log),) = fractions
    return Dimension(name, low, high, log, False, tuple(members))


#: Parameters every tuned policy takes besides its own knobs (``policies.with_common_params``).
COMMON_PARAMS = frozenset({"min_replicas", "max_replicas", "scale_down_window_s"})


def known_params() -> list[str]:
    """Every parameter name a gpuscale parameter set may hold."""
    groups = {f.knob.search.group for f in POLICY_KNOBS if f.knob.search is not None and f.knob.search.group}
    return sorted({f.name for f in POLICY_KNOBS} | {g for g in groups if g} | COMMON_PARAMS | set(Sizing.PARAMS))


def spec_updates(params: Mapping[str, Any], scales: Mapping[Scale, float]) -> dict[str, Any]:
    """The PolicySpec fields a parameter set means (the floor and ceiling excepted: they come with the
    replay's context). A misspelt parameter is an error, never silently ignored."""
    unknown = sorted(set(params) - set(known_params()))
    if unknown:
        raise ValueError(f"unknown gpuscale parameter(s) {', '.join(unknown)}; known: {', '.join(known_params())}")
    updates: dict[str, Any] = {}
    for field in POLICY_KNOBS:
        search = field.knob.search
        if search is not None and search.group is not None and search.group in params:
            assert isinstance(search.high, Scaled)
            updates[field.name] = float(params[search.group]) * scales[search.high.scale]
        if field.name not in params or field.name in COMMON_PARAMS:
            continue
        value = params[field.name]
        if search is not None and search.off_above is not None and value is not None and value > search.off_above:
            value = None
        updates[field.name] = value
    return updates
