"""Pose figures (DHP19): joints over an event frame, 3D skeletons, error vs time since the last CNN frame, error
per movement. Written atomically as PNG with the style of :mod:`evsnn.plots`.

Points follow :mod:`evsnn.tasks.pose.pose3d`: 2D ``(J, 2)`` as ``(u, v)`` = (column, row) of the official frames, 3D
``(J, 3)`` in mm (the label layout ``(3, J)`` is accepted too).
"""
from __future__ import annotations

from typing import Mapping, Sequence

import numpy as np

from evsnn.io.dhp19 import JOINTS
from evsnn.plots import _save, plt
from evsnn.tasks.pose.pose3d import joints_last

__all__ = ["SKELETON_EDGES", "plot_pose_overlay", "plot_skeleton_3d", "plot_error_vs_time_since_cnn",
           "plot_per_movement"]

_EDGE_NAMES = (
    ("head", "shoulderR"), ("head", "shoulderL"), ("shoulderR", "shoulderL"),
    ("shoulderR", "elbowR"), ("elbowR", "handR"), ("shoulderL", "elbowL"), ("elbowL", "handL"),
    ("shoulderR", "hipR"), ("shoulderL", "hipL"), ("hipR", "hipL"),
    ("hipR", "kneeR"), ("kneeR", "footR"), ("hipL", "kneeL"), ("kneeL", "footL"),
)
#: the 14 bones of the 13-joint DHP19 skeleton as index pairs into JOINTS (the edges of the Eval notebook's
#: ``skeleton()``: head-shoulders, arms, shoulder-hip sides, shoulder and hip lines, legs)
SKELETON_EDGES = tuple((JOINTS.index(a), JOINTS.index(b)) for a, b in _EDGE_NAMES)

_PRED, _GT = "tab:blue", "tab:red"


def _draw_skeleton(ax, pts, color, label, *, marker="o", ls="-", edges=SKELETON_EDGES, three_d=False):
    pts = np.asarray(pts, dtype=np.float64)
    first = True
    for a, b in edges:
        if a >= len(pts) or b >= len(pts):
            continue
        seg = pts[[a, b]]
        if not np.isfinite(seg).all():
            continue
        ax.plot(*seg.T, color=color, ls=ls, lw=1.6, alpha=0.9, label=label if first else None)
        first = False
    ok = np.isfinite(pts).all(axis=1)
    if ok.any():
        kw = {"depthshade": False} if three_d else {}
        ax.scatter(*pts[ok].T, s=16, color=color, marker=marker, edgecolors="white", linewidths=0.4, zorder=3,
                   label=None if not first else label, **kw)


def plot_pose_overlay(frame, pred_uv, gt_uv, path, *, title: str = "", mask=None, edges=SKELETON_EDGES,
                      show_error: bool = True, crop: float | None = None) -> None:
    """Predicted (blue, solid) and true (red, dashed) joints with skeleton edges over an event frame ``(H, W)``.

    ``pred_uv``, ``gt_uv``: ``(J, 2)`` (u = column, v = row; NaN joints are skipped); ``mask``: optional ``(J,)``,
    False hides a ground-truth joint (out of frame). With ``show_error`` the title carries the frame's 2D MPJPE.
    ``crop``: zoom on the joints' bounding box with this margin (pixels) instead of showing the whole frame.
    """
    frame = np.asarray(frame, dtype=np.float64)
    if frame.ndim != 2:
        raise ValueError(f"frame must be (H, W), got {frame.shape}")
    pred = np.asarray(pred_uv, dtype=np.float64)
    gt = np.array(gt_uv, dtype=np.float64)
    if mask is not None:
        gt[~np.asarray(mask, dtype=bool)] = np.nan
    H, W = frame.shape
    x0, x1, y0, y1 = -0.5, W - 0.5, -0.5, H - 0.5
    pts = np.concatenate([pred.reshape(-1, 2), gt.reshape(-1, 2)])
    pts = pts[np.isfinite(pts).all(axis=1)]
    if crop is not None and pts.size:
        x0, y0 = np.maximum(pts.min(axis=0) - crop, -0.5)
        x1, y1 = np.minimum(pts.max(axis=0) + crop, [W - 0.5, H - 0.5])
    w, h = max(x1 - x0, 1.0), max(y1 - y0, 1.0)
    fig, ax = plt.subplots(figsize=(max(3.0, 5.2 * w / max(w, h) + 0.4), max(2.5, 5.2 * h / max(w, h))))
    # events dark on white, saturating at the 95th percentile of the pixels with events: sparse frames stay visible
    vmax = np.percentile(frame[frame > 0], 95) if (frame > 0).any() else 1.0
    ax.imshow(frame, cmap="gray_r", vmin=0, vmax=max(vmax, 1e-9), interpolation="nearest")
    _draw_skeleton(ax, gt, _GT, "true", marker="o", ls="--", edges=edges)
    _draw_skeleton(ax, pred, _PRED, "predicted", edges=edges)
    ax.set_xlim(x0, x1)
    ax.set_ylim(y1, y0)
    ax.tick_params(labelsize=7)
    ax.set_xlabel("column (px)", fontsize=8)
    ax.set_ylabel("row (px)", fontsize=8)
    if show_error:
        d = np.sqrt(((pred - gt) ** 2).sum(axis=-1))
        d = d[np.isfinite(d)]
        if d.size:
            title = (title + "\n" if title else "") + f"2D MPJPE {d.mean():.2f} px ({d.size} joints)"
    if title:
        ax.set_title(title, fontsize=9)
    ax.legend(loc="best", fontsize=7, framealpha=0.8)
    _save(fig, path)


def plot_skeleton_3d(pred_xyz, gt_xyz, path, *, title: str = "", edges=SKELETON_EDGES, elev: float = 15.0,
                     azim: float = -70.0) -> None:
    """Predicted (blue) and true (red, dashed) 3D skeletons (mm) on equal axes, with the pose's 3D MPJPE."""
    pred = joints_last(pred_xyz)
    gt = joints_last(gt_xyz)
    if pred.ndim != 2 or gt.ndim != 2:
        raise ValueError(f"one pose each: (J, 3), got {pred.shape} and {gt.shape}")
    fig = plt.figure(figsize=(5.2, 5.2))
    ax = fig.add_subplot(projection="3d")
    _draw_skeleton(ax, gt, _GT, "true", ls="--", edges=edges, three_d=True)
    _draw_skeleton(ax, pred, _PRED, "predicted", edges=edges, three_d=True)
    both = np.concatenate([pred, gt])
    both = both[np.isfinite(both).all(axis=1)]
    if both.size:
        mid = (both.max(0) + both.min(0)) / 2
        r = max(float((both.max(0) - both.min(0)).max()) / 2, 1.0) * 1.05
        ax.set_xlim(mid[0] - r, mid[0] + r)
        ax.set_ylim(mid[1] - r, mid[1] + r)
        ax.set_zlim(mid[2] - r, mid[2] + r)
    ax.set_box_aspect((1, 1, 1))
    ax.view_init(elev=elev, azim=azim)
    ax.set_xlabel("X (mm)", fontsize=8)
    ax.set_ylabel("Y (mm)", fontsize=8)
    ax.set_zlabel("Z (mm)", fontsize=8)
    from matplotlib.ticker import MaxNLocator

    for axis in (ax.xaxis, ax.yaxis, ax.zaxis):  # few, short tick labels: a 3D box crowds them together
        axis.set_major_locator(MaxNLocator(nbins=4))
    ax.tick_params(labelsize=7, pad=1)
    ax.xaxis.labelpad = ax.yaxis.labelpad = ax.zaxis.labelpad = 6
    d = np.sqrt(((pred - gt) ** 2).sum(axis=-1))
    d = d[np.isfinite(d)]
    if d.size:
        title = (title + "\n" if title else "") + f"3D MPJPE {d.mean():.1f} mm"
    if title:
        ax.set_title(title, fontsize=9)
    ax.legend(loc="upper left", fontsize=7)
    _save(fig, path)


def _series(errors) -> dict[str, np.ndarray]:
    if isinstance(errors, Mapping):
        return {str(k): np.asarray(v, dtype=np.float64) for k, v in errors.items()}
    return {"": np.asarray(errors, dtype=np.float64)}


def plot_error_vs_time_since_cnn(steps, errors, path, *, ylabel: str = "MPJPE", title: str = "",
                                 step_ms: float | None = None, reference: Mapping[str, float] | None = None) -> None:
    """Mean +- std of per-sample errors against the number of steps since the last CNN frame.

    ``steps``: per-sample step counts (0 = the CNN frame); ``errors``: per-sample errors of the same shape, or
    ``{label: errors}`` for several series in the same unit (e.g. camera 2 and camera 3). ``step_ms`` labels the
    axis in milliseconds; ``reference``: ``{label: value}`` horizontal lines (e.g. the CNN alone, the mean pose).
    """
    steps = np.asarray(steps)
    fig, ax = plt.subplots(figsize=(5.6, 3.6))
    for i, (label, e) in enumerate(_series(errors).items()):
        s = np.broadcast_to(steps, e.shape).ravel()
        e = e.ravel()
        ok = np.isfinite(e)
        keys = np.unique(s[ok])
        means = np.array([e[ok & (s == k)].mean() for k in keys])
        stds = np.array([e[ok & (s == k)].std() for k in keys])
        x = keys * step_ms if step_ms else keys
        color = f"C{i}"
        ax.plot(x, means, "o-", color=color, ms=4, label=label or None)
        ax.fill_between(x, means - stds, means + stds, color=color, alpha=0.15, lw=0)
    for j, (label, val) in enumerate((reference or {}).items()):
        ax.axhline(val, color="grey", ls=("--", ":", "-.")[j % 3], lw=1, label=label)
    ax.set_xlabel(f"time since last CNN frame ({'ms' if step_ms else 'steps'})")
    ax.set_ylabel(ylabel)
    ax.set_ylim(bottom=0)
    ax.grid(alpha=0.3)
    if ax.get_legend_handles_labels()[0]:
        ax.legend(fontsize=8)
    if title:
        ax.set_title(title, fontsize=9)
    _save(fig, path)


def plot_per_movement(errors_by_movement, path, *, ylabel: str = "MPJPE", title: str = "",
                      labels: Mapping | Sequence | None = None, skipped: Mapping | None = None) -> None:
    """Bar chart of the error per movement.

    ``errors_by_movement``: ``{movement: value}`` (a value or an array of per-sample errors, whose mean is drawn
    with its std as an error bar), or ``{series: {movement: value}}`` for grouped bars (e.g. models or cameras).
    ``labels``: optional names of the movements (a mapping, or a sequence indexed by position). ``skipped``:
    ``{movement: reason}`` of movements without a value (e.g. every recording skipped by the preprocessing): shown
    as a labelled empty slot, not left out; a movement whose value is missing is marked "no samples" likewise.
    """
    data = dict(errors_by_movement)
    nested = bool(data) and all(isinstance(v, Mapping) for v in data.values())
    series = data if nested else {"": data}
    skipped = dict(skipped or {})
    movements = sorted({m for s in series.values() for m in s} | set(skipped), key=lambda m: (str(type(m)), m))
    fig, ax = plt.subplots(figsize=(max(4.0, 0.5 * len(movements) * max(1, len(series)) ** 0.5 + 1.6), 3.6))
    width = 0.8 / len(series)
    x = np.arange(len(movements))
    empty: list[int] = []
    for i, (name, s) in enumerate(series.items()):
        means, errs = [], []
        for m in movements:
            v = np.asarray(s.get(m, np.nan), dtype=np.float64).ravel()
            v = v[np.isfinite(v)]
            means.append(v.mean() if v.size else np.nan)
            errs.append(v.std() if v.size > 1 else np.nan)
        ax.bar(x - 0.4 + width * (i + 0.5), means, width, yerr=errs if np.isfinite(errs).any() else None, capsize=2,
               color=f"C{i}", label=str(name) or None)
        if i == 0:
            empty = [k for k, v in enumerate(means) if not np.isfinite(v)]
    top = ax.get_ylim()[1]
    for k in empty:  # a movement without a value is shown as such
        m = movements[k]
        ax.axvspan(k - 0.4, k + 0.4, color="0.85", hatch="//", fill=False, lw=0)
        ax.text(k, top * 0.03, str(skipped.get(m) or "no samples"), rotation=90, ha="center", va="bottom",
                fontsize=8, color="0.3")
    if labels is None:
        names = [str(m) for m in movements]
    elif isinstance(labels, Mapping):
        names = [str(labels.get(m, m)) for m in movements]
    else:
        names = [str(labels[i]) for i in range(len(movements))]
    ax.set_xticks(x, names, rotation=45 if max((len(n) for n in names), default=0) > 3 else 0, ha="right"
                  if max((len(n) for n in names), default=0) > 3 else "center", fontsize=8)
    ax.set_xlabel("movement")
    ax.set_ylabel(ylabel)
    ax.grid(axis="y", alpha=0.3)
    if nested:
        ax.legend(fontsize=8)
    if title:
        ax.set_title(title, fontsize=9)
    _save(fig, path)
