"""The shipped Grafana dashboard's queries, its variables set as a user would pick them."""

from __future__ import annotations

import json
import re
from pathlib import Path

DASHBOARD = Path(__file__).resolve().parents[2] / "deploy" / "monitoring" / "grafana" / "gpuscale-dashboard.json"


def dashboard_queries(namespace: str, scaled_object: str, rate_interval: str = "20s") -> list[str]:
    """Every panel's query in order, with ``$namespace``, ``$scaledobject`` and ``$__rate_interval`` set."""
    panels = json.loads(DASHBOARD.read_text())["panels"]
    values = {"namespace": namespace, "scaledobject": scaled_object, "__rate_interval": rate_interval}
    return [
        re.sub(r"\$\{?(\w+)\}?", lambda m: values[m.group(1)], target["expr"])
        for panel in panels
        for target in panel["targets"]
    ]
