"""2D and 3D human-pose evaluation (DHP19): heatmap peaks, 2D MPJPE, stereo triangulation, 3D MPJPE.

Conventions (reference/FORMATS.md 2.5; SensorsINI/DHP19 ``Eval_2D_triangulation_and_3D_tutorial.ipynb``):

- image points are ``(u, v)`` in the official orientation: ``u`` = column, ``v`` = row, with
  ``v = H - uvw1/uvw2`` (H = 260) -- the projection of :func:`evsnn.tasks.pose.preprocess.project`, which heatmaps
  index as ``[int(v), int(u)]``. Arrays of image points have shape ``(..., J, 2)`` (last axis ``u, v``).
- 3D points are world millimetres, shape ``(..., J, 3)`` (last axis ``X, Y, Z``). The DHP19 label files store
  ``/XYZ`` as ``(N, 3, 13)``; :func:`joints_last` converts (the functions that take ground truth accept both).
- cameras are P-matrix numbers 1..4 (``P{c}.npy``); aedat/h5 channel ``ch`` is camera
  :data:`evsnn.io.dhp19.CHANNEL_TO_CAMERA` ``[ch]``. The front cameras 2 and 3 are the ones of the paper.

What the official notebook does, and where this module follows it:

- 2D prediction = the first maximum of each joint heatmap in row-major order (``np.argwhere(hm == hm.max())[0]``),
  no sub-pixel refinement; confidence = the maximum (:func:`heatmap_argmax`, ``subpixel=False``).
- 2D ground truth = the projection truncated to integers (``u.astype(np.int32)``), NaN where the official mask is 0
  (NaN joint, ``u <= 0``, ``u > W``, ``v <= 0``, ``v > H``; W = 344); sample error = ``np.nanmean`` over joints of
  the Euclidean distance (:func:`project_gt_2d`, :func:`mpjpe_2d`). The dataset value is the mean over samples of
  the per-sample values, as the hybrid ANN-SNN repository averages batches of per-sample ``nanmean``.
- 3D: each predicted ``(u, v)`` is turned back into image coordinates ``(u, H - v)``, back-projected with
  ``pinv(P)``, and the rays from the camera centres (``camera_positions.npy``) are intersected in the least-squares
  sense (:func:`triangulate_rays`); 3D MPJPE = mean over joints of the Euclidean error in mm (the notebook uses
  ``np.mean``, the hybrid repository ``nanmean``; here NaN joints are ignored, :func:`mpjpe_3d`).
  :func:`triangulate` is the standard linear (DLT) alternative, batched with one SVD per point.
"""
from __future__ import annotations

import warnings
from dataclasses import dataclass
from typing import Any, Mapping, Sequence

import numpy as np

from evsnn.tasks.pose.preprocess import SY, project
from evsnn.io.dhp19 import FRONT_CAMERAS, JOINTS

__all__ = [
    "DEFAULT_W", "SUBPIXEL_METHODS", "PoseError", "MeanPoseBaseline",
    "joints_last", "camera_centre", "heatmap_argmax", "project_gt_2d", "project_uv",
    "joint_errors", "mpjpe_2d", "mpjpe_3d", "triangulate", "triangulate_rays",
    "group_errors", "pose_metrics", "mean_pose_baseline",
]

#: image width of the evaluation (the CNN input is cropped to 344 columns; Eval notebook ``W = 344``)
DEFAULT_W = 344
SUBPIXEL_METHODS = ("quadratic", "gaussian", "quarter")


# --------------------------------------------------------------------------------------------------
# small helpers
# --------------------------------------------------------------------------------------------------
def joints_last(xyz, dim: int = 3) -> np.ndarray:
    """``(..., J, dim)`` from either ``(..., J, dim)`` or the label-file layout ``(..., dim, J)`` (DHP19 ``/XYZ`` is
    ``(N, 3, 13)``). The layout is read from the shape: the last axis is taken as coordinates when it has ``dim``
    entries, otherwise the last two axes are swapped (so a ``(3, 3)`` array is taken as joints-first)."""
    xyz = np.asarray(xyz, dtype=np.float64)
    if xyz.ndim < 2:
        raise ValueError(f"expected joint positions (..., J, {dim}) or (..., {dim}, J), got shape {xyz.shape}")
    if xyz.shape[-1] == dim:
        return xyz
    if xyz.shape[-2] == dim:
        return np.swapaxes(xyz, -1, -2)
    raise ValueError(f"expected joint positions (..., J, {dim}) or (..., {dim}, J), got shape {xyz.shape}")


def _check_P(P) -> np.ndarray:
    P = np.asarray(P, dtype=np.float64)
    if P.shape != (3, 4):
        raise ValueError(f"a projection matrix must be 3 x 4, got {P.shape}")
    return P


def camera_centre(P) -> np.ndarray:
    """The centre ``C`` (3,) of a finite projective camera: the right null vector of ``P`` (``P [C, 1] = 0``)."""
    P = _check_P(P)
    c = np.linalg.svd(P)[2][-1]
    if abs(c[3]) < 1e-12 * np.abs(c).max():
        raise ValueError("P is not a finite camera (its centre is at infinity)")
    return c[:3] / c[3]


def _nanmean(a, axis=None):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)  # "Mean of empty slice": all-NaN -> NaN, on purpose
        return np.nanmean(a, axis=axis)


# --------------------------------------------------------------------------------------------------
# heatmaps -> 2D points
# --------------------------------------------------------------------------------------------------
def heatmap_argmax(hm, *, subpixel: bool | str = False, offset: float = 0.0) -> tuple[np.ndarray, np.ndarray]:
    """Peak of each heatmap: ``(uv (..., J, 2), confidence (..., J))`` for ``hm (..., J, H, W)``.

    ``uv[..., 0]`` = column ``u``, ``uv[..., 1]`` = row ``v`` of the first maximum in row-major order, as the DHP19
    notebook (``np.argwhere(pred == pred.max())[0]``) and ``torch.argmax`` of a flattened map pick it; the
    confidence is the maximum value. NaN values are never the peak (an all-NaN map gives ``(0, 0)`` and confidence
    NaN). Channel-last outputs (Keras ``(N, H, W, J)``) need ``np.moveaxis(hm, -1, -3)`` first.

    ``subpixel`` (default off, as the notebooks): ``"quadratic"`` (or ``True``) fits a parabola through the peak and
    its two neighbours along each axis; ``"gaussian"`` does the same on the log of the values (exact for a Gaussian
    blob, needs positive neighbours); ``"quarter"`` moves 0.25 px towards the larger neighbour (the HRNet/Simple
    Baselines rule). Offsets are limited to +-0.5 px and left at 0 on the border or where the fit has no maximum.
    ``offset`` is added to both coordinates (0.5 gives the pixel centre of the truncation convention of
    :func:`evsnn.tasks.pose.preprocess.heatmaps`; the notebook uses 0).
    """
    hm = np.asarray(hm)
    if hm.ndim < 3:
        raise ValueError(f"heatmaps must have shape (..., J, H, W), got {hm.shape}")
    if subpixel is True:
        subpixel = "quadratic"
    if subpixel and subpixel not in SUBPIXEL_METHODS:
        raise ValueError(f"subpixel must be False or one of {SUBPIXEL_METHODS}, got {subpixel!r}")
    lead, (H, W) = hm.shape[:-2], hm.shape[-2:]
    flat = hm.reshape(-1, H * W)
    nan = np.issubdtype(flat.dtype, np.floating) and np.isnan(flat).any()
    if nan:
        flat = np.where(np.isnan(flat), -np.inf, flat)
    idx = flat.argmax(axis=1)
    rows_i = np.arange(flat.shape[0])
    conf = flat[rows_i, idx].astype(np.float64)
    if nan:
        conf[np.isneginf(conf)] = np.nan
    r, c = np.divmod(idx, W)
    u = c.astype(np.float64)
    v = r.astype(np.float64)
    if subpixel:
        maps = flat.reshape(-1, H, W)
        u += _subpixel_offset(maps, rows_i, r, c, W, axis=1, method=subpixel)
        v += _subpixel_offset(maps, rows_i, r, c, H, axis=0, method=subpixel)
    uv = np.stack([u + offset, v + offset], axis=-1)
    return uv.reshape(lead + (2,)), conf.reshape(lead)


def _subpixel_offset(maps, i, r, c, n, axis, method) -> np.ndarray:
    pos = c if axis == 1 else r
    inside = (pos >= 1) & (pos <= n - 2)
    lo = np.where(inside, pos - 1, pos)
    hi = np.where(inside, pos + 1, pos)
    if axis == 1:
        f0, fl, fh = maps[i, r, c], maps[i, r, lo], maps[i, r, hi]
    else:
        f0, fl, fh = maps[i, r, c], maps[i, lo, c], maps[i, hi, c]
    f0, fl, fh = (np.asarray(a, dtype=np.float64) for a in (f0, fl, fh))
    with np.errstate(invalid="ignore", divide="ignore"):
        if method == "quarter":
            d = 0.25 * np.sign(fh - fl)
        else:
            if method == "gaussian":
                ok = (f0 > 0) & (fl > 0) & (fh > 0)
                f0, fl, fh = (np.log(np.where(ok, a, 1.0)) for a in (f0, fl, fh))
                inside = inside & ok
            den = fl - 2 * f0 + fh
            d = np.where(den < 0, 0.5 * (fl - fh) / np.where(den < 0, den, -1.0), 0.0)
    d = np.where(inside & np.isfinite(d), np.clip(d, -0.5, 0.5), 0.0)
    return d


# --------------------------------------------------------------------------------------------------
# projections
# --------------------------------------------------------------------------------------------------
def project_uv(P, xyz, H: int = SY, W: int = DEFAULT_W) -> tuple[np.ndarray, np.ndarray]:
    """Exact projections ``(uv (..., J, 2), mask (..., J))`` of ``xyz`` (``(..., J, 3)`` or ``(..., 3, J)``) through
    :func:`evsnn.tasks.pose.preprocess.project` (official v-flip and in-frame mask); no truncation, no NaN masking."""
    xyz = joints_last(xyz)
    u, v, mask = project(_check_P(P), np.swapaxes(xyz, -1, -2), H=H, W=W)
    return np.stack([u, v], axis=-1), mask


def project_gt_2d(P, xyz, H: int = SY, W: int = DEFAULT_W, *, truncate: bool = True) -> tuple[np.ndarray, np.ndarray]:
    """2D ground truth of the Eval notebook: ``(uv (..., J, 2), mask (..., J))`` with ``u, v`` truncated to integers
    (``astype(np.int32)``; ``truncate=False`` keeps the exact projection) and NaN where the official mask is 0."""
    uv, mask = project_uv(P, xyz, H=H, W=W)
    if truncate:
        uv = np.trunc(np.where(mask[..., None], uv, 0.0))
    return np.where(mask[..., None], uv, np.nan), mask


# --------------------------------------------------------------------------------------------------
# errors
# --------------------------------------------------------------------------------------------------
@dataclass
class PoseError:
    """Joint position errors and their means (pixels for 2D, mm for 3D).

    ``errors (..., J)``: Euclidean error of every joint of every sample, NaN where the joint is not evaluated
    (masked or NaN ground truth, NaN prediction). ``per_sample (...)``: nanmean over joints (NaN for a sample
    without any valid joint). ``per_joint (J,)``: nanmean over samples. ``mean``: mean over the samples that have a
    valid joint of their per-sample value (the DHP19 / hybrid ANN-SNN convention). ``mean_over_joints``: nanmean
    over all valid joint errors. ``float(err)`` is ``err.mean``.
    """

    errors: np.ndarray
    per_sample: np.ndarray
    per_joint: np.ndarray
    mean: float
    mean_over_joints: float
    n_samples: int
    n_valid: int

    def __float__(self) -> float:
        return float(self.mean)


def joint_errors(pred, gt, mask=None) -> np.ndarray:
    """Euclidean distance ``(..., J)`` between ``pred`` and ``gt`` (``(..., J, D)``), NaN where either is NaN or
    ``mask`` (broadcastable to ``(..., J)``) is False."""
    pred = np.asarray(pred, dtype=np.float64)
    gt = np.asarray(gt, dtype=np.float64)
    d = np.sqrt(np.sum((pred - gt) ** 2, axis=-1))
    if mask is not None:
        d = np.where(np.asarray(mask, dtype=bool), d, np.nan)
    return d


def _pose_error(err: np.ndarray) -> PoseError:
    per_sample = _nanmean(err, axis=-1)
    flat = err.reshape(-1, err.shape[-1])
    per_joint = _nanmean(flat, axis=0)
    valid = np.isfinite(per_sample)
    mean = float(per_sample[valid].mean()) if valid.any() else float("nan")
    return PoseError(errors=err, per_sample=per_sample, per_joint=per_joint, mean=mean,
                     mean_over_joints=float(_nanmean(err)) if np.isfinite(err).any() else float("nan"),
                     n_samples=int(np.prod(err.shape[:-1], dtype=np.int64)), n_valid=int(np.isfinite(err).sum()))


def mpjpe_2d(pred_uv, gt_uv, mask=None) -> PoseError:
    """2D mean per-joint position error in pixels (:class:`PoseError`), ignoring joints whose ground truth is NaN
    or whose ``mask`` is False (out of frame), as the DHP19 Eval notebook does (``y_2d[mask == 0] = nan``,
    ``np.nanmean``). ``pred_uv``, ``gt_uv``: ``(..., J, 2)``; use :func:`project_gt_2d` for the notebook's ground
    truth."""
    pred_uv = np.asarray(pred_uv, dtype=np.float64)
    gt_uv = np.asarray(gt_uv, dtype=np.float64)
    if pred_uv.shape[-1] != 2 or gt_uv.shape[-1] != 2:
        raise ValueError(f"2D points must have shape (..., J, 2), got {pred_uv.shape} and {gt_uv.shape}")
    return _pose_error(joint_errors(pred_uv, gt_uv, mask))


def mpjpe_3d(pred_xyz, gt_xyz, mask=None, *, details: bool = False) -> float | PoseError:
    """3D mean per-joint position error in mm: per sample the mean over valid joints (NaN in ``gt`` or ``pred``, or
    ``mask`` False, are ignored), then the mean over samples. ``gt_xyz`` may be in the label layout ``(..., 3, J)``.
    Returns a float, or the :class:`PoseError` with ``details=True``."""
    pred_xyz = joints_last(pred_xyz)
    gt_xyz = joints_last(gt_xyz)
    err = _pose_error(joint_errors(pred_xyz, gt_xyz, mask))
    return err if details else err.mean


# --------------------------------------------------------------------------------------------------
# triangulation
# --------------------------------------------------------------------------------------------------
def _views(P_list, uv_list, masks, H):
    """Stack the cameras: P (C, 3, 4), image coordinates x, y (C, ...) with the v-flip undone, valid (C, ...)."""
    Ps = np.stack([_check_P(P) for P in P_list])
    if len(uv_list) != len(Ps):
        raise ValueError(f"{len(Ps)} projection matrices but {len(uv_list)} sets of 2D points")
    uvs = [np.asarray(uv, dtype=np.float64) for uv in uv_list]
    for uv in uvs:
        if uv.shape[-1] != 2:
            raise ValueError(f"2D points must have shape (..., J, 2), got {uv.shape}")
    if masks is None:
        masks = [True] * len(uvs)
    arrays = np.broadcast_arrays(*uvs, *[np.asarray(m, dtype=bool)[..., None] for m in masks])
    uv = np.stack(arrays[:len(uvs)])
    m = np.stack(arrays[len(uvs):])[..., 0]
    x = uv[..., 0]
    y = H - uv[..., 1]  # undo v = H - v' (the image coordinates P maps to)
    valid = m & np.isfinite(x) & np.isfinite(y)
    return Ps, np.where(valid, x, 0.0), np.where(valid, y, 0.0), valid


def triangulate(P_list: Sequence, uv_list: Sequence, H: int = SY, *, masks: Sequence | None = None) -> np.ndarray:
    """Linear least-squares (DLT) triangulation from two or more cameras: ``xyz (..., J, 3)`` in mm.

    ``P_list``: the cameras' 3 x 4 matrices; ``uv_list``: their 2D points ``(..., J, 2)`` in the official
    orientation (``v = H - v'``, undone here before P is used); ``masks``: optional per-camera ``(..., J)`` booleans
    (False = do not use this view). NaN points are not used either. For every point the rows
    ``x P3 - P1`` and ``y P3 - P2`` of the valid views are stacked and the homogeneous solution is the right singular
    vector of the smallest singular value (one batched SVD; rows are normalised and the unknown is preconditioned
    with the cameras' centroid and spread). Points seen by fewer than two valid views are NaN. Exact projections give
    the exact 3D point up to rounding.
    """
    Ps, x, y, valid = _views(P_list, uv_list, masks, H)
    C = len(Ps)
    if C < 2:
        raise ValueError("triangulation needs at least two cameras")
    lead = x.shape[1:]
    # preconditioning X = T Y with T = [[s I, t], [0, 1]] (t, s: centroid and spread of the camera centres)
    centres = np.stack([camera_centre(P) for P in Ps])
    t = centres.mean(axis=0)
    s = max(float(np.sqrt(((centres - t) ** 2).sum(axis=1).mean())), 1e-9)
    T = np.eye(4)
    T[:3, :3] *= s
    T[:3, 3] = t
    PT = Ps @ T  # (C, 3, 4)
    P0, P1, P2 = (PT[:, k, :].reshape((C,) + (1,) * len(lead) + (4,)) for k in range(3))
    rx = x[..., None] * P2 - P0
    ry = y[..., None] * P2 - P1
    A = np.concatenate([rx, ry], axis=0) * np.concatenate([valid, valid], axis=0)[..., None]  # (2C, ..., 4)
    norm = np.linalg.norm(A, axis=-1, keepdims=True)
    A = A / np.where(norm > 0, norm, 1.0)
    A = np.moveaxis(A, 0, -2).reshape(-1, 2 * C, 4)  # (M, 2C, 4)
    Y = np.linalg.svd(A)[2][:, -1, :]  # (M, 4)
    X = Y @ T.T
    with np.errstate(invalid="ignore", divide="ignore"):
        xyz = X[:, :3] / X[:, 3:4]
    xyz = xyz.reshape(lead + (3,))
    return np.where((valid.sum(axis=0) >= 2)[..., None], xyz, np.nan)


def triangulate_rays(P_list: Sequence, centres, uv_list: Sequence, H: int = SY, *,
                     masks: Sequence | None = None) -> np.ndarray:
    """The DHP19 notebook's triangulation: ``xyz (..., J, 3)`` in mm.

    Each 2D point (official orientation; ``(u, H - v)`` is used with P, as the notebook's ``pred_2d_cam_``) is
    back-projected with ``pinv(P)`` to a point of its viewing ray; the ray from the camera centre through it is
    intersected with the others in the least-squares sense (``sum (I - n n^T) p = sum (I - n n^T) C``, the
    notebook's ``find_intersection``), batched over samples and joints. ``centres``: ``(C, 3)`` camera centres in the
    order of ``P_list`` (the notebook uses ``camera_positions.npy``), or None to take the null vector of each P.
    ``masks`` and NaN points as in :func:`triangulate`; points seen by fewer than two valid views are NaN.
    """
    Ps, x, y, valid = _views(P_list, uv_list, masks, H)
    C = len(Ps)
    if C < 2:
        raise ValueError("triangulation needs at least two cameras")
    if centres is None:
        centres = np.stack([camera_centre(P) for P in Ps])
    centres = np.asarray(centres, dtype=np.float64).reshape(-1, 3)
    if len(centres) != C:
        raise ValueError(f"{C} cameras but {len(centres)} centres")
    lead = x.shape[1:]
    pinv = np.linalg.pinv(Ps)  # (C, 4, 3)
    pts = np.stack([x, y, np.ones_like(x)], axis=-1)  # (C, ..., 3)
    Xh = np.einsum("cij,c...j->c...i", pinv, pts)  # (C, ..., 4): P Xh = (x, y, 1)
    bshape = (C,) + (1,) * len(lead) + (3,)
    Cb = centres.reshape(bshape)
    d = Xh[..., :3] - Xh[..., 3:4] * Cb  # direction of the line through C and Xh (also when Xh is at infinity)
    n = d / np.linalg.norm(d, axis=-1, keepdims=True).clip(min=1e-300)
    proj = np.eye(3) - n[..., :, None] * n[..., None, :]  # (C, ..., 3, 3)
    proj = proj * valid[..., None, None]
    R = proj.sum(axis=0)
    q = np.einsum("c...ij,c...j->...i", proj, np.broadcast_to(Cb, proj.shape[:-1]))
    ok = valid.sum(axis=0) >= 2
    R = np.where(ok[..., None, None], R, np.eye(3))
    xyz = np.linalg.solve(R, q[..., None])[..., 0]
    return np.where(ok[..., None], xyz, np.nan)


# --------------------------------------------------------------------------------------------------
# metrics
# --------------------------------------------------------------------------------------------------
def group_errors(per_sample, groups) -> dict[str, list]:
    """Mean of per-sample errors by group: ``{"group": sorted keys, "n": samples with a finite error, "mean",
    "std"}`` (lists, JSON-friendly). ``groups`` is broadcast to the shape of ``per_sample``; NaN errors are left
    out (a group with none gives mean NaN)."""
    e = np.asarray(per_sample, dtype=np.float64)
    g = np.broadcast_to(np.asarray(groups), e.shape).ravel()
    e = e.ravel()
    keys = np.unique(g)
    out: dict[str, list] = {"group": [], "n": [], "mean": [], "std": []}
    for k in keys:
        sel = e[(g == k) & np.isfinite(e)]
        out["group"].append(k.item() if hasattr(k, "item") else k)
        out["n"].append(int(sel.size))
        out["mean"].append(float(sel.mean()) if sel.size else float("nan"))
        out["std"].append(float(sel.std()) if sel.size else float("nan"))
    return out


def _camera_key(cam) -> str:
    return f"cam{int(cam)}"


def _centres_for(centres, cams) -> np.ndarray | None:
    if centres is None:
        return None
    if isinstance(centres, Mapping):
        return np.stack([np.asarray(centres[c], dtype=np.float64) for c in cams])
    arr = np.asarray(centres, dtype=np.float64)
    if arr.shape != (4, 3):
        raise ValueError(f"centres must be a {{camera: (3,)}} mapping or the (4, 3) camera_positions array, "
                         f"got shape {arr.shape}")
    return arr[[int(c) - 1 for c in cams]]


def pose_metrics(pred: Mapping[int, Any], gt_xyz, P: Mapping[int, Any], cameras: Sequence[int] = FRONT_CAMERAS,
                 movements=None, steps_since_cnn=None, *, centres=None, method: str = "rays", H: int = SY,
                 W: int = DEFAULT_W, subpixel: bool | str = False, gt_truncate: bool = True,
                 per_sample: bool = False) -> dict:
    """2D and 3D pose metrics of per-camera predictions against 3D ground truth.

    ``pred``: ``{camera: heatmaps (..., J, H, W)}`` or ``{camera: uv (..., J, 2)}`` (peaks, e.g. from batched
    :func:`heatmap_argmax`), camera = P-matrix number 1..4; every camera present gets a 2D MPJPE (the paper reports
    the front cameras 2 and 3; all four when available). ``gt_xyz``: ``(..., J, 3)`` or label layout ``(..., 3, J)``
    in mm, with the same leading shape ``...`` as the predictions (e.g. ``(N,)`` frames or ``(N, T)`` windows x
    steps). ``P``: ``{camera: 3 x 4}``. ``cameras``: the views triangulated for 3D MPJPE (default 2 and 3, needs two
    of them in ``pred``); ``method``: ``"rays"`` (the notebook, :func:`triangulate_rays`, with ``centres`` =
    ``{camera: (3,)}`` or the (4, 3) ``camera_positions.npy`` array, None = from P) or ``"dlt"``
    (:func:`triangulate`). ``movements`` and ``steps_since_cnn`` (broadcastable to the leading shape, e.g.
    ``movements[:, None]`` with ``(N, T)`` predictions) add breakdowns by movement and by the number of steps since
    the last CNN frame (0 = the CNN frame itself).

    2D ground truth follows the notebook (:func:`project_gt_2d`: truncated, NaN outside the frame); 3D MPJPE ignores
    NaN joints. Returns a JSON-friendly dict::

        n_samples, cameras_2d, mpjpe_2d {camN: px}, mpjpe_2d_mean (over ``cameras``), mpjpe_2d_per_joint
        {camN: {joint: px}}, triangulation {cameras, method}, mpjpe_3d (mm), mpjpe_3d_per_joint {joint: mm},
        [mpjpe_3d_all_cameras when more views than ``cameras`` are present],
        [by_movement / by_steps_since_cnn: {group: [...], n: [samples], mpjpe_2d: {camN: [...]}, mpjpe_3d: [...]}],
        [per_sample: {mpjpe_2d: {camN: array}, mpjpe_3d: array, pred_xyz: array} with ``per_sample=True``]
    """
    if method not in ("rays", "dlt"):
        raise ValueError(f"method must be 'rays' or 'dlt', got {method!r}")
    gt = joints_last(gt_xyz)
    lead, J = gt.shape[:-2], gt.shape[-2]
    joint_names = list(JOINTS) if J == len(JOINTS) else [f"joint{j}" for j in range(J)]
    cams_present = sorted(int(c) for c in pred)
    missing = [c for c in cams_present if c not in P]
    if missing:
        raise ValueError(f"no projection matrix for camera(s) {missing}")

    uv_pred: dict[int, np.ndarray] = {}
    for cam in cams_present:
        a = np.asarray(pred[cam])
        if a.shape == lead + (J, 2):
            uv_pred[cam] = a.astype(np.float64)
        elif a.shape[:-2] == lead + (J,):
            uv_pred[cam] = heatmap_argmax(a, subpixel=subpixel)[0]
        else:
            raise ValueError(f"camera {cam}: predictions of shape {a.shape} match neither heatmaps "
                             f"{lead + (J, 'H', 'W')} nor points {lead + (J, 2)} for ground truth {gt.shape}")

    out: dict[str, Any] = {"n_samples": int(np.prod(lead, dtype=np.int64)), "cameras_2d": cams_present,
                           "mpjpe_2d": {}, "mpjpe_2d_per_joint": {}}
    err2d: dict[int, PoseError] = {}
    for cam in cams_present:
        gt_uv, mask = project_gt_2d(P[cam], gt, H=H, W=W, truncate=gt_truncate)
        err2d[cam] = mpjpe_2d(uv_pred[cam], gt_uv, mask)
        out["mpjpe_2d"][_camera_key(cam)] = err2d[cam].mean
        out["mpjpe_2d_per_joint"][_camera_key(cam)] = dict(zip(joint_names, map(float, err2d[cam].per_joint)))
    sel2d = [err2d[c].mean for c in cameras if c in err2d]
    out["mpjpe_2d_mean"] = float(np.mean(sel2d)) if sel2d else float("nan")

    def _tri(cams):
        Pl = [P[c] for c in cams]
        uvl = [uv_pred[c] for c in cams]
        if method == "dlt":
            return triangulate(Pl, uvl, H=H)
        return triangulate_rays(Pl, _centres_for(centres, cams), uvl, H=H)

    tri_cams = [int(c) for c in cameras if int(c) in uv_pred]
    err3d = None
    pred_xyz = None
    if len(tri_cams) >= 2:
        pred_xyz = _tri(tri_cams)
        err3d = mpjpe_3d(pred_xyz, gt, details=True)
        out["triangulation"] = {"cameras": tri_cams, "method": method}
        out["mpjpe_3d"] = err3d.mean
        out["mpjpe_3d_per_joint"] = dict(zip(joint_names, map(float, err3d.per_joint)))
        if len(cams_present) > len(tri_cams):
            out["mpjpe_3d_all_cameras"] = float(mpjpe_3d(_tri(cams_present), gt))
    else:
        out["triangulation"] = {"cameras": tri_cams, "method": method}
        out["mpjpe_3d"] = float("nan")

    def _breakdown(groups):
        groups = np.broadcast_to(np.asarray(groups), lead)
        keys, counts = np.unique(groups, return_counts=True)
        res: dict[str, Any] = {"group": [k.item() for k in keys], "n": [int(n) for n in counts], "mpjpe_2d": {}}
        for cam in cams_present:
            res["mpjpe_2d"][_camera_key(cam)] = group_errors(err2d[cam].per_sample, groups)["mean"]
        res["mpjpe_3d"] = (group_errors(err3d.per_sample, groups)["mean"] if err3d is not None
                           else [float("nan")] * len(keys))
        return res

    if movements is not None:
        out["by_movement"] = _breakdown(movements)
    if steps_since_cnn is not None:
        out["by_steps_since_cnn"] = _breakdown(np.asarray(steps_since_cnn).astype(np.int64))
    if per_sample:
        out["per_sample"] = {"mpjpe_2d": {_camera_key(c): e.per_sample for c, e in err2d.items()},
                             "mpjpe_3d": None if err3d is None else err3d.per_sample, "pred_xyz": pred_xyz}
    return out


# --------------------------------------------------------------------------------------------------
# baseline
# --------------------------------------------------------------------------------------------------
@dataclass
class MeanPoseBaseline:
    """The constant mean-pose predictor: the training set's joint-wise mean 3D pose ``xyz (J, 3)`` (mm), predicted
    for every sample, and its projection in each camera for 2D."""

    xyz: np.ndarray

    def predict_3d(self, shape) -> np.ndarray:
        """``(*shape, J, 3)`` copies of the mean pose (``shape``: an int or a tuple of leading dims)."""
        shape = (shape,) if np.isscalar(shape) else tuple(shape)
        return np.broadcast_to(self.xyz, shape + self.xyz.shape).copy()

    __call__ = predict_3d

    def predict_2d(self, P, shape, H: int = SY, W: int = DEFAULT_W):
        """Projection of the mean pose: ``uv (*shape, J, 2)`` for one 3 x 4 ``P``, or ``{camera: uv}`` for a
        mapping of cameras (ready for :func:`pose_metrics`). Exact (not truncated) projections."""
        if isinstance(P, Mapping):
            return {c: self.predict_2d(Pc, shape, H=H, W=W) for c, Pc in P.items()}
        uv = project_uv(P, self.xyz, H=H, W=W)[0]
        shape = (shape,) if np.isscalar(shape) else tuple(shape)
        return np.broadcast_to(uv, shape + uv.shape).copy()


def mean_pose_baseline(train_xyz) -> MeanPoseBaseline:
    """:class:`MeanPoseBaseline` from training poses ``(..., J, 3)`` or label layout ``(..., 3, J)`` (NaN-aware
    joint-wise mean over all training samples)."""
    xyz = joints_last(train_xyz)
    mean = _nanmean(xyz.reshape(-1, xyz.shape[-2], 3), axis=0)
    if not np.isfinite(mean).all():
        bad = [JOINTS[j] if xyz.shape[-2] == len(JOINTS) else j for j in np.flatnonzero(~np.isfinite(mean).all(1))]
        raise ValueError(f"the training poses have no finite value for joint(s) {bad}")
    return MeanPoseBaseline(xyz=mean)
