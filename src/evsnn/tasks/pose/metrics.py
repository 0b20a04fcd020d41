"""DHP19 pose: heatmap targets, peaks and the pose adapter of the shared training loop."""
from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F

from evsnn.data import cache_n_classes


def gaussian_heatmaps(uv: torch.Tensor, H: int, W: int, sigma: float) -> torch.Tensor:
    """Target heatmaps [N, J, H, W] from joint positions ``uv`` [N, 2, J] (pixels, NaN = joint not visible).

    A Gaussian of std ``sigma`` at (v, u) normalised to a peak of 1, as the DHP19 targets (one-hot blurred, then
    divided by its max); invisible joints get an all-zero map.
    """
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

    ``pixel_scale`` converts cache pixels back to sensor pixels (the frames' downsample factor), so the metric
    is comparable with the papers' per-camera 2D MPJPE.
    """

    sigma: float = 2.0
    pixel_scale: float = 1.0
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
        target = gaussian_heatmaps(y.float(), out.shape[-2], out.shape[-1], self.sigma)
        if self.loss_name == "mse":
            return F.mse_loss(out.float(), target)
        if self.loss_name == "spatial_ce":
            n, j = out.shape[:2]
            valid = torch.isfinite(y).all(1).to(out.dtype)                      # [N, J]
            t = target.reshape(n, j, -1)
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

    def joint_errors(self, out: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        peaks = heatmap_peaks(out.detach().float())
        return torch.linalg.vector_norm(peaks - y.float(), dim=1) * self.pixel_scale

    def reduce(self, name: str, total: float, n: int) -> float:
        return total / n


def adapter(train_cfg: dict, train_ds, test_ds) -> PoseTask:
    """Heatmap regression; MPJPE reported in sensor pixels (the cache's downsample factor undone)."""
    if train_ds.attrs.get("representation") == "has":  # the hybrid ANN-SNN paper's caches and loss
        from evsnn.tasks.pose.has_train import adapter as has_adapter

        return has_adapter(train_cfg, train_ds, test_ds)
    task = PoseTask(loss_name=train_cfg.get("loss") or "mse", sigma=train_cfg.get("heatmap_sigma", 2.0),
                    pixel_scale=float(train_ds.attrs.get("downsample", 1)))
    task.n_classes = cache_n_classes(train_ds, test_ds)
    return task
