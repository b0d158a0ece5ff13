"""Progress where stderr is not a terminal: plain lines at each stage and now and then, never nothing."""

from __future__ import annotations

import io

import pytest
from rich.console import Console

from simulations.reports.progress import ProgressLines, show_progress


class FakeClock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


Step = tuple[float, str | None, int]  # (seconds since the start, new description or None, units done)


@pytest.mark.parametrize(
    ("case", "total", "steps", "expected"),
    [
        pytest.param(
            "the first update writes, a repeat within the minute does not",
            10,
            [(0.0, "tuning fixed", 0), (5.0, None, 2), (59.0, None, 1)],
            ["[0:00:00] tuning fixed: 0/10 trials (0 %)", "[0:01:02] done: 3 trials"],
            id="quiet-within-a-minute",
        ),
        pytest.param(
            "a minute after the last line the same stage writes again",
            10,
            [(0.0, "tuning fixed", 0), (30.0, None, 2), (60.0, None, 3), (100.0, None, 1), (121.0, None, 1)],
            [
                "[0:00:00] tuning fixed: 0/10 trials (0 %)",
                "[0:01:00] tuning fixed: 5/10 trials (50 %)",
                "[0:02:01] tuning fixed: 7/10 trials (70 %)",
                "[0:02:04] done: 7 trials",
            ],
            id="every-minute",
        ),
        pytest.param(
            "a new stage writes at once",
            4,
            [(0.0, "tuning fixed", 0), (1.0, "tuning fixed", 1), (2.0, "scoring fixed on 2 windows", 0)],
            [
                "[0:00:00] tuning fixed: 0/4 trials (0 %)",
                "[0:00:02] scoring fixed on 2 windows: 1/4 trials (25 %)",
                "[0:00:05] done: 1 trial",
            ],
            id="new-stage",
        ),
        pytest.param(
            "without a total there is no count",
            None,
            [(0.0, "replaying gpuscale", 0), (3725.0, "replaying oracle", 0)],
            ["[0:00:00] replaying gpuscale", "[1:02:05] replaying oracle", "[1:02:08] done"],
            id="spinner",
        ),
        pytest.param(
            "a zero total reads as complete, not as a division by zero",
            0,
            [(0.0, "tuning", 0)],
            ["[0:00:00] tuning: 0/0 trials (100 %)", "[0:00:03] done: 0 trials"],
            id="zero-total",
        ),
        pytest.param(
            "no update at all: only the closing line",
            10,
            [],
            ["[0:00:03] done: 0 trials"],
            id="no-updates",
        ),
    ],
)
def test_progress_lines(case: str, total: int | None, steps: list[Step], expected: list[str]) -> None:
    clock = FakeClock()
    written: list[str] = []
    lines = ProgressLines(written.append, clock, "starting", total, "trials" if total is not None else "")
    start = clock.now
    for at, description, advance in steps:
        clock.now = start + at
        lines.update(description, advance)
    clock.now += 3.0
    lines.finish()
    assert written == expected, case


def test_without_a_terminal_the_lines_go_to_the_console_and_end_with_done() -> None:
    out = io.StringIO()
    console = Console(file=out, force_terminal=False, width=200)
    clock = FakeClock()
    with show_progress(console, "backtesting", total=2, unit="models", clock=clock) as bar:
        bar.update("backtesting naive", advance=1)
        clock.now += 61.0
        bar.update("backtesting ensemble", advance=1)
    assert out.getvalue().splitlines() == [
        "[0:00:00] backtesting naive: 1/2 models (50 %)",
        "[0:01:01] backtesting ensemble: 2/2 models (100 %)",
        "[0:01:01] done: 2 models",
    ]


def test_an_error_inside_leaves_no_closing_line() -> None:
    out = io.StringIO()
    console = Console(file=out, force_terminal=False, width=200)
    with pytest.raises(ValueError, match="bad trace"), show_progress(console, "replaying", clock=FakeClock()) as bar:
        bar.update("replaying gpuscale")
        raise ValueError("bad trace")
    assert out.getvalue().splitlines() == ["[0:00:00] replaying gpuscale"]


def test_disabled_progress_writes_nothing() -> None:
    out = io.StringIO()
    console = Console(file=out, force_terminal=False, width=200)
    with show_progress(console, "tuning", total=3, unit="trials", disable=True, clock=FakeClock()) as bar:
        bar.update("tuning fixed", advance=3)
    assert out.getvalue() == ""


def test_on_a_terminal_the_bar_is_transient() -> None:
    """rich draws the bar and clears it on exit: no progress line is left between the results."""
    out = io.StringIO()
    console = Console(file=out, force_terminal=True, width=100)
    with show_progress(console, "tuning", total=3, unit="trials", clock=FakeClock()) as bar:
        bar.update("tuning fixed", advance=3)
    drawn = out.getvalue()
    assert "tuning fixed" in drawn and "3/3" in drawn
    assert "done" not in drawn and "[0:00:00]" not in drawn
