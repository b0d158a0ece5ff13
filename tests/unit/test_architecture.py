"""The import rules of ../shared/DESIGN.md, read from every module's own imports (function-level included)."""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
PACKAGES = ("predictors", "scaler", "emulation", "simulations", "benchmarks", "lab")
#: package -> the packages of ours it must never import
FORBIDDEN = {
    "predictors": {"scaler", "emulation", "simulations", "benchmarks", "lab"},
    "scaler": {"emulation", "simulations", "benchmarks", "lab"},
    # the demo tooling drives the scaler; the simulator offers it as commands, never the reverse
    "emulation": {"simulations", "benchmarks", "lab"},
    "simulations": {"benchmarks", "lab"},
    "benchmarks": {"lab"},
    "lab": set(),
}


def _imports(path: Path) -> set[str]:
    """The top-level package of every module ``path`` imports."""
    tree = ast.parse(path.read_text(encoding="utf-8"))
    out: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            out.update(alias.name.split(".")[0] for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            out.add(node.module.split(".")[0])
    return out


def _modules(package: str) -> list[Path]:
    return sorted((ROOT / package).rglob("*.py"))


@pytest.mark.parametrize("package", PACKAGES)
def test_every_import_points_down(package: str) -> None:
    broken = {
        str(path.relative_to(ROOT)): sorted(_imports(path) & FORBIDDEN[package])
        for path in _modules(package)
        if _imports(path) & FORBIDDEN[package]
    }
    assert broken == {}


def test_lab_is_imported_by_nothing() -> None:
    importers = [
        str(path.relative_to(ROOT))
        for package in (*PACKAGES, "tests")
        if package != "lab"
        for path in _modules(package)
        if "lab" in _imports(path)
    ]
    assert importers == []


def test_the_rule_check_sees_a_violation(tmp_path: Path) -> None:
    bad = tmp_path / "m.py"
    bad.write_text("def f():\n    from simulations.fleet.model import Fleet\n    return Fleet\n", encoding="utf-8")
    assert _imports(bad) & FORBIDDEN["scaler"] == {"simulations"}


SCRIPTS = sorted(
    f"{path.parent.name}.{path.stem}"
    for package in ("benchmarks", "lab")
    for path in (ROOT / package).glob("*.py")
    if not path.stem.startswith("_")
)


@pytest.mark.parametrize("module", SCRIPTS)
def test_every_benchmark_and_lab_script_answers_help(module: str) -> None:
    """A benchmark that ran (or crashed) on --help cost an outside reviewer an hour."""
    proc = subprocess.run(
        [sys.executable, "-m", module, "--help"], cwd=ROOT, capture_output=True, text=True, timeout=120, check=False
    )
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.startswith("usage: "), proc.stdout[:200]
