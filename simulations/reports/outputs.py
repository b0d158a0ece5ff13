"""Writes a comparison to a directory: the summary, per-request results and time series.

The only place the simulator touches files; the engine itself never does.
"""

from __future__ import annotations

import csv
import json
import math
from pathlib import Path

import numpy as np

from simulations.policies.compare import Comparison
from simulations.traces.workload import TraceWorkload

REQUEST_COLUMNS = ("arrival_s", "prompt_tokens", "output_tokens", "queue_wait_s", "ttft_s", "e2e_s", "interrupted")


def write_outputs(comparison: Comparison, workload: TraceWorkload, out: Path) -> list[Path]:
    """``summary.json``, and per policy ``<name>.requests.csv`` and ``<name>.series.csv``."""
    out.mkdir(parents=True, exist_ok=True)
    written = [out / "summary.json"]
    written[0].write_text(json.dumps(comparison.to_json(), indent=2) + "\n", encoding="utf-8")
    for result in comparison.results:
        log = result.log
        arrival = workload.arrival_s
        columns = (
            arrival,
            workload.prompt_tokens,
            workload.output_tokens,
            log.admitted_at - arrival,
            log.first_token_at - arrival,
            log.finished_at - arrival,
            log.interrupted.astype(int),
        )
        path = out / f"{result.policy}.requests.csv"
        with path.open("w", newline="", encoding="utf-8") as fh:
            writer = csv.writer(fh)
            writer.writerow(REQUEST_COLUMNS)
            writer.writerows(zip(*(_cells(c) for c in columns), strict=True))
        written.append(path)
        path = out / f"{result.policy}.series.csv"
        names = list(result.series)
        with path.open("w", newline="", encoding="utf-8") as fh:
            writer = csv.writer(fh)
            writer.writerow(names)
            writer.writerows(zip(*(_cells(result.series[n]) for n in names), strict=True))
        written.append(path)
        if result.forecasts:
            path = out / f"{result.policy}.forecast.csv"
            with path.open("w", newline="", encoding="utf-8") as fh:
                writer = csv.writer(fh)
                writer.writerow(("decided_at_s", "horizon_s", "forecast_mean", "forecast_quantile"))
                writer.writerows(tuple(f"{v:.4f}" for v in row) for row in result.forecasts)
            written.append(path)
    return written


def _cells(values: np.ndarray) -> list[str]:
    """Text cells, NaN as an empty cell. Through Python floats: formatting numpy scalars one by one
    took most of the demo's time spent writing files."""
    if values.dtype.kind in "iub":
        return list(map(str, values.astype(np.int64).tolist()))
    return ["" if math.isnan(v) else f"{v:.4f}" for v in values.tolist()]
