"""Reports: every plot is in the page (read back from the files), the page renders in a real
headless Chromium without errors, and `gpuscale demo` produces it all from the bundled trace."""

from __future__ import annotations

import base64
import html
import json
import re
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from matplotlib.image import imread

from simulations.fleet.replay import ReplaySettings
from simulations.policies.compare import compare
from simulations.policies.slo import Slo
from simulations.profiles import load_profile
from simulations.reports.html import PLOTS, pareto_front, write_report
from simulations.reports.outputs import write_outputs
from simulations.traces.scenario import build_workload
from simulations.traces.workload import Reshape
from tests.conftest import TRACES

pytestmark = [
    pytest.mark.integration,
    pytest.mark.skipif(not TRACES.is_dir(), reason=f"shared traces not found at {TRACES}"),
]
GPUSCALE = [sys.executable, "-m", "simulations.cli"]
ORACLE_RED = np.array([0xD6, 0x27, 0x28]) / 255.0


@pytest.fixture(scope="module")
def report_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("report")
    workload = build_workload(TRACES / "azure2023_code.csv", Reshape(rate_scale=10, end_s=900), seed=0)
    comparison = compare(
        workload, load_profile("llama3-8b-h100"), ["gpuscale", "keda-queue", "fixed", "oracle"], Slo(), ReplaySettings()
    )
    write_outputs(comparison, workload, out)
    write_report(out)
    return out


def embedded_images(page: str) -> dict[str, bytes]:
    return {
        name: base64.b64decode(data)
        for name, data in re.findall(r'<img id="(\w+)" alt="[^"]*" src="data:image/png;base64,([^"]+)"', page)
    }


def test_report_embeds_every_plot_it_wrote(report_dir: Path) -> None:
    page = (report_dir / "report.html").read_text()
    images = embedded_images(page)
    assert sorted(images) == sorted(PLOTS)
    for name, data in images.items():
        assert data == (report_dir / f"{name}.png").read_bytes()
        pixels = imread(report_dir / f"{name}.png")
        assert pixels.shape[0] >= 400 and pixels.shape[1] >= 700
        assert float(pixels[..., :3].std()) > 0.05, f"{name}.png is blank"
    assert "<script" not in page and "http://" not in page and "https://" not in page  # self-contained
    for policy in ("gpuscale", "keda-queue", "fixed", "oracle"):
        assert f"<td>{policy}</td>" in page
    summary = json.loads((report_dir / "summary.json").read_text())
    ours = next(p for p in summary["policies"] if p["name"] == "gpuscale")["excess_over_oracle"]
    section = page.split("<h2>Where the GPU-hours went, beyond the oracle</h2>")[1].split("<h2>")[0]
    assert f"<td>gpuscale</td><td>{ours['over_gpu_hours']:.2f}</td>" in section
    largest = next(iter(ours["by_reason"]))
    assert f"{largest} {ours['by_reason'][largest]:.2f}" in section
    assert "<td>oracle</td>" not in section
    # the page opens with what the comparison says, the sentence the terminal prints
    from simulations.reports.tables import headline_sentence

    sentence = headline_sentence(summary)
    assert sentence is not None and sentence.startswith("gpuscale ")
    assert f'<p class="headline">{html.escape(sentence)}</p><h2>Figures</h2>' in page


def test_timeline_shows_the_oracle_and_the_forecast_band(report_dir: Path) -> None:
    pixels = imread(report_dir / "timeline.png")[..., :3]
    red = np.all(np.abs(pixels - ORACLE_RED) < 0.02, axis=-1).sum()
    band = np.all(np.abs(pixels - np.array([0.82, 0.95, 0.97])) < 0.05, axis=-1).sum()  # light cyan fill
    assert red > 200 and band > 200


@pytest.mark.parametrize(
    ("name", "points", "front"),
    [
        ("dominated points drop out", [(1.0, 0.9), (2.0, 0.8), (3.0, 0.99)], [(1.0, 0.9), (3.0, 0.99)]),
        ("equal cost keeps the better one", [(1.0, 0.5), (1.0, 0.7)], [(1.0, 0.7)]),
    ],
)
def test_pareto_front(name: str, points: list[tuple[float, float]], front: list[tuple[float, float]]) -> None:
    assert pareto_front(points) == front


@pytest.mark.parametrize(
    ("case", "files", "problem"),
    [
        (
            "no results at all",
            {},
            "{d}: neither summary.json (gpuscale simulate --out) nor tuning.json (gpuscale tune)",
        ),
        (
            "a summary that is not JSON",
            {"summary.json": "policies: []"},
            "{d}/summary.json: not JSON (Expecting value: line 1 column 1 (char 0))",
        ),
        (
            "a summary that is a list",
            {"summary.json": "[]"},
            "{d}/summary.json: expected the JSON object gpuscale simulate --out writes, got a list",
        ),
        (
            "a tuning file without its references",
            {"tuning.json": '{"policies": {}}'},
            "{d}/tuning.json: missing key 'references'; expected the results gpuscale tune --out writes",
        ),
        (
            "a policy row without its figures",
            {
                "summary.json": json.dumps(
                    {
                        "trace": "t",
                        "requests": 1,
                        "profile": "p",
                        "slo": {"ttft_s": 2.0, "attainment": 0.99},
                        "seed": 0,
                        "policies": [{"name": "gpuscale"}],
                    }
                )
            },
            "{d}: the results are not what gpuscale simulate or tune write (KeyError: 'gpu_hours_vs_oracle')",
        ),
    ],
)
def test_report_refuses_results_it_cannot_read(case: str, files: dict[str, str], problem: str, tmp_path: Path) -> None:
    for name, text in files.items():
        (tmp_path / name).write_text(text)
    proc = subprocess.run(
        [*GPUSCALE, "report", str(tmp_path), "--out", str(tmp_path / "out")],
        check=False,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert (proc.returncode, proc.stderr.strip()) == (2, "error: " + problem.format(d=tmp_path)), case
    assert not (tmp_path / "out" / "report.html").exists()


def test_report_on_a_missing_folder_says_so(tmp_path: Path) -> None:
    missing = tmp_path / "nonexistent"
    proc = subprocess.run([*GPUSCALE, "report", str(missing)], check=False, capture_output=True, text=True, timeout=120)
    assert (proc.returncode, proc.stderr.strip()) == (
        2,
        f"error: {missing}: no such directory (give one that gpuscale simulate --out or tune --out wrote)",
    )


def test_report_renders_in_headless_chromium(report_dir: Path, tmp_path: Path) -> None:
    chromium = shutil.which("chromium") or shutil.which("chromium-browser")
    if chromium is None:
        pytest.fail("chromium is not installed: scripts/setup installs Debian's chromium package")
    shot = tmp_path / "shot.png"
    proc = subprocess.run(
        [
            chromium,
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--hide-scrollbars",
            "--enable-logging=stderr",
            "--v=0",
            "--window-size=1300,2600",
            f"--screenshot={shot}",
            (report_dir / "report.html").as_uri(),
        ],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert proc.returncode == 0, proc.stderr[-2000:]
    console = [line for line in proc.stderr.splitlines() if "CONSOLE" in line or "Uncaught" in line]
    assert console == []
    pixels = imread(shot)[..., :3]
    assert pixels.shape[:2] == (2600, 1300)
    assert float(pixels.std()) > 0.05
    red = np.all(np.abs(pixels - ORACLE_RED) < 0.03, axis=-1).sum()
    assert red > 200, "the plots are not visible in the screenshot"


def test_demo_replays_the_bundled_trace_and_writes_the_report(tmp_path: Path) -> None:
    proc = subprocess.run(
        [*GPUSCALE, "demo", "--out", str(tmp_path), "--json"],
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert proc.returncode == 0, proc.stderr
    assert proc.stderr == ""  # with --json no progress lines either: the output is for a program
    summary = json.loads(proc.stdout)
    assert summary == json.loads((tmp_path / "summary.json").read_text())
    assert summary["trace"] == "azure2023_code" and summary["requests"] == 88190
    names = [p["name"] for p in summary["policies"]]
    assert names == ["gpuscale", "hpa-gpu", "keda-queue", "keda-kv", "knative", "fixed", "oracle"]
    for row in summary["policies"]:
        assert {"name", "gpu_hours", "slo_attainment", "ttft_p99_s", "scale_events", "meets_slo"} <= set(row)
    assert summary["headline"]["best_baseline"] in ("hpa-gpu", "keda-queue", "keda-kv", "knative", "fixed")
    assert sorted(embedded_images((tmp_path / "report.html").read_text())) == sorted(PLOTS)
