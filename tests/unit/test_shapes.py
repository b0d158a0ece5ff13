"""Synthetic load shapes: each draw has the shape it claims, and bad input is a clear error."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pytest

from simulations.traces.base import RequestTrace
from simulations.traces.loaders import load_trace
from simulations.traces.shapes import Shape, synthetic_trace, write_csv


def rate_between(trace: RequestTrace, start_s: float, end_s: float) -> float:
    inside = (trace.arrival_s >= start_s) & (trace.arrival_s < end_s)
    return float(inside.sum()) / (end_s - start_s)


@dataclass(frozen=True)
class RatioCase:
    name: str
    shape: Shape
    low: tuple[float, float]  # a window at the low rate
    high: tuple[float, float]  # a window at the peak
    ratio: float


RATIO_CASES = [
    RatioCase("ramp: 4x after 30 min of rising", Shape.RAMP, (0, 300), (2100, 2700), 4.0),
    RatioCase("step: 3x at once", Shape.STEP, (0, 900), (900, 2700), 3.0),
    RatioCase("diurnal: noon is 4x midnight", Shape.DIURNAL, (0, 300), (3450, 3750), 4.0),
]


@pytest.mark.parametrize("case", RATIO_CASES, ids=lambda c: c.name)
def test_each_shape_reaches_its_peak(case: RatioCase) -> None:
    trace = synthetic_trace(case.shape, 50.0, seed=3, day_s=7200)
    low, high = rate_between(trace, *case.low), rate_between(trace, *case.high)
    assert low == pytest.approx(50.0, rel=0.06)
    assert high / low == pytest.approx(case.ratio, rel=0.08)


def test_bursts_last_10_to_30_seconds_every_5_minutes() -> None:
    trace = synthetic_trace(Shape.BURSTS, 100.0, seed=1)
    per_second = np.bincount(trace.arrival_s.astype(np.int64), minlength=3600)
    busy = per_second > 250  # a burst second has ~400 arrivals, a calm one ~100
    starts = np.flatnonzero(busy[1:] & ~busy[:-1]) + 1
    assert len(starts) == 12
    assert np.all(np.abs(starts % 300 - 150) <= 2)
    lengths = [int(np.argmin(busy[s:])) for s in starts]
    assert min(lengths) >= 9 and max(lengths) <= 31


def test_a_seed_is_a_new_draw_and_the_same_seed_the_same_trace() -> None:
    a, b, c = (synthetic_trace(Shape.RAMP, 5.0, seed) for seed in (1, 1, 2))
    assert np.array_equal(a.arrival_s, b.arrival_s) and np.array_equal(a.prompt_tokens, b.prompt_tokens)
    assert a.requests != c.requests


@pytest.mark.parametrize(
    ("rate", "day", "message"),
    [
        pytest.param(0.0, 86400.0, "rate must be a positive number of requests per second, got 0.0", id="zero rate"),
        pytest.param(float("nan"), 86400.0, "rate must be a positive number of requests per second, got nan", id="nan"),
        pytest.param(1.0, 60.0, "day must be at least 600 seconds, got 60.0", id="a short day"),
    ],
)
def test_bad_input_is_a_clear_error(rate: float, day: float, message: str) -> None:
    with pytest.raises(ValueError) as error:
        synthetic_trace(Shape.DIURNAL, rate, 0, day)
    assert str(error.value) == message


def test_written_csv_reads_back_as_a_generic_trace(tmp_path: Path) -> None:
    path = tmp_path / "step.csv"
    trace = synthetic_trace(Shape.STEP, 2.0, seed=0)
    write_csv(trace, str(path))
    loaded = load_trace(path)
    assert isinstance(loaded, RequestTrace)
    assert loaded.requests == trace.requests
    assert np.array_equal(loaded.prompt_tokens, trace.prompt_tokens)
    assert np.allclose(loaded.arrival_s, trace.arrival_s, atol=1e-3)
