"""The built-in default the demo replays: a bundled real trace and the policies' tuned settings."""

from __future__ import annotations

import json
from importlib import resources
from pathlib import Path
from typing import Any

#: The bundled Azure code trace peaks near two replicas of an 8B model; 10x makes a fleet worth scaling.
DEMO_RATE_SCALE = 10.0


def _data(name: str) -> Path:
    return Path(str(resources.files("simulations") / "data" / name))


def demo_trace_path() -> Path:
    return _data("azure2023_code.csv.gz")


def demo_tuning() -> dict[str, Any] | None:
    """The tuning run behind the demo (``data/demo-tuning.json``, written by ``gpuscale tune`` on
    the first 70 % of the bundled trace; its ``command`` says how). ``None`` when absent."""
    path = _data("demo-tuning.json")
    if not path.is_file():
        return None
    data: dict[str, Any] = json.loads(path.read_text(encoding="utf-8"))
    return data


def demo_params() -> dict[str, dict[str, Any]]:
    """Each policy's tuned settings; empty (every policy on its defaults) without the tuning file."""
    tuning = demo_tuning()
    if tuning is None:
        return {}
    return {name: dict(t["params"]) for name, t in tuning["policies"].items()}
