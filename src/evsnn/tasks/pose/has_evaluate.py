"""Evaluation of the hybrid ANN-SNN paper's models on HAS caches (``representation: has``), as the paper.

Source: uzh-rpg/hybrid_ann_snn @8a88791 ``inference/inference_hybrid_cnn_snn.py``, ``inference/triangulation.py``,
``train/train_cnn_snn_hybrid_model.py:216-262``: every 200-ms test window starts from one CNN input and is scored at
each of its 20 bins against that bin's 100 Hz Vicon label; the error per bin is the error against the time since
the last CNN frame (``by_steps_since_cnn``, steps of 10 ms).

Reported (metrics.json): ``mpjpe_2d_has`` {camN: px}: the paper's 2D MPJPE (argmax against the integer labels of
the crop, every bin of every window), ``mpjpe_2d_has_by_step`` {camN: [px per bin]}; through
:func:`evsnn.tasks.pose.pose3d.pose_metrics` on the same (window, bin) rows: ``mpjpe_2d`` per camera (ground
truth projected from the 3D joints, the DHP19 notebook's convention), ``mpjpe_3d`` by triangulating the front
cameras where both are evaluated, ``by_steps_since_cnn`` and ``by_movement``; the mean-pose baseline on the same
rows. ``has_cnn`` has one output per window, scored against the label just before the window.
"""
from __future__ import annotations

import json
import logging

import numpy as np
import torch
from torch.utils.data import DataLoader

from evsnn.data import FrameCacheDataset, time_major
from evsnn.io.dhp19 import FRONT_CAMERAS, read_camera_positions, read_projection_matrices
from evsnn.tasks.pose.has_data import CROP
from evsnn.tasks.pose.pose3d import heatmap_argmax, mean_pose_baseline, pose_metrics
from evsnn.train import load_model
from evsnn.util import atomic_path, write_json

log = logging.getLogger("evsnn.tasks.pose.has_evaluate")


@torch.no_grad()
def predict_steps(model, ds: FrameCacheDataset, batch_size: int = 4) -> np.ndarray:
    """Peaks (u, v) in cache pixels of every output step: (N, T, J, 2) (T = 1 for the CNN)."""
    out = []
    for x, _ in DataLoader(ds, batch_size=batch_size, shuffle=False):
        hm = model(time_major(x)).float()
        hm = hm.unsqueeze(1) if hm.dim() == 4 else hm.transpose(0, 1)        # [N, T, J, H, W]
        out.append(heatmap_argmax(hm.numpy())[0])
    return np.concatenate(out)


def to_sensor(uv_cache: np.ndarray, k: int) -> np.ndarray:
    """Cache pixels -> pixels of the 260 x 346 sensor frame (the HAS crop's offset, the k x k block's centre)."""
    uv = uv_cache * k + (k - 1) / 2
    return uv + np.array([CROP[2], CROP[0]], dtype=np.float64)


def evaluate_has(model_path: str, test_cache: str, train_cache: str, p_matrices: str, out_metrics: str,
                 out_predictions: str, figures: dict, title: str = "", threads: int = 2) -> dict:
    import h5py

    from evsnn.tasks.pose.evaluate import aligned_views
    from evsnn.tasks.pose.plots import plot_per_movement, plot_pose_overlay, plot_skeleton_3d

    torch.set_num_threads(threads)
    model, blob = load_model(model_path)
    ds = FrameCacheDataset(test_cache)
    with h5py.File(test_cache) as h5:
        extra = {key: h5[key][:] for key in ("camera", "frame", "movement", "xyz", "xyz_steps", "labels")}
    with h5py.File(train_cache) as h5:
        train_xyz = h5["xyz_steps"][:]
    k = int(ds.attrs.get("downsample", 1))
    P = read_projection_matrices(p_matrices)
    centres = read_camera_positions(p_matrices)
    cams = sorted(int(c) for c in np.unique(extra["camera"]))
    front = [c for c in FRONT_CAMERAS if c in cams]
    tri = front if len(front) >= 2 else cams[:2]

    uv = predict_steps(model, ds)                                   # (N, T, J, 2) cache px
    T = uv.shape[1]
    labels = extra["labels"][:, -T:] if T > 1 else extra["labels"][:, :1]    # (N, T, 2, J)
    xyz = extra["xyz_steps"][:, -T:] if T > 1 else extra["xyz_steps"][:, :1]  # (N, T, 3, J)
    err = np.linalg.norm(uv - labels.transpose(0, 1, 3, 2), axis=-1) * k     # (N, T, J) px, NaN outside the crop
    metrics: dict = {"mpjpe_2d_has": {}, "mpjpe_2d_has_by_step": {}}
    for cam in cams:
        sel = extra["camera"] == cam
        with np.errstate(invalid="ignore"):
            per = np.nanmean(err[sel], axis=-1)                               # (n, T)
        metrics["mpjpe_2d_has"][f"cam{cam}"] = float(np.nanmean(per))
        metrics["mpjpe_2d_has_by_step"][f"cam{cam}"] = [float(v) for v in np.nanmean(per, axis=0)]

    idx = aligned_views(ds, extra, cams)
    ref = idx[cams[0]]
    pred = {c: to_sensor(uv[idx[c]], k) for c in cams}                      # (M, T, J, 2) sensor px
    gt_xyz = xyz[ref]                                                        # (M, T, 3, J)
    steps = np.broadcast_to(np.arange(T)[None], (len(ref), T))
    movements = np.broadcast_to(extra["movement"][ref][:, None], (len(ref), T))
    m3 = pose_metrics(pred, gt_xyz, P, cameras=tri, movements=movements,
                      steps_since_cnn=steps if T > 1 else None, centres=centres)
    metrics.update(m3)
    base = mean_pose_baseline(train_xyz.reshape(-1, *train_xyz.shape[-2:]))
    metrics["baseline_mean_pose"] = {key: v for key, v in pose_metrics(
        base.predict_2d({c: P[c] for c in cams}, (len(ref), T)), gt_xyz, P, cameras=tri, centres=centres).items()
        if key in ("mpjpe_2d", "mpjpe_2d_mean", "mpjpe_3d")}
    metrics.update(arch=blob["arch"], model_epoch=blob["epoch"], cameras=cams, triangulated=tri,
                   n_test_samples=len(ds), steps_per_window=T, step_ms=10, protocol="has")
    log.info("HAS 2D MPJPE %s px, 3D MPJPE %.1f mm (mean-pose baseline: 2D %s px, 3D %.1f mm)",
             metrics["mpjpe_2d_has"], metrics["mpjpe_3d"], metrics["baseline_mean_pose"]["mpjpe_2d"],
             metrics["baseline_mean_pose"]["mpjpe_3d"])
    with atomic_path(out_predictions, suffix=".npz") as tmp:
        with open(tmp, "wb") as fh:
            np.savez_compressed(fh, uv=uv, labels=extra["labels"], camera=extra["camera"], frame=extra["frame"],
                                trial=ds.trial, movement=extra["movement"], xyz_steps=extra["xyz_steps"])
    write_json(out_metrics, metrics)

    i = int(idx[tri[0]][len(ref) // 2]) if len(ref) else 0
    frame = ds[i][0][-T:].sum(dim=(0, 1)).numpy()
    gt_uv = labels[i, -1].T
    plot_pose_overlay(frame, uv[i, -1], gt_uv, figures["overlay"], mask=np.isfinite(gt_uv).all(-1),
                      title=f"{title}: camera {int(extra['camera'][i])}, last bin (cache pixels)")
    pm = pose_metrics({c: p[:, -1] for c, p in pred.items()}, gt_xyz[:, -1], P, cameras=tri, centres=centres,
                      per_sample=True)["per_sample"]
    j = len(ref) // 2
    plot_skeleton_3d(pm["pred_xyz"][j], np.asarray(gt_xyz[j, -1]).T, figures["skeleton"],
                     title=f"{title}: 3D by triangulating cameras {tri}")
    bm = metrics["by_movement"]
    plot_per_movement({int(g) + 1: e for g, e in zip(bm["group"], bm["mpjpe_3d"])}, figures["per_movement"],
                      ylabel="3D MPJPE (mm)", title=f"{title}: 3D error per movement")
    return metrics
