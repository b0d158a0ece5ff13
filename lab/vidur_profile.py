"""Derive a Llama-3-8B-on-one-H100 step model from Vidur's measured kernel times (issue 31).

Run: python -m lab.vidur_profile H100_LLAMA2_7B.csv A100_LLAMA2_7B.csv A100_LLAMA3_8B.csv [--cpu-overheads F]

The three files are Vidur's per-layer kernel profiles (microsoft/vidur, MLSys 2024), at commit
7d47513363ec447a741ac5e47241580b47724fbf:
``data/profiling/compute/{h100,a100}/meta-llama/Llama-2-7b-hf/mlp.csv`` and
``data/profiling/compute/a100/meta-llama/Meta-Llama-3-8B/mlp.csv``. Vidur measured Llama-3-8B's
layers on an A100 only; on an H100 it measured Llama-2-7B, whose layers have the same hidden size.
So the H100 time of a Llama-3-8B layer at ``n`` tokens is estimated as its A100 time times the
H100/A100 ratio measured on Llama-2-7B at the same ``n``. A layer's time is the median of every
operation but the embedding (read once per step, not per layer), at tensor parallelism 1.

Printed: the estimated time per layer at each token count, the step's linear time (32 layers),
the prefill rate of the linear layers (tokens over time at the largest counts, where the GEMMs are
compute-bound) and a least-squares fit of ``base + per_seq * n`` over decode-sized counts (1 to 256).
With ``--cpu-overheads`` (Vidur's ``data/profiling/a100/cpu_overheads.csv`` at commit
0633efaee2826c47b16741e57df0476b58136714), the engine's CPU time per step (schedule, sample, prepare
inputs, process outputs: the medians, Llama-2-7B at tensor parallelism 1) is fitted the same way; the
engine Vidur measured runs them between GPU steps, so they add to a step.
Vidur's attention profiles are Git LFS objects that are not in the stored snapshot, so attention
is not derived here (the profile file takes it from FlashAttention's published utilisation).
"""

from __future__ import annotations

import argparse
import csv
from pathlib import Path

import numpy as np

LAYERS = 32  # Llama-3-8B and Llama-2-7B both
DECODE_COUNTS = (1, 2, 4, 8, 16, 32, 64, 128, 256)


def layer_ms(path: Path) -> dict[int, float]:
    """Median milliseconds of one layer's operations (embedding excluded) per token count, TP 1."""
    rows: dict[int, list[float]] = {}
    with path.open(newline="", encoding="utf-8") as handle:
        for row in csv.DictReader(handle):
            if int(row["num_tensor_parallel_workers"]) != 1:
                continue
            medians = [
                float(v) for k, v in row.items() if k.endswith(".median") and not k.startswith("time_stats.emb.")
            ]
            rows.setdefault(int(row["num_tokens"]), []).append(sum(medians))
    return {n: float(np.mean(times)) for n, times in rows.items()}  # a count profiled twice: their mean


CPU_STAGES = ("SCHEDULE_MEDIAN", "SAMPLER_E2E_MEDIAN", "PREPARE_INPUTS_E2E_MEDIAN", "PROCESS_MODEL_OUTPUTS_MEDIAN")


def cpu_ms(path: Path, stages: tuple[str, ...], model: str = "meta-llama/Llama-2-7b-hf") -> dict[int, float]:
    """Milliseconds of CPU work per step by batch size: the stages' medians added up."""
    out: dict[int, float] = {}
    with path.open(newline="", encoding="utf-8") as handle:
        for row in csv.DictReader(handle):
            if row["model_name"] == model and int(row["tensor_parallel_degree"]) == 1:
                out[int(row["batch_size"])] = sum(float(row[stage]) for stage in stages)
    return out


def line_fit(points: dict[int, float]) -> tuple[float, float, float]:
    """(intercept, slope, rmse) of a least-squares line through ``points``."""
    x = np.array(sorted(points), dtype=float)
    y = np.array([points[int(n)] for n in x])
    slope, intercept = (float(v) for v in np.polyfit(x, y, 1))
    return intercept, slope, float(np.sqrt(np.mean((intercept + slope * x - y) ** 2)))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m lab.vidur_profile", description=__doc__.split("\n\n")[0])
    parser.add_argument("h100_llama2", type=Path, help="Vidur's h100 Llama-2-7b-hf mlp.csv")
    parser.add_argument("a100_llama2", type=Path, help="Vidur's a100 Llama-2-7b-hf mlp.csv")
    parser.add_argument("a100_llama3", type=Path, help="Vidur's a100 Meta-Llama-3-8B mlp.csv")
    parser.add_argument("--cpu-overheads", type=Path, help="Vidur's a100 cpu_overheads.csv (older commit)")
    args = parser.parse_args(argv)
    h100_l2, a100_l2, a100_l3 = (layer_ms(p) for p in (args.h100_llama2, args.a100_llama2, args.a100_llama3))
    counts = sorted(set(h100_l2) & set(a100_l2) & set(a100_l3))
    estimate = {n: a100_l3[n] * h100_l2[n] / a100_l2[n] for n in counts}
    header = ("tokens", "H100/A100 (Llama-2-7B)", "A100 Llama-3-8B ms", "H100 Llama-3-8B ms", "step ms")
    print("{:>7} {:>23} {:>19} {:>19} {:>8}".format(*header))
    for n in counts:
        if n in DECODE_COUNTS or (n >= 512 and n & (n - 1) == 0):
            ratio = h100_l2[n] / a100_l2[n]
            print(f"{n:>7} {ratio:>23.3f} {a100_l3[n]:>19.3f} {estimate[n]:>19.3f} {estimate[n] * LAYERS:>8.2f}")
    large = [n for n in counts if n >= 1024]
    tokens = np.array(large, dtype=float)
    seconds = np.array([estimate[n] * LAYERS / 1000.0 for n in large])
    slope = float(np.polyfit(tokens, seconds, 1)[0])
    print(f"prefill, linear layers: {1.0 / slope:,.0f} tokens/s (slope over {large[0]}-{large[-1]} tokens)")
    base, per_seq, rmse = line_fit({n: estimate[n] * LAYERS for n in DECODE_COUNTS if n in estimate})
    print(f"decode, linear layers: {base:.3f} ms + {per_seq * 1000:.2f} us per sequence (rmse {rmse * 1000:.0f} us)")
    if args.cpu_overheads:
        # vLLM 0.6 overlaps output processing with the next step; the other stages still add to it.
        for label, stages in (("all four stages", CPU_STAGES), ("without output processing", CPU_STAGES[:3])):
            cpu = cpu_ms(args.cpu_overheads, stages)
            if not cpu:
                print(f"{args.cpu_overheads}: no Llama-2-7B rows at tensor parallelism 1")
                return 1
            base, per_seq, rmse = line_fit(cpu)
            print(
                f"CPU per step, {label}, batch {min(cpu)}-{max(cpu)}: {base:.3f} ms + {per_seq * 1000:.2f} us"
                f" per sequence (rmse {rmse * 1000:.0f} us)"
            )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
