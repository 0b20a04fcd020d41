"""Task adapters: what the shared training / evaluation loop needs to know about a task.

A task turns a model output and a target into a loss and metrics, names the metric used for model
selection and whether larger is better. Classification (DVS128 Gesture) is the first; pose and depth add
their own adapters without touching the loop.
"""
from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F


@dataclass
class ClassificationTask:
    n_classes: int
    loss_name: str = "mse"
    selection_metric: str = "acc"
    higher_is_better: bool = True
    metric_names: tuple = ("acc",)

    def loss(self, out: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        if self.loss_name == "mse":
            # spikingjelly/PLIF convention: MSE between output firing rates and one-hot labels
            return F.mse_loss(out.float(), F.one_hot(y, self.n_classes).float())
        if self.loss_name == "cross_entropy":
            return F.cross_entropy(out.float(), y)
        raise ValueError(f"loss must be 'mse' or 'cross_entropy', not {self.loss_name!r}")

    def batch_stats(self, out: torch.Tensor, y: torch.Tensor) -> dict[str, float]:
        """Sums over the batch (averaged by the loop over the number of samples)."""
        return {"acc": float((out.argmax(1) == y).sum())}

    def reduce(self, name: str, total: float, n: int) -> float:
        """Turn a summed batch statistic into the epoch value."""
        return total / n


def make_task(task: str, n_classes: int | None = None, loss: str | None = None, **kwargs):
    """The task adapter; ``loss`` None picks the task's default (gesture and pose: mse, depth: l1_log)."""
    if loss is None:
        loss = "l1_log" if task == "depth" else "mse"
    if task == "gesture":
        return ClassificationTask(n_classes=n_classes or 11, loss_name=loss)
    if task == "pose":
        return PoseTask(loss_name=loss, **kwargs)
    if task == "depth":
        return DepthTask(loss_name=loss, **kwargs)
    raise ValueError(f"unknown task {task!r}")


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


def _valid_depth(y: torch.Tensor) -> torch.Tensor:
    """Valid ground-truth pixels: finite and > 0 (MVSEC: NaN = no lidar return; [SS] also maps 0 to NaN)."""
    return torch.isfinite(y) & (y > 0)


@dataclass
class DepthTask:
    """Dense depth regression (MVSEC-style): the model outputs depth in metres [N, H, W]; labels [N, H, W] metres
    with NaN (or <= 0) where there is no ground truth.

    Loss over valid pixels only: ``l1_log`` (default: mean |log pred - log gt|, a relative error that weighs near
    and far pixels alike), ``silog`` (scale-invariant log loss of Eigen et al., NIPS 2014, lambda = 0.5, per
    sample) or ``l1`` (mean |pred - gt| in metres, the metric itself).

    Metrics (FORMATS 3.5): ``mde_cm`` = mean depth error, mean |pred - gt| over the valid GT pixels of a sample, in
    cm (the selection metric, lower is better); ``mde{c}_cm`` = the same over the valid pixels with GT depth <= c
    metres, for each cut-off c in ``cutoffs`` (the 10 / 20 / 30 m cut-offs of Zhu et al. CVPR 2019 and DDES,
    Tulyakov et al. ICCV 2019; on indoor scenes, all closer than 10 m, they equal ``mde_cm``). Each metric is a
    per-sample mean summed over the batch by ``batch_stats`` and divided by the number of samples in ``reduce``;
    a sample without any valid pixel (below a cut-off) contributes 0 to that metric's sum (caches should not
    hold samples without ground truth).
    """

    loss_name: str = "l1_log"
    cutoffs: tuple = (10.0, 20.0, 30.0)
    selection_metric: str = "mde_cm"
    higher_is_better: bool = False
    metric_names: tuple = ("mde_cm", "mde10_cm", "mde20_cm", "mde30_cm")

    LOSSES = ("l1_log", "silog", "l1")

    def __post_init__(self):
        if self.loss_name not in self.LOSSES:
            raise ValueError(f"depth loss must be one of {', '.join(self.LOSSES)}, not {self.loss_name!r}")
        self.cutoffs = tuple(float(c) for c in self.cutoffs)
        if any(c <= 0 for c in self.cutoffs):
            raise ValueError(f"depth cut-offs must be positive (metres), got {self.cutoffs}")
        self.metric_names = ("mde_cm",) + tuple(f"mde{c:g}_cm" for c in self.cutoffs)

    def loss(self, out: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        if out.dim() == y.dim() + 1:  # per-step predictions [T, N, H, W]: every step against the labels
            return self.loss(out.flatten(0, 1), y.repeat(out.shape[0], *([1] * (y.dim() - 1))))
        out, y = out.float(), y.float()
        valid = _valid_depth(y)
        if not bool(valid.any()):
            return out.sum() * 0.0  # keeps the graph: a batch without ground truth changes nothing
        gt = torch.where(valid, y, torch.ones_like(y))
        if self.loss_name == "l1":
            return (out - gt).abs()[valid].mean()
        d = torch.log(out.clamp_min(1e-6)) - torch.log(gt)
        if self.loss_name == "l1_log":
            return d.abs()[valid].mean()
        # silog, per sample: mean(d^2) - 0.5 * mean(d)^2 over its valid pixels, averaged over samples with GT
        v = valid.flatten(1).float()
        d = torch.where(valid, d, torch.zeros_like(d)).flatten(1)
        cnt = v.sum(1)
        has = cnt > 0
        m1 = d.sum(1)[has] / cnt[has]
        m2 = (d ** 2).sum(1)[has] / cnt[has]
        return (m2 - 0.5 * m1 ** 2).mean()

    def sample_errors(self, out: torch.Tensor, y: torch.Tensor) -> dict[str, torch.Tensor]:
        """Per-sample mean absolute error in cm [N] for each metric (NaN where a sample has no valid pixel)."""
        out, y = out.detach().float(), y.float()
        valid = _valid_depth(y)
        err = torch.where(valid, (out - y).abs(), torch.zeros_like(out)).flatten(1) * 100.0
        res = {}
        for name, cut in zip(self.metric_names, (None,) + self.cutoffs):
            m = valid if cut is None else valid & (y <= cut)
            m = m.flatten(1).float()
            cnt = m.sum(1)
            res[name] = torch.where(cnt > 0, (err * m).sum(1) / cnt.clamp_min(1.0),
                                    torch.full_like(cnt, float("nan")))
        return res

    def batch_stats(self, out: torch.Tensor, y: torch.Tensor) -> dict[str, float]:
        if out.dim() == y.dim() + 1:
            out = out[-1]
        return {k: float(torch.nansum(v)) for k, v in self.sample_errors(out, y).items()}

    def reduce(self, name: str, total: float, n: int) -> float:
        return total / n
