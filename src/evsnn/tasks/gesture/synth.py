"""A small, learnable, synthetic DVS128 Gesture tree in the exact raw layout of the real download.

What is written (reference/FORMATS.md section 1; everything marked synthetic)::

    root/userNN_<lighting>.aedat          AEDAT 3.1, "#Source 1: DVS128", absolute µs timestamps starting seconds
                                          into the recording, several polarity packets and SPECIAL packets
    root/userNN_<lighting>_labels.csv     "class,startTime_usec,endTime_usec", 1-based classes
    root/trials_to_train.txt              users 01..n_train (the real split: user01-23 train, user24-29 test)
    root/trials_to_test.txt               the remaining users
    root/gesture_mapping.csv, README.txt, LICENSE.txt

The real files' quirks are reproduced: every class occurs ``repeats`` times per file in a shuffled order (classes
not in numeric order, repeated classes), one file writes its label rows out of time order, and one pair of windows
overlaps (the end of one gesture is after the start of the next, like user22_led).

Event model. The camera faces the subject, so the subject's right arm is on the image left. Each gesture is one or
two "hands": Gaussian spots of events that move along a class-specific trajectory (circles clockwise or
counter-clockwise left or right of the body, horizontal waves, antiphase vertical drumming, clapping blobs, rolling
forearms, a strumming diagonal, and a random smooth trajectory for "other gestures"). A DVS fires where brightness
changes, so a spot emits events in proportion to its speed (plus a floor), with ON polarity on its leading edge and
OFF on its trailing edge (10 % flipped). Per sample the speed (±20 %), start phase, centre, radius and spot size are
randomised, per user the body position and scale, per lighting the background-activity noise; a few hot pixels
fire throughout. Circles start near the bottom of the circle (the arm hangs down), so the direction of rotation is
visible in a handful of time bins, as for a real person. The default tree (6 users x 3 lightings x 22 gestures,
about 4,000 gesture events per 1-s window) is ~15 MB and is generated in seconds; ``event_rate`` scales it.
"""
from __future__ import annotations

import os
import zlib
from pathlib import Path

import numpy as np

from evsnn.events import EVENT_DTYPE
from evsnn.io.aedat3 import write_aedat3
from evsnn.io.dvsgesture import CLASS_NAMES, LABEL_DTYPE, NUM_CLASSES, TRIAL_LISTS, write_labels

__all__ = ["write_dvsgesture_tree", "gesture_events", "noise_events", "LIGHTING_NOISE"]

#: background-activity multiplier per lighting condition (the real tree has these five)
LIGHTING_NOISE = {"fluorescent": 1.0, "fluorescent_led": 1.3, "lab": 0.9, "led": 1.4, "natural": 0.7}

_GRID = 512  # time resolution of the trajectory density used to sample event times


def _circle(tau, cx, cy, r, f, phase, direction):
    ang = np.pi / 2 + phase + direction * 2 * np.pi * f * tau  # starts at the bottom (v grows downwards)
    return [(cx + r * np.cos(ang), cy + r * np.sin(ang))]


def _trajectories(label: int, tau: np.ndarray, prm: dict) -> list[tuple[np.ndarray, np.ndarray]]:
    """Centres (u, v) in [0, 1] image units of each moving spot at normalised times ``tau`` for class ``label``."""
    cx, cy, a, sp, ph = prm["cx"], prm["cy"], prm["scale"], prm["speed"], prm["phase"]
    side = 0.22 * a
    two_pi = 2 * np.pi
    if label == 0:  # hand clapping: two spots meet in front of the chest and part again
        d = 0.03 + 0.10 * a * (1 + np.cos(two_pi * 3 * sp * tau + ph)) / 2
        return [(cx - d, cy - 0.04 + 0 * tau), (cx + d, cy - 0.04 + 0 * tau)]
    if label in (1, 2):  # right / left hand wave: horizontal oscillation, high, on one side
        u0 = cx - side if label == 1 else cx + side
        return [(u0 + 0.08 * a * np.sin(two_pi * 2 * sp * tau + ph), cy - 0.20 * a + 0 * tau)]
    if label in (3, 4, 5, 6):  # right/left arm clockwise/counter-clockwise circles
        u0 = cx - side if label in (3, 4) else cx + side
        direction = 1.0 if label in (3, 5) else -1.0
        return _circle(tau, u0, cy, 0.14 * a, 1.0 * sp, ph, direction)
    if label == 7:  # arm roll: two forearms rolling around each other in front of the body
        ang = ph + prm["roll_dir"] * two_pi * 2.5 * sp * tau
        r = 0.07 * a
        return [(cx + r * np.cos(ang), cy + 0.06 + r * np.sin(ang)),
                (cx - r * np.cos(ang), cy + 0.06 - r * np.sin(ang))]
    if label == 8:  # air drums: two spots beating up and down in antiphase, low and wide
        w = two_pi * 2.5 * sp * tau + ph
        return [(cx - 0.15 * a + 0 * tau, cy + 0.08 + 0.08 * a * np.sin(w)),
                (cx + 0.15 * a + 0 * tau, cy + 0.08 - 0.08 * a * np.sin(w))]
    if label == 9:  # air guitar: a strumming hand on a diagonal, a fretting hand sliding along the neck
        s = 0.07 * a * np.sin(two_pi * 3 * sp * tau + ph)
        fret = 0.04 * a * np.sin(two_pi * 0.7 * tau + ph)
        return [(cx + 0.08 + 0.7 * s, cy + 0.08 + 0.7 * s), (cx - 0.26 * a + fret, cy - 0.06 - 0.5 * fret)]
    if label == 10:  # other gestures: a smooth random trajectory anywhere around the body
        f1, f2, a1, a2, p1, p2 = prm["other"]
        return [(cx + prm["du0"] + a1 * np.sin(two_pi * f1 * tau + p1),
                 cy + prm["dv0"] + a2 * np.sin(two_pi * f2 * tau + p2))]
    raise ValueError(f"label {label} outside 0..{NUM_CLASSES - 1}")


def _sample_params(rng: np.random.Generator, user: dict) -> dict:
    return {
        "cx": 0.5 + user["du"] + rng.normal(0, 0.02),
        "cy": 0.5 + user["dv"] + rng.normal(0, 0.02),
        "scale": user["scale"] * rng.uniform(0.85, 1.15),
        "speed": rng.uniform(0.8, 1.2),
        "phase": rng.uniform(-np.pi / 4, np.pi / 4),
        "sigma": rng.uniform(0.025, 0.04),
        "roll_dir": rng.choice([-1.0, 1.0]),
        "du0": rng.uniform(-0.2, 0.2),
        "dv0": rng.uniform(-0.15, 0.15),
        "other": (rng.uniform(0.3, 1.5), rng.uniform(0.3, 1.5), rng.uniform(0.05, 0.15), rng.uniform(0.05, 0.15),
                  rng.uniform(0, 2 * np.pi), rng.uniform(0, 2 * np.pi)),
    }


def gesture_events(rng: np.random.Generator, label: int, start_us: int, end_us: int, n_events: int,
                   resolution: int = 128, user: dict | None = None) -> np.ndarray:
    """Events of one gesture of class ``label`` (0-based) in [start_us, end_us), sorted by time.

    ``user`` = {"du", "dv", "scale"} shifts and scales the body; events outside the sensor are dropped.
    """
    user = user or {"du": 0.0, "dv": 0.0, "scale": 1.0}
    prm = _sample_params(rng, user)
    grid = (np.arange(_GRID) + 0.5) / _GRID
    spots = _trajectories(label, grid, prm)
    # events per spot and time bin ∝ floor + speed (DVS events come from moving edges)
    speeds = np.stack([np.hypot(np.gradient(u, grid), np.gradient(v, grid)) for u, v in spots])  # (spots, grid)
    weights = 0.15 * speeds.mean() + speeds + 1e-9
    cum = np.cumsum(weights.sum(axis=0))
    cum /= cum[-1]
    tau = np.sort(np.interp(rng.random(n_events), np.concatenate([[0.0], cum]), np.concatenate([[0.0], grid])))
    # choose a spot for each event ∝ its weight at that time
    bins = np.minimum((tau * _GRID).astype(np.int64), _GRID - 1)
    w = weights[:, bins]
    which = (rng.random(n_events)[None, :] * w.sum(axis=0) > np.cumsum(w, axis=0)).sum(axis=0)
    centres = _trajectories(label, tau, prm)
    cu = np.choose(which, [c[0] for c in centres])
    cv = np.choose(which, [c[1] for c in centres])
    dt = 1e-3
    ahead = _trajectories(label, tau + dt, prm)
    vu = (np.choose(which, [c[0] for c in ahead]) - cu) / dt
    vv = (np.choose(which, [c[1] for c in ahead]) - cv) / dt
    sigma = prm["sigma"] * user["scale"]
    du = rng.normal(0, sigma, n_events)
    dv = rng.normal(0, sigma, n_events)
    on = du * vu + dv * vv > 0  # leading edge -> ON, trailing edge -> OFF
    on ^= rng.random(n_events) < 0.1
    x = np.floor((cu + du) * resolution).astype(np.int64)
    y = np.floor((cv + dv) * resolution).astype(np.int64)
    keep = (x >= 0) & (x < resolution) & (y >= 0) & (y < resolution)
    ev = np.empty(int(keep.sum()), dtype=EVENT_DTYPE)
    ev["x"] = x[keep]
    ev["y"] = y[keep]
    ev["p"] = on[keep]
    ev["t"] = start_us + np.floor(tau[keep] * (end_us - start_us)).astype(np.int64)
    return ev


def noise_events(rng: np.random.Generator, t0_us: int, t1_us: int, rate_hz: float, resolution: int = 128,
                 hot_pixels: int = 2) -> np.ndarray:
    """Background activity (uniform pixels, random polarity, Poisson in time) plus a few hot pixels."""
    dur_s = (t1_us - t0_us) * 1e-6
    n = rng.poisson(rate_hz * dur_s)
    hot = rng.integers(0, resolution, size=(hot_pixels, 2))
    hot_n = rng.poisson(rng.uniform(5, 20, hot_pixels) * dur_s)
    m = n + int(hot_n.sum())
    ev = np.empty(m, dtype=EVENT_DTYPE)
    ev["x"][:n] = rng.integers(0, resolution, n)
    ev["y"][:n] = rng.integers(0, resolution, n)
    ev["x"][n:] = np.repeat(hot[:, 0], hot_n)
    ev["y"][n:] = np.repeat(hot[:, 1], hot_n)
    ev["p"] = rng.integers(0, 2, m)
    ev["t"] = rng.integers(t0_us, t1_us, m)
    return ev


def _user_name(u: int) -> str:
    return f"user{u:02d}"


def write_dvsgesture_tree(root: str | os.PathLike, *, n_train_users: int = 4, n_test_users: int = 2,
                          lightings=("fluorescent", "led", "natural"), repeats: int = 2,
                          gesture_duration_s: float = 1.0, event_rate: float = 4000.0, noise_rate: float = 200.0,
                          resolution: int = 128, seed: int = 0, packet_size: int = 2048) -> dict:
    """Write a synthetic DvsGesture tree under ``root`` (created if needed); deterministic for a given seed.

    A recording depends only on (seed, user, lighting) and the generator settings, so a bigger tree contains the
    files of a smaller one unchanged (except the few files chosen to carry the label quirks).

    Parameters
    ----------
    n_train_users, n_test_users: users 01..n_train go to ``trials_to_train.txt``, the following ones to
        ``trials_to_test.txt`` (zero-padded numbering as in the real tree).
    lightings: one recording per user and lighting, ``userNN_<lighting>.aedat``.
    repeats: occurrences of each of the 11 classes per recording (with 1, one recording still gets a repeated
        class, as the real ones do).
    gesture_duration_s: mean label-window length (±10 % per gesture); gaps of 0.2-0.5 s separate gestures.
    event_rate: gesture events per second of window; noise_rate: background events per second (whole sensor).
    resolution: sensor width = height (128 for the DVS128).

    Returns a summary: ``root``, ``files`` (per split, .aedat names), ``samples`` (label rows per split),
    ``events`` (total), ``events_per_file``, ``bytes``, ``quirks`` (the files holding the overlap, the out-of-order
    rows and the repeated class), ``resolution``, ``seed``, ``classes``.
    """
    if n_train_users < 1 or n_test_users < 0 or repeats < 1 or not lightings:
        raise ValueError("need n_train_users >= 1, n_test_users >= 0, repeats >= 1 and at least one lighting")
    root = Path(root)
    root.mkdir(parents=True, exist_ok=True)
    users = list(range(1, n_train_users + n_test_users + 1))
    split_of = {u: ("train" if u <= n_train_users else "test") for u in users}
    files = [(u, lighting) for u in users for lighting in lightings]
    # where the quirks go (the real overlap is in a training file, user22_led)
    quirk_files = {
        "overlap": f"{_user_name(n_train_users)}_{lightings[-1]}",
        "out_of_order_rows": f"{_user_name(1)}_{lightings[0]}",
        "repeated_class": f"{_user_name(1)}_{lightings[-1]}" if repeats == 1 else f"every file (repeats={repeats})",
    }
    summary_files: dict[str, list[str]] = {"train": [], "test": []}
    samples = {"train": 0, "test": 0}
    events_per_file: dict[str, int] = {}
    total_bytes = 0
    for u, lighting in files:
        name = f"{_user_name(u)}_{lighting}"
        rng_user = np.random.default_rng([seed, u, 1_000])
        user = {"du": rng_user.normal(0, 0.025), "dv": rng_user.normal(0, 0.02), "scale": rng_user.uniform(0.9, 1.1)}
        rng = np.random.default_rng([seed, u, zlib.crc32(lighting.encode())])  # a file depends on its name only
        classes = np.repeat(np.arange(NUM_CLASSES), repeats)
        if repeats == 1 and name == quirk_files["repeated_class"]:
            classes = np.append(classes, rng.integers(0, NUM_CLASSES))
        rng.shuffle(classes)
        t0 = int(rng.uniform(3.0, 8.0) * 1e6)
        cur = t0 + int(rng.uniform(0.5, 1.0) * 1e6)
        rows = []
        chunks = []
        for label in classes.tolist():
            dur = int(gesture_duration_s * rng.uniform(0.9, 1.1) * 1e6)
            start, end = cur, cur + dur
            n_ev = int(rng.poisson(event_rate * dur * 1e-6))
            chunks.append(gesture_events(rng, label, start, end, n_ev, resolution, user))
            rows.append((label, start, end))
            cur = end + int(rng.uniform(0.2, 0.5) * 1e6)
        t_end = cur + int(rng.uniform(0.3, 1.0) * 1e6)
        chunks.append(noise_events(rng, t0, t_end, noise_rate * LIGHTING_NOISE.get(lighting, 1.0), resolution))
        events = np.concatenate(chunks)
        events = events[np.argsort(events["t"], kind="stable")]

        labels = np.array(rows, dtype=LABEL_DTYPE)
        if name == quirk_files["overlap"] and len(labels) > 1:
            j = len(labels) // 2 - 1
            labels["end"][j] = labels["start"][j + 1] + 100_000  # window j ends 100 ms into window j + 1
        if name == quirk_files["out_of_order_rows"] and len(labels) > 2:
            labels[[1, 2]] = labels[[2, 1]]  # rows not in time order

        source = "DVS128" if resolution == 128 else f"DVS{resolution} (synthetic)"
        start_time = f"2017-0{1 + u % 9}-{10 + len(lighting):02d} 1{len(lighting) % 10}:{u % 60:02d}:00 (TZ-0500)"
        aedat = write_aedat3(root / f"{name}.aedat", events, source=source, start_time=start_time,
                             packet_size=packet_size)
        write_labels(root / f"{name}_labels.csv", labels)
        total_bytes += aedat.stat().st_size
        events_per_file[name] = int(len(events))
        summary_files[split_of[u]].append(f"{name}.aedat")
        samples[split_of[u]] += len(labels)

    for split in ("train", "test"):
        (root / TRIAL_LISTS[split]).write_text("".join(f"{n}\n" for n in summary_files[split]), encoding="ascii")
    (root / "gesture_mapping.csv").write_text(
        "class_id,class_name\n" + "".join(f"{i + 1},{n.replace(' ', '_')}\n" for i, n in enumerate(CLASS_NAMES)),
        encoding="ascii")
    (root / "README.txt").write_text(
        "SYNTHETIC DVS128 Gesture-style dataset generated by evsnn.tasks.gesture.synth (NOT the IBM recordings).\n"
        "Same layout as the official DvsGesture archive: userNN_<lighting>.aedat (AEDAT 3.1, DVS128 polarity\n"
        "events, absolute microsecond timestamps), userNN_<lighting>_labels.csv (class,startTime_usec,endTime_usec;\n"
        "1-based classes), trials_to_train.txt, trials_to_test.txt, gesture_mapping.csv.\n"
        f"Generator settings: seed={seed}, users={len(users)} ({n_train_users} train), lightings={list(lightings)},\n"
        f"repeats={repeats}, gesture_duration_s={gesture_duration_s}, event_rate={event_rate}, "
        f"noise_rate={noise_rate}, resolution={resolution}.\n"
        "Moving Gaussian spots of events follow a class-specific trajectory; see the module docstring.\n",
        encoding="ascii")
    (root / "LICENSE.txt").write_text(
        "SYNTHETIC data generated by evsnn for tests and demos; no part of the IBM DVS128 Gesture recordings is\n"
        "included. The real dataset is distributed by IBM under CC BY 4.0.\n", encoding="ascii")
    return {
        "root": str(root),
        "files": summary_files,
        "samples": samples,
        "events": int(sum(events_per_file.values())),
        "events_per_file": events_per_file,
        "bytes": int(total_bytes),
        "quirks": quirk_files,
        "resolution": resolution,
        "seed": seed,
        "classes": list(CLASS_NAMES),
    }
