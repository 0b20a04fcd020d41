"""The toy task's one architecture: mean frame -> linear classifier (time-major input [T, N, C, H, W])."""
import torch.nn as nn


class ToyNet(nn.Module):
    def __init__(self, in_shape, n_classes, hidden: int = 8):
        super().__init__()
        c, h, w = in_shape
        self.net = nn.Sequential(nn.Flatten(), nn.Linear(c * h * w, hidden), nn.ReLU(), nn.Linear(hidden, n_classes))

    def forward(self, x):
        return self.net(x.float().mean(0))


ARCHS = {"toy_net": ToyNet}
