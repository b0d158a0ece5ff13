"""The one line a pydantic validation error becomes in our messages: where, what, and the value given."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from pydantic import ValidationError


def first_error(exc: ValidationError) -> tuple[str, str, Any]:
    """(dotted field path, message, the value given) of the first error. The path is empty for a rule
    across fields, whose message names them; a path given as a value reads as the user typed it."""
    first = exc.errors()[0]
    message = str(first["msg"]).removeprefix("Value error, ")
    where = ".".join(str(p) for p in first["loc"])
    got = first.get("input")
    return where, message, str(got) if isinstance(got, Path) else got
