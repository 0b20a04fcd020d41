"""Helpers shared by the lava-dl (slayer) models of every task."""
from __future__ import annotations

import torch

#: the smallest sigma-delta threshold netx can export: vThMant = int(threshold * 64) must be >= 1
MIN_SDNN_THRESHOLD = 1.0 / 64


def clamp_thresholds(blocks) -> None:
    """Keep learnt sigma-delta thresholds >= 1/64 (in place); called by every forward pass, so a trained model and
    its netx export agree (a smaller threshold would export as 0: no sparsity on Loihi)."""
    with torch.no_grad():
        for block in blocks:
            delta = getattr(getattr(block, "neuron", None), "delta", None)
            if delta is not None and hasattr(delta, "threshold"):
                delta.threshold.clamp_(min=MIN_SDNN_THRESHOLD)


def check_sdnn_threshold(arch: str, threshold: float) -> None:
    """Refuse a sigma-delta threshold that netx would export as 0 (no sparsity, NaN threshold gradients)."""
    from evsnn.errors import ConfigError

    if int(float(threshold) * 64) < 1:
        raise ConfigError(f"{arch}: threshold {threshold} is below 1/64: lava-dl quantises the sigma-delta threshold "
                          "to multiples of 1/64 (vThMant = threshold * 64), so it would become 0 (no sparsity on "
                          "Loihi, NaN threshold gradients); use threshold >= 0.015625")


def sdnn_neuron_params(*, threshold: float, tau_grad: float, scale_grad: float, learn_threshold: bool,
                       mean_only_bn: bool):
    """A factory ``params(c_out=None)`` of slayer sigma-delta neuron parameters (ReLU activation, one shared
    learnable threshold per block); with ``c_out`` and ``mean_only_bn`` the block gets slayer's mean-only batch
    norm, which netx exports as the neuron bias."""
    import functools

    import torch.nn.functional as F
    from lava.lib.dl import slayer

    def params(c_out=None):
        p = {"threshold": float(threshold), "tau_grad": float(tau_grad), "scale_grad": float(scale_grad),
             "requires_grad": bool(learn_threshold), "shared_param": True, "activation": F.relu}
        if c_out is not None and mean_only_bn:
            p["norm"] = functools.partial(slayer.neuron.norm.MeanOnlyBatchNorm, num_features=c_out)
        return p

    return params
