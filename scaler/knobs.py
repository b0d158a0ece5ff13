"""Each policy knob declared once, beside its ``PolicySpec`` field.

A knob's name (the policy file key), type, bounds, default and help text are the pydantic field; the
``Knob`` in the same ``Annotated`` adds what pydantic cannot say: its trigger-metadata key, the word
that stands for ``None`` (``off``, ``auto``), and the range the tuner searches. Trigger parsing, the
policy file's schema, the tuner's search space, ``gpuscale trigger-keys`` and the README's key table
are all generated from these declarations, so they cannot disagree.
"""

from __future__ import annotations

import types
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from enum import StrEnum
from functools import cache
from typing import TYPE_CHECKING, Annotated, Any, Union, get_args, get_origin

import annotated_types
from pydantic import TypeAdapter, ValidationError

if TYPE_CHECKING:
    from pydantic.fields import FieldInfo


class Scale(StrEnum):
    """A quantity a search bound is a multiple of; the tuner supplies its value for the replica profile."""

    MAX_NUM_SEQS = "max_num_seqs"  # requests one replica batches at once
    # generated tokens/s one replica serves at half its batch (fewer when the tuned-on contexts fill its KV cache)
    DECODE_TPS = "decode_tps"
    PREFILL_TPS = "prefill_tps"  # prompt tokens/s one replica prefills (prompts of the tuned-on length)
    FLOOR = "floor"  # the largest replica floor worth trying (from the fixed fleet that meets the SLO)


@dataclass(frozen=True)
class Scaled:
    """A search bound of ``factor`` times a profile quantity (a per-replica target scales with the replica)."""

    factor: float
    scale: Scale


Bound = float | Scaled


@dataclass(frozen=True)
class Search:
    """The range the tuner searches for a knob.

    ``off_above``: a searched value above it means the knob's ``None`` ("off"), so that off is a point of
    the range. ``group``: knobs of one group move together as one searched coordinate named after the
    group, a fraction of each member's scale (``utilization`` sets both token targets).
    """

    low: Bound
    high: Bound
    log: bool = False
    integer: bool = False
    off_above: float | None = None
    group: str | None = None


@dataclass(frozen=True)
class Knob:
    """What a ``PolicySpec`` field needs beyond pydantic's own metadata.

    ``key``: its trigger-metadata key (None: settable in a policy file only). ``none_word``: the word a
    trigger writes for ``None`` and ``none_means`` what that does. ``choices``: the names a string knob
    accepts (a registry's, read when asked). ``unit``: how a number is described to the user.
    """

    key: str | None = None
    none_word: str | None = None
    none_means: str = ""
    search: Search | None = None
    choices: Callable[[], Sequence[str]] | None = None
    unit: str = ""


@dataclass(frozen=True)
class KnobField:
    """A declared knob: the ``PolicySpec`` field's name and pydantic info with its ``Knob``."""

    name: str
    info: FieldInfo
    knob: Knob

    @property
    def value_type(self) -> type:
        """The field's type without ``None`` (int, float or str)."""
        annotation = self.info.annotation
        if get_origin(annotation) in (Union, types.UnionType):
            (inner,) = [a for a in get_args(annotation) if a is not type(None)]
            return inner  # type: ignore[no-any-return]
        return annotation  # type: ignore[return-value]

    @property
    def nullable(self) -> bool:
        return get_origin(self.info.annotation) in (Union, types.UnionType)

    def bounds(self) -> tuple[float | None, float | None, bool, bool]:
        """(low, high, low exclusive, high exclusive) from the field's constraints."""
        low: float | None = None
        high: float | None = None
        low_open = high_open = False
        for item in self.info.metadata:
            if isinstance(item, annotated_types.Ge):
                low = float(item.ge)  # type: ignore[arg-type]
            elif isinstance(item, annotated_types.Gt):
                low, low_open = float(item.gt), True  # type: ignore[arg-type]
            elif isinstance(item, annotated_types.Le):
                high = float(item.le)  # type: ignore[arg-type]
            elif isinstance(item, annotated_types.Lt):
                high, high_open = float(item.lt), True  # type: ignore[arg-type]
        return low, high, low_open, high_open

    def allowed(self) -> str:
        """What a trigger may write for this knob, in words (quoted back on rejection)."""
        knob = self.knob
        if knob.choices is not None:
            text = "one of " + ", ".join(knob.choices())
        else:
            text = _number_text(self.value_type is int, *self.bounds(), knob.unit)
        if knob.none_word is not None:
            text = f"'{knob.none_word}' ({knob.none_means}) or {text}"
        return text

    def default_text(self) -> str:
        """The default as a trigger would write it."""
        default = self.info.default
        if default is None:
            return self.knob.none_word or "unset"
        if isinstance(default, float) and default.is_integer():
            return str(int(default))
        return str(default)

    def parse(self, text: str) -> Any:
        """A trigger's string as the field's value; ``ValueError`` when it is not allowed."""
        if self.knob.none_word is not None and text == self.knob.none_word:
            return None
        try:
            return _adapter(self)(text)
        except ValidationError:
            raise ValueError(self.allowed()) from None


def _format(value: float) -> str:
    return f"{value:g}" if abs(value) < 1e6 else f"{value:.0e}".replace("+0", "").replace("+", "")


def _number_text(
    integer: bool, low: float | None, high: float | None, low_open: bool, high_open: bool, unit: str
) -> str:
    noun = "an integer" if integer else ("seconds" if unit == "seconds" else "a number")
    suffix = f" ({unit})" if unit and unit != "seconds" else ""
    if low is not None and high is not None and not low_open and not high_open and high < 1e5:
        if noun == "seconds":
            return f"seconds {_format(low)}-{_format(high)}"
        joiner = "-" if integer else " to "
        lead = (
            f"{noun} {_format(low)}{joiner}{_format(high)}"
            if integer
            else f"{noun} from {_format(low)} to {_format(high)}"
        )
        return lead + suffix
    if low is not None and high is not None and low_open and high <= 1:
        return f"{noun} in ({_format(low)}, {_format(high)}]{suffix}"
    if low is not None:
        return f"{noun} {'>' if low_open else '>='} {_format(low)}{suffix}"
    return noun + suffix


@cache
def _adapter(knob: KnobField) -> Callable[[str], Any]:
    # Annotated built at run time: the field's type without None, with its constraints and validators.
    annotated: Any = Annotated.__class_getitem__((knob.value_type, *knob.info.metadata))  # type: ignore[attr-defined]
    return TypeAdapter(annotated).validate_python


def knob_fields(model: type[Any]) -> tuple[KnobField, ...]:
    """Every field of ``model`` declared with a ``Knob``, in declaration order."""
    out = []
    for name, info in model.model_fields.items():
        knobs = [m for m in info.metadata if isinstance(m, Knob)]
        if knobs:
            out.append(KnobField(name, info, knobs[0]))
    return tuple(out)


def by_trigger_key(fields: Sequence[KnobField]) -> Mapping[str, KnobField]:
    """Trigger key -> knob, for the knobs a trigger may set; a key declared twice raises."""
    out: dict[str, KnobField] = {}
    for field in fields:
        key = field.knob.key
        if key is None:
            continue
        if key in out:
            raise ValueError(f"trigger key {key!r} is declared by both {out[key].name} and {field.name}")
        out[key] = field
    return out
