"""Option errors that name the value and what is allowed.

Recent Typer validates option values with pydantic, whose messages ("Input should be greater than or
equal to 8") name neither the value given nor the whole range, so a user cannot tell which of several
numbers was wrong. The CLI's group rewrites those into "'6'; allowed: an integer from 8 to 100000".
Older Typer (Click's own range types) already names both and is left as it is.
"""

from __future__ import annotations

from enum import Enum
from typing import Any

import typer
from pydantic import ValidationError
from typer.core import TyperGroup

from scaler.cli_help import hide_flag_types

try:  # Typer 0.2x vendors Click; older Typer raises Click's own exceptions
    from typer._click.exceptions import UsageError
except ImportError:  # pragma: no cover - older Typer
    from click.exceptions import UsageError  # type: ignore[assignment]
from scaler.validation import shown

_BOUND_KEYS = ("ge", "gt", "le", "lt")


def _kind(error: dict[str, Any]) -> str:
    """'an integer' or 'a number', from the error's type or the type of the bound it broke."""
    kind = str(error.get("type", ""))
    if kind.startswith("int_"):
        return "an integer"
    if kind.startswith("float_"):
        return "a number"
    bounds = [v for k, v in (error.get("ctx") or {}).items() if k in _BOUND_KEYS]
    return "an integer" if bounds and all(isinstance(b, int) for b in bounds) else "a number"


def _number(value: Any) -> str:
    return f"{value:g}" if isinstance(value, float) else str(value)


def _range(kind: str, low: Any, high: Any) -> str:
    if low is not None and high is not None:
        return f"{kind} from {_number(low)} to {_number(high)}"
    if low is not None:
        return f"{kind} of at least {_number(low)}"
    if high is not None:
        return f"{kind} of at most {_number(high)}"
    return kind


def _choices(param: Any) -> list[str]:
    """The values an enum option takes (Typer 0.2x keeps the annotation; older Typer a Click Choice)."""
    annotation = getattr(getattr(param, "type_descriptor", None), "annotation", None)
    if isinstance(annotation, type) and issubclass(annotation, Enum):
        return [str(member.value) for member in annotation]
    return [str(getattr(c, "value", c)) for c in getattr(getattr(param, "type", None), "choices", None) or ()]


def explain_bad_parameter(exc: typer.BadParameter) -> str | None:
    """The value and what is allowed, for an error pydantic raised; ``None`` to keep the message."""
    cause = exc.__cause__
    if not isinstance(cause, ValidationError) or not cause.errors():
        return None
    error: dict[str, Any] = dict(cause.errors(include_url=False)[0])
    choices = _choices(exc.param)
    if choices:
        return f"{shown(error.get('input'))}; allowed: one of {', '.join(choices)}"
    if error.get("type") == "value_error":
        return None
    bounds: dict[str, Any] = error.get("ctx") or {}
    # The option's declared range when Typer keeps it (min/max), else the bound that was broken.
    low = getattr(exc.param, "min", None)
    high = getattr(exc.param, "max", None)
    low = low if low is not None else bounds.get("ge", bounds.get("gt"))
    high = high if high is not None else bounds.get("le", bounds.get("lt"))
    return f"{shown(error.get('input'))}; allowed: {_range(_kind(error), low, high)}"


class ExplainingGroup(TyperGroup):
    """The CLI's command group: a subcommand's bad option value is reported with the value and the range,
    every usage error as one ``error:`` line (no box), and no flag's help shows a type (``scaler.cli_help``)."""

    def get_params(self, ctx: Any) -> Any:
        params = super().get_params(ctx)
        hide_flag_types(params)
        return params

    def get_command(self, ctx: Any, cmd_name: str) -> Any:
        command = super().get_command(ctx, cmd_name)
        if command is not None:
            hide_flag_types(command.get_params(ctx))
        return command

    def invoke(self, ctx: Any) -> Any:
        try:
            return super().invoke(ctx)
        except UsageError as exc:
            if isinstance(exc, typer.BadParameter):
                better = explain_bad_parameter(exc)
                if better is not None:
                    exc = typer.BadParameter(better, ctx=exc.ctx, param=exc.param)
            # One shape for every error the CLI prints: an "error:" line, as the commands' own checks do.
            path = exc.ctx.command_path if exc.ctx is not None else ctx.command_path
            typer.echo(f"error: {exc.format_message()}\nTry '{path} --help' for help.", err=True)
            raise typer.Exit(2) from None
