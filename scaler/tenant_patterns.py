"""Regular expressions on tenant input, in RE2: linear time whatever the pattern or the text.

A ScaledObject's metadata is written by whoever may create one. Python's ``re`` backtracks, so one
pattern such as ``(.|.)*!`` held the collector for minutes and every other tenant with it. RE2 (the
engine Prometheus itself uses for ``=~``) has no backtracking, and a pod-name pattern has the same
meaning here as in a PromQL matcher.
"""

from __future__ import annotations

import re2

#: Longest pod-name pattern a trigger may give: enough for any real selector, small enough that RE2's
#: compiled program stays tiny.
MAX_POD_PATTERN = 256
#: Memory RE2 may use for one compiled pattern (its default is 8 MiB).
_MAX_MEM = 1 << 20


def _options() -> re2.Options:
    options = re2.Options()
    options.log_errors = False  # a tenant's bad pattern is their error, reported to them, not logged by RE2
    options.max_mem = _MAX_MEM
    return options


def tenant_pattern(pattern: str) -> re2._Regexp:
    """One of our own patterns, compiled for matching tenant input (use ``fullmatch``)."""
    return re2.compile(pattern, _options())


class PodNamePattern:
    """A tenant's pod-name pattern (``podSelector: regex:...``), matched against whole pod names."""

    def __init__(self, pattern: str) -> None:
        if not pattern:
            raise ValueError("empty regex")
        if len(pattern) > MAX_POD_PATTERN:
            raise ValueError(f"regex longer than {MAX_POD_PATTERN} characters")
        try:
            self._compiled = re2.compile(pattern, _options())
        except re2.error as exc:  # not a ValueError: pydantic would let it escape as a crash
            raise ValueError(f"bad regex: {_reason(exc)}") from None
        self.pattern = pattern

    def fullmatch(self, name: str) -> bool:
        return self._compiled.fullmatch(name) is not None

    def __eq__(self, other: object) -> bool:
        return isinstance(other, PodNamePattern) and other.pattern == self.pattern

    def __hash__(self) -> int:
        return hash(self.pattern)

    def __repr__(self) -> str:
        return f"PodNamePattern({self.pattern!r})"


def _reason(exc: Exception) -> str:
    reason = exc.args[0] if exc.args else exc
    return reason.decode(errors="replace") if isinstance(reason, bytes) else str(reason)
