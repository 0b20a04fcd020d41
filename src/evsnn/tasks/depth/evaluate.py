"""Evaluation of depth models on the cached MVSEC-style test split: mean depth error (cm) over the valid ground-truth
pixels, at the literature's cut-offs, per sequence, against a constant-depth baseline, and the depth-map figure
(events, prediction, ground truth, error) of a few test samples, and a clip of consecutive test samples (events,
prediction, ground truth)."""
from __future__ import annotations

import logging

import numpy as np
import torch
from torch.utils.data import DataLoader

from evsnn.data import FrameCacheDataset, holdout_split, time_major
from evsnn.tasks.depth.metrics import DepthTask
from evsnn.train import load_model
from evsnn.util import atomic_path, write_json

log = logging.getLogger("evsnn.tasks.depth.evaluate")


@torch.no_grad()
def predict_depth(model, ds: FrameCacheDataset, batch_size: int = 8) -> np.ndarray:
    """Depth predictions in metres, (N, H, W) float32 (of a model with per-step or per-head outputs [S, N, H, W],
    the last)."""
    out = []
    for x, _ in DataLoader(ds, batch_size=batch_size, shuffle=False):
        y = model(time_major(x))
        out.append((y[-1] if y.dim() == 4 else y).float().numpy())
    return np.concatenate(out).astype(np.float32)


def constant_depth_baseline(train_depth: np.ndarray) -> float:
    """The constant prediction of the baseline: the median of the valid training depths (the L1-optimal constant)."""
    valid = np.isfinite(train_depth) & (train_depth > 0)
    if not valid.any():
        raise ValueError("the training cache holds no valid depth pixel")
    return float(np.median(train_depth[valid]))


def depth_metrics(pred: np.ndarray, gt: np.ndarray, task: DepthTask, groups: np.ndarray | None = None) -> dict:
    """Metric name -> mean over samples (cm); with ``groups`` also the breakdown per group (sequence)."""
    errs = task.sample_errors(torch.from_numpy(pred), torch.from_numpy(gt))
    errs = {k: v.numpy() for k, v in errs.items()}
    res = {k: float(np.nanmean(v)) if np.isfinite(v).any() else float("nan") for k, v in errs.items()}
    if groups is not None:
        res["by_sequence"] = {str(g): {k: float(np.nanmean(v[groups == g])) for k, v in errs.items()}
                              for g in np.unique(groups)}
    return res


def plot_depth_maps(events: np.ndarray, pred: np.ndarray, gt: np.ndarray, path: str, *, title: str = "",
                    max_depth: float | None = None, heads: np.ndarray | None = None) -> None:
    """Rows = samples; columns = left-camera events, prediction, ground truth (grey = no depth), |error|.
    ``heads`` (4, H, W): the multiscale heads' contributions to the first sample's prediction (the StereoSpike
    family: coarse head 4 to fine head 1, their sum = the prediction), drawn as a last row."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    n = len(pred)
    valid = np.isfinite(gt) & (gt > 0)
    vmax = max_depth or float(np.nanpercentile(np.where(valid, gt, np.nan), 99)) if valid.any() else 1.0
    err = np.where(valid, np.abs(pred - gt), np.nan) * 100.0
    emax = float(np.nanpercentile(err, 99)) if np.isfinite(err).any() else 1.0
    fig, axes = plt.subplots(n + (heads is not None), 4, figsize=(12, 2.6 * (n + (heads is not None)) + 0.6),
                             squeeze=False)
    cmap = plt.get_cmap("magma_r").copy()
    cmap.set_bad("0.75")
    for i in range(n):
        ims = [axes[i, 0].imshow(events[i], cmap="gray", interpolation="nearest"),
               axes[i, 1].imshow(pred[i], cmap=cmap, vmin=0, vmax=vmax, interpolation="nearest"),
               axes[i, 2].imshow(np.where(valid[i], gt[i], np.nan), cmap=cmap, vmin=0, vmax=vmax,
                                 interpolation="nearest"),
               axes[i, 3].imshow(err[i], cmap="viridis", vmin=0, vmax=emax, interpolation="nearest")]
        for j, lab in enumerate(("events (left)", "predicted depth (m)", "ground truth (m)", "|error| (cm)")):
            axes[i, j].set_xticks([])
            axes[i, j].set_yticks([])
            if i == 0:
                axes[i, j].set_title(lab, fontsize=10)
            if j:
                fig.colorbar(ims[j], ax=axes[i, j], fraction=0.046, pad=0.02)
    if heads is not None:
        lim = float(np.nanpercentile(np.abs(heads), 99)) or 1.0
        for j in range(4):
            ax = axes[n, j]
            im = ax.imshow(heads[j], cmap="coolwarm", vmin=-lim, vmax=lim, interpolation="nearest")
            ax.set_xticks([])
            ax.set_yticks([])
            ax.set_title(f"sample 1: head {4 - j} ({('1/8', '1/4', '1/2', '1/1')[j]} scale) (m)", fontsize=9)
            fig.colorbar(im, ax=ax, fraction=0.046, pad=0.02)
    if title:
        fig.suptitle(title)
    fig.tight_layout()
    with atomic_path(path, suffix=".png") as tmp:
        fig.savefig(tmp, dpi=90, format="png")
    plt.close(fig)


def plot_depth_clip(events: np.ndarray, pred: np.ndarray, gt: np.ndarray | None, start_us, end_us, gif_path,
                    html_path=None, *, title: str = "", fps: float = 5.0, sequence: str = "") -> None:
    """An animated GIF of consecutive windows: the left camera's events of each window, the predicted depth and
    (when ``gt`` is given) the ground truth side by side on one depth scale (grey: no ground truth), with the
    window's time span, the clip's frame rate and the window's mean depth error printed on each frame.
    ``events``, ``pred``, ``gt``: (n, H, W); ``start_us`` / ``end_us``: each window's span (µs)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from evsnn.plots import save_clip

    pred = np.asarray(pred, dtype=np.float64)
    n = len(pred)
    start_us, end_us = np.asarray(start_us, dtype=np.int64), np.asarray(end_us, dtype=np.int64)
    valid = None if gt is None else np.isfinite(gt) & (gt > 0)
    ref = gt[valid] if valid is not None and valid.any() else pred[np.isfinite(pred)]
    vmax = float(np.percentile(ref, 99)) if ref.size else 1.0
    span = np.median(end_us - start_us) if n else 0
    step = np.median(np.diff(start_us)) if n > 1 else span
    speed = (step / 1e6) * fps if step else 0.0
    cols = 2 if gt is None else 3
    fig, axes = plt.subplots(1, cols, figsize=(3.2 * cols + 0.8, 3.3))
    cmap = plt.get_cmap("magma_r").with_extremes(bad="0.75")
    h, w = pred.shape[1:] if n else (1, 1)
    ims = [axes[0].imshow(np.zeros((h, w)), cmap="gray_r", vmin=0, vmax=1, interpolation="nearest"),
           axes[1].imshow(np.zeros((h, w)), cmap=cmap, vmin=0, vmax=vmax, interpolation="nearest")]
    if gt is not None:
        ims.append(axes[2].imshow(np.zeros((h, w)), cmap=cmap, vmin=0, vmax=vmax, interpolation="nearest"))
    for ax, lab in zip(axes, ("events (left camera)", "predicted depth (m)", "ground truth (m)")):
        ax.set_xticks([])
        ax.set_yticks([])
        ax.set_title(lab, fontsize=9)
    fig.subplots_adjust(left=0.01, right=0.9, top=0.82, bottom=0.13, wspace=0.05)
    fig.colorbar(ims[1], cax=fig.add_axes((0.915, 0.15, 0.012, 0.65)), label="depth (m)")
    info = fig.text(0.01, 0.02, "", fontsize=8.5, ha="left", va="bottom")
    fig.suptitle(title, fontsize=9)
    where = f"{sequence}: " if sequence else ""

    def update(i):
        e = np.asarray(events[i], dtype=np.float64)
        scale = np.percentile(e[e > 0], 95) if (e > 0).any() else 1.0
        ims[0].set_data(np.clip(e / max(scale, 1e-9), 0, 1))
        ims[1].set_data(pred[i])
        err = ""
        if gt is not None:
            ims[2].set_data(np.where(valid[i], gt[i], np.nan))
            if valid[i].any():
                err = f", mean depth error {100 * np.abs(pred[i] - gt[i])[valid[i]].mean():.1f} cm"
        info.set_text(f"frame {i + 1}/{n} at {fps:g} frames/s ({speed:.2g}x real time); each frame covers "
                      f"{(end_us[i] - start_us[i]) / 1000:g} ms of events: {where}t = {start_us[i] / 1e6:.3f}-"
                      f"{end_us[i] / 1e6:.3f} s{err}")
        return []

    save_clip(fig, update, n, gif_path, html_path, fps=fps, title=title or "depth clip",
              note=f"{n} consecutive windows of {span / 1000:g} ms ({where.rstrip(': ') or 'the recording'}), one "
                   f"per frame at {fps:g} frames/s: the left camera's events, the predicted depth"
                   + ("" if gt is None else " and the ground truth (grey: no depth)") + ".")


def depth_clip(test: FrameCacheDataset, pred: np.ndarray, gt: np.ndarray, gif_path, html_path=None, *,
               title: str = "", n: int = 24) -> None:
    """The clip of up to ``n`` consecutive test samples of the first test sequence (the middle of it), in time
    order, from the cached frames (left camera, both polarities) and the predictions ``pred`` of ``test``."""
    import h5py

    with h5py.File(test.path, "r") as h5:
        windows = h5["window"][:][test.indices]
    seqs = np.asarray([test.trials[t].split("/")[0] for t in test.trial[test.indices]])
    first = seqs[0] if len(seqs) else ""
    idx = np.flatnonzero(seqs == first)
    idx = idx[np.argsort(windows[idx, 0], kind="stable")]
    if len(idx) > n:
        s = (len(idx) - n) // 2
        idx = idx[s:s + n]
    events = np.stack([test[int(i)][0].numpy()[:, :2].sum(axis=(0, 1)) for i in idx])
    plot_depth_clip(events, pred[idx], gt[idx], windows[idx, 0], windows[idx, 1], gif_path, html_path,
                    title=title, sequence=str(first))


def evaluate_depth(model_path: str, test_cache: str, train_cache: str, out_metrics: str, out_predictions: str,
                   figure: str, *, title: str = "", n_figure: int = 3, cutoffs=(10.0, 20.0, 30.0),
                   threads: int = 2, clip_gif: str | None = None, clip_html: str | None = None) -> dict:
    """Write metrics (JSON), predictions (NPZ), the depth-map figure and (``clip_gif``) the clip of consecutive test
    samples of one trained depth model."""
    torch.set_num_threads(threads)
    model, blob = load_model(model_path)
    test = FrameCacheDataset(test_cache)
    held = holdout_split(test)
    if held is not None:  # validation items of the test sequence are not test items
        test = test.subset(held[0])
    train = FrameCacheDataset(train_cache)
    gt = np.asarray(test.labels[test.indices], dtype=np.float32)
    pred = predict_depth(model, test)
    if pred.shape != gt.shape:
        raise ValueError(f"{model_path}: predictions {pred.shape} do not match the test depth maps {gt.shape}")
    task = DepthTask(cutoffs=tuple(cutoffs))
    groups = np.asarray([test.trials[t].split("/")[0] for t in test.trial[test.indices]])
    metrics = depth_metrics(pred, gt, task, groups)
    const = constant_depth_baseline(np.asarray(train.labels, dtype=np.float32))
    base = depth_metrics(np.full_like(gt, const), gt, task)
    valid = np.isfinite(gt) & (gt > 0)
    result = {
        "arch": blob["arch"], "modality": blob["net"].get("modality", "binocular"), "n_samples": len(test),
        **metrics, "baseline_constant_depth": {"depth_m": const, **base},
        "valid_pixel_fraction": float(valid.mean()), "gt_depth_range_m": [float(gt[valid].min()),
                                                                          float(gt[valid].max())],
    }
    write_json(out_metrics, result)
    with atomic_path(out_predictions, suffix=".npz") as tmp:
        with open(tmp, "wb") as fh:
            np.savez_compressed(fh, pred=pred, gt=gt)
    pick = np.linspace(0, len(test) - 1, min(n_figure, len(test))).round().astype(int)
    frames = np.stack([test[i][0].numpy() for i in pick])              # [k, T, C, H, W]
    events = frames[:, :, :2].sum(axis=(1, 2))                          # left camera, both polarities
    heads = None
    if "return_heads" in model.forward.__code__.co_varnames:  # the StereoSpike family's multiscale heads
        with torch.no_grad():
            _, h = model(time_major(torch.from_numpy(frames[:1])), return_heads=True)
        heads = h[:, 0].float().numpy()
    plot_depth_maps(events, pred[pick], gt[pick], figure, title=title or blob["arch"], heads=heads)
    if clip_gif:
        depth_clip(test, pred, gt, clip_gif, clip_html, title=title or blob["arch"])
    log.info("%s: MDE %.1f cm (constant %.2f m: %.1f cm) on %d test samples", blob["arch"], result["mde_cm"],
             const, base["mde_cm"], len(test))
    return result


def evaluate(job) -> dict:
    """The task face's evaluate (``evsnn.tasks.EvalJob``): mean depth error, the constant-depth baseline, the
    depth-map figure and the training curves of one depth model."""
    import json

    from evsnn.plots import plot_training_curves

    title = f"{job.title}, {job.model_cfg.get('net', {}).get('modality', 'binocular')}"
    res = evaluate_depth(job.model, job.test, job.train, job.out_metrics, job.outputs["predictions"],
                         job.outputs["depth_maps"], title=title,
                         cutoffs=job.model_cfg.get("train", {}).get("depth_cutoffs", (10.0, 20.0, 30.0)),
                         threads=job.threads, clip_gif=job.outputs.get("clip_gif"),
                         clip_html=job.outputs.get("clip"))
    summary = json.loads(open(job.summary).read())
    plot_training_curves(job.metrics_csv, job.outputs["curves"], title=title, best_epoch=summary["best_epoch"],
                         metric="mde_cm", scale=1.0, ylabel="mean depth error (cm)", ylim=None)
    return res
