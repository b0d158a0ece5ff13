"""The built-in default the demo replays: a bundled real trace and the policies' tuned settings."""

from __future__ import annotations

import json
from importlib import resources
from pathlib import Path
from typing import Any

#: The bundled Azure code trace peaks near two replicas of an 8B model; 10x makes a fleet worth scaling.
DEMO_RATE_SCALE = 10.0


def demo_trace_path() -> Path:
    return Path(str(resources.files("simulations") / "data" / "azure2023_code.csv.gz"))


def demo_params() -> dict[str, dict[str, Any]]:
    """Per-policy settings from ``data/demo-params.json`` (written by ``gpuscale tune``; the file
    records the command). Empty when absent: every policy then runs with its defaults."""
    path = Path(str(resources.files("simulations") / "data" / "demo-params.json"))
    if not path.is_file():
        return {}
    data = json.loads(path.read_text(encoding="utf-8"))
    return {name: dict(params) for name, params in data["params"].items()}
