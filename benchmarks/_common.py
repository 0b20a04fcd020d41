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


# evsnn's rows must say "yes" in these columns (a reference implementation may differ: tonic bins the last frame
# differently, its bypassed reader skips checks); a row with ``target_met`` False missed its printed target
CHECK_COLUMNS = ("equals_written_events", "agrees_with_spikingjelly", "identical_to_straightforward")


def problems(rows: list[dict]) -> list[str]:
    """What a benchmark's rows claim that is not so: an evsnn row whose equality column does not say yes, or any
    row with ``target_met`` False."""
    out = []
    for r in rows:
        name = str(r.get("implementation", ""))
        where = f"{name} ({r.get('case') or r.get('events') or ''})"
        if name.startswith("evsnn"):
            for key in CHECK_COLUMNS:
                value = r.get(key)
                if key in r and not (isinstance(value, str) and value.startswith(("yes", "reference"))):
                    out.append(f"{where}: {key} = {value!r}")
        if r.get("target_met") is False:
            out.append(f"{where}: target {r.get('target', '?')} missed")
    return out


def exit_status(rows) -> int:
    """0 when every check and target of ``rows`` holds; otherwise print each failure and return 1 (an int result of
    ``main``, as bench_noop returns, passes through)."""
    if isinstance(rows, int) and not isinstance(rows, bool):
        return rows
    bad = problems(rows or [])
    for line in bad:
        print(f"FAILED: {line}", file=sys.stderr)
    return 1 if bad else 0
