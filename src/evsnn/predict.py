"""Run a trained model on a new raw recording (``python -m evsnn predict MODEL_DIR RECORDING [--out DIR]``).

The recording is read with :mod:`evsnn.io` (any format it sniffs) and turned into frames with the settings the
model was trained with, read from its ``summary.json`` (``frames``: the attributes of its frame cache):

- DVS128 Gesture models: consecutive windows of ``--window-ms`` (default 1500 ms, about one gesture), each
  integrated into T frames exactly as the caches (spikingjelly's fixed-number integration, split by number or
  time, the same downsampling); writes ``predictions.csv`` (window, start / end in us, class, its name, score;
  with ``--label NAME``, the recording's true class, a ``label`` column and the accuracy) and the clip
  (``clip.gif``, ``clip.html``: up to 6 windows spread over the recording, one panel each, animated over the T
  time steps at 3 frames/s, with the true class (or "unknown") and the predicted one, and the time each frame
  covers);
- DHP19 pose models (the official representation): the official preprocessing of the recording (filters,
  constant-count frames of all four cameras; no Vicon needed), one camera's crop and downsampling as trained,
  sequences of T frames; writes ``predictions.npz`` (``uv``: joints in pixels of the 260 x 344 CNN input per
  frame, ``confidence``, ``frame``, ``start_us`` / ``end_us``: the time the sample's events span),
  ``predictions.csv`` and the clip (up to 30 consecutive samples at 5 frames/s: the camera's events with the
  predicted skeleton). ``gt`` (``--gt``, the recording's Vicon ``.mat``) makes it the official window (the
  recording's special events) with the Vicon labels, which are the very frames of a pose cache of the recording:
  the npz gains ``true_uv`` (the labels projected with DHP19's ``P_matrices``, found above the recording or
  ``--calib DIR``) and ``xyz``, the CSV a 2D MPJPE per frame, the clip the true skeleton; the other trained
  cameras are predicted too (``uv_camera<N>``, ``true_uv_camera<N>``) and triangulated (``pred_xyz``, a 3D MPJPE
  per frame, the 3D skeletons in the clip); without it the clip says the true skeleton is unknown;
- MVSEC depth models (every family): an MVSEC-style ``_data.hdf5`` recording, rectified with its calibration and
  cut into the windows of the model's protocol (:mod:`evsnn.tasks.depth.predict`); writes ``predictions.npz``
  (depth maps in metres with their time spans), ``predictions.csv`` and the clip; ``gt`` (``--gt``) adds the mean
  depth error.

``lava`` (``--lava``, lava-dl models): the same frames go through the model's netx export run in Lava
(:func:`evsnn.lava.parity.lava_forward`) instead of PyTorch; the export is ``net`` (``--net``) or
``results/lava/<model>/network.net`` beside ``results/models/<model>/`` (rule ``export_netx``). ``clip=False``
(``--no-clip``) draws no clip. The clips use the renderers of the evaluate stages
(:func:`evsnn.plots.plot_gesture_clip`, :func:`evsnn.tasks.pose.evaluate.plot_pose_clip`,
:func:`evsnn.tasks.depth.evaluate.plot_depth_clip`).

What does not fit is refused in one sentence naming the file: a recording of another sensor size, a model that
needs polarity channels or cameras the recording lacks (a monocular MVSEC file for a binocular model), a recording
of another task's format, a model directory without a finished model, a model without a netx export for ``--lava``.
"""
from __future__ import annotations

import csv
import json
import os
import warnings
from pathlib import Path

import numpy as np

from evsnn.errors import ConfigError, EvsnnError
from evsnn.util import atomic_path


class PredictError(EvsnnError):
    """A model and a recording that do not fit together (one sentence naming the file and the mismatch)."""


def load_trained(model_dir: str | os.PathLike):
    """(model, blob, summary) of a finished training directory (results/models/<name>/)."""
    from evsnn.train import load_model

    d = Path(model_dir)
    if not d.is_dir():
        raise PredictError(f"{d} is not a directory (a trained model's directory, e.g. results/models/<name>/)")
    for name in ("model.pt", "summary.json"):
        if not (d / name).is_file():
            partial = " (a checkpoint.pt is there: its training has not finished)" if (d / "checkpoint.pt").is_file() \
                else ""
            raise PredictError(f"{d / name} does not exist: {d} holds no finished model{partial}; train it first "
                               f"(snakemake {d / 'model.pt'})")
    summary = json.loads((d / "summary.json").read_text())
    if not summary.get("frames"):
        raise PredictError(f"{d / 'summary.json'} has no 'frames' record (the frame settings the model was trained "
                           "with); retrain it with this evsnn version")
    try:
        with warnings.catch_warnings():  # lava-dl's blocks use torch's deprecated weight_norm: noise for a user
            warnings.filterwarnings("ignore", message=r".*weight_norm.* is deprecated", category=FutureWarning)
            model, blob = load_model(d / "model.pt")
    except (ConfigError, RuntimeError, KeyError) as exc:
        raise PredictError(f"{d / 'model.pt'} cannot be loaded ({' '.join(str(exc).split())[:200]})") from None
    return model, blob, summary


def _read(recording):
    from evsnn.io import sniff

    path = os.fspath(recording)
    if not os.path.isfile(path):
        raise PredictError(f"{path} does not exist")
    fmt = sniff(path)
    events, header = fmt.read(path)
    desc = fmt.describe(events, header)
    return events, header, desc, fmt.name


def _resolution(desc: dict, events) -> tuple[int, int] | None:
    """(width, height) of the recording's sensor, from its header (or None)."""
    res = desc.get("resolution")
    if res and len(res) == 2:
        return int(res[0]), int(res[1])
    return None


def _forward(model, x):
    """x (N, T, C, H, W) -> the model's outputs for the N samples (time-major inside, as in training)."""
    import torch

    from evsnn.data import time_major

    with torch.no_grad():
        out = model(time_major(torch.as_tensor(x, dtype=torch.float32)))
    return out


#: windows drawn in the gesture clip (one panel each, animated over the T time steps)
GESTURE_CLIP_WINDOWS = 6
#: consecutive samples drawn in the pose clip
POSE_CLIP_FRAMES = 30


def _step_spans(t: np.ndarray, T: int, split_by: str) -> np.ndarray:
    """(T, 2) first / last event time (µs) of each of the T frames that :func:`evsnn.frames.integrate_fixed_frames`
    makes of events with (sorted) times ``t``; an empty frame gets the span (its start, its start)."""
    from evsnn.frames import frame_segments

    j_l, j_r = frame_segments(len(t), T, split_by, t)
    out = np.empty((T, 2), dtype=np.int64)
    for j, (a, b) in enumerate(zip(j_l, j_r)):
        a = min(int(a), len(t) - 1)
        out[j] = (t[a], t[max(int(b) - 1, a)])
    return out


def predict_gesture(model, blob, summary, events, desc, recording, out_dir, window_ms: float | None,
                    forward=_forward, *, label: str | None = None, clip: bool = True):
    from evsnn.frames import integrate_fixed_frames

    fr = summary["frames"]
    H, W = int(fr.get("sensor_h", 128)), int(fr.get("sensor_w", 128))
    res = _resolution(desc, events)
    if res is not None and res != (W, H):
        raise PredictError(f"{recording} is a {res[0]}x{res[1]} recording ({desc.get('camera_layout', 'its header')}); "
                           f"the model was trained on {W}x{H} frames")
    if len(events) and (int(events["x"].max()) >= W or int(events["y"].max()) >= H):
        raise PredictError(f"{recording} has events at x up to {int(events['x'].max())}, y up to "
                           f"{int(events['y'].max())}: not a {W}x{H} sensor, which the model was trained on")
    channels = int(blob["in_shape"][0])
    if channels == 2 and len(events) and len(np.unique(events["p"])) < 2:
        raise PredictError(f"{recording} has events of one polarity only; the model takes 2 polarity channels "
                           "(OFF, ON)")
    T, split_by, k = int(fr["T"]), str(fr.get("split_by", "number")), int(fr.get("downsample", 1))
    if not len(events):
        raise PredictError(f"{recording} holds no events")
    events = events[np.argsort(events["t"], kind="stable")]
    t0, t1 = int(events["t"][0]), int(events["t"][-1]) + 1
    w_us = int((window_ms or 1500) * 1000)
    starts = list(range(t0, t1, w_us))
    names = str(fr.get("class_names", "")).split(",")
    true = names.index(label) if label is not None else None  # checked by predict()
    rows, xs, spans = [], [], []
    for s in starts:
        lo, hi = np.searchsorted(events["t"], [s, s + w_us])
        ev = events[lo:hi]
        if len(ev) < T:
            continue
        xs.append(integrate_fixed_frames(ev, T, split_by=split_by, H=H, W=W, downsample=k))
        spans.append(_step_spans(ev["t"], T, split_by))
        rows.append({"window": len(rows), "start_us": s, "end_us": min(s + w_us, t1), "events": int(len(ev))})
    if not xs:
        raise PredictError(f"{recording} has no window of {w_us // 1000} ms with at least {T} events")
    import torch

    out = forward(model, np.stack(xs))
    scores = torch.softmax(out.float(), dim=-1).numpy() if out.ndim == 2 else out.numpy()
    for r, sc in zip(rows, scores):
        c = int(np.argmax(sc))
        r.update({"class": c, "class_name": names[c] if c < len(names) else str(c), "score": round(float(sc[c]), 4)})
        if true is not None:
            r["label"] = label
    out_csv = Path(out_dir) / "predictions.csv"
    with atomic_path(out_csv) as tmp:
        with open(tmp, "w", newline="") as fh:
            w = csv.DictWriter(fh, fieldnames=list(rows[0]))
            w.writeheader()
            w.writerows(rows)
    res = {"task": "gesture", "windows": len(rows), "window_ms": w_us / 1000, "outputs": [str(out_csv)],
           "classes": {n: sum(r["class_name"] == n for r in rows)
                       for n in dict.fromkeys(r["class_name"] for r in rows)}}
    if true is not None:
        res.update(label=label, accuracy=float(np.mean([r["class"] == true for r in rows])))
    if clip:
        from evsnn.plots import plot_gesture_clip

        pick = np.unique(np.linspace(0, len(rows) - 1, min(GESTURE_CLIP_WINDOWS, len(rows))).round().astype(int))
        gif, page = Path(out_dir) / "clip.gif", Path(out_dir) / "clip.html"
        plot_gesture_clip(np.stack([xs[i] for i in pick]), [true] * len(pick), [rows[i]["class"] for i in pick],
                          names, gif, page, title=f"{blob['arch']} on {Path(recording).name}", fps=3.0,
                          spans_us=np.stack([spans[i] for i in pick]) - t0,
                          note=f"{len(pick)} of the {len(rows)} windows of {w_us / 1000:g} ms of the recording "
                               f"(one panel each), time step by time step as the network sees them at 3 frames/s, "
                               "with the predicted class and the true one "
                               + (f"(--label {label}; red title: wrong); " if true is not None else
                                  "where known (a recording has none: pass --label NAME); ")
                               + "t: the time each frame covers, after the recording's first event.")
        res["outputs"] += [str(gif), str(page)]
    return res


def _mean(e) -> float:
    return round(float(np.nanmean(e)), 3) if np.isfinite(e).any() else float("nan")


def _true_uv(P, xyz) -> np.ndarray:
    """(N, J, 2) true joints in pixels of the 260 x 344 CNN input (NaN: outside the frame) of labels (N, 3, J)."""
    from evsnn.tasks.pose.preprocess import project

    out = np.full((len(xyz), xyz.shape[-1], 2), np.nan)
    for j, x in enumerate(xyz):
        gu, gv, mask = project(P, x, H=260, W=344)
        out[j] = np.where(np.asarray(mask, dtype=bool)[:, None], np.stack([gu, gv], axis=-1), np.nan)
    return out


def find_p_matrices(recording, p_matrices=None) -> Path:
    """DHP19's ``P_matrices`` folder (P1.npy .. P4.npy): ``p_matrices`` (``--calib``), else the first
    ``P_matrices`` folder in a folder above the recording (DHP19's tree: ``DVS_movies/S<n>/session<k>/mov<m>.aedat``
    beside ``P_matrices/``)."""
    if p_matrices is not None:
        d = Path(p_matrices)
        if not d.is_dir():
            raise PredictError(f"--calib {p_matrices} is not a folder (DHP19's P_matrices folder with P1.npy .. "
                               "P4.npy)")
        return d
    for parent in Path(recording).resolve().parents:
        if (parent / "P_matrices").is_dir():
            return parent / "P_matrices"
    raise PredictError(f"{recording}: no P_matrices folder above it (DHP19's camera projection matrices, needed to "
                       "draw the true joints of --gt); pass --calib DIR")


def predict_pose(model, blob, summary, events, header, desc, recording, out_dir, camera: int | None,
                 forward=_forward, *, clip: bool = True, gt=None, p_matrices=None):
    from evsnn.tasks.pose.data import camera_frames
    from evsnn.tasks.pose.evaluate import _to_sensor
    from evsnn.tasks.pose.pose3d import heatmap_argmax
    from evsnn.tasks.pose.preprocess import preprocess_events

    fr = summary["frames"]
    pre = json.loads(fr.get("preprocessing", "{}") or "{}")
    if "representation" in pre or fr.get("representation") == "has":
        raise PredictError(f"{summary.get('arch')}: predict supports the official DHP19 representation, not the "
                           "hybrid ANN-SNN paper's inputs")
    if "c" not in (events.dtype.names or ()):
        raise PredictError(f"{recording} is a single-camera recording ({desc.get('camera_layout', '')}); the model "
                           "was trained on DHP19's multiplexed 4-camera AEDAT 2.0 (DAVIS346)")
    cams = json.loads(fr.get("cameras", "[2, 3]"))
    cam = int(camera if camera is not None else cams[0])
    from evsnn.io.dhp19 import CAMERA_TO_CHANNEL, CHANNEL_TO_CAMERA

    present = sorted(CHANNEL_TO_CAMERA[int(c)] for c in np.unique(events["c"]) if int(c) in CHANNEL_TO_CAMERA)
    if cam not in CAMERA_TO_CHANNEL or cam not in present:
        raise PredictError(f"{recording} has no events of camera {cam} (cameras with events: {present})")
    T, k = int(fr["T"]), int(fr.get("downsample", 1))
    crop = json.loads(fr.get("crop", "null"))
    t = events["t"]
    if not len(t):
        raise PredictError(f"{recording} holds no events")
    options = {k_: pre[k_] for k_ in ("events_per_frame", "hot_pixel_threshold", "ba_dt", "ba_filter") if k_ in pre}
    if gt is not None:  # the Vicon file: the official window (special events) and the labels of each frame
        from evsnn.errors import EvsnnError as _Err
        from evsnn.io.dhp19 import read_projection_matrices, read_vicon, recording_window

        P = read_projection_matrices(find_p_matrices(recording, p_matrices))
        try:
            vicon = read_vicon(gt)
            start, stop, _ = recording_window(header.get("special_timestamps", ()), t, vicon.shape[0], recording)
        except _Err as exc:
            raise PredictError(f"--gt {gt}: {' '.join(str(exc).split())[:300]}") from None
    else:
        start, stop = int(t[0]), int(t[-1]) + 1
        vicon = np.full((int((stop - start) // 10_000) + 2, 3, 13), np.nan)
    dvs, xyz, stats = preprocess_events(events, start, stop, vicon, path=os.fspath(recording),
                                          frame_spans=True, **options)
    frames = camera_frames(dvs, cam, k, crop[2:] if crop else None)
    if len(frames) < T:
        raise PredictError(f"{recording} gives {len(frames)} frames of camera {cam} after the preprocessing; the model "
                           f"needs sequences of {T}")

    def run(c):
        """(model input, joints in sensor pixels, confidence) of camera ``c``: every camera shares the frames."""
        f = frames if c == cam else camera_frames(dvs, c, k, crop[2:] if crop else None)
        x = np.stack([f[i - T + 1: i + 1, None] for i in range(T - 1, len(f))])
        out = forward(model, x)
        hm = out[-1] if out.ndim == 6 else out  # per-step outputs: the last step
        peaks, confidence = heatmap_argmax(hm.float().numpy())
        return x, _to_sensor(peaks.astype(np.float64), fr), confidence

    xs, uv, conf = run(cam)
    # with the labels: the trained cameras that saw the recording are predicted too and triangulated (3D)
    tri = [c for c in cams if c in present] if gt is not None else []
    if cam not in tri:
        tri = []
    views = {c: run(c) for c in tri if c != cam} if len(tri) >= 2 else {}
    out_npz, out_csv = Path(out_dir) / "predictions.npz", Path(out_dir) / "predictions.csv"
    idx = np.arange(T - 1, len(frames))
    # the time span of each sample: from the first event of its first frame to the last of its last frame
    frame_spans = stats["frame_spans_us"]   # (F, 2) first / last kept event of each frame
    spans = np.stack([frame_spans[idx - T + 1, 0], frame_spans[idx, 1]], axis=1)
    arrays = {}
    true_uv = None
    if gt is not None:
        true_uv = _true_uv(P[cam], xyz[idx])
        err = np.sqrt(((uv - true_uv) ** 2).sum(-1))  # (N, J), NaN where the joint is not visible
        arrays = {"true_uv": true_uv, "xyz": xyz[idx]}
        if views:
            from evsnn.io.dhp19 import read_camera_positions
            from evsnn.tasks.pose.pose3d import joints_last, pose_metrics

            m3 = pose_metrics({cam: uv, **{c: v[1] for c, v in views.items()}}, xyz[idx], P, cameras=tri,
                              centres=read_camera_positions(find_p_matrices(recording, p_matrices)), per_sample=True)
            pred_xyz = np.asarray(m3["per_sample"]["pred_xyz"], dtype=np.float64)
            err3 = np.sqrt(((pred_xyz - joints_last(xyz[idx])) ** 2).sum(-1))  # (N, J) mm
            for c, v in views.items():
                arrays.update({f"uv_camera{c}": v[1], f"true_uv_camera{c}": _true_uv(P[c], xyz[idx])})
            arrays.update(pred_xyz=pred_xyz, triangulated=np.asarray(tri))
    with atomic_path(out_npz, suffix=".npz") as tmp:
        with open(tmp, "wb") as fh:
            np.savez_compressed(fh, uv=uv, confidence=conf, frame=idx, camera=cam, start_us=spans[:, 0],
                                end_us=spans[:, 1], **arrays)
    joints = str(fr.get("joints", "")).split(",")
    with atomic_path(out_csv) as tmp:
        with open(tmp, "w", newline="") as fh:
            w = csv.writer(fh)
            w.writerow(["frame", "camera"] + [f"{j}_{a}" for j in joints for a in ("u", "v")]
                       + (["mpjpe_2d_px"] if true_uv is not None else []) + (["mpjpe_3d_mm"] if views else []))
            for n_, (i, p) in enumerate(zip(idx, uv)):
                e = [] if true_uv is None else [_mean(err[n_])]
                e += [_mean(err3[n_])] if views else []
                w.writerow([int(i), cam] + [round(float(v), 2) for v in p.reshape(-1)] + e)
    res = {"task": "pose", "camera": cam, "frames": int(len(idx)), "unit": "pixels of the 260x344 CNN input",
           "outputs": [str(out_npz), str(out_csv)]}
    if true_uv is not None:
        res.update(gt=os.fspath(gt), mpjpe_2d_px=float(np.nanmean(err)) if np.isfinite(err).any() else float("nan"))
    if views:
        res.update(triangulated=tri, mpjpe_3d_mm=float(np.nanmean(err3)) if np.isfinite(err3).any() else float("nan"))
    if clip:
        from evsnn.tasks.pose.evaluate import plot_pose_clip, sensor_frame

        m = min(POSE_CLIP_FRAMES, len(idx))
        sel = np.arange((len(idx) - m) // 2, (len(idx) - m) // 2 + m)
        gif, page = Path(out_dir) / "clip.gif", Path(out_dir) / "clip.html"
        plot_pose_clip([sensor_frame(xs[j, :, 0].sum(0), fr) for j in sel], uv[sel],
                       None if true_uv is None else true_uv[sel], idx[sel], cam, gif, page,
                       title=f"{blob['arch']} on {Path(recording).name}", spans_us=spans[sel] - int(t[0]),
                       what="consecutive samples of the recording",
                       no_truth="" if true_uv is not None else "true skeleton unknown (no --gt Vicon file)",
                       more_views=[(c, [sensor_frame(v[0][j, :, 0].sum(0), fr) for j in sel], v[1][sel],
                                    _true_uv(P[c], xyz[idx[sel]])) for c, v in views.items()],
                       xyz=(pred_xyz[sel], joints_last(xyz[idx[sel]]), tri) if views else None)
        res["outputs"] += [str(gif), str(page)]
    return res


def lava_net(model_dir, blob, net=None) -> tuple[Path, int]:
    """The netx export to run with ``--lava`` and its number of layers: ``net`` (``--net``) or, in the workflow's
    layout, ``results/lava/<model>/network.net`` beside ``results/models/<model>/`` (rule ``export_netx``)."""
    from evsnn.models import lava_dl_archs

    d = Path(model_dir)
    archs = sorted(lava_dl_archs())
    if blob["arch"] not in archs:
        raise PredictError(f"{d / 'model.pt'} is a {blob['arch']} model, not a lava-dl one ({', '.join(archs)}): "
                           "--lava runs the netx export (rule export_netx), which only lava-dl models have")
    if net is not None:
        path = Path(net)
        if not path.is_file():
            raise PredictError(f"--net {path} does not exist (the model's netx export, written by rule export_netx)")
    else:
        path = d.parent.parent / "lava" / d.name / "network.net"
        if not path.is_file():
            raise PredictError(f"{path} does not exist: {d.name} has no netx export; rule export_netx makes it "
                               f"(snakemake {path}), or pass --net FILE")
    from evsnn.lava.netx import read_layers

    try:
        n_layers = len(read_layers(path))
    except Exception as exc:  # noqa: BLE001 - any unreadable file: one sentence
        raise PredictError(f"{path} is not a readable netx file ({' '.join(str(exc).split())[:200]})") from None
    return path, n_layers


def predict(model_dir, recording, out_dir=None, *, window_ms: float | None = None, camera: int | None = None,
            gt=None, calib=None, lava: bool = False, net=None, clip: bool = True, label: str | None = None) -> dict:
    """Run the trained model in ``model_dir`` on ``recording``; predictions go to ``out_dir`` (default: a folder
    ``predictions/<recording stem>`` inside ``model_dir``). ``lava``: run the model's netx export in Lava
    (``net``, or found in the workflow's layout) instead of PyTorch, on the same frames. Depth models: ``gt``
    (the recording's ``_gt.hdf5``: windows at its depth timestamps and the mean depth error), ``calib`` (the
    calibration folder; default: found beside the recording). Pose models: ``gt`` (the recording's Vicon ``.mat``:
    the true joints and the 2D error), ``calib`` (DHP19's ``P_matrices`` folder; default: found above the
    recording). Classifiers: ``label`` (the recording's true class,
    shown in the clip and scored). ``clip``: draw ``clip.gif`` / ``clip.html`` (every task)."""
    model, blob, summary = load_trained(model_dir)
    kind = summary["frames"].get("kind")
    if kind not in ("dvsgesture", "recordings", "dhp19", "mvsec"):
        raise PredictError(f"{Path(model_dir) / 'summary.json'}: a model trained on {kind} frames; predict supports "
                           "DVS128 Gesture (and recordings-dataset) classifiers, DHP19 pose and MVSEC depth models")
    if gt is not None and kind not in ("mvsec", "dhp19"):
        raise PredictError(f"--gt {gt}: a ground-truth file is for depth and pose models; {blob['arch']} is a {kind} "
                           "model")
    if label is not None and kind not in ("dvsgesture", "recordings"):
        raise PredictError(f"--label {label}: a true class is for classifiers; {blob['arch']} is a {kind} model")
    if label is not None:
        names = str(summary["frames"].get("class_names", "")).split(",")
        if label not in names:
            raise PredictError(f"--label {label} is not a class of the model in {Path(model_dir) / 'summary.json'} "
                               f"(its classes: {', '.join(names)})")
    forward, engine = _forward, {"engine": "pytorch"}
    if lava:
        net_path, n_layers = lava_net(model_dir, blob, net)
        n_blocks = len(getattr(model, "blocks", []))
        if n_blocks and n_layers != n_blocks:
            raise PredictError(f"{net_path} has {n_layers} layers but {Path(model_dir) / 'model.pt'} has {n_blocks} "
                               "blocks: not the export of this model (rerun rule export_netx)")

        def forward(model, x):  # noqa: F811 - the model's answer computed by Lava
            import torch

            from evsnn.data import time_major
            from evsnn.lava.parity import lava_forward

            return lava_forward(model, net_path, time_major(torch.as_tensor(x, dtype=torch.float32)))[0]

        engine = {"engine": "lava", "net": os.fspath(net_path)}
    elif net is not None:
        raise PredictError(f"--net {net} names a netx export; add --lava to run it")
    out_dir = Path(out_dir) if out_dir else Path(model_dir) / "predictions" / Path(recording).stem
    if kind == "mvsec":
        from evsnn.tasks.depth.predict import predict_depth

        if not os.path.isfile(recording):
            raise PredictError(f"{recording} does not exist")
        out_dir.mkdir(parents=True, exist_ok=True)
        res = predict_depth(model, blob, summary, recording, out_dir, forward=forward, gt=gt, calib=calib,
                            clip=clip)
        fmt = "MVSEC HDF5"
    else:
        events, header, desc, fmt = _read(recording)
        out_dir.mkdir(parents=True, exist_ok=True)
        if kind in ("dvsgesture", "recordings"):
            res = predict_gesture(model, blob, summary, events, desc, recording, out_dir, window_ms, forward,
                                  label=label, clip=clip)
        else:
            res = predict_pose(model, blob, summary, events, header, desc, recording, out_dir, camera, forward,
                               clip=clip, gt=gt, p_matrices=calib)
    return {"model": os.fspath(model_dir), "arch": blob["arch"], "recording": os.fspath(recording), "format": fmt,
            **engine, **res}
