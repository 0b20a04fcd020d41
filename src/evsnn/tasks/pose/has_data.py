"""DHP19 frame caches of the hybrid ANN-SNN paper (``frames.<name>.dhp19.representation: has``).

Source: uzh-rpg/hybrid_ann_snn @8a88791 ("HAS"), ``dataloaders/snn_dataloader/sequence.py`` (SNN, hybrid),
``dataloaders/cnn_dataloader/sequence.py`` (CNN), ``dataloaders/snn_dataloader/provider.py`` (split),
``dataloaders/data_representations.py`` (StackedHistogram). HAS reads per-recording ``*events.h5`` files made by a
converter that is not public (HAS issue #1); here the same samples are cut from the raw DHP19 tree:

- events: the labelled part of the recording (``evsnn.io.dhp19.recording_window``, the official start/stop),
  one camera's events, no filters (HAS applies none), times from the window start; coordinates in the official
  frames' orientation, 0-based (HAS's 1-based h5 coordinates minus 1, ``sequence.py:153-157``);
- crop rows 2:258, cols 34:290 of the 260 x 346 frame (``sequence.py:49-52``) -> 256 x 256;
- camera -> P matrix as in DHP19 (``sequence.py:57-64``: h5 cam3 -> P2, cam2 -> P3, cam1 -> P1, cam0 -> P4; the
  h5 index is the aedat channel, :data:`evsnn.io.dhp19.CAMERA_TO_CHANNEL`);
- windows: start every 100 ms; train windows last 100 ms, test windows 200 ms (``provider.py:56,72``);
  subjects 1-12 train, 13-17 test;
- SNN input: the window's events in ``window / 10 ms`` bins x 2 polarities. HAS's StackedHistogram
  (``data_representations.py:23-62``) spreads the bins over the first-to-last event time of the slice it is
  given, so a bin is 10 ms only when events fill the window; that is what is reproduced;
- CNN input, ``cnn_input: count`` (CNN, SNN, hybrid CNN-SNN; ``sequence.py:190-207``): the 7,500 events before the
  window in 10 bins (first windows start at the first multiple of 100 ms after the 7,500th event,
  ``sequence.py:72-77``); ``cnn_input: duration`` (RNN, hybrid CNN-RNN; ``:167-188``): the previous 100 ms,
  zeros for the first window;
- the next window's CNN input (the events before window start + 100 ms, ``sequence.py:209-230``): the hybrid's
  state loss;
- labels: the raw 100 Hz Vicon samples: bin ``b`` of the window starting at ``ms`` is Vicon sample ``ms/10 + b``
  (``sequence.py:235-237``), the CNN's is sample ``ms/10 - 1`` (``:250-255``, ``cnn_dataloader/sequence.py:139``),
  projected with the camera's P (v flipped, H = 260), shifted by the crop and truncated to integer pixels
  (``sequence.py:275-308``), NaN outside the crop.

Cache layout (one :class:`evsnn.data.FrameCacheWriter` file per split, uint16 counts): ``frames`` ``(20 + T, 2,
H, W)``: the CNN input's 10 bins, the next CNN input's 10 bins, the T SNN bins (polarity as channel);
``labels`` ``(T + 1, 2, J)``: (u, v) of the CNN label then of every bin (cache pixels); extras ``xyz_steps``
``(T + 1, 3, J)``, ``xyz`` (the last bin's joints), ``camera``, ``movement``, ``frame`` (window index: start / 100
ms), ``subject``, ``start_ms``.
"""
from __future__ import annotations

import json
import logging
import math

import numpy as np
from tqdm import tqdm

import evsnn
from evsnn.data import FrameCacheWriter
from evsnn.errors import ConfigError, DataMissingError
from evsnn.io.dhp19 import (CAMERA_TO_CHANNEL, JOINTS, CorruptRecordingError, movement_index,
                            read_projection_matrices)
from evsnn.util import atomic_path

log = logging.getLogger("evsnn.pose.has")

CROP = (2, 258, 34, 290)      # rows 2:258, cols 34:290 (HAS sequence.py:49-52)
SENSOR_H = 260
CNN_BINS = 10
BIN_MS = 10
STEP_MS = 100
TEST_SUBJECTS = (13, 14, 15, 16, 17)
DEFAULTS = {"cnn_input": "count", "cnn_events": 7500, "train_window_ms": 100, "test_window_ms": 200}


def stacked_histogram(x, y, p, t, bins: int, H: int, W: int) -> np.ndarray:
    """HAS StackedHistogram (``data_representations.py:23-62``): counts ``(bins, 2, H, W)``; bin of an event =
    floor((t - t_first) / (t_last - t_first) * bins), clamped to bins - 1 (all in bin 0 when t_last == t_first)."""
    out = np.zeros((2, bins, H, W), dtype=np.int64)
    if len(t) == 0:
        return out.transpose(1, 0, 2, 3)
    t = np.asarray(t, dtype=np.int64)
    span = int(t[-1] - t[0])
    b = np.zeros(len(t), dtype=np.int64) if span <= 0 else np.minimum(
        np.floor((t - t[0]) / span * bins).astype(np.int64), bins - 1)
    idx = ((np.asarray(p, np.int64) * bins + b) * H + np.asarray(y, np.int64)) * W + np.asarray(x, np.int64)
    out.reshape(-1)[:] = np.bincount(idx, minlength=out.size)
    return out.transpose(1, 0, 2, 3)


def project_crop(P: np.ndarray, xyz: np.ndarray) -> np.ndarray:
    """(K, 3, J) joints -> (K, 2, J) integer (u, v) in the 256 x 256 crop, NaN outside (``sequence.py:275-308``)."""
    r0, r1, c0, c1 = CROP
    X = np.concatenate([xyz, np.ones((xyz.shape[0], 1, xyz.shape[2]))], axis=1)       # (K, 4, J)
    uvw = np.einsum("ij,kjn->kin", P, X)
    with np.errstate(invalid="ignore", divide="ignore"):
        u = uvw[:, 0] / uvw[:, 2]
        v = SENSOR_H - uvw[:, 1] / uvw[:, 2]
        ok = np.isfinite(u) & np.isfinite(v) & (u >= c0) & (u < c1) & (v >= r0) & (v < r1)
    u = np.where(ok, np.trunc(np.where(ok, u, c0) - c0), np.nan)
    v = np.where(ok, np.trunc(np.where(ok, v, r0) - r0), np.nan)
    return np.stack([u, v], axis=1)


def _pool(h: np.ndarray, k: int) -> np.ndarray:
    """Sum k x k blocks of count images [..., H, W] (evsnn's demo downsampling; HAS uses k = 1)."""
    if k == 1:
        return h
    *lead, H, W = h.shape
    return h.reshape(*lead, H // k, k, W // k, k).sum(axis=(-3, -1))


def has_options(frames_cfg: dict) -> dict:
    opts = dict(frames_cfg.get("dhp19") or {})
    out = {**DEFAULTS, **(opts.get("has") or {})}
    if out["cnn_input"] not in ("count", "duration"):
        raise ConfigError(f"frames dhp19.has.cnn_input must be 'count' or 'duration', not {out['cnn_input']!r}")
    for key in ("train_window_ms", "test_window_ms"):
        if out[key] % STEP_MS:
            raise ConfigError(f"frames dhp19.has.{key} = {out[key]}: HAS windows are multiples of {STEP_MS} ms")
    return out


def camera_events(events: np.ndarray, camera: int, start: int, name: str):
    """(x, y, p, t) of one camera in the official frame orientation, 0-based, t in µs from ``start``."""
    ch = CAMERA_TO_CHANNEL[camera]
    sel = events[events["c"] == ch]
    if len(sel) == 0:
        raise DataMissingError(f"recording {name} has no events of camera {camera} (aedat channel {ch}); "
                               "remove it from frames dhp19.cameras or check the recording")
    x = 345 - sel["x"].astype(np.int64)
    y = 259 - sel["y"].astype(np.int64)
    t = sel["t"].astype(np.int64) - int(start)
    return x, y, sel["p"].astype(np.int64), t


def recording_samples(events: np.ndarray, start: int, xyz: np.ndarray, P: np.ndarray, camera: int, window_ms: int,
                      opts: dict, downsample: int = 1, name: str = "<recording>"):
    """Yield the HAS samples of one camera of one recording: (frames (20 + T, 2, H, W), labels (T + 1, 2, J),
    xyz_steps (T + 1, 3, J), start_ms)."""
    r0, r1, c0, c1 = CROP
    x, y, p, t = camera_events(events, camera, start, name)
    T = window_ms // BIN_MS
    n_cnn = int(opts["cnn_events"])
    seq_ms = min(int(t[-1] // 1000) + 1, xyz.shape[0] * BIN_MS)   # HAS: min(movie ms, label ms)
    ms_to_idx = np.searchsorted(t, np.arange(seq_ms + 1) * 1000, side="left")
    uv_all = project_crop(P, xyz)

    def hist(i0, i1, bins):
        h = stacked_histogram(x[i0:i1], y[i0:i1], p[i0:i1], t[i0:i1], bins, SENSOR_H, 346)
        return _pool(h[..., r0:r1, c0:c1], downsample)

    def cnn_input(ms):
        if opts["cnn_input"] == "count":
            i1 = int(ms_to_idx[min(ms, seq_ms - 1)])
            return hist(i1 - n_cnn, i1, CNN_BINS) if i1 >= n_cnn else None
        if ms < STEP_MS:
            return hist(0, 0, CNN_BINS)
        return hist(int(ms_to_idx[ms - STEP_MS]), int(ms_to_idx[ms]), CNN_BINS)

    if opts["cnn_input"] == "count":
        if len(t) <= n_cnn:
            return
        first = math.ceil(t[n_cnn] / 1e3 / STEP_MS) * STEP_MS
    else:
        first = 0
    for ms in range(first, seq_ms - window_ms + 1, STEP_MS):
        lead, nxt = cnn_input(ms), cnn_input(ms + STEP_MS)
        if lead is None or nxt is None:
            continue
        k0 = ms // BIN_MS
        steps = [max(k0 - 1, 0)] + [k0 + b for b in range(T)]        # the CNN label, then the bins'
        if steps[-1] >= xyz.shape[0]:
            break
        frames = np.concatenate([lead, nxt, hist(int(ms_to_idx[ms]), int(ms_to_idx[ms + window_ms]), T)])
        uv = np.floor(uv_all[steps] / downsample) if downsample > 1 else uv_all[steps]
        yield frames, uv, xyz[steps], ms


def build_has_frames(manifest: dict, frames_cfg: dict, out_train: str, out_test: str) -> dict:
    """Write the train and test HAS caches of one frames entry (``dhp19.representation: has``)."""
    from evsnn.io.aedat2 import read_aedat2
    from evsnn.io.dhp19 import read_vicon, recording_window, select_window

    dh = dict(frames_cfg.get("dhp19") or {})
    opts = has_options(frames_cfg)
    k = int(frames_cfg.get("downsample", 1))
    if 256 % k:
        raise ConfigError(f"frames downsample {k} must divide the 256 x 256 HAS crop")
    cameras = tuple(dh.get("cameras", (2, 3)))
    test_subjects = set(dh.get("test_subjects", TEST_SUBJECTS))
    P = read_projection_matrices(manifest["p_matrices"])
    H = W = 256 // k
    windows = {"train": opts["train_window_ms"], "test": opts["test_window_ms"]}
    attrs = {"dataset": manifest["dataset"], "kind": "dhp19", "representation": "has", "downsample": k,
             "H": H, "W": W, "cameras": json.dumps(list(cameras)), "crop": json.dumps([2, 34, 256, 256]),
             "has": json.dumps(opts, sort_keys=True), "n_classes": len(JOINTS), "joints": ",".join(JOINTS),
             "source_digest": manifest["digest"], "evsnn_version": evsnn.__version__,
             "convention": "frames: 10 CNN bins, 10 next-window CNN bins, T SNN bins (polarity as channel); "
                           "labels: (u, v) of the CNN label then of every bin, integer crop pixels / downsample; "
                           "NaN = outside the crop"}
    writers, counts, skipped = {}, {"train": 0, "test": 0}, []
    with atomic_path(out_train, suffix=".h5") as tmp_train, atomic_path(out_test, suffix=".h5") as tmp_test:
        for split, tmp in (("train", tmp_train), ("test", tmp_test)):
            T = windows[split] // BIN_MS
            writers[split] = FrameCacheWriter(tmp, (2 * CNN_BINS + T, 2, H, W),
                                              {**attrs, "split": split, "T": 2 * CNN_BINS + T, "bins": T,
                                               "window_ms": windows[split]})
        try:
            for rec in tqdm(manifest["recordings"], desc="dhp19 has frames", mininterval=2.0):
                split = "test" if rec["subject"] in test_subjects else "train"
                xyz = read_vicon(rec["vicon"])
                events, header = read_aedat2(rec["aedat"], layout="davis346", dhp19=True)
                try:
                    start, stop, _ = recording_window(header["special_timestamps"], events["t"], xyz.shape[0],
                                                      rec["aedat"])
                except CorruptRecordingError as exc:
                    log.warning("skipping %s: %s", rec["name"], exc)
                    skipped.append(rec["name"])
                    continue
                ev = events[select_window(events["t"], start, stop, rec["aedat"])]
                mov = movement_index(rec["session"], rec["movement"])
                for cam in cameras:
                    for frames, uv, xyz_steps, ms in recording_samples(ev, start, xyz, P[cam], cam, windows[split], opts,
                                                                        k, rec["name"]):
                        writers[split].add(frames, uv, rec["name"], (ms * 1000, (ms + windows[split]) * 1000),
                                           xyz=xyz_steps[-1].astype(np.float32),
                                           xyz_steps=xyz_steps.astype(np.float32), camera=cam, movement=mov,
                                           frame=ms // STEP_MS, subject=rec["subject"], start_ms=ms)
                        counts[split] += 1
        finally:
            for w in writers.values():
                w.h5.attrs["skipped_recordings"] = json.dumps(skipped)
                w.close()
    for split in ("train", "test"):
        if counts[split] == 0:
            raise DataMissingError(f"no {split} samples: the DHP19 recordings in {manifest['root']} give no HAS "
                                   f"window of {windows[split]} ms for the {split} subjects (test subjects: "
                                   f"{sorted(test_subjects)}); with cnn_input 'count' a camera needs more than "
                                   f"{opts['cnn_events']} events first (frames dhp19.has.cnn_events)")
    log.info("HAS caches: %s, skipped %s", counts, skipped)
    return {"samples": counts, "skipped": skipped, "outputs": {"train": out_train, "test": out_test}}
