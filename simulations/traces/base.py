"""The two shapes a trace comes in, and the error every loader raises."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import numpy.typing as npt

FloatArray = npt.NDArray[np.float64]
IntArray = npt.NDArray[np.int64]


class TraceError(ValueError):
    """A trace file cannot be read; names the file, and the line and column when known."""

    def __init__(self, path: Path | str, message: str, line: int | None = None, column: str | None = None) -> None:
        where = str(path)
        if line is not None:
            where += f", line {line}"
        if column is not None:
            where += f", column {column!r}"
        super().__init__(f"{where}: {message}")
        self.path, self.line, self.column = str(path), line, column


@dataclass(frozen=True)
class RequestTrace:
    """One row per request: arrival time (seconds from the first request) and token lengths."""

    name: str
    arrival_s: FloatArray
    prompt_tokens: IntArray
    output_tokens: IntArray
    source: str = ""

    def __post_init__(self) -> None:
        n = self.arrival_s.shape[0]
        if self.prompt_tokens.shape[0] != n or self.output_tokens.shape[0] != n:
            raise ValueError("arrival_s, prompt_tokens and output_tokens must have the same length")

    @property
    def requests(self) -> int:
        return int(self.arrival_s.shape[0])

    @property
    def span_s(self) -> float:
        return float(self.arrival_s[-1] - self.arrival_s[0]) if self.requests else 0.0

    def window(self, start_s: float, end_s: float) -> RequestTrace:
        """Requests arriving in [start_s, end_s), re-based to start at 0."""
        keep = (self.arrival_s >= start_s) & (self.arrival_s < end_s)
        return RequestTrace(
            self.name, self.arrival_s[keep] - start_s, self.prompt_tokens[keep], self.output_tokens[keep], self.source
        )

    def binned(self, step_s: float) -> dict[str, FloatArray]:
        """Demand per step: requests/s, prompt tokens/s and output tokens/s."""
        if self.requests == 0:
            return {k: np.zeros(0) for k in ("requests_per_s", "prompt_tps", "output_tps")}
        bins = int(np.floor(self.arrival_s[-1] / step_s)) + 1
        idx = np.minimum((self.arrival_s // step_s).astype(np.int64), bins - 1)
        return {
            "requests_per_s": np.bincount(idx, minlength=bins) / step_s,
            "prompt_tps": np.bincount(idx, weights=self.prompt_tokens, minlength=bins) / step_s,
            "output_tps": np.bincount(idx, weights=self.output_tokens, minlength=bins) / step_s,
        }


@dataclass(frozen=True)
class RateSeries:
    """An aggregated trace: requests/s per fixed window (NaN where the source has a gap)."""

    name: str
    step_s: float
    requests_per_s: FloatArray
    source: str = ""
    notes: tuple[str, ...] = field(default=())

    @property
    def span_s(self) -> float:
        return float(self.requests_per_s.shape[0] * self.step_s)
