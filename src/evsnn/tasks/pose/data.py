"""DHP19: raw tree -> manifest -> pose frame caches (one HDF5 file per split).

The official preprocessing (:mod:`evsnn.tasks.pose.preprocess`: filters, constant-count frames, 3-sigma
normalisation, per-frame Vicon labels) runs once per recording; then, for every configured camera, each
sample is the sequence of the ``T`` latest frames of that camera (cropped to the CNN's 344 columns,
optionally downsampled) with, as target, the 13 joints of the last frame projected into the camera
(``labels``: (2, 13) in cache pixels, NaN where the joint is not visible). The 3D joints, camera, movement
and frame index of every sample are stored too, so evaluation can triangulate the front cameras.
Recordings the official code skips (more than 5 special events) are skipped and listed in the cache.
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
from evsnn.errors import DataMissingError
from evsnn.io.dhp19 import (CAMERA_TO_CHANNEL, JOINTS, CorruptRecordingError, list_recordings, movement_index,
                            read_projection_matrices)
from evsnn.manifest import write_manifest
from evsnn.util import atomic_path, fresh_dir, params_digest

log = logging.getLogger("evsnn.pose")

CNN_WIDTH = 344  # DHP19 CNN input = DVS[:, :, :344, ch]
TEST_SUBJECTS = (13, 14, 15, 16, 17)  # S1-S12 train, S13-S17 test (FORMATS 2.6)


def prepare_dhp19(name: str, ds_cfg: dict, data_root: str, manifest_out: str) -> dict:
    """Generate (synthetic) or locate (local) a DHP19 raw tree and write a manifest of its recordings."""
    source = ds_cfg["source"]
    if source == "synthetic":
        from evsnn.tasks.pose.synth import write_dhp19_tree

        root = fresh_dir(Path(data_root) / "synthetic" / name)
        syn = dict(ds_cfg.get("synthetic", {}))
        log.info("writing synthetic DHP19 tree to %s with %s", root, syn)
        write_dhp19_tree(root, **syn)
    elif source == "local":
        root = Path(ds_cfg["path"])
        if not (root / "DVS_movies").is_dir():
            raise DataMissingError(
                f"datasets.{name}.path = {ds_cfg['path']} does not hold DHP19's DVS_movies/ folder; download DHP19 "
                "from https://sites.google.com/view/dhp19 and point path at the folder holding DVS_movies/, "
                "Vicon_data/ and P_matrices/")
    else:
        raise DataMissingError(f"datasets.{name}.source = {source!r}: DHP19 has no direct download (it is shared "
                               "through the DHP19 site, https://sites.google.com/view/dhp19); fetch it by hand and "
                               "use source: local with path: <folder holding DVS_movies/>")
    skipped: list = []
    recordings = list_recordings(root, ds_cfg.get("subjects"), report=skipped)
    if not (root / "P_matrices").is_dir():
        raise DataMissingError(f"{root / 'P_matrices'} is missing: DHP19's P1.npy..P4.npy and camera_positions.npy "
                               "must be there")
    files = {str(r.aedat.relative_to(root)): os.path.getsize(r.aedat) for r in recordings}
    manifest = {
        "dataset": name, "kind": "dhp19", "source": source, "root": str(root.resolve()),
        "p_matrices": str((root / "P_matrices").resolve()),
        "recordings": [{"subject": r.subject, "session": r.session, "movement": r.movement, "name": r.name,
                        "aedat": str(r.aedat.resolve()), "vicon": str(r.vicon.resolve())} for r in recordings],
        "missing": [str(s) for s in skipped], "files": files, "digest": params_digest(files),
    }
    raw = [f for r in recordings for f in (r.aedat, r.vicon)] + sorted((root / "P_matrices").glob("*.npy"))
    manifest = write_manifest(manifest_out, manifest, raw)
    log.info("manifest: %d recordings (%d skipped: %s)", len(recordings), len(skipped), skipped)
    return manifest


def crop_window(crop) -> tuple[int, int, int, int]:
    """(row0, col0, rows, cols) of the centred crop of the 260 x 344 CNN input."""
    rows, cols = crop if crop else (260, CNN_WIDTH)
    if not (0 < rows <= 260 and 0 < cols <= CNN_WIDTH):
        raise ValueError(f"frames dhp19.crop {list(crop)} must fit in the 260 x {CNN_WIDTH} CNN input")
    return (260 - rows) // 2, (CNN_WIDTH - cols) // 2, rows, cols


def sensor_to_cache(u, v, downsample: int, crop_origin=(0, 0)) -> tuple[np.ndarray, np.ndarray]:
    """Sensor pixels (of the 260 x 344 CNN input) -> cache pixels: the one pixel convention of the pose caches.

    Integer coordinates are pixel centres, in the sensor and in the cache: sensor pixel ``x`` is the interval
    ``[x - 0.5, x + 0.5)``. Cache pixel ``i`` is the mean of sensor pixels ``c0 + k*i ... c0 + k*i + k - 1``
    (:func:`camera_frames`), so its centre is sensor ``c0 + k*i + (k - 1) / 2`` and a sensor coordinate ``u``
    lies at cache ``(u - c0 - (k - 1) / 2) / k``. A heatmap whose peak is the grid point nearest to the label
    (rounding, not truncation) then gives back ``u`` to within half a cache pixel with no mean bias.
    ``crop_origin``: (row0, col0) of the crop in the CNN input. Inverse: :func:`cache_to_sensor`.
    """
    k = float(downsample)
    r0, c0 = crop_origin
    return ((np.asarray(u, dtype=np.float64) - c0 - (k - 1) / 2) / k,
            (np.asarray(v, dtype=np.float64) - r0 - (k - 1) / 2) / k)


def cache_to_sensor(uv_cache: np.ndarray, attrs: dict) -> np.ndarray:
    """Cache pixels ``(..., 2)`` (u = column, v = row) -> sensor pixels of the 260 x 344 CNN input, for a cache
    with these HDF5 attributes (``downsample``, ``crop``): the inverse of :func:`sensor_to_cache`."""
    k = float(attrs.get("downsample", 1))
    r0, c0, _, _ = json.loads(attrs.get("crop", json.dumps([0, 0, 260, CNN_WIDTH])))
    uv = np.array(uv_cache, dtype=np.float64) * k + (k - 1) / 2
    uv[..., 0] += c0
    uv[..., 1] += r0
    return uv


def joint_labels(u, v, mask, downsample: int, crop=None) -> np.ndarray:
    """Training targets ``(..., 2, J)`` in cache pixels from projected joints ``u, v, mask`` ``(..., J)`` in
    sensor pixels: NaN where a joint is not visible or falls outside the crop (the official mask, applied to the
    crop)."""
    r0, c0, rows, cols = crop_window(crop)
    mask = mask & (u - c0 > 0) & (u - c0 <= cols) & (v - r0 > 0) & (v - r0 <= rows)
    uc, vc = sensor_to_cache(u, v, downsample, (r0, c0))
    return np.stack([np.where(mask, uc, np.nan), np.where(mask, vc, np.nan)], axis=-2)


def camera_frames(dvs: np.ndarray, camera: int, downsample: int, crop=None) -> np.ndarray:
    """(F, 260, 346, 4) uint8 -> (F, rows/k, cols/k) uint8 frames of one camera (centred crop of the CNN's
    260 x 344 input, then the mean over k x k blocks)."""
    r0, c0, rows, cols = crop_window(crop)
    img = dvs[:, r0: r0 + rows, c0: c0 + cols, CAMERA_TO_CHANNEL[camera]]
    if downsample == 1:
        return img
    f, h, w = img.shape
    k = downsample
    pooled = img[:, : h - h % k, : w - w % k].reshape(f, h // k, k, w // k, k).mean(axis=(2, 4))
    return np.round(pooled).astype(np.uint8)


def camera_labels(P, xyz, crop=None, downsample: int = 1) -> np.ndarray:
    """Training labels of one camera: ``(F, 2, J)`` = (u, v) of the joints ``xyz`` (F, 3, J) in cache pixels.

    The official projection (:func:`evsnn.tasks.pose.preprocess.project`, v flipped) into the 260 x 344 CNN input,
    in cache pixels by the one pixel convention (:func:`sensor_to_cache`); NaN where the joint is outside the
    cropped image (``0 < u <= cols``, ``0 < v <= rows``, the official mask). Not truncated: the heatmap targets
    truncate (``train.heatmap_grid: integer``) or not (``float``)."""
    from evsnn.tasks.pose.preprocess import project

    u, v, mask = project(P, xyz, H=260, W=CNN_WIDTH)
    return joint_labels(u, v, mask, downsample, crop)


def build_pose_frames(manifest: dict, frames_cfg: dict, out_train: str, out_test: str) -> dict:
    """Write the train and test pose caches for one frames entry of the config (``dhp19.representation: has``:
    the hybrid ANN-SNN paper's inputs, :mod:`evsnn.tasks.pose.has_data`)."""
    from evsnn.tasks.pose.preprocess import preprocess_recording, project

    opts = dict(frames_cfg.get("dhp19") or {})
    if opts.get("representation", "official") == "has":
        from evsnn.tasks.pose.has_data import build_has_frames

        return build_has_frames(manifest, frames_cfg, out_train, out_test)
    T, k = frames_cfg["T"], frames_cfg["downsample"]
    cameras = tuple(opts.get("cameras", (2, 3)))
    test_subjects = set(opts.get("test_subjects", TEST_SUBJECTS))
    r0, c0, rows, cols = crop_window(opts.get("crop"))
    H, W = rows // k, cols // k
    P = read_projection_matrices(manifest["p_matrices"])
    pre = {key: opts[key] for key in ("events_per_frame", "hot_pixel_threshold", "ba_dt", "ba_filter") if key in opts}
    writers, counts, skipped = {}, {"train": 0, "test": 0}, []
    outs = {"train": out_train, "test": out_test}
    base_attrs = {"dataset": manifest["dataset"], "kind": "dhp19", "T": T, "downsample": k, "H": H, "W": W,
                  "cameras": json.dumps(list(cameras)), "crop": json.dumps([r0, c0, rows, cols]), "n_classes": len(JOINTS), "joints": ",".join(JOINTS),
                  "preprocessing": json.dumps(pre), "source_digest": manifest["digest"],
                  "evsnn_version": evsnn.__version__,
                  "convention": "labels = (u, v) of the last frame's joints in cache pixels, integer coordinates = pixel "
                                "centres: cache = (sensor - crop origin - (downsample - 1) / 2) / downsample; "
                                "v flipped as in the DHP19 notebooks; NaN = not visible"}
    with atomic_path(out_train, suffix=".h5") as tmp_train, atomic_path(out_test, suffix=".h5") as tmp_test:
        for split, tmp in (("train", tmp_train), ("test", tmp_test)):
            writers[split] = FrameCacheWriter(tmp, (T, 1, H, W), {**base_attrs, "split": split}, dtype=np.uint8)
        try:
            for rec in tqdm(manifest["recordings"], desc="dhp19 frames", mininterval=2.0):
                split = "test" if rec["subject"] in test_subjects else "train"
                try:
                    dvs, xyz, stats = preprocess_recording(rec["aedat"], rec["vicon"], **pre)
                except CorruptRecordingError as exc:
                    log.warning("skipping %s: %s", rec["name"], exc)
                    skipped.append(rec["name"])
                    continue
                if stats.get("stopped_by_labels"):  # as the official code: frames end with the Vicon labels
                    log.info("%s: the Vicon labels end before the events; %d frames kept (as the official "
                             "ExtractEventsToFramesAndMeanLabels.m)", rec["name"], stats["frames"])
                mov = movement_index(rec["session"], rec["movement"])
                for cam in cameras:
                    frames = camera_frames(dvs, cam, k, opts.get("crop"))
                    uv = camera_labels(P[cam], xyz, opts.get("crop"), k)
                    for i in range(T - 1, len(frames)):
                        writers[split].add(frames[i - T + 1: i + 1, None], uv[i], rec["name"], (i, i + 1),
                                           xyz=xyz[i].astype(np.float32), camera=cam, movement=mov, frame=i,
                                           subject=rec["subject"])
                        counts[split] += 1
        finally:
            for split, w in writers.items():
                w.h5.attrs["skipped_recordings"] = json.dumps(skipped)
                w.close()
    for split in ("train", "test"):
        if counts[split] == 0:
            raise DataMissingError(f"no {split} samples: the DHP19 recordings in {manifest['root']} give no "
                                   f"sequence of {T} frames for the {split} subjects (test subjects: "
                                   f"{sorted(test_subjects)}); check subjects / events_per_frame")
    log.info("pose caches: %s, skipped %s", counts, skipped)
    return {"samples": counts, "skipped": skipped, "outputs": outs}
