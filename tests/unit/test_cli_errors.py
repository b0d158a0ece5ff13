"""Option values the CLI refuses are named with the value and the allowed range, whatever Typer's version."""

from __future__ import annotations

import pytest
import typer
from typer.testing import CliRunner

from scaler.cli_errors import explain_bad_parameter
from simulations.cli import app


@pytest.mark.parametrize(
    ("args", "message"),
    [
        pytest.param(
            ["tune", "--trace", "t.csv", "--budget", "6"],
            "Invalid value for '--budget': '6'; allowed: an integer from 8 to 100000",
            id="an integer below its range",
        ),
        pytest.param(
            ["tune", "--trace", "t.csv", "--budget", "many"],
            "Invalid value for '--budget': 'many'; allowed: an integer from 8 to 100000",
            id="not an integer",
        ),
        pytest.param(
            ["tune", "--trace", "t.csv", "--margin", "2"],
            "Invalid value for '--margin': '2'; allowed: a number from 0 to 0.9",
            id="a number above its range",
        ),
        pytest.param(
            ["simulate", "--trace", "t.csv", "--ttft-slo", "0"],
            "Invalid value for '--ttft-slo': '0'; allowed: a number of at least 0.001",
            id="a number with a lower bound only",
        ),
        pytest.param(
            ["simulate", "--trace", "t.csv", "--seed", "-1"],
            "Invalid value for '--seed': '-1'; allowed: an integer of at least 0",
            id="a negative seed",
        ),
        pytest.param(
            ["emulate", "--kv-cache-usage", "2"],
            "Invalid value for '--kv-cache-usage': '2'; allowed: a number from 0 to 1",
            id="a share above 1",
        ),
        pytest.param(
            ["serve", "--port", "x"],
            "Invalid value for '--port': 'x'; allowed: an integer",
            id="an unbounded integer",
        ),
        pytest.param(
            ["serve", "--log-level", "loud"],
            "Invalid value for '--log-level': 'loud'; allowed: one of debug, info, warning, error",
            id="a word outside a choice (was a 46-line traceback)",
        ),
        pytest.param(["simulate", "--nope", "1"], "No such option: --nope", id="an unknown option"),
    ],
)
def test_a_bad_option_value_is_named_with_what_is_allowed(args: list[str], message: str) -> None:
    """Every usage error is one ``error:`` line and a pointer to the help, as the commands' own checks are."""
    result = CliRunner().invoke(app, args, env={"COLUMNS": "200", "NO_COLOR": "1"})
    assert result.exit_code == 2
    assert result.output.splitlines() == [f"error: {message}", f"Try 'gpuscale {args[0]} --help' for help."]


def test_an_error_pydantic_did_not_raise_keeps_its_message() -> None:
    assert explain_bad_parameter(typer.BadParameter("'x' is not one of 'a', 'b'")) is None


@pytest.mark.parametrize(
    ("args", "option", "shown"),
    [
        pytest.param(["serve"], "--port", "gRPC port for KEDA [default: 6000]", id="a default in the help text"),
        pytest.param(
            ["tune"],
            "--search",
            "global search: de (scipy's differential evolution) or tpe (optuna's TPE; pip install 'gpuscale[tpe]')",
            id="an extra in brackets",
        ),
        pytest.param(["simulate"], "--workers", "replays run side by side [default: all local cores]", id="workers"),
    ],
)
def test_help_keeps_text_in_square_brackets(args: list[str], option: str, shown: str) -> None:
    """Rich markup would read "[default: 6000]" as a style tag and drop it from the help."""
    result = CliRunner().invoke(app, [*args, "--help"], env={"COLUMNS": "250", "NO_COLOR": "1"})
    assert result.exit_code == 0
    lines = [" ".join(line.strip("│ ").split()) for line in result.output.splitlines()]
    assert any(line.startswith(option) and line.endswith(shown) for line in lines), lines
