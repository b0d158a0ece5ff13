"""History for a real Prometheus: OpenMetrics text turned into TSDB blocks by promtool."""

from __future__ import annotations

import shutil
import subprocess
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path


@dataclass(frozen=True)
class Series:
    family: str  # e.g. "vllm:generation_tokens" (a counter's samples are named family + "_total")
    kind: str  # "counter" or "gauge"
    labels: dict[str, str]
    points: Sequence[tuple[float, float]]  # (unix seconds, value), time-ordered


def write_openmetrics(path: Path, series: Sequence[Series]) -> None:
    lines: list[str] = []
    families: dict[str, list[Series]] = {}
    for s in series:
        families.setdefault(s.family, []).append(s)
    for family, members in families.items():
        kind = members[0].kind
        lines += [f"# HELP {family} backfilled", f"# TYPE {family} {kind}"]
        name = f"{family}_total" if kind == "counter" else family
        for s in members:
            labels = ",".join(f'{k}="{v}"' for k, v in sorted(s.labels.items()))
            lines += [f"{name}{{{labels}}} {v} {t:.3f}" for t, v in s.points]
    lines.append("# EOF")
    path.write_text("\n".join(lines) + "\n")


def create_blocks(openmetrics: Path, data_dir: Path) -> None:
    promtool = shutil.which("promtool")
    if promtool is None:
        raise RuntimeError("promtool is not on PATH: install Debian's prometheus package")
    data_dir.mkdir(parents=True, exist_ok=True)
    subprocess.run(
        [promtool, "tsdb", "create-blocks-from", "openmetrics", str(openmetrics), str(data_dir)],
        check=True,
        capture_output=True,
    )
