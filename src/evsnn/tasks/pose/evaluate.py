"""Evaluation of pose models on the cached DHP19 test split: 2D MPJPE per camera (pixels of the 260 x 344
CNN input), 3D MPJPE (mm) by triangulating the front cameras, per-movement breakdown, the mean-pose baseline,
the error as a function of the time since the last CNN frame (hybrid models), and figures."""
from __future__ import annotations

import json
import logging
import os

import numpy as np
import torch
from torch.utils.data import DataLoader

from evsnn.data import FrameCacheDataset, time_major
from evsnn.io.dhp19 import FRONT_CAMERAS, read_camera_positions, read_projection_matrices
from evsnn.tasks.pose.data import cache_to_sensor, sensor_to_cache
from evsnn.tasks.pose.pose3d import heatmap_argmax, mean_pose_baseline, pose_metrics
from evsnn.train import load_model
from evsnn.util import atomic_path, write_json

log = logging.getLogger("evsnn.tasks.pose.evaluate")


@torch.no_grad()
def predict_heatmap_peaks(model, ds: FrameCacheDataset, batch_size: int = 16, per_step: bool = False) -> np.ndarray:
    """Heatmap peaks (u, v) in cache pixels: (N, J, 2), or (N, T, J, 2) with ``per_step``."""
    if per_step:
        model.per_step = True
    out = []
    for x, _ in DataLoader(ds, batch_size=batch_size, shuffle=False):
        hm = model(time_major(x)).float()
        if per_step:
            hm = hm.transpose(0, 1)  # [N, T, J, H, W]
        out.append(heatmap_argmax(hm.numpy())[0])
    if per_step:
        model.per_step = False
    return np.concatenate(out)


def _to_sensor(uv_cache: np.ndarray, attrs: dict) -> np.ndarray:
    """Cache pixels -> pixels of the 260 x 344 CNN input (:func:`evsnn.tasks.pose.data.cache_to_sensor`)."""
    return cache_to_sensor(uv_cache, attrs)


def to_cache(u, v, attrs: dict) -> tuple[np.ndarray, np.ndarray]:
    """Sensor pixels -> cache pixels of a cache with these attributes (for figures drawn over cache frames)."""
    r0, c0, _, _ = json.loads(attrs.get("crop", "[0, 0, 260, 344]"))
    return sensor_to_cache(u, v, int(attrs.get("downsample", 1)), (r0, c0))


def aligned_views(ds: FrameCacheDataset, h5extra: dict, cameras) -> dict:
    """Indices of the samples seen by every camera of ``cameras`` (same recording and frame), per camera."""
    keys = {}
    for cam in cameras:
        sel = np.flatnonzero(h5extra["camera"] == cam)
        keys[cam] = {(int(ds.trial[i]), int(h5extra["frame"][i])): i for i in sel}
    common = sorted(set.intersection(*(set(k) for k in keys.values()))) if keys else []
    return {cam: np.array([keys[cam][key] for key in common], dtype=np.int64) for cam in cameras}


def evaluate_pose(model_path: str, test_cache: str, train_cache: str, p_matrices: str, out_metrics: str,
                  out_predictions: str, figures: dict, title: str = "", threads: int = 2) -> dict:
    """Write metrics (JSON), per-sample predictions (NPZ) and the pose figures of one trained model."""
    import h5py

    from evsnn.tasks.pose.plots import plot_per_movement, plot_pose_overlay, plot_skeleton_3d

    torch.set_num_threads(threads)
    model, blob = load_model(model_path)
    ds = FrameCacheDataset(test_cache)
    with h5py.File(test_cache) as h5:
        extra = {k: h5[k][:] for k in ("camera", "frame", "movement", "xyz")}
    with h5py.File(train_cache) as h5:
        train_xyz = h5["xyz"][:]
    P = read_projection_matrices(p_matrices)
    centres = read_camera_positions(p_matrices)
    cams = sorted(int(c) for c in np.unique(extra["camera"]))
    tri = [c for c in FRONT_CAMERAS if c in cams] if len([c for c in FRONT_CAMERAS if c in cams]) >= 2 else cams[:2]

    uv = _to_sensor(predict_heatmap_peaks(model, ds), ds.attrs)               # (N, J, 2)
    idx = aligned_views(ds, extra, cams)
    ref = idx[cams[0]]
    pred = {c: uv[idx[c]] for c in cams}
    gt_xyz = extra["xyz"][ref]
    metrics = pose_metrics(pred, gt_xyz, P, cameras=tri, movements=extra["movement"][ref], centres=centres)
    baseline = mean_pose_baseline(train_xyz)
    metrics["baseline_mean_pose"] = {k: v for k, v in pose_metrics(
        baseline.predict_2d({c: P[c] for c in cams}, len(ref)), gt_xyz, P, cameras=tri, centres=centres).items()
        if k in ("mpjpe_2d", "mpjpe_2d_mean", "mpjpe_3d")}
    metrics.update(arch=blob["arch"], model_epoch=blob["epoch"], cameras=cams, triangulated=tri,
                   n_test_samples=len(ds))

    if blob["arch"] == "hybrid_cnn_snn":
        # per-step predictions; step t of a window ending at frame i is frame i - T + 1 + t, whose ground truth is
        # the label of the sample ending there (same recording and camera)
        uv_steps = _to_sensor(predict_heatmap_peaks(model, ds, per_step=True), ds.attrs)   # (N, T, J, 2)
        T = uv_steps.shape[1]
        every = int(getattr(model, "cnn_every", 0)) or T
        lookup = {(int(ds.trial[i]), int(extra["camera"][i]), int(extra["frame"][i])): i for i in range(len(ds))}
        rows = {c: [] for c in cams}
        xyz_rows, steps = [], []
        for key in sorted({(int(ds.trial[i]), int(extra["frame"][i])) for i in range(len(ds))}):
            trial, frame = key
            for t in range(T):
                target = (trial, frame - T + 1 + t)
                src = [lookup.get((trial, c, frame)) for c in cams]
                gt = [lookup.get((trial, c, target[1])) for c in cams]
                if None in src or None in gt:
                    continue
                for c, s in zip(cams, src):
                    rows[c].append(uv_steps[s, t])
                xyz_rows.append(extra["xyz"][gt[0]])
                steps.append(t % every)
        if steps:
            by_time = pose_metrics({c: np.stack(rows[c]) for c in cams}, np.stack(xyz_rows), P, cameras=tri,
                                   steps_since_cnn=np.array(steps), centres=centres)["by_steps_since_cnn"]
            metrics["by_steps_since_cnn"] = by_time

    log.info("2D MPJPE %s px, 3D MPJPE %.1f mm (mean-pose baseline: 2D %s px, 3D %.1f mm)", metrics["mpjpe_2d"],
             metrics["mpjpe_3d"], metrics["baseline_mean_pose"]["mpjpe_2d"], metrics["baseline_mean_pose"]["mpjpe_3d"])
    with atomic_path(out_predictions, suffix=".npz") as tmp:
        with open(tmp, "wb") as fh:
            np.savez_compressed(fh, uv=uv, camera=extra["camera"], frame=extra["frame"], trial=ds.trial,
                                movement=extra["movement"], xyz=extra["xyz"])
    write_json(out_metrics, metrics)

    # figures: one test sample of the first triangulated camera, its 3D triangulation, per-movement errors
    i = int(idx[tri[0]][len(ref) // 2]) if len(ref) else 0
    from evsnn.tasks.pose.preprocess import project

    # the sample's events (all its frames) at sensor resolution, and the joints in sensor pixels: the unit of the
    # table's 2D MPJPE
    frame = sensor_frame(ds[i][0][:, 0].sum(0).numpy(), ds.attrs)
    gu, gv, gmask = project(P[tri[0]], extra["xyz"][i], H=260, W=344)
    plot_pose_overlay(frame, uv[i], np.stack([gu, gv], axis=-1), figures["overlay"], mask=gmask,
                      title=f"{title}: camera {tri[0]}, one test sample (260x344 sensor pixels)")
    pm = pose_metrics(pred, gt_xyz, P, cameras=tri, centres=centres, per_sample=True)["per_sample"]
    j = len(ref) // 2
    plot_skeleton_3d(pm["pred_xyz"][j], np.asarray(gt_xyz[j]).T, figures["skeleton"],
                     title=f"{title}: 3D by triangulating cameras {tri}")
    bm = metrics["by_movement"]
    plot_per_movement({int(g) + 1: e for g, e in zip(bm["group"], bm["mpjpe_3d"])}, figures["per_movement"],
                      ylabel="3D MPJPE (mm)", title=f"{title}: 3D error per movement",
                      skipped=skipped_movements(ds.attrs, {int(g) + 1 for g in bm["group"]}))
    if figures.get("clip_gif"):
        pose_clip(ds, extra, uv, P, tri[0], int(ds.trial[i]), figures["clip_gif"], figures.get("clip"), title=title)
    return metrics


def pose_clip(ds, extra, uv, P, camera: int, trial: int, gif_path, html_path=None, *, title: str = "",
              n: int = 30) -> None:
    """Up to ``n`` consecutive test samples of one recording and camera: the events at sensor resolution with the
    predicted (blue) and true (red, dashed) joints, frame by frame (:func:`plot_pose_clip`)."""
    from evsnn.tasks.pose.preprocess import project

    sel = [j for j in range(len(ds)) if int(ds.trial[j]) == trial and int(extra["camera"][j]) == camera]
    sel = sorted(sel, key=lambda j: int(extra["frame"][j]))
    if len(sel) > n:
        start = (len(sel) - n) // 2
        sel = sel[start:start + n]
    frames, gts = [], []
    for j in sel:
        frames.append(sensor_frame(ds[j][0][:, 0].sum(0).numpy(), ds.attrs))
        gu, gv, mask = project(P[camera], extra["xyz"][j], H=260, W=344)
        gt = np.stack([gu, gv], axis=-1).astype(np.float64)
        gt[~np.asarray(mask, dtype=bool)] = np.nan
        gts.append(gt)
    T = int(ds.attrs.get("T", 1))
    plot_pose_clip(frames, uv[sel], gts, [int(extra["frame"][j]) for j in sel], camera, gif_path, html_path,
                   title=title, what="consecutive test frames of one recording",
                   covers=f"each frame: one sample, {T} event frames of a fixed event count")


def plot_pose_clip(frames, pred_uv, true_uv, frame_index, camera: int, gif_path, html_path=None, *,
                   title: str = "", fps: float = 5.0, spans_us=None, what: str = "consecutive frames",
                   covers: str = "", no_truth: str = "", more_views=(), xyz=None) -> None:
    """The pose clip: one frame per sample, the events of camera ``camera`` at sensor resolution (``frames``:
    (n, 260, 344)), the predicted (blue) and, with ``true_uv`` ((n, J, 2), NaN: not visible), the true (red,
    dashed) joints in sensor pixels, with the clip's frame rate and the time each frame covers printed on it
    (``spans_us``: (n, 2) start / end of each sample's events in µs, else ``covers``). ``no_truth``: the line
    printed instead of the 2D error where there is no ground truth. ``more_views``: further cameras beside it,
    ``(camera, frames, pred_uv, true_uv)`` each; ``xyz``: ``(pred_xyz, true_xyz, cameras)`` ((n, J, 3) mm, the
    triangulated and the true 3D joints, the cameras triangulated) adds a 3D panel."""
    import matplotlib.pyplot as plt

    from evsnn.plots import save_clip
    from evsnn.tasks.pose.plots import SKELETON_EDGES, _draw_skeleton

    n = len(frames)
    views = [(camera, frames, np.asarray(pred_uv, dtype=np.float64), true_uv)] + [
        (c, f, np.asarray(p, dtype=np.float64), t) for c, f, p, t in more_views]
    cols = len(views) + (xyz is not None)
    fig = plt.figure(figsize=(5.6 if cols == 1 else 4.4 * cols, 4.6))
    axes = [fig.add_subplot(1, cols, i + 1) for i in range(len(views))]
    ax3 = fig.add_subplot(1, cols, cols, projection="3d") if xyz is not None else None
    fig.subplots_adjust(left=0.09 if cols == 1 else 0.05, right=0.98, top=0.86, bottom=0.14, wspace=0.15)
    info = fig.text(0.01, 0.015, "", fontsize=7, ha="left", va="bottom")
    if cols > 1:
        fig.suptitle(title, fontsize=8, y=0.985)
    if xyz is not None:
        both = np.concatenate([np.asarray(xyz[0], dtype=np.float64).reshape(-1, 3),
                               np.asarray(xyz[1], dtype=np.float64).reshape(-1, 3)])
        both = both[np.isfinite(both).all(axis=1)]
        mid = (both.max(0) + both.min(0)) / 2 if both.size else np.zeros(3)
        r = max(float((both.max(0) - both.min(0)).max()) / 2, 1.0) * 1.05 if both.size else 1.0

    def update(k):
        for ax, (cam, frs, pred, true) in zip(axes, views):
            ax.clear()
            frame = np.asarray(frs[k], dtype=np.float64)
            vmax = np.percentile(frame[frame > 0], 95) if (frame > 0).any() else 1.0
            ax.imshow(frame, cmap="gray_r", vmin=0, vmax=max(vmax, 1e-9), interpolation="nearest")
            err = f", {no_truth}" if no_truth else ""
            if true is not None:
                gt = np.asarray(true[k], dtype=np.float64)
                _draw_skeleton(ax, gt, "C3", "true", marker="o", ls="--", edges=SKELETON_EDGES)
                d = np.sqrt(((pred[k] - gt) ** 2).sum(-1))
                d = d[np.isfinite(d)]
                err = f", 2D MPJPE {d.mean():.1f} px" if d.size else ""
            _draw_skeleton(ax, pred[k], "C0", "predicted", edges=SKELETON_EDGES)
            ax.set_xlim(-0.5, 343.5)
            ax.set_ylim(259.5, -0.5)
            ax.tick_params(labelsize=7)
            head = f"{title}\n" if cols == 1 else ""
            ax.set_title(f"{head}camera {cam}, frame {int(frame_index[k])}{err}", fontsize=8)
            ax.legend(loc="upper right", fontsize=7)
        if ax3 is not None:
            ax3.clear()
            p3, t3 = np.asarray(xyz[0][k], dtype=np.float64), np.asarray(xyz[1][k], dtype=np.float64)
            _draw_skeleton(ax3, t3, "C3", "true", ls="--", edges=SKELETON_EDGES, three_d=True)
            _draw_skeleton(ax3, p3, "C0", "predicted", edges=SKELETON_EDGES, three_d=True)
            ax3.set_xlim(mid[0] - r, mid[0] + r)
            ax3.set_ylim(mid[1] - r, mid[1] + r)
            ax3.set_zlim(mid[2] - r, mid[2] + r)
            ax3.set_box_aspect((1, 1, 1))
            ax3.view_init(elev=15.0, azim=-70.0)
            ax3.tick_params(labelsize=6, pad=0)
            d = np.sqrt(((p3 - t3) ** 2).sum(-1))
            d = d[np.isfinite(d)]
            err3 = f", 3D MPJPE {d.mean():.0f} mm" if d.size else ""
            ax3.set_title(f"3D (mm), cameras {', '.join(str(c) for c in xyz[2])} triangulated{err3}", fontsize=8)
            ax3.legend(loc="upper left", fontsize=7)
        if spans_us is not None:
            a, b = int(spans_us[k][0]), int(spans_us[k][1])
            when = f"this frame covers {(b - a) / 1000:.4g} ms of events (t = {a / 1e6:.3f}-{b / 1e6:.3f} s)"
        else:
            when = covers
        info.set_text(f"frame {k + 1}/{n} at {fps:g} frames/s; {when}")
        return []

    cams = ", ".join(str(v[0]) for v in views)
    save_clip(fig, update, n, gif_path, html_path, fps=fps, title=title or "pose clip",
              note=f"{n} {what} seen by camera{'s' if len(views) > 1 else ''} {cams}, one per frame at {fps:g} "
                   "frames/s: the events at sensor resolution (260x344), the predicted (blue)"
                   + (" and true (red, dashed) joints" if true_uv is not None else f" joints ({no_truth})")
                   + (", and the 3D skeletons triangulated from the predictions and the true ones." if xyz is not None
                      else "."))


def sensor_frame(frame, attrs, H: int = 260, W: int = 344) -> np.ndarray:
    """A cache frame ``(h, w)`` (cropped at ``attrs['crop']``, downsampled by ``attrs['downsample']``) drawn on the
    ``H x W`` sensor: each cache pixel covers its k x k sensor pixels, outside the crop is empty."""
    k = int(attrs.get("downsample", 1))
    r0, c0, _, _ = json.loads(attrs.get("crop", f"[0, 0, {H}, {W}]"))
    big = np.kron(np.asarray(frame, dtype=np.float64), np.ones((k, k)))
    out = np.zeros((H, W))
    h, w = min(big.shape[0], H - r0), min(big.shape[1], W - c0)
    out[r0:r0 + h, c0:c0 + w] = big[:h, :w]
    return out


def skipped_movements(attrs, present) -> dict[int, str]:
    """Movements (1-based) of the recordings the preprocessing skipped (``skipped_recordings`` of the cache) that
    have no evaluated sample: {movement: "skipped"}."""
    import re

    names = json.loads(attrs.get("skipped_recordings", "[]") or "[]")
    out = {}
    for name in names:
        m = re.search(r"mov(\d+)", str(name))
        if m and int(m.group(1)) not in present:
            out[int(m.group(1))] = "skipped (preprocessing)"
    return out


def evaluate(job) -> dict:
    """The task face's evaluate (``evsnn.tasks.EvalJob``): 2D/3D MPJPE, per-movement errors, the mean-pose baseline,
    the pose figures and the training curves of one pose model."""
    from evsnn.plots import plot_training_curves

    if FrameCacheDataset(job.test).attrs.get("representation") == "has":  # the hybrid ANN-SNN paper's protocol
        from evsnn.tasks.pose.has_evaluate import evaluate_has as run
    else:
        run = evaluate_pose
    metrics = run(job.model, job.test, job.train, job.manifest["p_matrices"], job.out_metrics,
                  job.outputs["predictions"], job.outputs, title=job.title, threads=job.threads)
    summary = json.loads(open(job.summary).read())
    plot_training_curves(job.metrics_csv, job.outputs["curves"], title=job.title, best_epoch=summary["best_epoch"],
                         metric="mpjpe2d", scale=1.0, ylabel="2D MPJPE (px)", ylim=None)
    if job.outputs.get("clip_gif") and not os.path.exists(job.outputs["clip_gif"]):  # the HAS protocol: no clip
        _still_clip(job.outputs["overlay"], job.outputs["clip_gif"], job.outputs.get("clip"), job.title)
    return metrics


def _still_clip(png, gif_path, html_path, title: str) -> None:
    """A one-frame clip of the overlay figure, saying that this protocol has no clip."""
    from PIL import Image

    from evsnn.report import write_html
    from evsnn.util import atomic_path

    with atomic_path(gif_path, suffix=".gif") as tmp:
        Image.open(png).convert("RGB").save(tmp, format="GIF")
    if html_path:
        import base64

        data = base64.b64encode(open(gif_path, "rb").read()).decode()
        write_html(html_path, title, "<p>No clip for the hybrid ANN-SNN paper's inputs: the overlay of one test "
                   f'sample instead.</p><img alt="overlay" src="data:image/gif;base64,{data}">')


def time_since_cnn_figure(metrics: dict, path: str, title: str = "") -> None:
    """Error of a hybrid CNN-SNN model against the steps since its last CNN frame (from its metrics)."""
    from evsnn.tasks.pose.plots import plot_error_vs_time_since_cnn

    m = metrics["by_steps_since_cnn"]
    series = {f"2D {cam}": m["mpjpe_2d"][cam] for cam in m["mpjpe_2d"]}
    plot_error_vs_time_since_cnn(m["group"], series, path, ylabel="2D MPJPE (px)",
                                 title=f"{title}: error vs steps since the CNN frame")
