"""The one line a pydantic validation error becomes in our messages: where, what, and the value given."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from pydantic import ValidationError

#: Characters of a value quoted in a message: enough to recognise it, not a whole file that was not YAML.
SHOWN_CHARS = 80


def shown(value: Any) -> str:
    """``repr`` of a value for a message, cut to SHOWN_CHARS; a path reads as the user typed it."""
    text = repr(str(value) if isinstance(value, Path) else value)
    return text if len(text) <= SHOWN_CHARS else text[: SHOWN_CHARS - 3] + "..."


def first_error(exc: ValidationError) -> tuple[str, str, str]:
    """(dotted field path, message, the value given as ``shown``) of the first error. The path is empty
    for a rule across fields, whose message names them."""
    first = exc.errors()[0]
    message = str(first["msg"]).removeprefix("Value error, ")
    where = ".".join(str(p) for p in first["loc"])
    return where, message, shown(first.get("input"))
