"""Help that shows a value's type only for options that take a value.

Typer 0.29 prints a type beside every option in help, flags included (``--json <bool>``, even
``--help <bool>``), which reads as if the flag wanted a value. An empty metavar makes it print
nothing there; options that take a value keep their type.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any


def hide_flag_types(params: Iterable[Any]) -> None:
    """Blank the type column of the flags among a command's ``params``, leaving other options alone."""
    for param in params:
        if getattr(param, "is_flag", False) and param.metavar is None:
            param.metavar = ""
