#!/usr/bin/env python3
"""The e2e load ramp, one definition for ``deploy/kind/e2e.sh`` and the test suite.

Step ``i`` of the ramp (1..RAMP_STEPS) asks the fleet emulator for ``3 i`` waiting requests and
``400 i`` generated tokens/s, with every ready pod busy (8 running, half its KV cache). Once the load
stops everything is zero: running requests and KV-cache usage included. An idle fleet that kept
reporting half-full KV caches would keep the KV-cache ask above the minimum and never scale back.

Standard library only: e2e.sh runs it with the system's python3 to print the emulator's request body.
    python3 deploy/kind/ramp.py ramp STEP READY_PODS     python3 deploy/kind/ramp.py idle READY_PODS
"""

from __future__ import annotations

import json
import sys

RAMP_STEPS = 18
RUNNING_PER_POD = 8
BUSY_KV_CACHE_USAGE = 0.5


def ramp_load(step: int, ready: int) -> dict[str, float]:
    """The emulator's load at ramp step ``step`` with ``ready`` pods serving it."""
    if not 1 <= step <= RAMP_STEPS:
        raise ValueError(f"ramp step {step} is outside 1..{RAMP_STEPS}")
    pods = max(1, ready)
    return {
        "replicas": pods,
        "queue": 3.0 * step,
        "generation_tps": 400.0 * step,
        "running": float(pods * RUNNING_PER_POD),
        "kv_cache_usage": BUSY_KV_CACHE_USAGE,
    }


def idle_load(ready: int) -> dict[str, float]:
    """No load at all once the ramp stops: nothing waiting, running or cached."""
    return {"replicas": max(1, ready), "queue": 0.0, "generation_tps": 0.0, "running": 0.0, "kv_cache_usage": 0.0}


def main(argv: list[str]) -> int:
    try:
        if len(argv) == 3 and argv[0] == "ramp":
            body = ramp_load(int(argv[1]), int(argv[2]))
        elif len(argv) == 2 and argv[0] == "idle":
            body = idle_load(int(argv[1]))
        else:
            raise ValueError("usage: ramp.py ramp STEP READY_PODS | ramp.py idle READY_PODS")
    except ValueError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    print(json.dumps(body))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
