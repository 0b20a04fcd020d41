"""Shared by the benchmarks: one thread per numeric library, import paths, pinning to one core.

Import it before numpy / numba / torch: the thread variables only act when set before those load.
"""
from __future__ import annotations

import os
import sys
from pathlib import Path

for _var in ("OMP_NUM_THREADS", "MKL_NUM_THREADS", "OPENBLAS_NUM_THREADS", "NUMBA_NUM_THREADS"):
    os.environ.setdefault(_var, "1")

ROOT = Path(__file__).resolve().parents[1]
for _p in (ROOT / "src", ROOT / "tests"):
    if str(_p) not in sys.path:
        sys.path.insert(0, str(_p))


def pin_to_one_core() -> str:
    """Pin this process to one CPU and torch to one thread; returns a description."""
    try:
        cpu = min(os.sched_getaffinity(0))
        os.sched_setaffinity(0, {cpu})
        where = f"CPU {cpu}"
    except (AttributeError, OSError):  # pragma: no cover - not Linux
        where = "unpinned"
    try:
        import torch

        torch.set_num_threads(1)
    except ImportError:  # pragma: no cover
        pass
    return where
