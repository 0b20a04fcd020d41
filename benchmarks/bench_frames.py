"""Event -> frame integration: evsnn.frames side by side with spikingjelly and tonic, on one core.

The same events (default: 20 M uniformly random events on a 128 x 128 sensor, sorted timestamps over
6 s, like a long DVS128 Gesture recording) are integrated into T = 16 frames, split by number and
by time, by

- ``evsnn``: :func:`evsnn.frames.integrate_fixed_frames` (numba kernel when numba is importable),
- ``evsnn (numpy backend)``: the same function with ``backend="numpy"`` (the pure-numpy fallback),
- ``spikingjelly``: ``spikingjelly.datasets.utils.integrate_events_by_fixed_frames_number``, given its
  dict of contiguous arrays (its best case),
- ``tonic``: ``tonic.transforms.ToFrame(sensor_size=(W, H, 2), n_event_bins=T)`` (``n_time_bins=T`` for
  the time split), given the structured array.

Every result is compared with spikingjelly's. tonic bins differently in the last frame: by number it
drops the ``N % T`` remainder events, by time it drops events at or after ``t[0] + T*dt``; the table
says whether it matched on this input and by how many events it differed otherwise.

The process is pinned to one core (``os.sched_setaffinity``), BLAS/OpenMP/torch use one thread, and
each implementation is timed best-of-3 wall clock. Run: ``python benchmarks/bench_frames.py [--events N]``.
Importing ``tonic`` pulls optional dependencies (importRosbag, ...) that are not installed; only the
modules used here are loaded, through a namespace stand-in for the ``tonic`` package (benchmark only).
"""
from __future__ import annotations

import os

for _var in ("OMP_NUM_THREADS", "MKL_NUM_THREADS", "OPENBLAS_NUM_THREADS", "NUMBA_NUM_THREADS"):
    os.environ.setdefault(_var, "1")

import argparse
import importlib.util
import sys
import time
import types
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import ROOT, exit_status, pin_to_one_core  # noqa: E402,F401  (puts src/ and tests/ on sys.path)

from evsnn import frames  # noqa: E402
from evsnn.events import make_events  # noqa: E402


def load_tonic_to_frame():
    """``tonic.transforms.ToFrame`` without running ``tonic/__init__.py`` (which imports the dataset
    classes and their optional dependencies). Returns None when tonic is not installed."""
    spec = importlib.util.find_spec("tonic")
    if spec is None:
        return None
    if "tonic" not in sys.modules:
        pkg = types.ModuleType("tonic")
        pkg.__path__ = list(spec.submodule_search_locations)
        pkg.__spec__ = spec
        sys.modules["tonic"] = pkg
    from tonic.transforms import ToFrame

    return ToFrame


def load_spikingjelly():
    try:
        from _sj_compat import load_sj_dataset_utils, sj_events

        return load_sj_dataset_utils(), sj_events
    except ImportError:
        return None, None


def best_of(fn, repeats: int):
    """(best wall seconds, result of the last call)."""
    best, out = float("inf"), None
    for _ in range(repeats):
        out = None
        t0 = time.perf_counter()
        out = fn()
        best = min(best, time.perf_counter() - t0)
    return best, out


def make_benchmark_events(n: int, H: int, W: int, duration_us: int = 6_000_000, seed: int = 0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    t = np.sort(rng.integers(0, duration_us, n, dtype=np.int64))
    x = rng.integers(0, W, n, dtype=np.uint16)
    y = rng.integers(0, H, n, dtype=np.uint16)
    return make_events(x, y, t, rng.integers(0, 2, n, dtype=np.int8))


def _compare(got: np.ndarray, ref: np.ndarray) -> str:
    if got.shape != ref.shape:
        return f"no (shape {got.shape})"
    diff = np.abs(got.astype(np.int64) - ref.astype(np.int64))
    if not diff.any():
        return "yes"
    frames_off = np.flatnonzero(diff.reshape(diff.shape[0], -1).any(axis=1)).tolist()
    return f"no: {int(diff.sum())} counts differ, frames {frames_off}"


def markdown_table(rows: list[dict], columns: list[tuple[str, str]]) -> str:
    head = "| " + " | ".join(title for _, title in columns) + " |"
    sep = "|" + "|".join("---" for _ in columns) + "|"
    body = ["| " + " | ".join(str(r.get(key, "")) for key, _ in columns) + " |" for r in rows]
    return "\n".join([head, sep, *body])


def main(n_events: int = 20_000_000, T: int = 16, H: int = 128, W: int = 128, repeats: int = 3) -> list[dict]:
    """Run the comparison, print a markdown table and return its rows (one dict per implementation and split)."""
    where = pin_to_one_core()
    ev = make_benchmark_events(n_events, H, W)
    sj, sj_events = load_spikingjelly()
    ToFrame = load_tonic_to_frame()
    backend = "numba" if frames.numba_available() else "numpy"

    rows: list[dict] = []
    for split_by in frames.SPLIT_BY:
        # warm-up (numba compilation / cache load) outside the timing
        frames.integrate_fixed_frames(ev[:1000], T, split_by, H=H, W=W)
        impls = [
            (f"evsnn ({backend})", lambda: frames.integrate_fixed_frames(ev, T, split_by, H=H, W=W, dtype=np.float64)),
        ]
        if backend != "numpy":
            impls.append(
                (
                    "evsnn (numpy backend)",
                    lambda: frames.integrate_fixed_frames(ev, T, split_by, H=H, W=W, dtype=np.float64, backend="numpy"),
                )
            )
        if sj is not None:
            sj_input = sj_events(ev)
            impls.append(
                ("spikingjelly", lambda: sj.integrate_events_by_fixed_frames_number(sj_input, split_by, T, H, W))
            )
        if ToFrame is not None:
            key = "n_event_bins" if split_by == "number" else "n_time_bins"
            to_frame = ToFrame(sensor_size=(W, H, 2), **{key: T})
            impls.append(("tonic ToFrame", lambda: to_frame(ev)))

        results = {}
        for name, fn in impls:
            seconds, out = best_of(fn, repeats)
            results[name] = (seconds, out)
            out = None
        ours_s = results[impls[0][0]][0]
        ref = results["spikingjelly"][1] if "spikingjelly" in results else results[impls[0][0]][1]
        for name, (seconds, out) in results.items():
            rows.append(
                {
                    "benchmark": "frames",
                    "case": f"split_by={split_by}",
                    "implementation": name,
                    "seconds": round(seconds, 4),
                    "Mev_per_s": round(n_events / seconds / 1e6, 1),
                    "evsnn_speedup": round(seconds / ours_s, 2),
                    "agrees_with_spikingjelly": "reference" if name == "spikingjelly" else _compare(out, ref),
                }
            )
        results.clear()
        for name, missing in (("spikingjelly", sj is None), ("tonic ToFrame", ToFrame is None)):
            if missing:  # an anchor that cannot run is a failure in the table, not a silently absent row
                rows.append({"benchmark": "frames", "case": f"split_by={split_by}", "implementation": name,
                             "seconds": "FAILED", "agrees_with_spikingjelly": "the anchor cannot run: not installed "
                             "(make bench installs it from envs/requirements-bench.txt)"})

    print(
        f"\n### evsnn.frames: {n_events:,} events, {H}x{W}, T={T}, one core ({where}), "
        f"best of {repeats} wall-clock\n"
    )
    print(
        markdown_table(
            rows,
            [
                ("case", "case"),
                ("implementation", "implementation"),
                ("seconds", "seconds"),
                ("Mev_per_s", "M events/s"),
                ("evsnn_speedup", "evsnn speed-up (that s / evsnn s)"),
                ("agrees_with_spikingjelly", "equals spikingjelly"),
            ],
        )
    )
    return rows


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--events", type=int, default=20_000_000)
    parser.add_argument("--frames", type=int, default=16)
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()
    sys.exit(exit_status(main(n_events=args.events, T=args.frames, repeats=args.repeats)))
