"""Loss and metrics of the hybrid ANN-SNN paper for the shared training loop (HAS caches, ``has_*`` models).

Source: uzh-rpg/hybrid_ann_snn @8a88791 ("HAS"), ``torch_utils/utils.py:179-212`` (``my_mse_loss``),
``train/train_snn_model.py:112-118``, ``train/train_cnn_snn_hybrid_model.py:97,137-160``.

- Target: a one-hot at the label's integer pixel (v, u) per joint, blurred by torchvision's ``gaussian_blur``
  with sigma 2 and kernel ``int(((sigma - 0.8) / 0.3 + 1) * 2 + 1) = 11`` (reflect padding), divided by its
  maximum (joints outside the crop: all zero). Loss: MSE over (N, J, H, W).
- Sequence models: the loss at every bin against that bin's label, averaged over the bins; ``has_cnn``: against
  the label just before the window.
- The hybrid CNN-SNN: ``0.95 x that + 0.05 x model.state_loss`` (the mean over the nine spiking layers of the MSE
  between the CNN's states for the next window and the SNN's membranes after the last bin), when the model
  provides it (training only: the model computes it in training mode).
- 2D MPJPE of the last bin (the CNN: its one output) in sensor pixels, argmax of the heatmaps.

``train.loss: spatial_ce`` (not the paper's; the pose task's other loss, :class:`evsnn.tasks.pose.metrics.PoseTask`)
replaces the MSE by the cross-entropy between each joint's spatial softmax and its normalised target, same targets,
same bins, same state-loss mix. It exists for the CPU demo: at demo size and a few epochs the MSE drives the outputs
to zero before any peak forms (the SNN's BatchNorm readout starts at unit variance against targets of mean ~0.01).
"""
from __future__ import annotations

from dataclasses import dataclass, field

import torch
import torch.nn.functional as F

from evsnn.data import cache_n_classes
from evsnn.tasks.pose.metrics import heatmap_peaks

STATE_LOSS_RATIO = 0.05  # train_cnn_snn_hybrid_model.py:97


def blur_kernel(sigma: float = 2.0) -> torch.Tensor:
    """torchvision's 1D Gaussian kernel of ``gaussian_blur`` for HAS's kernel size rule."""
    k = int(((sigma - 0.8) / 0.3 + 1) * 2 + 1)
    x = torch.linspace(-(k - 1) / 2, (k - 1) / 2, k)
    g = torch.exp(-0.5 * (x / sigma) ** 2)
    return g / g.sum()


def has_targets(uv: torch.Tensor, H: int, W: int, sigma: float = 2.0) -> torch.Tensor:
    """Target heatmaps [N, J, H, W] from integer joint pixels ``uv`` [N, 2, J] (NaN = outside the crop)."""
    n, _, j = uv.shape
    valid = torch.isfinite(uv).all(1)                                   # [N, J]
    u = torch.nan_to_num(uv[:, 0]).long().clamp(0, W - 1)
    v = torch.nan_to_num(uv[:, 1]).long().clamp(0, H - 1)
    onehot = torch.zeros(n * j, H * W, device=uv.device)
    onehot[torch.arange(n * j, device=uv.device), (v * W + u).reshape(-1)] = valid.reshape(-1).float()
    g = blur_kernel(sigma).to(uv.device)
    r = len(g) // 2
    img = onehot.reshape(n * j, 1, H, W)
    img = F.pad(img, (r, r, r, r), mode="reflect")
    img = F.conv2d(img, g.view(1, 1, 1, -1))
    img = F.conv2d(img, g.view(1, 1, -1, 1)).reshape(n, j, H, W)
    peak = img.amax(dim=(2, 3), keepdim=True)
    return torch.where(peak > 0, img / peak.clamp_min(1e-12), img)


@dataclass
class HASPoseTask:
    """The HAS loss and 2D MPJPE for caches of ``representation: has`` (labels ``[N, T + 1, 2, J]``: the CNN label,
    then every bin's)."""

    sigma: float = 2.0
    pixel_scale: float = 1.0
    loss_name: str = "mse"         # the paper's; or spatial_ce (the demo's)
    selection_metric: str = "mpjpe2d"
    higher_is_better: bool = False
    metric_names: tuple = ("mpjpe2d",)
    model: object = field(default=None, repr=False)

    def bind_model(self, model) -> None:
        """The training loop hands over the model: the hybrid's state loss is read from it after each forward."""
        self.model = model

    def _labels(self, out: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        """The labels that go with ``out``: [N, 2, J] for a CNN output, [T, N, 2, J] for bins."""
        if out.dim() == 4:
            return y[:, 0]
        return y[:, -out.shape[0]:].transpose(0, 1)

    def heatmap_loss(self, out: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        lab = self._labels(out, y)
        if out.dim() == 5:                                      # every bin against its label (equal sizes: the
            out, lab = out.flatten(0, 1), lab.flatten(0, 1)     # mean over bins of each bin's loss)
        target = has_targets(lab.float(), *out.shape[-2:], self.sigma)
        if self.loss_name == "mse":
            return F.mse_loss(out.float(), target)
        if self.loss_name == "spatial_ce":
            n, j = out.shape[:2]
            t = target.reshape(n, j, -1)
            valid = (t.sum(-1) > 0).float()                     # [N, J]: joints outside the crop have no target
            t = t / t.sum(-1, keepdim=True).clamp_min(1e-12)
            ce = -(t * F.log_softmax(out.reshape(n, j, -1).float(), -1)).sum(-1)
            return (ce * valid).sum() / valid.sum().clamp_min(1.0)
        raise ValueError(f"the HAS loss (train.loss) must be 'mse' or 'spatial_ce', not {self.loss_name!r}")

    def loss(self, out: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        loss = self.heatmap_loss(out, y)
        state = getattr(self.model, "state_loss", None) if self.model is not None else None
        if state is not None and out.dim() == 5:
            loss = (1 - STATE_LOSS_RATIO) * loss + STATE_LOSS_RATIO * state
        return loss

    def joint_errors(self, out: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        """[N, J] pixel errors of one output [N, J, H, W] against labels [N, 2, J] (NaN outside the crop)."""
        peaks = heatmap_peaks(out.detach().float())
        return torch.linalg.vector_norm(peaks - y.float(), dim=1) * self.pixel_scale

    def batch_stats(self, out: torch.Tensor, y: torch.Tensor) -> dict[str, float]:
        lab = self._labels(out, y)
        if out.dim() == 5:
            out, lab = out[-1], lab[-1]
        per_sample = torch.nanmean(self.joint_errors(out, lab), dim=1)
        return {"mpjpe2d": float(torch.nansum(per_sample))}

    def reduce(self, name: str, total: float, n: int) -> float:
        return total / n


def adapter(train_cfg: dict, train_ds, test_ds) -> HASPoseTask:
    task = HASPoseTask(sigma=train_cfg.get("heatmap_sigma", 2.0), loss_name=train_cfg.get("loss") or "mse",
                       pixel_scale=float(train_ds.attrs.get("downsample", 1)))
    task.n_classes = cache_n_classes(train_ds, test_ds)
    return task
