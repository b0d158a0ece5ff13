"""Every `gpuscale` command line in the README and docs/ parses with the CLI as it is today.

Documentation drifts: an option renamed in code stays in a copy-pasted example. Each command is parsed
by the real click command (options, choices, ranges, files that must exist) without running it; what
the README's "Bring your own trace" commands produce is run by tests/integration/test_readme_commands.py.
"""

from __future__ import annotations

import shlex
from typing import Any

import pytest
import typer

from simulations.cli import app
from tests.support.docs import ROOT, VARIABLES, documented_commands, without_optional_groups

COMMANDS = documented_commands()


def test_the_pages_have_commands_to_check() -> None:
    assert len(COMMANDS) >= 10


@pytest.mark.parametrize(("where", "command"), COMMANDS, ids=[where for where, _ in COMMANDS])
def test_a_documented_command_parses(where: str, command: str, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(ROOT)
    for name, value in VARIABLES.items():
        command = command.replace(name, value)
    args = shlex.split(without_optional_groups(command))
    group: Any = typer.main.get_command(app)  # typer's own click group
    with group.make_context("gpuscale", list(args)) as ctx:
        name, sub, rest = group.resolve_command(ctx, list(args))
        assert sub is not None, f"{where}: no command {name!r}"
        sub.make_context(name or "", rest, parent=ctx)
