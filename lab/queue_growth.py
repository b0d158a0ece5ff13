"""Should the queue's drain ask measure the backlog's growth over a longer span than one scrape?

Run: python -m lab.queue_growth [--draws N] [--lookback S ...] [CASE-NAME-PART ...] (from the project root;
about a minute).

``queueDrainSeconds`` asks for the replicas that keep up with a backlog's arrivals (what the fleet completes
plus how fast the queue grows) and drain it within that many seconds. The product measures the growth
between the last two samples (15 s apart at the default scrape), so the first seconds of a 10-30 s burst
read as a lasting surplus: on bursts #1 the queue asked for 14 replicas at 170 s, which arrived after the
burst and were held for the scale-down window (the default's peak, against the oracle's 8). This script
swaps in the growth over a lookback (the newest sample against the last one at least that old, as a
``rate()`` over that window would see it; in this script only) and replays the untuned default on the
suite's synthetic shapes and the 1-hour real cases. Printed per case and lookback: GPU-hours, SLO
attainment, peak replicas. Nothing here was tuned on ../shared/traces/. A failing case is counted.
"""

from __future__ import annotations

import argparse
import functools
import time

from scaler import decide
from scaler.decision import DecisionState
from scaler.policy import PolicySpec
from scaler.snapshot import Signal, Snapshot

#: The product's growth: between the last two samples.
PRODUCT = decide._queue_growth


class _Lookback:
    """The queue's growth over at least ``seconds``, from the samples this replay has seen."""

    def __init__(self, seconds: float) -> None:
        self.seconds = seconds
        self.samples: list[tuple[float, float]] = []

    def __call__(
        self, snapshot: Snapshot, spec: PolicySpec, state: DecisionState
    ) -> tuple[tuple[float, float] | None, float]:
        seen, growth = PRODUCT(snapshot, spec, state)
        queue, at = snapshot.get(Signal.QUEUE), snapshot.observed_at
        if queue is None or at is None:
            return seen, growth
        if not self.samples or self.samples[-1][0] < at:
            self.samples.append((at, queue))
        old = [s for s in self.samples if s[0] <= at - self.seconds]
        if not old:
            return seen, growth
        then, before = old[-1]
        return seen, (queue - before) / (at - then)


def use(lookback_s: float) -> None:
    """The product's growth at 0, else the growth over ``lookback_s`` (fresh samples: one per replay)."""
    setattr(decide, "_queue_growth", PRODUCT if lookback_s <= 0 else _Lookback(lookback_s))  # noqa: B010


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m lab.queue_growth", description=__doc__.split("\n")[0])
    parser.add_argument("--draws", type=int, default=3, help="seeds of each synthetic shape (default 3)")
    parser.add_argument(
        "--lookback", type=float, nargs="+", default=[30.0, 60.0], help="seconds to compare (0, the product, first)"
    )
    parser.add_argument("cases", nargs="*", default=["ramp", "step", "bursts", "1 h"], help="parts of case names")
    args = parser.parse_args(argv)

    from benchmarks._suite import suite
    from benchmarks.forecast_value import variants_row

    lookbacks = [0.0, *args.lookback]
    started, errors = time.time(), 0
    print(f"{'case':34s}" + "".join(f"{'product' if s == 0 else f'{s:g} s':>26s}" for s in lookbacks))
    swaps = [functools.partial(use, seconds) for seconds in lookbacks]
    for case, workload, seed in suite(args.draws, args.cases, True):
        errors += not variants_row(case.name, workload, case.slo, seed, swaps, functools.partial(use, 0.0))
    print(f"\nGPU-h, in SLO, peak replicas; {errors} errors, {time.time() - started:.0f} s")
    return 1 if errors else 0


if __name__ == "__main__":
    raise SystemExit(main())
