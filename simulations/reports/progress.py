"""Progress on long work: a live bar on a terminal, a plain line now and then anywhere else.

A day-long tuning run takes an hour or more. Under ``nohup``, in CI or in a Kubernetes Job stderr is not
a terminal, and rich draws nothing there, so the run would look hung until it ends. There the same
progress comes out as lines instead: one at each new stage, one at most every ``every_s`` seconds in
between, and one when the work is done.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import timedelta
from typing import TYPE_CHECKING, Protocol

if TYPE_CHECKING:
    from rich.console import Console
    from rich.progress import Progress, TaskID

#: Seconds between progress lines within one stage when stderr is not a terminal.
LINE_EVERY_S = 60.0


class ProgressUpdate(Protocol):
    def update(self, description: str | None = None, advance: int = 0) -> None:
        """Move to a new stage (``description``) and/or count ``advance`` more units done."""


class ProgressLines:
    """Progress as lines such as ``[0:04:12] tuning gpuscale: 120/1930 trials (6 %)``.

    ``clock`` is passed in (seconds, monotonic) so tests can drive it."""

    def __init__(
        self,
        write: Callable[[str], None],
        clock: Callable[[], float],
        description: str,
        total: int | None = None,
        unit: str = "",
        every_s: float = LINE_EVERY_S,
    ) -> None:
        self._write = write
        self._clock = clock
        self._description = description
        self._total = total
        self._unit = unit
        self._every_s = every_s
        self._done = 0
        self._started = clock()
        self._last_line_at: float | None = None

    def update(self, description: str | None = None, advance: int = 0) -> None:
        """The first update writes a line (nothing is written before it, so an input error raised
        before the work starts stays the only thing on stderr); then each new stage does, and the
        same stage again after ``every_s``."""
        self._done += advance
        now = self._clock()
        new_stage = description is not None and description != self._description
        if description is not None:
            self._description = description
        if self._last_line_at is None or new_stage or now - self._last_line_at >= self._every_s:
            self._emit(now)

    def finish(self) -> None:
        """The closing line, so a log shows the work ended and how long it took. It counts what was done,
        not against the total: a plan (e.g. a search's budget) may end early."""
        unit = self._unit[:-1] if self._done == 1 and self._unit.endswith("s") else self._unit
        count = "" if self._total is None else f": {self._done}" + (f" {unit}" if unit else "")
        self._write(f"[{_elapsed(self._clock() - self._started)}] done{count}")

    def _emit(self, now: float) -> None:
        self._write(f"[{_elapsed(now - self._started)}] {self._description}{self._count()}")
        self._last_line_at = now

    def _count(self) -> str:
        if self._total is None:
            return ""
        share = 100 * self._done / self._total if self._total else 100.0
        unit = f" {self._unit}" if self._unit else ""
        return f": {self._done}/{self._total}{unit} ({share:.0f} %)"


class _Silent:
    def update(self, description: str | None = None, advance: int = 0) -> None:
        return None


class _Bar:
    def __init__(self, bar: Progress, task: TaskID) -> None:
        self._bar, self._task = bar, task

    def update(self, description: str | None = None, advance: int = 0) -> None:
        self._bar.update(self._task, description=description, advance=advance)


def _elapsed(seconds: float) -> str:
    """H:MM:SS, as rich's elapsed-time column shows it on a terminal."""
    return str(timedelta(seconds=int(max(seconds, 0.0))))


@contextmanager
def show_progress(
    console: Console,
    description: str,
    *,
    total: int | None = None,
    unit: str = "",
    disable: bool = False,
    clock: Callable[[], float] = time.monotonic,
) -> Iterator[ProgressUpdate]:
    """A rich bar (or spinner, without ``total``) on a terminal; ``ProgressLines`` on ``console``
    otherwise; nothing when ``disable``d (e.g. when stdout carries JSON and stderr should stay quiet)."""
    if disable:
        yield _Silent()
        return
    if not console.is_terminal:
        lines = ProgressLines(
            lambda line: console.print(line, markup=False, highlight=False, soft_wrap=True),
            clock,
            description,
            total,
            unit,
        )
        yield lines
        lines.finish()
        return
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, SpinnerColumn, TextColumn, TimeElapsedColumn

    columns = (
        (TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn())
        if total is not None
        else (SpinnerColumn(), TextColumn("{task.description}"), TimeElapsedColumn())
    )
    with Progress(*columns, console=console, transient=True) as bar:
        yield _Bar(bar, bar.add_task(description, total=total))
