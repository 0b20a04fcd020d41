"""The toy task's one architecture: a time-weighted sum of the frames (late minus early: the direction of motion)
-> a small classifier (time-major input [T, N, C, H, W])."""
import torch
import torch.nn as nn


class ToyNet(nn.Module):
    def __init__(self, in_shape, n_classes, hidden: int = 8):
        super().__init__()
        c, h, w = in_shape
        self.net = nn.Sequential(nn.Flatten(), nn.Linear(c * h * w, hidden), nn.ReLU(), nn.Linear(hidden, n_classes))

    def forward(self, x):
        w = torch.linspace(-1.0, 1.0, x.shape[0], device=x.device).view(-1, 1, 1, 1, 1)
        return self.net((x.float() * w).sum(0))


ARCHS = {"toy_net": ToyNet}
