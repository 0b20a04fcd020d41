"""``python -m evsnn predict`` for depth models: a trained depth network on an MVSEC-style recording.

The recording is an MVSEC-style ``_data.hdf5`` file (``/davis/{left,right}/events``, raw pixels, ROS seconds); a
binocular model needs both cameras' events, a monocular one the left camera's (a right camera, when present, is
not read: the model uses the left channels only). The events are rectified with the scene's calibration
(``camchain-imucam-{scene}.yaml`` and the four ``{scene}_{left,right}_{x,y}_map.txt`` maps: ``--calib DIR``, or
found beside the recording as the dataset stage finds it) and turned into frames exactly as the model's caches
were, from the ``frames`` record of its ``summary.json``:

- protocol ``evsnn`` (:func:`evsnn.tasks.depth.data.stereo_representation`): the window ``[t - window, t)`` before
  each time ``t``, T bins (counts or voxel grid), crop, k x k sum; ``t`` runs over the depth timestamps of the
  ground truth (``--gt``) or, without it, over consecutive windows from the first event;
- protocol ``stereospike`` (:func:`evsnn.tasks.depth.data.build_stereospike_frames`): 50-ms slots on each camera's
  own time grid from its first event (StereoSpike's rectification, channels ON / OFF); with ``--gt`` each slot is
  compared with the depth map whose timestamp is nearest the slot's end (within half a slot), which is how SS's
  items pair slots and depth maps.

Writes ``predictions.npz`` (``depth`` [N, H, W] float32 metres on the model's grid (the crop, downsampled),
``start_us`` / ``end_us`` of each window in µs after ``origin_s`` (the whole ROS second before the first event),
``timestamp_s`` (ROS time of each window's end), ``crop`` and ``downsample``; with ``--gt``: ``gt`` and
``depth_index``), ``predictions.csv`` (one row per window: start, end, events, mean predicted depth, valid
pixels; with ``--gt`` the valid ground-truth pixels, their mean depth and the mean depth error in cm) and the clip
(``clip.gif``, ``clip.html``: events, predicted depth and ground truth side by side).
"""
from __future__ import annotations

import csv
import json
import math
import os
from pathlib import Path

import numpy as np

from evsnn.predict import PredictError
from evsnn.util import atomic_path

#: coordinates read without a sensor bound (checked against the model's sensor here, in one sentence)
_UNBOUNDED = (1 << 16, 1 << 16)
#: windows run through the model at once
BATCH = 8
#: consecutive windows drawn in the clip
CLIP_FRAMES = 24


def trained_sensor(fr: dict) -> tuple[int, int]:
    """(H, W) of the sensor the model's frames were cut from (MVSEC: the DAVIS346, 260 x 346)."""
    from evsnn.io.mvsec import SENSOR_SIZE

    return int(fr.get("sensor_h", SENSOR_SIZE[0])), int(fr.get("sensor_w", SENSOR_SIZE[1]))


def _sequence_name(path: Path) -> str | None:
    name = path.name
    for suffix in ("_data.hdf5", "_data.h5"):
        if name.endswith(suffix):
            return name[: -len(suffix)]
    return None


def find_recording_calibration(recording: Path, calib: str | os.PathLike | None) -> tuple[Path, str]:
    """(folder, scene) of the calibration to rectify ``recording`` with: ``calib`` (a folder holding
    ``camchain-imucam-{scene}.yaml``), else searched beside the recording (:func:`evsnn.io.mvsec.find_calibration`
    for the scene its name says, ``{scene}{n}_data.hdf5``)."""
    from evsnn.errors import DataMissingError, FormatError
    from evsnn.io.mvsec import find_calibration, scene_of

    seq = _sequence_name(recording)
    try:
        scene = scene_of(seq) if seq else None
    except ValueError:
        scene = None
    if calib is not None:
        d = Path(calib)
        if d.is_file() and d.name.startswith("camchain-imucam-"):
            d = d.parent
        if not d.is_dir():
            raise PredictError(f"--calib {calib} is not a folder (the folder with camchain-imucam-<scene>.yaml and "
                               "the four <scene>_{left,right}_{x,y}_map.txt rectification maps)")
        if scene and (d / f"camchain-imucam-{scene}.yaml").is_file():
            return d, scene
        found = sorted(d.glob("camchain-imucam-*.yaml"))
        if len(found) != 1:
            raise PredictError(f"--calib {d} holds {len(found)} camchain-imucam-<scene>.yaml files "
                               f"({', '.join(f.name for f in found) or 'none'}); it must hold the one of the "
                               f"recording's scene{f' ({scene})' if scene else ''}")
        return d, found[0].name[len("camchain-imucam-"):-len(".yaml")]
    if scene is None:
        found = sorted(recording.parent.glob("camchain-imucam-*.yaml")) + \
            sorted(recording.parent.glob("*/camchain-imucam-*.yaml"))
        if len(found) == 1:
            return found[0].parent, found[0].name[len("camchain-imucam-"):-len(".yaml")]
        raise PredictError(f"{recording}: its name does not say its scene (<scene><n>_data.hdf5) and "
                           f"{len(found)} calibrations lie beside it; pass --calib DIR (the folder with "
                           "camchain-imucam-<scene>.yaml and the rectification maps)")
    try:
        return find_calibration(recording.parent, scene), scene
    except (DataMissingError, FormatError):
        raise PredictError(f"{recording}: no calibration of scene {scene} (camchain-imucam-{scene}.yaml and the "
                           f"rectification maps, or {scene}_calib.zip) under {recording.parent}; pass --calib DIR "
                           "(events must be rectified as in training)") from None


class _Recording:
    """The data file (and the ground-truth file) of one recording, opened read-only, with the checks that name
    what does not fit the model."""

    def __init__(self, recording, gt, *, binocular: bool, arch: str, sensor: tuple[int, int]):
        from evsnn.io.mvsec import event_time_range, open_hdf5

        self.path = Path(recording)
        self.gt_path = Path(gt) if gt is not None else None
        if not self.path.is_file():
            raise PredictError(f"{self.path} does not exist")
        with open(self.path, "rb") as fh:
            head = fh.read(8)
        if head != b"\x89HDF\r\n\x1a\n":
            try:
                from evsnn.io import sniff

                fmt = f"a {sniff(self.path).name} file"
            except Exception:  # noqa: BLE001 - any unknown format
                fmt = "not HDF5"
            raise PredictError(f"{self.path} is {fmt}; {arch} is an MVSEC depth model: it reads MVSEC-style "
                               "_data.hdf5 recordings (stereo DAVIS346 events)")
        self.data = open_hdf5(self.path)          # FormatError naming the file when it is not HDF5
        self.gt = None
        try:
            cams = [c for c in ("left", "right") if f"davis/{c}/events" in self.data]
            if "left" not in cams:
                what = ("a ground-truth file (depth maps); pass the _data.hdf5 file as RECORDING and this one as --gt"
                        if "davis/left/depth_image_rect" in self.data else "not an MVSEC-style _data.hdf5 file")
                raise PredictError(f"{self.path} has no /davis/left/events: {what}")
            self.ranges = {c: event_time_range(self.data, c) for c in cams}
            if self.ranges["left"] is None:
                raise PredictError(f"{self.path} holds no events of the left camera (/davis/left/events is empty)")
            if binocular and self.ranges.get("right") is None:
                which = "has no /davis/right/events" if "right" not in cams else "holds no right-camera events"
                raise PredictError(f"{self.path} {which} (a monocular recording); {arch} is a binocular model: it "
                                   "needs the events of both cameras")
            self.cameras = ("left", "right") if binocular else ("left",)
            H, W = sensor
            if "davis/left/image_raw" in self.data and self.data["davis/left/image_raw"].ndim == 3:
                h, w = self.data["davis/left/image_raw"].shape[1:]
                if (h, w) != (H, W):
                    raise PredictError(f"{self.path} is a {w}x{h} recording (its /davis/left/image_raw); the model "
                                       f"was trained on {W}x{H} DAVIS346 frames")
            if self.gt_path is not None:
                if not self.gt_path.is_file():
                    raise PredictError(f"{self.gt_path} does not exist (--gt)")
                self.gt = open_hdf5(self.gt_path)
                key = "davis/left/depth_image_rect"
                if key not in self.gt or f"{key}_ts" not in self.gt:
                    raise PredictError(f"{self.gt_path} has no /{key} (and _ts): not an MVSEC-style _gt.hdf5 file")
                h, w = self.gt[key].shape[1:]
                if (h, w) != (H, W):
                    raise PredictError(f"{self.gt_path} holds {w}x{h} depth maps; the model was trained on {W}x{H} "
                                       "DAVIS346 frames")
            firsts = [self.ranges[c][0] for c in self.cameras]
            self.origin_s = float(math.floor(min(r[0] for r in self.ranges.values() if r is not None)))
            self.t_lo = max(int(round((f - self.origin_s) * 1e6)) for f in firsts)
            self.t_hi = min(int(round((self.ranges[c][1] - self.origin_s) * 1e6)) for c in self.cameras) + 1
            self.first = {c: int(round((self.ranges[c][0] - self.origin_s) * 1e6)) for c in self.cameras}
        except BaseException:
            self.close()
            raise
        self._cursor: dict[str, int] = {}
        self.sensor = sensor

    def close(self) -> None:
        for h5 in (self.data, self.gt):
            if h5 is not None:
                h5.close()

    def events(self, camera: str, t0_us: int, t1_us: int) -> np.ndarray:
        """Raw events of ``camera`` in ``[t0_us, t1_us)`` (µs after ``origin_s``), checked against the sensor."""
        from evsnn.io.mvsec import read_events_window

        bounds: list = []
        ev = read_events_window(self.data, camera, t0_us, t1_us, origin_s=self.origin_s, size=_UNBOUNDED,
                                hint=self._cursor.get(camera), bounds=bounds)
        if bounds:
            self._cursor[camera] = bounds[0]
        H, W = self.sensor
        if len(ev) and (int(ev["x"].max()) >= W or int(ev["y"].max()) >= H):
            raise PredictError(f"{self.path} has {camera} events at x up to {int(ev['x'].max())}, y up to "
                               f"{int(ev['y'].max())}: not the {W}x{H} sensor the model was trained on")
        return ev

    def depth_ts_us(self) -> np.ndarray:
        from evsnn.io.mvsec import read_depth_timestamps, to_us

        return to_us(read_depth_timestamps(self.gt, "left", "rect"), self.origin_s)

    def depth(self, index: int) -> np.ndarray:
        from evsnn.io.mvsec import read_depth

        return read_depth(self.gt, int(index), "left", "rect")


def _frame_settings(fr: dict) -> dict:
    """The frame options of the model's caches from its ``frames`` record."""
    protocol = "stereospike" if fr.get("protocol_name") == "stereospike" else "evsnn"
    max_depth = fr.get("max_depth")
    if max_depth is not None and not (isinstance(max_depth, (int, float)) and math.isfinite(max_depth)):
        max_depth = None
    return {"protocol": protocol, "T": int(fr["T"]), "downsample": int(fr.get("downsample", 1)),
            "bin_us": int(fr["bin_us"]), "window_us": int(fr["window_us"]),
            "representation": str(fr.get("representation", "counts")), "box": tuple(json.loads(fr["crop"])),
            "H": int(fr["H"]), "W": int(fr["W"]), "min_depth": float(fr.get("min_depth", 0.0) or 0.0),
            "max_depth": max_depth, "fill_holes": int(fr.get("fill_holes", 0) or 0)}


def plan_windows(rec: _Recording, st: dict) -> tuple[list[tuple], np.ndarray | None]:
    """The windows to predict: a list of ``(start_us, end_us, slot)`` (``slot``: the StereoSpike slot index, else
    None) and, with a ground truth, the depth index of each window."""
    w = st["window_us"]
    if st["protocol"] == "stereospike":
        from evsnn.tasks.depth.protocols import FRAME_US

        n = min((rec.t_hi - rec.first[c]) // FRAME_US for c in rec.cameras)
        wins = [(rec.first["left"] + s * FRAME_US, rec.first["left"] + (s + 1) * FRAME_US, s) for s in range(n)]
        if rec.gt is None:
            return wins, None
        ts = rec.depth_ts_us()
        if not ts.size:
            return [], np.zeros(0, np.int64)
        ends = np.array([e for _, e, _ in wins], dtype=np.int64)
        j = np.clip(np.searchsorted(ts, ends), 1, max(ts.size - 1, 1)) if ts.size > 1 else np.zeros(len(ends), int)
        if ts.size > 1:
            j = np.where(np.abs(ts[j - 1] - ends) <= np.abs(ts[j] - ends), j - 1, j)
        keep = np.abs(ts[j] - ends) <= FRAME_US // 2
        return [win for win, k in zip(wins, keep) if k], j[keep].astype(np.int64)
    if rec.gt is None:
        n = (rec.t_hi - rec.t_lo) // w
        return [(rec.t_lo + i * w, rec.t_lo + (i + 1) * w, None) for i in range(n)], None
    ts = rec.depth_ts_us()
    idx = np.flatnonzero((ts - w >= rec.t_lo) & (ts <= rec.t_hi))
    return [(int(ts[i]) - w, int(ts[i]), None) for i in idx], idx.astype(np.int64)


def window_frames(rec: _Recording, cal, st: dict, win: tuple) -> np.ndarray:
    """``(T, 4, H, W)`` frames of one window, as the model's cache holds them (float32; counts clipped to the
    cache's uint16 like :class:`evsnn.data.FrameCacheWriter`)."""
    from evsnn.io.mvsec import rectify_events
    from evsnn.tasks.depth.data import _ss_frame, ss_rectify, stereo_representation

    T, k, box, H, W = st["T"], st["downsample"], st["box"], st["H"], st["W"]
    t0, t1, slot = win
    if st["protocol"] == "stereospike":
        from evsnn.tasks.depth.protocols import FRAME_US

        out = np.zeros((T, 4, H, W), dtype=np.int32)
        for ci, cam in enumerate(rec.cameras):
            a = rec.first[cam] + slot * FRAME_US
            ev = ss_rectify(rec.events(cam, a + 1, a + FRAME_US), *cal.maps[cam])
            if T > 1:
                ev["t"] = ev["t"] - a
            out[:, 2 * ci: 2 * ci + 2] = _ss_frame(ev, T, box, k, H, W)
    else:
        from evsnn.events import EVENT_DTYPE

        ev = [rectify_events(rec.events(cam, t0, t1), *cal.maps[cam]) for cam in rec.cameras]
        right = ev[1] if len(ev) > 1 else np.empty(0, dtype=EVENT_DTYPE)
        out = stereo_representation(ev[0], right, t1, {"T": T, "downsample": k, "bin_us": st["bin_us"],
                                                       "representation": st["representation"]}, box)
    if out.dtype.kind in "iu":
        out = np.clip(out, 0, np.iinfo(np.uint16).max)
    return out.astype(np.float32)


def _label(rec: _Recording, st: dict, index: int) -> np.ndarray:
    from evsnn.tasks.depth.data import depth_label
    from evsnn.tasks.depth.protocols import area_closing

    d = np.asarray(rec.depth(index), dtype=np.float64)
    if st["fill_holes"]:
        d = area_closing(d, st["fill_holes"])
    return depth_label(d, st["box"], st["downsample"], st["min_depth"], st["max_depth"])


def predict_depth(model, blob, summary, recording, out_dir, *, forward, gt=None, calib=None,
                  clip: bool = True) -> dict:
    """Predict depth maps of every window of ``recording`` (see the module docstring); ``forward(model, x)``
    runs the model on frames ``x`` (N, T, C, H, W) (PyTorch or Lava). Returns the JSON-able summary."""
    import torch

    from evsnn.io.mvsec import load_calibration
    from evsnn.tasks.depth.metrics import DepthTask

    fr = summary["frames"]
    st = _frame_settings(fr)
    arch = blob["arch"]
    binocular = blob.get("net", {}).get("modality", "binocular") == "binocular"
    sensor = trained_sensor(fr)
    recording = Path(recording)
    rec = _Recording(recording, gt, binocular=binocular, arch=arch, sensor=sensor)
    try:
        calib_dir, scene = find_recording_calibration(recording, calib)
        cal = load_calibration(calib_dir, scene, size=sensor, data_path=recording)
        notes = []
        fB = fr.get("fB_sensor")
        if binocular and isinstance(fB, (int, float)) and abs(cal.fB - fB) > 0.01 * fB:
            notes.append(f"the calibration in {calib_dir} gives fB = {cal.fB:.4f} px m, the model was trained with "
                         f"{fB:.4f}: its disparities (and depths) do not transfer to this rig")
        wins, depth_index = plan_windows(rec, st)
        if not wins:
            why = ("no depth timestamp of --gt falls in a whole window of the recording" if rec.gt is not None
                   else f"its events span less than one {st['window_us'] / 1000:g}-ms window")
            raise PredictError(f"{recording} gives no window to predict: {why}")
        preds, gts, event_maps, counts = [], [], [], []
        for b in range(0, len(wins), BATCH):
            x = np.stack([window_frames(rec, cal, st, w) for w in wins[b:b + BATCH]])
            y = forward(model, x)
            y = y[-1] if y.dim() == 4 else y
            preds.append(y.float().numpy().astype(np.float32))
            event_maps.append(x[:, :, :2].sum(axis=(1, 2)).astype(np.float32))
            counts.extend(int(round(float(v))) for v in x.sum(axis=(1, 2, 3, 4)))  # voxels: weights sum to 1
            if depth_index is not None:
                gts.extend(_label(rec, st, i) for i in depth_index[b:b + BATCH])
    finally:
        rec.close()
    pred = np.concatenate(preds)
    ev_maps = np.concatenate(event_maps)
    if pred.shape[1:] != (st["H"], st["W"]):
        raise PredictError(f"{arch} predicts {pred.shape[1]}x{pred.shape[2]} maps, its frames record says "
                           f"{st['H']}x{st['W']}: the model and its summary.json do not belong together")
    start = np.array([w[0] for w in wins], dtype=np.int64)
    end = np.array([w[1] for w in wins], dtype=np.int64)
    valid = np.isfinite(pred) & (pred > 0)
    rows = []
    for i in range(len(wins)):
        v = valid[i]
        rows.append({"window": i, "start_us": int(start[i]), "end_us": int(end[i]), "events": counts[i],
                     "mean_depth_m": round(float(pred[i][v].mean()), 4) if v.any() else float("nan"),
                     "valid_pixels": int(v.sum())})
    res = {"task": "depth", "protocol": st["protocol"], "modality": "binocular" if binocular else "monocular",
           "windows": len(wins), "window_ms": st["window_us"] / 1000, "calibration": os.fspath(calib_dir),
           "grid": f"{st['H']}x{st['W']} (crop {list(st['box'])} of the {sensor[1]}x{sensor[0]} sensor, "
                   f"downsampled by {st['downsample']})",
           "mean_depth_m": round(float(pred[valid].mean()), 4) if valid.any() else float("nan")}
    arrays = {"depth": pred, "start_us": start, "end_us": end, "origin_s": np.float64(rec.origin_s),
              "timestamp_s": rec.origin_s + end * 1e-6, "crop": np.asarray(st["box"]),
              "downsample": np.int64(st["downsample"])}
    gt_maps = None
    if depth_index is not None:
        gt_maps = np.stack(gts).astype(np.float32)
        task = DepthTask(cutoffs=tuple(summary.get("depth_cutoffs", (10.0, 20.0, 30.0))))
        errs = {k: v.numpy() for k, v in task.sample_errors(torch.from_numpy(pred), torch.from_numpy(gt_maps)).items()}
        gvalid = np.isfinite(gt_maps) & (gt_maps > 0)
        for i, r in enumerate(rows):
            g = gvalid[i]
            r.update({"depth_index": int(depth_index[i]), "gt_valid_pixels": int(g.sum()),
                      "mean_gt_depth_m": round(float(gt_maps[i][g].mean()), 4) if g.any() else float("nan"),
                      "mde_cm": round(float(errs["mde_cm"][i]), 3)})
        res.update({"gt": os.fspath(gt), "mde_cm": float(np.nanmean(errs["mde_cm"]))
                    if np.isfinite(errs["mde_cm"]).any() else float("nan"),
                    "windows_with_gt": int(np.isfinite(errs["mde_cm"]).sum())})
        arrays.update(gt=gt_maps, depth_index=depth_index)
    out_dir = Path(out_dir)
    out_npz, out_csv = out_dir / "predictions.npz", out_dir / "predictions.csv"
    with atomic_path(out_npz, suffix=".npz") as tmp:
        with open(tmp, "wb") as fh:
            np.savez_compressed(fh, **arrays)
    with atomic_path(out_csv) as tmp:
        with open(tmp, "w", newline="") as fh:
            wr = csv.DictWriter(fh, fieldnames=list(rows[0]))
            wr.writeheader()
            wr.writerows(rows)
    outputs = [str(out_npz), str(out_csv)]
    if clip:
        from evsnn.tasks.depth.evaluate import plot_depth_clip

        m = min(CLIP_FRAMES, len(wins))
        s = (len(wins) - m) // 2
        sel = slice(s, s + m)
        plot_depth_clip(ev_maps[sel], pred[sel], None if gt_maps is None else gt_maps[sel], start[sel], end[sel],
                        out_dir / "clip.gif", out_dir / "clip.html",
                        title=f"{arch} on {recording.name}")
        outputs += [str(out_dir / "clip.gif"), str(out_dir / "clip.html")]
    res["outputs"] = outputs
    if notes:
        res["notes"] = notes
    return res
