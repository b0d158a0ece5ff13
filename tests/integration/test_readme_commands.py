"""The README's "Bring your own trace" commands, run as written (from a scratch folder, on the bundled trace).

A newcomer copies them first; each must finish with exit code 0 and leave what its comment promises.
"""

from __future__ import annotations

import shlex
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from tests.support.docs import ROOT, VARIABLES, documented_commands

pytestmark = pytest.mark.integration


def test_the_readmes_trace_commands_run_and_leave_what_they_promise(tmp_path: Path) -> None:
    commands = [command for _, command in documented_commands([ROOT / "README.md"]) if "--trace $T" in command]
    commands += [command for _, command in documented_commands([ROOT / "README.md"]) if command.startswith("synth")]
    assert [c.split()[0] for c in commands] == ["backtest", "simulate", "tune", "simulate", "synth"]
    for written in commands:
        command = written
        for name, value in VARIABLES.items():
            command = command.replace(name, str(ROOT / value))
        proc = subprocess.run(
            [sys.executable, "-m", "scaler.cli", *shlex.split(command)],
            cwd=tmp_path,
            capture_output=True,
            text=True,
            timeout=600,
            check=False,
        )
        assert proc.returncode == 0, f"gpuscale {command}\n{proc.stderr[-2000:]}"
    assert (tmp_path / "sim" / "report.html").is_file()
    tuned = yaml.safe_load((tmp_path / "tuning" / "tuned.yaml").read_text())
    assert tuned["policy"]["min_replicas"] >= 1
    assert (tmp_path / "step.csv").read_text().startswith("arrival_s,prompt_tokens,output_tokens\n")
