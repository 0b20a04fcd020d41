"""MVSEC depth: the depth adapter of the shared training loop (losses over valid pixels, MDE in cm)."""
from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F


def _valid_depth(y: torch.Tensor) -> torch.Tensor:
    """Valid ground-truth pixels: finite and > 0 (MVSEC: NaN = no lidar return; [SS] also maps 0 to NaN)."""
    return torch.isfinite(y) & (y > 0)


@dataclass
class DepthTask:
    """Dense depth regression (MVSEC-style): the model outputs depth in metres [N, H, W]; labels [N, H, W] metres
    with NaN (or <= 0) where there is no ground truth.

    Loss over valid pixels only: ``l1_log`` (default: mean |log pred - log gt|, a relative error that weighs near
    and far pixels alike), ``silog`` (scale-invariant log loss of Eigen et al., NIPS 2014, lambda = 0.5, per
    sample), ``l1`` (mean |pred - gt| in metres, the metric itself) or ``stereospike`` (:func:`stereospike_loss`).

    Models may output ``[S, N, H, W]``: per-step predictions, or the StereoSpike family's output-neuron potential
    after each of its four heads; every loss takes all S (``stereospike`` sums them, the others average them)
    and the metrics the last.

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

    LOSSES = ("l1_log", "silog", "l1", "stereospike")

    def __post_init__(self):
        if self.loss_name not in self.LOSSES:
            raise ValueError(f"depth loss must be one of {', '.join(self.LOSSES)}, not {self.loss_name!r}")
        self.cutoffs = tuple(float(c) for c in self.cutoffs)
        if any(c <= 0 for c in self.cutoffs):
            raise ValueError(f"depth cut-offs must be positive (metres), got {self.cutoffs}")
        self.metric_names = ("mde_cm",) + tuple(f"mde{c:g}_cm" for c in self.cutoffs)

    def loss(self, out: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        if self.loss_name == "stereospike":
            return stereospike_loss(out if out.dim() == y.dim() + 1 else out.unsqueeze(0), y)
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


#: Sobel kernels of the gradient-matching loss (urancon/StereoSpike@6254fec network/loss.py:59-65)
_SOBEL = torch.tensor([[[[1.0, 0.0, -1.0], [2.0, 0.0, -2.0], [1.0, 0.0, -1.0]]],
                       [[[1.0, 2.0, 1.0], [0.0, 0.0, 0.0], [-1.0, -2.0, -1.0]]]])


def stereospike_loss(outs: torch.Tensor, y: torch.Tensor, alpha: float = 0.5) -> torch.Tensor:
    """StereoSpike's loss (urancon/StereoSpike@6254fec network/loss.py:7-135, train.py:128): for each of the S
    predictions ``outs[s]`` (the output neuron's potential after each head), the scale-invariant loss on linear
    depth, ``sum r^2 / n - (sum r)^2 / n^2`` with ``r = pred - gt`` over the n valid pixels, plus ``alpha`` (0.5)
    times the gradient-matching loss, ``sum(|Sobel_x r| + |Sobel_y r|) / n`` over the valid pixels with r set to 0
    at invalid ones before the Sobel filters (zero padding); summed over the S predictions (scale weights 1).

    SS trains with batch 1, where its sums run over one map; here each term is computed per sample and averaged
    over the samples that have valid pixels (the same at batch 1). SS resamples the ground truth to each head's
    size with bilinear interpolation: its heads all predict at full resolution, where that is the identity."""
    outs, y = outs.float(), y.float()
    valid = _valid_depth(y)
    has = valid.flatten(1).any(1)
    if not bool(has.any()):
        return outs.sum() * 0.0
    outs, y, valid = outs[:, has], y[has], valid[has]
    n = valid.flatten(1).sum(1).float()                                    # [N]
    m = valid.float()
    total = outs.new_zeros(())
    for pred in outs:
        r = torch.where(valid, pred - torch.where(valid, y, torch.zeros_like(y)), torch.zeros_like(pred))
        si = (r ** 2).flatten(1).sum(1) / n - (r.flatten(1).sum(1) / n) ** 2
        g = F.conv2d(r.unsqueeze(1), _SOBEL.to(r), padding=1)               # [N, 2, H, W]
        gm = ((g.abs() * m.unsqueeze(1)).flatten(1).sum(1)) / n
        total = total + (si + alpha * gm).mean()
    return total


def adapter(train_cfg: dict, train_ds, test_ds) -> DepthTask:
    """Depth regression in metres; MDE in cm (FORMATS 3.5). Depth maps, not classes: models get n_classes 1."""
    task = DepthTask(loss_name=train_cfg.get("loss") or "l1_log",
                     cutoffs=tuple(train_cfg.get("depth_cutoffs", (10.0, 20.0, 30.0))))
    task.n_classes = 1
    return task
