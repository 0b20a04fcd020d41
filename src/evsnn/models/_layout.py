"""Tensor layout helpers shared by the model families: evsnn feeds event frames time-major, [T, N, C, H, W]."""
from __future__ import annotations

import torch


def as_seq(x: torch.Tensor) -> torch.Tensor:
    """[N, C, H, W] -> [1, N, C, H, W]; [T, N, C, H, W] unchanged."""
    if x.dim() == 4:
        return x.unsqueeze(0)
    if x.dim() != 5:
        raise ValueError(f"expected event frames [T, N, C, H, W] or [N, C, H, W], got shape {tuple(x.shape)}")
    return x


def seq_apply(fn, x: torch.Tensor) -> torch.Tensor:
    """Apply a per-frame function to [T, N, ...] by folding time into the batch."""
    t, n = x.shape[:2]
    y = fn(x.flatten(0, 1))
    return y.reshape(t, n, *y.shape[1:])
