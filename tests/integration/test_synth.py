"""``gpuscale synth``: a synthetic shape on disk that ``simulate`` replays like any trace."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

GPUSCALE = [sys.executable, "-m", "simulations.cli"]


def run(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([*GPUSCALE, *args], check=False, capture_output=True, text=True, timeout=300)


def test_a_written_step_replays_through_simulate(tmp_path: Path) -> None:
    path = tmp_path / "step.csv"
    written = run("synth", "step", "--out", str(path), "--rate", "2", "--seed", "4")
    assert written.returncode == 0, written.stderr
    rows = path.read_text(encoding="utf-8").splitlines()
    assert rows[0] == "arrival_s,prompt_tokens,output_tokens"
    assert written.stderr.strip() == f"wrote {len(rows) - 1} requests over 45 min to {path}"
    simulated = run("simulate", "--trace", str(path), "--policy", "fixed", "--json")
    assert simulated.returncode == 0, simulated.stderr
    summary = json.loads(simulated.stdout)
    assert summary["trace"] == "step" and summary["requests"] == len(rows) - 1


@pytest.mark.parametrize(
    ("args", "message"),
    [
        pytest.param(["wave"], "error: shape 'wave' is not one of: ramp, step, bursts, diurnal", id="unknown shape"),
        pytest.param(
            ["ramp", "--rate", "0"],
            "error: Invalid value for '--rate': '0'; allowed: a number from 0.001 to 10000",
            id="rate out of range",
        ),
    ],
)
def test_bad_arguments_are_one_clear_line(tmp_path: Path, args: list[str], message: str) -> None:
    proc = run("synth", *args, "--out", str(tmp_path / "x.csv"))
    assert proc.returncode == 2
    assert proc.stderr.strip().splitlines()[0] == message
    assert not (tmp_path / "x.csv").exists()
