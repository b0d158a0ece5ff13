"""Local process pools for replays, set up the same way everywhere."""

from __future__ import annotations

import multiprocessing
from collections.abc import Callable
from multiprocessing.pool import Pool
from typing import Any


def local_pool(processes: int, initializer: Callable[..., None] | None = None, initargs: tuple[Any, ...] = ()) -> Pool:
    """``processes`` workers, each set up once by ``initializer(*initargs)`` (a workload, a profile...).

    fork where the platform has it, so the workers inherit what is loaded instead of unpickling it;
    spawn elsewhere (macOS's default)."""
    method = "fork" if "fork" in multiprocessing.get_all_start_methods() else "spawn"
    return multiprocessing.get_context(method).Pool(processes, initializer=initializer, initargs=initargs)
