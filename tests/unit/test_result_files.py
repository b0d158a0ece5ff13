"""The result files' cells, and the report reading them back: NaN is an empty cell both ways."""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pytest

from simulations.reports.html import _read_csv
from simulations.reports.outputs import _cells


@pytest.mark.parametrize(
    ("case", "values", "cells"),
    [
        pytest.param(
            "floats to four places", np.array([0.0, 1.23456, 1e6]), ["0.0000", "1.2346", "1000000.0000"], id="f"
        ),
        pytest.param("NaN is an empty cell", np.array([np.nan, 2.5]), ["", "2.5000"], id="nan"),
        pytest.param("integers stay integers", np.array([0, 4808, -3], dtype=np.int64), ["0", "4808", "-3"], id="int"),
        pytest.param("unsigned", np.array([7], dtype=np.uint32), ["7"], id="uint"),
        pytest.param("booleans as 0 and 1", np.array([True, False]), ["1", "0"], id="bool"),
        pytest.param("infinity is written out", np.array([np.inf]), ["inf"], id="inf"),
    ],
)
def test_cells(case: str, values: np.ndarray, cells: list[str]) -> None:
    assert _cells(values) == cells, case


@pytest.mark.parametrize(
    ("case", "text", "columns"),
    [
        pytest.param("an empty file", "", {}, id="empty"),
        pytest.param("a header without rows", "a,b\n", {"a": [], "b": []}, id="header-only"),
        pytest.param("one row", "a,b\n1,2\n", {"a": [1.0], "b": [2.0]}, id="one-row"),
        pytest.param(
            "an empty cell reads as NaN", "a,b\n1,\n2,3.5\n", {"a": [1.0, 2.0], "b": [math.nan, 3.5]}, id="nan"
        ),
    ],
)
def test_read_csv(tmp_path: Path, case: str, text: str, columns: dict[str, list[float]]) -> None:
    path = tmp_path / "t.csv"
    path.write_text(text)
    read = _read_csv(path)
    assert list(read) == list(columns), case
    for name, expected in columns.items():
        np.testing.assert_array_equal(read[name], np.array(expected, dtype=float), err_msg=case)


def test_what_is_written_reads_back(tmp_path: Path) -> None:
    arrival = np.array([0.0, 0.5, 1.25])
    ttft = np.array([0.1, np.nan, 2.0])
    tokens = np.array([10, 20, 30])
    path = tmp_path / "r.csv"
    rows = zip(_cells(arrival), _cells(tokens), _cells(ttft), strict=True)
    path.write_text("arrival_s,prompt_tokens,ttft_s\n" + "".join(",".join(r) + "\n" for r in rows))
    read = _read_csv(path)
    np.testing.assert_array_equal(read["arrival_s"], arrival)
    np.testing.assert_array_equal(read["prompt_tokens"], tokens.astype(float))
    np.testing.assert_array_equal(read["ttft_s"], ttft)
