"""DHP19 official preprocessing: evsnn.tasks.pose.preprocess against a straightforward per-event Python version, one core.

The same events (default: 2 M DHP19-like events of 4 multiplexed DAVIS346 cameras over about 7 s: moving blobs
like limbs, 10 % background activity, a hot pixel above the 1e4 threshold, a blinking IR LED in the official
mask, sorted timestamps) go through the complete official pipeline with every filter on -- window selection,
out-of-range removal, hot-pixel filter (1e4), background-activity filter (70 ms), the two IR masks, constant-count
frames of 7500 x 4 events with 3-sigma normalisation, mean Vicon labels:

- ``evsnn (numba)``: :func:`evsnn.tasks.pose.preprocess.preprocess_events` (compiled background filter and frame
  kernel; numba's compilation happens before timing);
- ``evsnn (numpy backend)``: the same with ``backend="numpy"`` (no numba);
- ``evsnn incl. .aedat/.mat reading``: :func:`~evsnn.tasks.pose.preprocess.preprocess_recording` on the events written as
  an AEDAT 2.0 file + Vicon .mat (reading, start/stop rule, preprocessing);
- ``straightforward per-event Python``: the MATLAB loops transcribed to Python (written below, independent of
  evsnn): a loop over events for the window, the range check and the coordinate transform, a dict of per-pixel
  counts for the hot-pixel filter, BackgroundFilter.m's loop with a list-of-lists time map, a per-event mask test,
  and ExtractEventsToFramesAndMeanLabels.m's accumulation loop (``img[X][Y] += 1`` per event). Per frame (not per
  event) it normalises each camera image with numpy and takes the label nanmean. It is run on the first
  ``subset`` events only (a full run would take minutes); its per-event rate is extrapolated, and evsnn is also
  timed on the same subset. Both must produce identical frames and labels on the subset (checked).

The process is pinned to one core (``os.sched_setaffinity``), numba/BLAS use one thread; the evsnn rows are timed
best-of-``repeats`` wall clock, round-robin. Throughput = input events of the recording / seconds. Run:
``python benchmarks/bench_dhp19_preprocess.py [--events N] [--subset M]``; ``main()`` returns the table rows.
"""
from __future__ import annotations

import os
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import ROOT, exit_status, pin_to_one_core  # noqa: E402,F401  (one thread per library; src/, tests/ on sys.path)

import argparse  # noqa: E402
import math  # noqa: E402
import tempfile  # noqa: E402
import time  # noqa: E402
import warnings  # noqa: E402

import numpy as np  # noqa: E402


from evsnn.tasks.pose import preprocess as dp  # noqa: E402
from evsnn.events import CAMERA_EVENT_DTYPE  # noqa: E402

EVSNN_NUMBA = "evsnn (numba)"
EVSNN_NUMPY = "evsnn (numpy backend)"
EVSNN_FILE = "evsnn incl. .aedat/.mat reading (numba)"
PLAIN = "straightforward per-event Python"


def markdown_table(rows: list[dict], columns: list[tuple[str, str]]) -> str:
    head = "| " + " | ".join(title for _, title in columns) + " |"
    sep = "|" + "|".join("---" for _ in columns) + "|"
    body = ["| " + " | ".join(str(r.get(key, "")) for key, _ in columns) + " |" for r in rows]
    return "\n".join([head, sep, *body])


# --------------------------------------------------------------------------------------------------
# input
# --------------------------------------------------------------------------------------------------
def make_recording(n: int, seed: int = 0, rate_hz: float = 300_000.0):
    """DHP19-like raw events, ``(events, start, stop, vicon)``: 4 cameras, each with a few moving Gaussian blobs,
    10 % uniform background activity, a hot pixel (1.2e4 events) and an IR-LED blob inside mask 1."""
    rng = np.random.default_rng(seed)
    t0 = 1_000_000_000
    dur = int(n / rate_hz * 1e6)
    t = np.sort(rng.integers(t0, t0 + dur, n))
    cam = rng.integers(0, 4, n)
    kind = rng.random(n)
    x = np.empty(n)
    y = np.empty(n)
    blob = kind < 0.88
    k = rng.integers(0, 5, n)
    phase = k * 1.3 + cam * 0.7
    ts = (t - t0) * 1e-6
    x[blob] = 173 + 60 * np.cos(2 * np.pi * 0.5 * ts[blob] + phase[blob]) + rng.normal(0, 6, blob.sum())
    y[blob] = 130 + 70 * np.sin(2 * np.pi * 0.4 * ts[blob] + 2 * phase[blob]) + rng.normal(0, 6, blob.sum())
    noise = ~blob
    x[noise] = rng.uniform(0, 346, noise.sum())
    y[noise] = rng.uniform(0, 260, noise.sum())
    ev = np.empty(n, dtype=CAMERA_EVENT_DTYPE)
    ev["x"] = np.clip(x, 0, 345).astype(np.uint16)
    ev["y"] = np.clip(y, 0, 259).astype(np.uint16)
    ev["c"] = cam
    led = np.flatnonzero(kind > 0.99)  # IR LED in mask 1: combined X 781..809, Y 116..144 -> camera 2, x 229..257
    ev["c"][led] = 2
    ev["x"][led] = 240 + rng.integers(0, 3, led.size)
    ev["y"][led] = 128 + rng.integers(0, 3, led.size)
    hot = rng.choice(max(n // 10, 12_000), 12_000, replace=False)  # hot from the start (inside the subset)
    ev["x"][hot], ev["y"][hot], ev["c"][hot] = 50, 60, 1
    ev["t"] = t
    ev["p"] = rng.integers(0, 2, n)
    n_vicon = dur // 10_000 + 10
    vicon = rng.normal(0, 500, (n_vicon, 3, 13))
    vicon[rng.random(vicon.shape) < 0.01] = np.nan
    return ev, t0 - 1, t0 + dur + 1, vicon


# --------------------------------------------------------------------------------------------------
# the straightforward version (MATLAB loops in Python)
# --------------------------------------------------------------------------------------------------
def straightforward(events, start, stop, vicon, events_per_frame=7500, thr=10_000, dt=70_000,
                    masks=((780, 810, 115, 145), (1252, 1259, 136, 144))):
    sx, sy, nbcam = 346, 260, 4
    xs, ys, ts, cs = (events[k].tolist() for k in ("x", "y", "t", "c"))
    # window + range + coordinates (extract_from_aedat.m), per event
    X, Y, T = [], [], []
    for x, y, t, c in zip(xs, ys, ts, cs):
        if start < t < stop and x <= sx - 1 and y <= sy - 1 and c <= nbcam - 1:
            X.append((sx - x) + c * sx)
            Y.append(sy - y)
            T.append(t)
    # HotPixelFilter.m
    counts = {}
    for p in zip(X, Y):
        counts[p] = counts.get(p, 0) + 1
    keep = [counts[p] < thr for p in zip(X, Y)]
    X = [v for v, k in zip(X, keep) if k]
    Y = [v for v, k in zip(Y, keep) if k]
    T = [v for v, k in zip(T, keep) if k]
    # BackgroundFilter.m
    xdim, ydim = sx * nbcam, sy
    last = [[0] * (ydim + 2) for _ in range(xdim + 2)]
    X2, Y2, T2 = [], [], []
    for x, y, t in zip(X, Y, T):
        if not t - last[x][y] > dt:
            X2.append(x)
            Y2.append(y)
            T2.append(t)
        if not (x == 1 or x == xdim or y == 1 or y == ydim):
            for i in (-1, 0, 1):
                col = last[x + i]
                col[y - 1] = col[y] = col[y + 1] = t
    # maskRegionFilter.m twice
    X3, Y3, T3 = [], [], []
    for x, y, t in zip(X2, Y2, T2):
        if any(x0 < x < x1 and y0 < y < y1 for x0, x1, y0, y1 in masks):
            continue
        X3.append(x)
        Y3.append(y)
        T3.append(t)
    # ExtractEventsToFramesAndMeanLabels.m
    per_frame = events_per_frame * nbcam
    img = [[0] * ydim for _ in range(xdim)]
    frames, labels = [], []
    counter, last_k = 0, 1
    start_u = min(max(start, 0), 2**32 - 1)
    for x, y, t in zip(X3, Y3, T3):
        counter += 1
        img[x - 1][y - 1] += 1
        if counter >= per_frame:
            k = int(math.floor(max(t - start_u, 0) * 0.0001 + 0.5)) + 1
            if k > vicon.shape[0]:
                break
            a = np.array(img, dtype=np.int64)  # (1384, 260) = img(X, Y)
            frame = np.zeros((sy, sx, nbcam), dtype=np.uint8)
            for c in range(nbcam):
                cam_img = a[c * sx:(c + 1) * sx].T  # (260, 346): rows Y, columns X within the camera
                v = cam_img[cam_img > 0]
                n = v.size
                if n:
                    var = (n * int((v * v).sum()) - int(v.sum()) ** 2) / (n * (n - 1)) if n > 1 else 0.0
                    sig = max(math.sqrt(var), 0.1 / 255)
                    frame[:, :, c] = np.where(cam_img > 0, np.minimum(np.floor(cam_img * 255.0 / (3.0 * sig)), 255),
                                              0)
            frames.append(frame)
            with warnings.catch_warnings():
                warnings.simplefilter("ignore", RuntimeWarning)
                labels.append(np.nanmean(vicon[last_k - 1:k], axis=0))
            last_k = k
            counter = 0
            img = [[0] * ydim for _ in range(xdim)]
    dvs = np.stack(frames) if frames else np.zeros((0, sy, sx, nbcam), dtype=np.uint8)
    xyz = np.stack(labels) if labels else np.zeros((0, 3, 13))
    return dvs, xyz


def _identical(a, b) -> str:
    (da, xa), (db, xb) = a, b
    if da.shape != db.shape:
        return f"no (frames {da.shape[0]} vs {db.shape[0]})"
    if not np.array_equal(da, db):
        return f"no ({int((da != db).sum())} pixels differ)"
    if not np.array_equal(xa, xb, equal_nan=True):
        return "no (labels differ)"
    return f"yes ({da.shape[0]} frames)"


def main(n_events: int = 2_000_000, subset: int = 200_000, repeats: int = 5) -> list[dict]:
    """Run the comparison, print a markdown table and return its rows."""
    from evsnn.io.aedat2 import write_aedat2
    from evsnn.io.dhp19 import write_vicon

    where = pin_to_one_core()
    ev, start, stop, vicon = make_recording(n_events)
    sub = ev[:subset]
    sub_stop = int(sub["t"][-1]) + 1
    backends = ["numba", "numpy"] if dp.numba_available() else ["numpy"]
    for b in backends:  # compile / load the kernels outside the timing
        dp.preprocess_events(ev[:50_000], start, stop, vicon, events_per_frame=100, backend=b)

    tmp = tempfile.TemporaryDirectory()
    aedat = write_aedat2(Path(tmp.name) / "mov1.aedat", ev, layout="davis346",
                         special_timestamps=[start + 1, start + 2, stop - 1])
    mat = write_vicon(Path(tmp.name) / "S1_1_1.mat", vicon)

    runs = {}
    for b in backends:
        name = EVSNN_NUMBA if b == "numba" else EVSNN_NUMPY
        runs[(name, "all")] = (n_events, lambda b=b: dp.preprocess_events(ev, start, stop, vicon, backend=b))
        runs[(name, "subset")] = (subset, lambda b=b: dp.preprocess_events(sub, start, sub_stop, vicon, backend=b))
    if "numba" in backends:
        runs[(EVSNN_FILE, "all")] = (n_events, lambda: dp.preprocess_recording(aedat, mat))
    best = {key: float("inf") for key in runs}
    out = {}
    for _ in range(repeats):  # round-robin
        for key, (_, fn) in runs.items():
            t0 = time.perf_counter()
            res = fn()
            best[key] = min(best[key], time.perf_counter() - t0)
            out[key] = res[:2]
            res = None
    t0 = time.perf_counter()
    plain = straightforward(sub, start, sub_stop, vicon)
    plain_s = time.perf_counter() - t0
    plain_rate = subset / plain_s
    tmp.cleanup()

    rows = []
    for (name, which), (n, _) in runs.items():
        s = best[(name, which)]
        rate = n / s
        row = {"benchmark": "dhp19_preprocess", "implementation": name,
               "events": f"{n:,}" + (" (subset)" if which == "subset" else ""), "seconds": round(s, 4),
               "Mev_per_s": round(rate / 1e6, 2), "speedup_vs_straightforward": round(rate / plain_rate, 1),
               "frames": int(out[(name, which)][0].shape[0])}
        if which == "subset":
            row["identical_to_straightforward"] = _identical(out[(name, which)], plain)
        rows.append(row)
    rows.append({"benchmark": "dhp19_preprocess", "implementation": PLAIN, "events": f"{subset:,} (subset)",
                 "seconds": round(plain_s, 3), "Mev_per_s": round(plain_rate / 1e6, 3),
                 "speedup_vs_straightforward": 1.0, "frames": int(plain[0].shape[0]),
                 "identical_to_straightforward": "reference"})
    print(f"\n### DHP19 official preprocessing (all filters, 7500 x 4 events per frame): {n_events:,} events, "
          f"one core ({where}), best of {repeats}; the per-event Python version ran once on the first "
          f"{subset:,} events (its rate extrapolated)\n")
    print(markdown_table(rows, [("implementation", "implementation"), ("events", "events"),
                                ("seconds", "seconds"), ("Mev_per_s", "M events/s"),
                                ("speedup_vs_straightforward", "speed-up vs per-event Python (rate ratio)"),
                                ("frames", "frames"), ("identical_to_straightforward", "identical frames+labels")]))
    return rows


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--events", type=int, default=2_000_000)
    parser.add_argument("--subset", type=int, default=200_000)
    parser.add_argument("--repeats", type=int, default=5)
    args = parser.parse_args()
    sys.exit(exit_status(main(n_events=args.events, subset=args.subset, repeats=args.repeats)))
