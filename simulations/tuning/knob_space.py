"""gpuscale's search space and parameter sets, generated from the knobs declared on ``PolicySpec``.

The tuner never names a gpuscale knob itself: each knob with a ``Search`` becomes one searched
dimension (a group, such as ``utilization``, one dimension for all its members), with its bounds
resolved against the replica profile. A searched point becomes a ``PolicySpec`` here too, so the
meaning of ``off_above`` and of a group lives in one place.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from scaler.knobs import Bound, KnobField, Scale, Scaled
from scaler.policy import POLICY_KNOBS
from simulations.profiles import ReplicaProfile


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


def profile_scales(profile: ReplicaProfile, max_floor: int) -> dict[Scale, float]:
    """The quantities search bounds are multiples of, for one replica profile."""
    return {
        Scale.MAX_NUM_SEQS: float(profile.max_num_seqs),
        Scale.DECODE_TPS: profile.decode_tps(profile.max_num_seqs / 2),
        Scale.PREFILL_TPS: profile.prefill_tokens_per_s,
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
    return sorted({f.name for f in POLICY_KNOBS} | {g for g in groups if g} | COMMON_PARAMS)


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
