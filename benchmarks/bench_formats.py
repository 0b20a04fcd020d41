"""AEDAT 4.0 and Prophesee EVT 3.0 through evsnn beside the decoder's own full read; voxel grids beside evlib.

- AEDAT 4.0: one file of ``n_events`` polarity events (LZ4, packets of 5000, written by faery's encoder). Anchor:
  faery's own read of the whole file into one array (iterate its decoder, ``np.concatenate``: what
  ``faery.events_stream_from_file(...).to_array()`` does). evsnn's ``read_aedat4`` = faery's decode + one copy per
  field into evsnn's dtype; target: at most 1.2x the anchor. The ``aedat`` package (the decoder tonic uses) is timed
  too where installed.
- EVT 3.0: the same events written by faery's EVT 3.0 encoder; anchor: faery's own decode + concatenate.
- voxel grid (5 bins, 346x260): ``evsnn.frames.voxel_grid`` numba and numpy beside ``evlib.representations.
  create_voxel_grid`` (target: evsnn numba >= 5x faster than evlib).

An anchor that cannot run (package missing or failing) is a FAILED row naming why, never a silently absent row;
``make bench`` installs the anchors from envs/requirements-bench.txt.
"""
from __future__ import annotations

import sys
import tempfile
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import pin_to_one_core  # noqa: E402

from evsnn import frames  # noqa: E402
from evsnn.events import make_events  # noqa: E402


def best_of(fn, repeats):
    best, out = float("inf"), None
    for _ in range(repeats):
        t0 = time.perf_counter()
        out = fn()
        best = min(best, time.perf_counter() - t0)
    return best, out


def _faery_aedat_full(path):
    from faery.extension import aedat

    parts = []
    with aedat.Decoder(str(path)) as dec:
        for track, packet in dec:
            if track.data_type == "events":
                parts.append(packet)
    return np.concatenate(parts)


def _aedat_pkg_full(path):
    import aedat

    return np.concatenate([p["events"] for p in aedat.Decoder(str(path)) if "events" in p])


def _faery_evt_full(path):
    from faery.extension import evt

    parts = []
    with evt.Decoder(str(path), None, None) as dec:
        for packet in dec:
            if "events" in packet:
                parts.append(packet["events"])
    return np.concatenate(parts)


def _evlib_voxel(ev, B, H, W):
    import evlib.representations as er
    import polars as pl

    df = pl.DataFrame({"x": ev["x"].astype(np.int16), "y": ev["y"].astype(np.int16),
                       "t": pl.Series(ev["t"]).cast(pl.Duration("us")), "polarity": ev["p"].astype(np.int8)})
    out = er.create_voxel_grid(df.lazy(), height=H, width=W, n_time_bins=B)
    return out.collect() if hasattr(out, "collect") else out


def _row(task, impl, fn, n, repeats, anchor_s=None, note=""):
    try:
        sec, _ = best_of(fn, repeats)
    except Exception as exc:  # noqa: BLE001 - an anchor that cannot run is reported, not skipped
        return {"task": task, "implementation": impl, "status": "FAILED",
                "note": f"cannot run: {type(exc).__name__}: {str(exc).splitlines()[0][:160]}"}
    return {"task": task, "implementation": impl, "status": "ok", "seconds": round(sec, 4),
            "Mev_per_s": round(n / sec / 1e6, 1),
            "ratio_to_anchor": round(sec / anchor_s, 3) if anchor_s else None, "note": note}


def main(n_events: int = 20_000_000, repeats: int = 3, bins: int = 5) -> list[dict]:
    where = pin_to_one_core()
    from evsnn.io.aedat4 import read_aedat4, write_aedat4
    from evsnn.io.prophesee import read_evt, write_evt

    rng = np.random.default_rng(0)
    H, W = 260, 346
    n = n_events
    ev = make_events(rng.integers(0, W, n), rng.integers(0, H, n),
                     1_700_000_000_000_000 + np.cumsum(rng.integers(0, 3, n)), rng.integers(0, 2, n))
    rows: list[dict] = []
    with tempfile.TemporaryDirectory() as tmp:
        a4 = write_aedat4(Path(tmp) / "bench.aedat4", ev, (W, H), compression="lz4", packet_size=5000)
        anchor = _row("AEDAT 4.0 decode", "faery decoder + concatenate (anchor)", lambda: _faery_aedat_full(a4), n,
                      repeats)
        rows.append(anchor)
        a_s = anchor.get("seconds")
        ours = _row("AEDAT 4.0 decode", "evsnn read_aedat4", lambda: read_aedat4(a4), n, repeats, a_s,
                    "target <= 1.2x the anchor")
        rows.append(ours)
        rows.append(_row("AEDAT 4.0 decode", "aedat (tonic's decoder) + concatenate", lambda: _aedat_pkg_full(a4),
                         n, repeats, a_s))
        e3 = write_evt(Path(tmp) / "bench.raw", ev, (W, H), "evt3", packet_size=100_000)
        anchor = _row("EVT 3.0 decode", "faery decoder + concatenate (anchor)", lambda: _faery_evt_full(e3), n,
                      repeats)
        rows.append(anchor)
        rows.append(_row("EVT 3.0 decode", "evsnn read_evt", lambda: read_evt(e3), n, repeats,
                         anchor.get("seconds"), "target <= 1.2x the anchor"))
    frames.voxel_grid(ev[:1000], bins, H, W)  # numba compile / cache load outside the timing
    anchor = _row(f"voxel grid ({bins} bins)", "evlib create_voxel_grid (anchor)",
                  lambda: _evlib_voxel(ev, bins, H, W), n, 1)
    rows.append(anchor)
    for backend in ("numba", "numpy"):
        if backend == "numba" and not frames.numba_available():
            rows.append({"task": f"voxel grid ({bins} bins)", "implementation": "evsnn numba", "status": "FAILED",
                         "note": "numba is not importable"})
            continue
        rows.append(_row(f"voxel grid ({bins} bins)", f"evsnn {backend}",
                         lambda b=backend: frames.voxel_grid(ev, bins, H, W, backend=b), n,
                         repeats if backend == "numba" else 1, anchor.get("seconds"),
                         "target >= 5x faster than evlib (ratio <= 0.2)" if backend == "numba" else ""))
    print(f"\n{n:,} events, {where}\n")
    cols = ["task", "implementation", "status", "seconds", "Mev_per_s", "ratio_to_anchor", "note"]
    print("| " + " | ".join(cols) + " |")
    print("|" + "---|" * len(cols))
    for r in rows:
        print("| " + " | ".join("" if r.get(c) is None else str(r.get(c)) for c in cols) + " |")
    return rows


if __name__ == "__main__":
    import argparse

    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--events", type=int, default=20_000_000)
    ap.add_argument("--repeats", type=int, default=3)
    a = ap.parse_args()
    main(a.events, a.repeats)
