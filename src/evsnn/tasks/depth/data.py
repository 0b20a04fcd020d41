"""MVSEC stereo depth: raw tree -> manifest -> depth frame caches (one HDF5 file per split).

Each sample is one depth map of the left camera (``depth_image_rect``, the benchmark's target) and the rectified
events of both cameras in the window ``[t_depth - window, t_depth)`` before its timestamp (matched by time, never by
image index), integrated into ``T`` time bins per polarity (StereoSpike's representation, ``counts``) or into a
per-polarity voxel grid (``voxel``). Frames are ``(T, 4, H, W)`` with the channels ``[left OFF, left ON, right OFF,
right ON]``; a monocular model takes the first two. Labels are the depth maps ``(H, W)`` float32 metres, NaN where
there is no valid depth.

Protocols (reference/FORMATS.md 3.5): split 1 trains on indoor_flying2+3 and tests on indoor_flying1, split 3
trains on indoor_flying1+2 and tests on indoor_flying3 (split 2: test indoor_flying2); real sequences use the
published depth-index ranges (test: if1 140-1200, if2 120-1420, if3 73-1615; training filter: if1 80-1259, if2
160-1579, if3 125-1814); synthetic sequences, which have far fewer depth maps, use the same protocol with the
ranges given as fractions of each sequence (``range_fraction``).
"""
from __future__ import annotations

import json
import logging
import os
from pathlib import Path

import numpy as np
from tqdm import tqdm

import evsnn
from evsnn.data import FrameCacheWriter
from evsnn.datasets import MVSEC_FB, mvsec_frame_range, mvsec_split
from evsnn.errors import ConfigError, DataMissingError
from evsnn.frames import integrate_by_time_bins, voxel_grid
from evsnn.io.mvsec import (CAMERAS, SENSOR_SIZE, MVSECSequence, find_calibration, load_calibration, rectify_events,
                            scene_of, sequence_files)
from evsnn.manifest import write_manifest
from evsnn.tasks.depth.protocols import FRAME_US, ITEM_OFFSET, area_closing, ss_lists, ss_range
from evsnn.util import atomic_path, fresh_dir, params_digest

log = logging.getLogger("evsnn.depth")

__all__ = ["DEFAULT_SEQUENCES", "FRAME_DEFAULTS", "REPRESENTATIONS", "CHANNELS", "prepare_mvsec", "depth_options",
           "crop_box", "stereo_representation", "depth_label", "protocol_ranges", "build_depth_frames"]

#: consecutive depth maps (0.5 s at 20 Hz) that form one trial of a cache: validation takes whole blocks
VAL_BLOCK = 10
DEFAULT_SEQUENCES = ("indoor_flying1", "indoor_flying2", "indoor_flying3")
REPRESENTATIONS = ("counts", "voxel")
CHANNELS = ("left_off", "left_on", "right_off", "right_on")
#: defaults of the frame options (the ``mvsec:`` block of a frames entry, or its top level)
FRAME_DEFAULTS = {
    "window_ms": 50.0,         # events in [t_depth - window, t_depth)
    "representation": "counts",  # counts: T time bins per polarity; voxel: per-polarity bilinear voxel grid
    "crop": None,              # [rows, cols] centred, or [row0, col0, rows, cols]; before downsampling
    "split": 1,                # 1: test if1 / train if2+if3; 3: test if3 / train if1+if2 (2: test if2)
    "ranges": "auto",          # auto | official | fraction | all
    "range_fraction": [0.1, 0.9],  # [start, stop) fraction of each sequence's depth maps (ranges: fraction)
    "stride": 1,               # keep every stride-th depth map of the ranges
    "min_depth": 0.0,          # depths <= min_depth are invalid (NaN)
    "max_depth": None,         # depths > max_depth are invalid (NaN); None: keep all
    "protocol": "evsnn",       # evsnn (windows before each depth map, above) | stereospike (protocols.py)
    "fill_holes": None,        # area-closing threshold (pixels) on each depth map; None: 24 for stereospike, else 0
    "frame_ranges": None,      # stereospike: {sequence: [start, stop]} replacing SS's slices (shorter data)
    "val_items": None,         # stereospike: validation items of the test sequence (default: SS's list)
    "test_items": None,        # stereospike: test items of the test sequence (default: SS's list)
}
PROTOCOLS = ("evsnn", "stereospike")


# -------------------------------------------------------------------------------------------------- prepare
def prepare_mvsec(name: str, ds_cfg: dict, data_root: str, manifest_out: str) -> dict:
    """Generate (synthetic), fetch (download) or locate (local) an MVSEC HDF5 tree and write its manifest.

    ``ds_cfg`` keys: ``source`` (synthetic | download | local), ``sequences`` (default indoor_flying1-3),
    ``path`` (local: the folder holding the ``*_data.hdf5`` / ``*_gt.hdf5`` files, directly or in ``{scene}/``, and
    the calibration: ``camchain-imucam-{scene}.yaml`` + maps, or ``{scene}_calib.zip``), ``urls`` (download: base
    URLs replacing the mirrors, file ``f`` of scene ``s`` at ``{base}{s}/{f}``), ``synthetic`` (keyword arguments
    of :func:`evsnn.tasks.depth.synth.write_mvsec_tree`). Every sequence is opened and checked (HDF5 readable, gt
    timestamps overlapping the events, calibration resolution = sensor resolution) before the manifest is written.
    """
    source = ds_cfg.get("source", "synthetic")
    sequences = list(ds_cfg.get("sequences") or DEFAULT_SEQUENCES)
    extract_root = Path(data_root) / name / "calib"
    if source == "synthetic":
        from evsnn.tasks.depth.synth import write_mvsec_tree

        root = fresh_dir(Path(data_root) / "synthetic" / name)
        syn = dict(ds_cfg.get("synthetic") or {})
        syn.setdefault("sequences", sequences)
        sequences = list(syn["sequences"])
        log.info("writing synthetic MVSEC tree to %s with %s", root, syn)
        write_mvsec_tree(root, **syn)
    elif source == "local":
        if not ds_cfg.get("path"):
            raise ConfigError(f"datasets.{name}.path must name the folder holding the MVSEC hdf5 files "
                              "(source: local)")
        root = Path(ds_cfg["path"])
        if not root.is_dir():
            from evsnn.io.mvsec import missing_file_message

            raise DataMissingError(
                f"datasets.{name}.path = {ds_cfg['path']} does not exist. "
                + " ".join(missing_file_message(f, root) for s in sequences
                           for f in (f"{s}_data.hdf5", f"{s}_gt.hdf5")))
    elif source == "download":
        from evsnn.datasets import fetch_mvsec

        root = fetch_mvsec(Path(data_root) / name, sequences, urls=ds_cfg.get("urls") or None)
    else:
        raise ConfigError(f"datasets.{name}.source = {source!r}; MVSEC sources are synthetic, download, local")

    entries, files, calib = [], {}, {}
    calibrations = {}
    for seq in sequences:
        scene = scene_of(seq)
        data, gt = sequence_files(root, seq)
        if scene not in calib:
            calib[scene] = find_calibration(root, scene, extract_to=extract_root / scene)
        with MVSECSequence(data, gt) as s:
            cal = load_calibration(calib[scene], scene, size=s.size, data_path=data)
            calibrations[scene] = cal
            entries.append({"name": seq, "scene": scene, "data": str(data.resolve()), "gt": str(gt.resolve()),
                            "origin_s": s.origin_s, "size": list(s.size),
                            "depth_maps": int(s.depth_ts_us().size),
                            "events": {cam: s.n_events(cam) for cam in CAMERAS}})
        for f in (data, gt):
            files[f.name] = os.path.getsize(f)
    for scene, d in calib.items():
        for f in sorted(Path(d).iterdir()):
            if f.is_file():
                files[f"{scene}_calib/{f.name}"] = os.path.getsize(f)
    manifest = {
        "dataset": name, "kind": "mvsec", "source": source, "synthetic": source == "synthetic",
        "root": str(Path(root).resolve()), "sequences": entries,
        "calibration": {scene: str(Path(d).resolve()) for scene, d in calib.items()},
        "fB": {scene: c.fB for scene, c in calibrations.items()},
        "files": files, "digest": params_digest(files),
    }
    for scene, c in calibrations.items():
        ref = MVSEC_FB.get(scene)
        if ref is not None and source != "synthetic" and abs(c.fB - ref) > 0.01 * ref:
            raise ConfigError(
                f"{Path(calib[scene]) / f'camchain-imucam-{scene}.yaml'}: cam1.projection_matrix[0][3] gives a "
                f"focal x baseline of {c.fB:.4f} px m, but the MVSEC {scene} recordings and their benchmark use "
                f"{ref:.4f} px m (FORMATS 3.5): this calibration belongs to another rig or scene")
        if ref is not None and source != "synthetic" and abs(c.fB - ref) > 1e-3 * ref:
            log.warning("calibration of %s gives fB = %.6f, the benchmark uses %.6f", scene, c.fB, ref)
    raw = [Path(e[k]) for e in entries for k in ("data", "gt")]
    raw += [f for d in calib.values() for f in sorted(Path(d).iterdir()) if f.is_file()]
    manifest = write_manifest(manifest_out, manifest, raw)
    log.info("manifest: %d sequences (%s) under %s", len(entries), ", ".join(sequences), root)
    return manifest


# ------------------------------------------------------------------------------------------------- options
def depth_options(frames_cfg: dict) -> dict:
    """The frame options with defaults: ``T``, ``downsample`` and the keys of :data:`FRAME_DEFAULTS`, read from the
    ``mvsec`` block of the frames entry (or, failing that, its top level)."""
    block = dict(frames_cfg.get("mvsec") or {})
    opts = {}
    for key, default in {**FRAME_DEFAULTS, "T": None, "downsample": 1}.items():
        opts[key] = block.get(key, frames_cfg.get(key, default))
    if not isinstance(opts["T"], int) or opts["T"] < 1:
        raise ConfigError(f"frames T must be a positive integer (time bins per sample), got {opts['T']!r}")
    if opts["representation"] not in REPRESENTATIONS:
        raise ConfigError(f"frames mvsec.representation = {opts['representation']!r}; allowed: "
                          f"{', '.join(REPRESENTATIONS)}")
    if opts["ranges"] not in ("auto", "official", "fraction", "all"):
        raise ConfigError(f"frames mvsec.ranges = {opts['ranges']!r}; allowed: auto, official, fraction, all")
    f0, f1 = opts["range_fraction"]
    if not 0 <= f0 < f1 <= 1:
        raise ConfigError(f"frames mvsec.range_fraction = {opts['range_fraction']!r} must be [start, stop] with "
                          "0 <= start < stop <= 1")
    if not opts["window_ms"] or opts["window_ms"] <= 0:
        raise ConfigError(f"frames mvsec.window_ms = {opts['window_ms']!r} must be > 0")
    window_us = int(round(float(opts["window_ms"]) * 1000))
    if window_us < opts["T"]:
        raise ConfigError(f"frames mvsec.window_ms = {opts['window_ms']} is shorter than T = {opts['T']} µs bins")
    opts["bin_us"] = window_us // opts["T"]
    opts["window_us"] = opts["bin_us"] * opts["T"]
    if int(opts["stride"]) < 1:
        raise ConfigError(f"frames mvsec.stride = {opts['stride']!r} must be >= 1")
    mvsec_split(opts["split"])
    if opts["protocol"] not in PROTOCOLS:
        raise ConfigError(f"frames mvsec.protocol = {opts['protocol']!r}; allowed: {', '.join(PROTOCOLS)}")
    if opts["fill_holes"] is None:
        opts["fill_holes"] = 24 if opts["protocol"] == "stereospike" else 0
    if opts["protocol"] == "stereospike":
        if opts["representation"] != "counts":
            raise ConfigError("frames mvsec.protocol = stereospike uses count frames; set mvsec.representation: "
                              "counts (or leave it out)")
        if int(opts["split"]) == 2 and (opts["val_items"] is None or opts["test_items"] is None):
            raise ConfigError("frames mvsec.split = 2: StereoSpike's protocol is run here for splits 1 and 3 "
                              "(give mvsec.val_items and mvsec.test_items for split 2)")
    return opts


def crop_box(crop, size=SENSOR_SIZE, downsample: int = 1) -> tuple[int, int, int, int]:
    """``(row0, col0, rows, cols)`` of the crop in rectified sensor pixels; ``crop`` is None (the whole sensor),
    ``[rows, cols]`` (centred) or ``[row0, col0, rows, cols]``; rows and cols must be multiples of ``downsample``."""
    H, W = size
    if crop is None:
        box = (0, 0, H, W)
    elif len(crop) == 2:
        rows, cols = (int(v) for v in crop)
        box = ((H - rows) // 2, (W - cols) // 2, rows, cols)
    elif len(crop) == 4:
        box = tuple(int(v) for v in crop)
    else:
        raise ConfigError(f"frames mvsec.crop = {list(crop)!r} must be [rows, cols] or [row0, col0, rows, cols]")
    r0, c0, rows, cols = box
    if not (rows > 0 and cols > 0 and r0 >= 0 and c0 >= 0 and r0 + rows <= H and c0 + cols <= W):
        raise ConfigError(f"frames mvsec.crop {list(crop) if crop else None} must fit in the {H} x {W} sensor")
    k = int(downsample)
    if rows % k or cols % k:
        hint = [rows - rows % k, cols - cols % k]
        raise ConfigError(f"frames downsample = {k} must divide the cropped size {rows} x {cols} (the DAVIS346 "
                          f"sensor is {H} x {W}); set frames mvsec.crop, e.g. crop: {hint}")
    return box


# ------------------------------------------------------------------------------------------ representations
def _crop_events(ev: np.ndarray, box, k: int = 1) -> np.ndarray:
    """Events inside the crop, in crop coordinates divided by ``k`` (counting ``(x // k, y // k)`` is summing
    ``k x k`` blocks)."""
    r0, c0, rows, cols = box
    x = ev["x"].astype(np.int64) - c0
    y = ev["y"].astype(np.int64) - r0
    keep = (x >= 0) & (x < cols) & (y >= 0) & (y < rows)
    out = ev[keep].copy()
    out["x"] = x[keep] // k
    out["y"] = y[keep] // k
    return out


def _window_voxel(ev: np.ndarray, T: int, rows: int, cols: int, t0: int, t1: int) -> np.ndarray:
    """:func:`evsnn.frames.voxel_grid` of ``ev`` (all counted positive) with its time axis fixed to the window
    ``[t0, t1)`` rather than to the first and last event: two marker events at ``t0`` and ``t1 - 1`` (pixel 0, 0,
    each landing with weight exactly 1 in the first and last bin) are added and their weight removed again."""
    marks = np.zeros(2, dtype=ev.dtype)
    marks["t"] = (t0, t1 - 1)
    marks["p"] = 1
    body = ev.copy()
    body["p"] = 1
    v = voxel_grid(np.concatenate([marks[:1], body, marks[1:]]), T, rows, cols, dtype=np.float64)
    v[0, 0, 0] -= 1.0
    v[T - 1, 0, 0] -= 1.0
    return v


def stereo_representation(left: np.ndarray, right: np.ndarray, t_end_us: int, opts: dict,
                          box=(0, 0) + SENSOR_SIZE) -> np.ndarray:
    """``(T, 4, rows/k, cols/k)`` frames of the rectified events of both cameras in ``[t_end - window, t_end)``.

    ``opts``: :func:`depth_options` (``T``, ``bin_us``, ``downsample`` k, ``representation``); ``box`` the crop
    (:func:`crop_box`). ``counts``: :func:`evsnn.frames.integrate_by_time_bins` (``T`` bins of ``bin_us``),
    events per ``k x k`` block, int32; ``voxel``: per polarity the bilinear voxel grid of
    :func:`evsnn.frames.voxel_grid` over the window (events weighted +1, bin centres from ``t_end - window`` to
    ``t_end - 1``), summed per ``k x k`` block, float32. Channels: left OFF, left ON, right OFF, right ON."""
    T, k, bin_us = opts["T"], int(opts["downsample"]), opts["bin_us"]
    r0, c0, rows, cols = box
    h, w = rows // k, cols // k
    t1 = int(t_end_us)
    t0 = t1 - T * bin_us
    counts = opts["representation"] == "counts"
    out = np.zeros((T, 4, h, w), dtype=np.int32 if counts else np.float32)
    for ci, ev in enumerate((left, right)):
        ev = _crop_events(ev, box, k)
        if counts:
            out[:, 2 * ci: 2 * ci + 2] = integrate_by_time_bins(ev, bin_us, h, w, n_bins=T, t_start=t0,
                                                                dtype=np.int32)
        else:
            ev = ev[(ev["t"] >= t0) & (ev["t"] < t1)]
            for pi, on in enumerate((False, True)):
                out[:, 2 * ci + pi] = _window_voxel(ev[(ev["p"] != 0) == on], T, h, w, t0, t1)
    return out


def _block_sum(a: np.ndarray, k: int) -> np.ndarray:
    """Sum of ``k x k`` blocks of a 2-D array (strided slices: much faster than a reshape-sum over small axes)."""
    out = a[0::k, 0::k].copy()
    for dy in range(k):
        for dx in range(k):
            if dy or dx:
                out += a[dy::k, dx::k]
    return out


def depth_label(depth: np.ndarray, box, downsample: int = 1, min_depth: float = 0.0,
                max_depth: float | None = None) -> np.ndarray:
    """A depth map (H, W) -> the cropped, downsampled label (float32 metres, NaN = invalid): pixels that are NaN,
    <= ``min_depth`` or > ``max_depth`` are invalid; each ``k x k`` block is the mean of its valid pixels (NaN
    when it has none)."""
    r0, c0, rows, cols = box
    d = np.asarray(depth, dtype=np.float64)[r0: r0 + rows, c0: c0 + cols]
    with np.errstate(invalid="ignore"):
        valid = np.isfinite(d) & (d > min_depth)
        if max_depth is not None:
            valid &= d <= max_depth
    k = int(downsample)
    if k == 1:
        return np.where(valid, d, np.nan).astype(np.float32)
    s = _block_sum(np.where(valid, d, 0.0), k)
    n = _block_sum(valid.astype(np.int32), k)
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(n > 0, s / np.maximum(n, 1), np.nan).astype(np.float32)


def protocol_ranges(sequence: str, role: str, n_depth: int, opts: dict, synthetic: bool) -> tuple[int, int]:
    """``(start, stop)`` depth indices of ``sequence`` used as ``role`` (train / test) under the options' ranges."""
    mode = opts["ranges"]
    if mode == "auto":
        mode = "fraction" if synthetic else "official"
    if mode == "all":
        return 0, n_depth
    if mode == "fraction":
        f0, f1 = opts["range_fraction"]
        return int(round(f0 * n_depth)), int(round(f1 * n_depth))
    start, stop = mvsec_frame_range(sequence, role)
    if stop > n_depth:
        log.warning("%s has %d depth maps, fewer than the protocol's %s range end %d; clipping", sequence, n_depth,
                    role, stop)
    return min(start, n_depth), min(stop, n_depth)


# ------------------------------------------------------------------------------------------------- build
def build_depth_frames(manifest: dict, frames_cfg: dict, out_train: str, out_test: str) -> dict:
    """Write the train and test depth caches for one frames entry of the config.

    frames_cfg keys (defaults): ``T`` (required: time bins per sample), ``downsample`` (1), and, in its ``mvsec``
    block (or at its top level): ``window_ms`` (50), ``representation`` (counts | voxel), ``crop`` (None: whole
    260 x 346 rectified frame; [rows, cols] centred or [row0, col0, rows, cols]; rows/cols multiples of
    downsample), ``split`` (1 | 2 | 3), ``ranges`` (auto: official for real, fraction for synthetic | official |
    fraction | all), ``range_fraction`` ([0.1, 0.9]), ``stride`` (1), ``min_depth`` (0), ``max_depth`` (None).

    Cache content: ``frames`` (N, T, 4, H, W) uint16 (counts) / float32 (voxel), ``labels`` (N, H, W) float32 depth
    (NaN invalid), ``trial``/``trials`` (the sequence of each sample), ``window`` (N, 2) µs, extras
    ``depth_index`` (N,), ``timestamp_us`` (N,) (µs after the sequence origin), ``depth_ts`` (N,) (s, ROS clock);
    attrs: the options, ``fB`` (px·m in cache pixels = sensor fB / downsample; disparity = fB / depth),
    ``fB_sensor``, ``focal``, ``baseline``, ``depth_min`` / ``depth_max`` (valid label range in this cache),
    ``protocol`` (JSON: split, sequences and depth-index ranges), ``channels``, ``sequence_origins`` (JSON).
    """
    opts = depth_options(frames_cfg)
    if opts["protocol"] == "stereospike":
        return build_stereospike_frames(manifest, opts, out_train, out_test)
    split = mvsec_split(opts["split"])
    seqs = {s["name"]: s for s in manifest["sequences"]}
    missing = [s for role in ("train", "test") for s in split[role] if s not in seqs]
    if missing:
        raise DataMissingError(f"MVSEC split {opts['split']} needs {', '.join(missing)}, which dataset "
                               f"{manifest['dataset']} does not hold (it has {', '.join(seqs)}); add them to "
                               f"datasets.{manifest['dataset']}.sequences")
    synthetic = bool(manifest.get("synthetic"))
    size = tuple(next(iter(seqs.values())).get("size", SENSOR_SIZE))
    k = int(opts["downsample"])
    box = crop_box(opts["crop"], size, k)
    H, W = box[2] // k, box[3] // k
    T = opts["T"]
    calibs = {}
    first_scene = seqs[split["test"][0]]["scene"]
    protocol = {"split": int(opts["split"]), "train": {}, "test": {}}
    fB_sensor = float(manifest["fB"][first_scene])
    focal = None
    base_attrs = {
        "dataset": manifest["dataset"], "kind": "mvsec", "T": T, "downsample": k, "H": H, "W": W,
        "C": 4, "channels": ",".join(CHANNELS), "representation": opts["representation"],
        "window_ms": opts["window_us"] / 1000.0, "window_us": opts["window_us"], "bin_us": opts["bin_us"],
        "crop": json.dumps(list(box)), "split": int(opts["split"]), "ranges": opts["ranges"],
        "range_fraction": json.dumps(list(opts["range_fraction"])), "stride": int(opts["stride"]),
        "min_depth": float(opts["min_depth"]), "max_depth": float("nan") if opts["max_depth"] is None
        else float(opts["max_depth"]),
        "fB": fB_sensor / k, "fB_sensor": fB_sensor, "source_digest": manifest["digest"],
        "synthetic": synthetic, "evsnn_version": evsnn.__version__,
        "convention": "frames (T, C, H, W): T bins over [t_depth - window, t_depth), channels left OFF, left ON, "
                      "right OFF, right ON of rectified events (crop, then k x k sum); labels: left depth_image_rect "
                      "in metres (crop, then mean of the valid pixels of each k x k block), NaN = invalid; "
                      "disparity in cache pixels = fB / depth",
    }
    outs = {"train": out_train, "test": out_test}
    counts = {"train": 0, "test": 0}
    drange = {"train": [np.inf, -np.inf], "test": [np.inf, -np.inf]}
    origins = {}
    dtype = np.uint16 if opts["representation"] == "counts" else np.float32
    with atomic_path(out_train, suffix=".h5") as tmp_train, atomic_path(out_test, suffix=".h5") as tmp_test:
        writers = {role: FrameCacheWriter(tmp, (T, 4, H, W), {**base_attrs, "role": role}, dtype=dtype)
                   for role, tmp in (("train", tmp_train), ("test", tmp_test))}
        try:
            for role in ("train", "test"):
                for name in split[role]:
                    entry = seqs[name]
                    scene = entry["scene"]
                    with MVSECSequence(entry["data"], entry["gt"]) as seq:
                        if scene not in calibs:
                            calibs[scene] = load_calibration(manifest["calibration"][scene], scene, size=seq.size,
                                                             data_path=entry["data"])
                        cal = calibs[scene]
                        focal = cal.focal
                        origins[name] = seq.origin_s
                        ts_us = seq.depth_ts_us("left", "rect")
                        start, stop = protocol_ranges(name, role, ts_us.size, opts, synthetic)
                        protocol[role][name] = [start, stop]
                        for i in tqdm(range(start, stop, int(opts["stride"])), desc=f"mvsec {role} {name}",
                                      mininterval=2.0):
                            t_d = int(ts_us[i])
                            t0 = t_d - opts["window_us"]
                            ev = [rectify_events(seq.events(cam, t0, t_d), *cal.maps[cam]) for cam in CAMERAS]
                            frames = stereo_representation(ev[0], ev[1], t_d, opts, box)
                            raw_depth = seq.depth(i, "left", "rect")
                            if opts["fill_holes"]:
                                raw_depth = area_closing(raw_depth, opts["fill_holes"])
                            label = depth_label(raw_depth, box, k, opts["min_depth"], opts["max_depth"])
                            if np.isfinite(label).any():
                                drange[role][0] = min(drange[role][0], float(np.nanmin(label)))
                                drange[role][1] = max(drange[role][1], float(np.nanmax(label)))
                            # trial = sequence/block of VAL_BLOCK consecutive depth maps: the validation split
                            # takes whole blocks (a whole sequence would be half of the training data)
                            trial = f"{name}/{i // VAL_BLOCK:04d}"
                            writers[role].add(frames, label, trial, (t0, t_d), depth_index=np.int32(i),
                                              timestamp_us=np.int64(t_d),
                                              depth_ts=np.float64(seq.origin_s + t_d * 1e-6))
                            counts[role] += 1
        finally:
            for role, w in writers.items():
                lo, hi = drange[role]
                w.h5.attrs["depth_min"] = lo if np.isfinite(lo) else float("nan")
                w.h5.attrs["depth_max"] = hi if np.isfinite(hi) else float("nan")
                w.h5.attrs["protocol"] = json.dumps(protocol)
                w.h5.attrs["sequences"] = json.dumps(list(split[role]))
                w.h5.attrs["sequence_origins"] = json.dumps(origins)
                if focal is not None:
                    w.h5.attrs["focal"] = focal / k
                    w.h5.attrs["baseline"] = fB_sensor / focal
                w.close()
        for role in ("train", "test"):
            if counts[role] == 0:
                raise DataMissingError(
                    f"no {role} samples: MVSEC split {opts['split']} {role} sequences {', '.join(split[role])} give "
                    f"no depth maps in the ranges {protocol[role]} of dataset {manifest['dataset']}; check "
                    "frames mvsec.ranges / range_fraction or the sequences' length")
    log.info("depth caches: %s samples, protocol %s", counts, protocol)
    return {"samples": counts, "protocol": protocol, "outputs": outs}


# ------------------------------------------------------------------------------------- StereoSpike protocol
def ss_rectify(ev: np.ndarray, x_map: np.ndarray, y_map: np.ndarray) -> np.ndarray:
    """SS's rectification (urancon/StereoSpike@6254fec datasets/MVSEC/utils.py:31-56, 267-268): the rectified
    coordinates of each raw pixel, events kept when ``0 <= x <= W`` and ``0 <= y <= H``, the pixel is the integer
    part (an event landing exactly on x = W or y = H, where SS would index out of range, is dropped)."""
    H, W = x_map.shape
    x = ev["x"].astype(np.intp)
    y = ev["y"].astype(np.intp)
    inside = (x >= 0) & (x < W) & (y >= 0) & (y < H)
    xs, ys = np.where(inside, x, 0), np.where(inside, y, 0)
    with np.errstate(invalid="ignore"):
        xr, yr = x_map[ys, xs], y_map[ys, xs]
        keep = inside & (xr >= 0) & (xr <= W) & (yr >= 0) & (yr <= H)
        xi, yi = np.floor(np.where(keep, xr, 0)), np.floor(np.where(keep, yr, 0))
        keep &= (xi < W) & (yi < H)
    out = ev[keep].copy()
    out["x"] = xi[keep]
    out["y"] = yi[keep]
    return out


def _ss_frame(ev: np.ndarray, T: int, box, k: int, h: int, w: int) -> np.ndarray:
    """(T, 2, h, w) counts of events already inside one 50-ms slot, channel 0 ON, 1 OFF (SS's order)."""
    ev = _crop_events(ev, box, k)
    out = np.zeros((T, 2, h, w), dtype=np.int32)
    if len(ev):
        t0 = int(ev["t"].min()) if T == 1 else 0
        b = np.zeros(len(ev), dtype=np.intp) if T == 1 else np.minimum(((ev["t"] - t0) * T) // FRAME_US, T - 1)
        pol = np.where(ev["p"] > 0, 0, 1)
        np.add.at(out, (b, pol, ev["y"].astype(np.intp), ev["x"].astype(np.intp)), 1)
    return out


def _check_items(items, n_items, name, sequence, key, start, n_depth):
    bad = [i for i in items if not 0 <= int(i) < n_items]
    if bad:
        raise ConfigError(f"frames mvsec.{key} runs past the sequence: item {max(bad)} of {sequence} needs depth map "
                          f"{start + ITEM_OFFSET + max(bad)}, but the slice {name} holds {n_items} items "
                          f"({n_depth} depth maps in the file); give frames mvsec.frame_ranges / {key} that fit")


def build_stereospike_frames(manifest: dict, opts: dict, out_train: str, out_test: str) -> dict:
    """The train and test caches of StereoSpike's protocol (:mod:`evsnn.tasks.depth.protocols`): every item of
    the training sequences' slices in the train cache; the test sequence's validation and test items in the test
    cache, marked by the per-sample dataset ``validation`` (1 = validation item), which the training loop uses as
    its validation set and evaluation leaves out. Frames ``(T, 4, H, W)``: the 50-ms slot on SS's time grid
    (split into T equal bins), channels left ON, left OFF, right ON, right OFF; labels: the left rectified depth
    map after area closing (``fill_holes``, 24), zeros and NaN invalid, then crop / k x k mean as usual."""
    split_no = int(opts["split"])
    split = mvsec_split(split_no)
    seqs = {s["name"]: s for s in manifest["sequences"]}
    missing = [s for role in ("train", "test") for s in split[role] if s not in seqs]
    if missing:
        raise DataMissingError(f"MVSEC split {split_no} needs {', '.join(missing)}, which dataset "
                               f"{manifest['dataset']} does not hold; add them to "
                               f"datasets.{manifest['dataset']}.sequences")
    size = tuple(next(iter(seqs.values())).get("size", SENSOR_SIZE))
    k = int(opts["downsample"])
    box = crop_box(opts["crop"], size, k)
    H, W, T = box[2] // k, box[3] // k, opts["T"]
    if FRAME_US % T:
        raise ConfigError(f"frames T = {T} must divide the 50-ms slot of StereoSpike's protocol (1, 2, 5, 10, 25)")
    val_items, test_items = ss_lists(split_no) if split_no in (1, 3) else ([], [])
    if opts["val_items"] is not None:
        val_items = [int(i) for i in opts["val_items"]]
    if opts["test_items"] is not None:
        test_items = [int(i) for i in opts["test_items"]]
    dropped: list[int] = []
    fB_sensor = float(manifest["fB"][seqs[split["test"][0]]["scene"]])
    attrs = {"dataset": manifest["dataset"], "kind": "mvsec", "T": T, "downsample": k, "H": H, "W": W, "C": 4,
             "channels": "left_on,left_off,right_on,right_off", "representation": "counts",
             "protocol_name": "stereospike", "window_ms": 50.0, "window_us": FRAME_US, "bin_us": FRAME_US // T,
             "crop": json.dumps(list(box)), "split": split_no, "fill_holes": int(opts["fill_holes"]),
             "min_depth": float(opts["min_depth"]),
             "max_depth": float("nan") if opts["max_depth"] is None else float(opts["max_depth"]),
             "fB": fB_sensor / k, "fB_sensor": fB_sensor, "source_digest": manifest["digest"],
             "synthetic": bool(manifest.get("synthetic")), "evsnn_version": evsnn.__version__,
             "convention": "StereoSpike's protocol (evsnn.tasks.depth.protocols): item i of a slice [start, stop) "
                           "= depth map start + 2 + i and the 50-ms slot of its camera's time grid; test cache "
                           "holds validation (validation = 1) and test items"}
    counts = {"train": 0, "val": 0, "test": 0}
    protocol = {"split": split_no, "protocol": "stereospike", "train": {}, "test": {}}
    with atomic_path(out_train, suffix=".h5") as tmp_train, atomic_path(out_test, suffix=".h5") as tmp_test:
        writers = {"train": FrameCacheWriter(tmp_train, (T, 4, H, W), {**attrs, "role": "train"}),
                   "test": FrameCacheWriter(tmp_test, (T, 4, H, W), {**attrs, "role": "test"})}
        try:
            for role in ("train", "test"):
                for name in split[role]:
                    entry = seqs[name]
                    with MVSECSequence(entry["data"], entry["gt"]) as seq:
                        cal = load_calibration(manifest["calibration"][entry["scene"]], entry["scene"],
                                               size=seq.size, data_path=entry["data"])
                        ts_us = seq.depth_ts_us("left", "rect")
                        start, stop = ss_range(split_no, name, opts["frame_ranges"])
                        where = f"[{start}, {stop}) of {name}"
                        if stop > ts_us.size or start < 0:
                            raise DataMissingError(
                                f"StereoSpike's split-{split_no} slice {where} runs past the sequence, which has "
                                f"{ts_us.size} depth maps in {entry['gt']}; set frames mvsec.frame_ranges.{name}")
                        n_items = stop - start - ITEM_OFFSET
                        if role == "train":
                            items = [(i, 0) for i in range(n_items)]
                        else:
                            if split_no == 1 and opts["test_items"] is None and n_items == 1060:
                                dropped = [i for i in test_items if i >= n_items]
                                test_items = [i for i in test_items if i < n_items]
                                if dropped:
                                    log.warning("StereoSpike's split-1 test list names item(s) %s past the %d items "
                                                "of %s; dropped (860 test items)", dropped, n_items, where)
                            _check_items(val_items, n_items, where, name, "val_items", start, ts_us.size)
                            _check_items(test_items, n_items, where, name, "test_items", start, ts_us.size)
                            items = sorted([(i, 1) for i in val_items] + [(i, 0) for i in test_items])
                        protocol[role][name] = [start, stop]
                        t_lo = int(ts_us[start]) - FRAME_US
                        t_hi = int(ts_us[stop - 1])
                        grid0 = {}
                        for cam in CAMERAS:
                            first = seq.events(cam, t_lo + 1, t_hi)
                            if not len(first):
                                raise DataMissingError(f"{entry['data']}: no {cam} events in the slice {where}")
                            grid0[cam] = int(first["t"][0])
                        for i, is_val in tqdm(items, desc=f"mvsec {role} {name} (stereospike)", mininterval=2.0):
                            slot = i + ITEM_OFFSET
                            frames = np.zeros((T, 4, H, W), dtype=np.int32)
                            for ci, cam in enumerate(CAMERAS):
                                a = grid0[cam] + slot * FRAME_US
                                b = min(a + FRAME_US, t_hi)
                                ev = seq.events(cam, a + 1, b) if b > a + 1 else seq.events(cam, a, a)
                                ev = ss_rectify(ev, *cal.maps[cam])
                                if T > 1:
                                    ev["t"] = ev["t"] - a
                                frames[:, 2 * ci: 2 * ci + 2] = _ss_frame(ev, T, box, k, H, W)
                            d_index = start + slot
                            depth = np.asarray(seq.depth(d_index, "left", "rect"), dtype=np.float64)
                            if opts["fill_holes"]:
                                depth = area_closing(depth, opts["fill_holes"])
                            label = depth_label(depth, box, k, opts["min_depth"], opts["max_depth"])
                            writers[role].add(frames, label, f"{name}/{i // VAL_BLOCK:04d}",
                                              (grid0["left"] + slot * FRAME_US, grid0["left"] + (slot + 1) * FRAME_US),
                                              depth_index=np.int32(d_index), item=np.int32(i),
                                              validation=np.int8(is_val))
                            counts["val" if is_val else role] += 1
        finally:
            for w in writers.values():
                w.h5.attrs["protocol"] = json.dumps(protocol)
                w.h5.attrs["dropped_items"] = json.dumps(dropped)
                w.h5.attrs["validation_from"] = "test_cache"
                w.close()
    log.info("StereoSpike depth caches: %s samples (%s)", counts, protocol)
    return {"samples": counts, "protocol": protocol, "outputs": {"train": out_train, "test": out_test},
            "dropped_items": dropped}
