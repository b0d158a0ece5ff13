"""Shared by the benchmarks that replay one tuned setting: the case it belongs to and the setting itself."""

from __future__ import annotations

import argparse
import json
from typing import Any

from benchmarks.headline import CASES, Case


def case_named(parser: argparse.ArgumentParser, part: str) -> Case:
    """The one headline case whose name contains ``part``, or a usage error."""
    matches = [c for c in CASES if part in c.name]
    if len(matches) != 1:
        parser.error(f"CASE {part!r} must match exactly one of: " + ", ".join(repr(c.name) for c in CASES))
    return matches[0]


def setting(parser: argparse.ArgumentParser, text: str) -> dict[str, Any]:
    """A gpuscale setting given as JSON, or as the Python dict benchmarks/headline.py prints."""
    try:
        params = json.loads(text.replace("'", '"'))
    except json.JSONDecodeError as exc:
        parser.error(f"--params is not a JSON dict: {exc}")
    if not isinstance(params, dict):
        parser.error(f"--params is not a JSON dict: {params!r}")
    return params
