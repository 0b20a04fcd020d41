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
