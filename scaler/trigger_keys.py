"""The trigger keys as a table, generated from their declarations (README, ``gpuscale trigger-keys``).

Routing keys (which workload, where its metrics are) are declared on ``TriggerMetadata``; policy knobs
on ``PolicySpec``. A test keeps the README's table equal to ``markdown_table()``.
"""

from __future__ import annotations

from dataclasses import dataclass

from scaler.metadata import TriggerMetadata
from scaler.policy import POLICY_KNOBS


@dataclass(frozen=True)
class KeyRow:
    key: str
    default: str
    allowed: str
    meaning: str


def key_rows() -> list[KeyRow]:
    """Every trigger key: the routing keys first, then the policy knobs in declaration order."""
    rows = []
    for name, info in TriggerMetadata.model_fields.items():
        if name == "overrides":
            continue
        extra = info.json_schema_extra if isinstance(info.json_schema_extra, dict) else {}
        default = "—" if info.default is None else str(info.default)
        rows.append(KeyRow(info.alias or name, default, str(extra.get("allowed", "")), info.description or ""))
    for field in POLICY_KNOBS:
        if field.knob.key is not None:
            rows.append(KeyRow(field.knob.key, field.default_text(), field.allowed(), field.info.description or ""))
    return rows


def policy_file_rows() -> list[KeyRow]:
    """The knobs only a policy file sets (no trigger key)."""
    return [
        KeyRow(f.name, f.default_text(), f.allowed(), f.info.description or "")
        for f in POLICY_KNOBS
        if f.knob.key is None
    ]


def _cell(text: str) -> str:
    return text.replace("|", "\\|")


def markdown_table(rows: list[KeyRow] | None = None, allowed: bool = True) -> str:
    """The rows as a Markdown table: key, default, allowed values (unless ``allowed`` is off), meaning."""
    if allowed:
        lines = ["| key | default | allowed | meaning |", "|---|---|---|---|"]
    else:
        lines = ["| key | default | meaning |", "|---|---|---|"]
    for row in key_rows() if rows is None else rows:
        cells = [f"`{row.key}`", _cell(row.default), *([_cell(row.allowed)] if allowed else []), _cell(row.meaning)]
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines) + "\n"
