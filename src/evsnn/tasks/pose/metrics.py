"""DHP19 pose: heatmap targets, peaks and the pose adapter of the shared training loop.

Heatmap targets (``train.heatmap_grid``):

- ``integer`` (default, as published): the official DHP19 target -- a one-hot at the truncated position
  ``[int(v), int(u)]``, blurred with ``cv2.GaussianBlur(hm, (0, 0), sigma)`` and divided by its maximum
  (SensorsINI/DHP19@12a3fe6 ``heatmap_generation_example.ipynb``, code cells 1 (``decay_heatmap``, sigma 4) and 11
  (one-hot at ``[v, u]`` after ``astype(np.int32)``)). The peak then sits on the pixel that the official evaluation
  takes as ground truth (the projection truncated to integers, :func:`evsnn.tasks.pose.pose3d.project_gt_2d`), so a
  perfect prediction scores 0 px -- except within about 1.4 sigma of the map's border, where OpenCV's reflected
  border adds the joint's mirror image and the peak moves towards (within sigma: onto) the edge pixel, exactly as
  in the official targets. The DHP19 CNN recipe uses sigma 4 (the notebook), the hybrid ANN-SNN paper sigma 2.
- ``float``: a Gaussian centred on the exact (sub-pixel) position. Its peak is the ROUNDED position, which the
  truncated ground truth scores at about 0.85 px on average for a perfect prediction (FORMATS section 5).

In 3D the official protocol triangulates the integer peaks as they are (no half-pixel offset), so truncation
biases every view by -0.5 px in u and v: on the synthetic DHP19 geometry a perfect integer-grid predictor scores
0 px in 2D and about 11 mm in 3D, a float-grid one about 0.85 px and 5 mm (tests/test_pose_targets.py has the 0 mm
case of joints on the pixel grid).
"""
from __future__ import annotations

import math
from dataclasses import dataclass

import torch
import torch.nn.functional as F

from evsnn.data import cache_n_classes

HEATMAP_GRIDS = ("integer", "float")


def blur_radius(sigma: float) -> int:
    """Kernel radius of ``cv2.GaussianBlur(img, (0, 0), sigma)`` on a float image: OpenCV picks the kernel size
    ``cvRound(sigma * 4 * 2 + 1) | 1`` for floating-point depths (createGaussianKernels), i.e. about 4 sigma."""
    ksize = int(round(sigma * 8 + 1)) | 1
    return (ksize - 1) // 2


def _blurred_one_hot(idx: torch.Tensor, n: int, sigma: float, dtype) -> torch.Tensor:
    """[M, n] profiles of a 1-D one-hot at integer ``idx`` [M] (anything outside 0..n-1 gives zeros) blurred by a
    Gaussian of radius :func:`blur_radius` with OpenCV's default border BORDER_REFLECT_101 (``dcb|abcd|cba``): the
    mirror images of the one-hot lie at ``+-idx + 2m(n-1)``."""
    xs = torch.arange(n, device=idx.device, dtype=dtype)[None, :]
    inside = (idx >= 0) & (idx < n)
    c = torch.where(inside, idx, torch.zeros_like(idx)).to(dtype)[:, None]
    out = torch.zeros(idx.shape[0], n, device=idx.device, dtype=dtype)
    if n == 1:
        return out + inside[:, None].to(dtype)
    r = blur_radius(sigma)
    period = 2 * (n - 1)
    reps = math.ceil((r + n) / period) + 1
    edge = (c == 0) | (c == n - 1)  # the reflection of an edge pixel is itself: count it once
    for m in range(-reps, reps + 1):
        for p, use in ((c + m * period, None), (-c + m * period, ~edge)):
            d = xs - p
            g = torch.exp(-d**2 / (2 * sigma**2)) * (d.abs() <= r)
            out += g if use is None else g * use
    return out * inside[:, None].to(dtype)


def integer_positions(uv: torch.Tensor, downsample: float = 1.0) -> torch.Tensor:
    """The integer-grid position of cache-pixel labels ``uv``: the official target and ground truth truncate the
    projected position in sensor pixels (``int(u)``); in a cache downsampled by ``k`` that is the cache pixel
    nearest to the truncated sensor position (the pixel convention of :func:`evsnn.tasks.pose.data.sensor_to_cache`:
    sensor ``u`` lies at cache ``(u - c0 - (k - 1) / 2) / k`` for an integer crop origin ``c0``). At k = 1 this is
    ``trunc(u)`` itself; at k > 1 it adds no mean offset on top of the truncation (a plain ``trunc`` of the cache
    label would shift every target by half a cache pixel, k / 2 sensor pixels)."""
    if downsample == 1:
        return torch.trunc(uv)
    off = (downsample - 1) / 2
    return torch.round((torch.floor(uv * downsample + off) - off) / downsample)


def gaussian_heatmaps(uv: torch.Tensor, H: int, W: int, sigma: float, grid: str = "float",
                      downsample: float = 1.0) -> torch.Tensor:
    """Target heatmaps [N, J, H, W] from joint positions ``uv`` [N, 2, J] (pixels, NaN = joint not visible).

    ``grid="integer"``: the official DHP19 target (module docstring): one-hot at ``[trunc(v), trunc(u)]`` (in a cache
    downsampled by ``downsample``: :func:`integer_positions`),
    Gaussian blur of std ``sigma`` as OpenCV does it (kernel radius :func:`blur_radius`, reflected border),
    divided by its maximum; equal to :func:`evsnn.tasks.pose.preprocess.heatmaps` (the scipy reference) up to float
    rounding. A joint whose truncated position falls outside the map gets an all-zero map.
    ``grid="float"``: a Gaussian of std ``sigma`` centred at the exact (v, u), peak 1, no truncation or border.
    Invisible joints get an all-zero map either way.
    """
    if grid not in HEATMAP_GRIDS:
        raise ValueError(f"heatmap grid must be one of {', '.join(map(repr, HEATMAP_GRIDS))}, not {grid!r}")
    if not sigma > 0:
        raise ValueError(f"heatmap sigma must be positive, got {sigma!r}")
    if grid == "integer":
        n, j = uv.shape[0], uv.shape[2]
        valid = torch.isfinite(uv).all(1)                              # [N, J]
        iuv = torch.where(valid[:, None], integer_positions(torch.nan_to_num(uv), downsample),
                          torch.full_like(uv, -1)).long()
        dtype = uv.dtype if uv.dtype in (torch.float32, torch.float64) else torch.float32
        gx = _blurred_one_hot(iuv[:, 0].reshape(-1), W, sigma, dtype)  # [N*J, W]
        gy = _blurred_one_hot(iuv[:, 1].reshape(-1), H, sigma, dtype)  # [N*J, H]
        peak = gx.amax(-1, keepdim=True) * gy.amax(-1, keepdim=True)
        hm = gy[:, :, None] * gx[:, None, :] / peak.clamp_min(1e-30)[:, :, None]
        return hm.reshape(n, j, H, W)
    u, v = uv[:, 0], uv[:, 1]                                         # [N, J]
    valid = torch.isfinite(u) & torch.isfinite(v)
    u = torch.where(valid, u, torch.zeros_like(u))
    v = torch.where(valid, v, torch.zeros_like(v))
    ys = torch.arange(H, device=uv.device, dtype=uv.dtype).view(1, 1, H, 1)
    xs = torch.arange(W, device=uv.device, dtype=uv.dtype).view(1, 1, 1, W)
    d2 = (ys - v[..., None, None]) ** 2 + (xs - u[..., None, None]) ** 2
    return torch.exp(-d2 / (2 * sigma**2)) * valid[..., None, None].to(uv.dtype)


def heatmap_peaks(hm: torch.Tensor) -> torch.Tensor:
    """Argmax positions [N, 2, J] (u = column, v = row) of heatmaps [N, J, H, W]."""
    n, j, h, w = hm.shape
    idx = hm.reshape(n, j, h * w).argmax(-1)
    return torch.stack([(idx % w).to(hm.dtype), torch.div(idx, w, rounding_mode="floor").to(hm.dtype)], dim=1)


@dataclass
class PoseTask:
    """2D pose by heatmap regression (DHP19): MSE against Gaussian target maps, 2D MPJPE in sensor pixels.

    ``grid``: where the targets are centred (module docstring); the training loop's 2D MPJPE measures the peaks
    against the same positions (the truncated ones for ``integer``, as the official evaluation), so the model
    selection and the evaluation agree. ``pixel_scale`` converts cache pixels back to sensor pixels (the frames'
    downsample factor), so the metric is comparable with the papers' per-camera 2D MPJPE.
    """

    sigma: float = 2.0
    pixel_scale: float = 1.0
    grid: str = "integer"
    loss_name: str = "mse"
    selection_metric: str = "mpjpe2d"
    higher_is_better: bool = False
    metric_names: tuple = ("mpjpe2d",)

    def loss(self, out: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        """``mse``: the DHP19 loss (mean squared error against the target maps); ``spatial_ce``: cross-entropy
        between the softmax over each joint's map and the normalised target Gaussian (invisible joints ignored),
        which converges in far fewer epochs on sparse targets."""
        if out.dim() == 5:  # per-step predictions [T, N, J, H, W]: every step against the last frame's joints
            return self.loss(out.flatten(0, 1), y.repeat(out.shape[0], 1, 1))
        target = self.targets(y, out.shape[-2], out.shape[-1])
        if self.loss_name == "mse":
            return F.mse_loss(out.float(), target)
        if self.loss_name == "spatial_ce":
            n, j = out.shape[:2]
            t = target.reshape(n, j, -1)
            valid = (torch.isfinite(y).all(1) & (t.sum(-1) > 0)).to(out.dtype)   # [N, J]
            t = t / t.sum(-1, keepdim=True).clamp_min(1e-12)
            ce = -(t * F.log_softmax(out.reshape(n, j, -1).float(), -1)).sum(-1)  # [N, J]
            return (ce * valid).sum() / valid.sum().clamp_min(1.0)
        raise ValueError(f"pose loss must be 'mse' or 'spatial_ce', not {self.loss_name!r}")

    def batch_stats(self, out: torch.Tensor, y: torch.Tensor) -> dict[str, float]:
        if out.dim() == 5:
            out = out[-1]
        err = self.joint_errors(out, y)                               # [N, J], NaN for invisible joints
        per_sample = torch.nanmean(err, dim=1)
        return {"mpjpe2d": float(torch.nansum(per_sample))}

    def targets(self, y: torch.Tensor, H: int, W: int) -> torch.Tensor:
        """The target heatmaps [N, J, H, W] of joint positions ``y`` [N, 2, J] (cache pixels)."""
        return gaussian_heatmaps(y.float(), H, W, self.sigma, self.grid, self.pixel_scale)

    def target_positions(self, y: torch.Tensor) -> torch.Tensor:
        """Where the targets put each joint [N, 2, J]: truncated for the integer grid, exact for the float one."""
        return integer_positions(y.float(), self.pixel_scale) if self.grid == "integer" else y.float()

    def joint_errors(self, out: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        peaks = heatmap_peaks(out.detach().float())
        return torch.linalg.vector_norm(peaks - self.target_positions(y), dim=1) * self.pixel_scale

    def reduce(self, name: str, total: float, n: int) -> float:
        return total / n


def adapter(train_cfg: dict, train_ds, test_ds) -> PoseTask:
    """Heatmap regression; MPJPE reported in sensor pixels (the cache's downsample factor undone)."""
    if train_ds.attrs.get("representation") == "has":  # the hybrid ANN-SNN paper's caches and loss
        from evsnn.tasks.pose.has_train import adapter as has_adapter

        return has_adapter(train_cfg, train_ds, test_ds)
    grid = train_cfg.get("heatmap_grid", "integer")
    sigma = train_cfg.get("heatmap_sigma", 2.0)
    if grid not in HEATMAP_GRIDS:
        raise ValueError(f"train.heatmap_grid must be one of {', '.join(map(repr, HEATMAP_GRIDS))}, not {grid!r}")
    if not sigma > 0:
        raise ValueError(f"train.heatmap_sigma must be positive, got {sigma!r}")
    task = PoseTask(loss_name=train_cfg.get("loss") or "mse", sigma=sigma, grid=grid,
                    pixel_scale=float(train_ds.attrs.get("downsample", 1)))
    task.n_classes = cache_n_classes(train_ds, test_ds)
    return task
