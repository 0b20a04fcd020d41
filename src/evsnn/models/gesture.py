"""DVS128 Gesture classifiers.

``plif_net``: the network of Fang et al., "Incorporating Learnable Membrane Time Constant to Enhance Learning
of Spiking Neural Networks" (ICCV 2021) for DVS128 Gesture,
``{c128k3s1-BN-PLIF-MPk2s2}*5-DP-FC512-PLIF-DP-FC110-PLIF-APk10s10``, built with spikingjelly 2.0
``activation_based`` layers in multi-step mode (input [T, N, 2, H, W], output firing rates [N, classes]).
The neuron (PLIF or LIF), channels, number of conv blocks, hidden width and voters come from the config;
the defaults are the paper's.
"""
from __future__ import annotations

import torch
import torch.nn as nn
from spikingjelly.activation_based import functional, layer

from evsnn.models._neurons import spiking_neuron

TASK = "gesture"


class PLIFNet(nn.Module):
    """Spiking CNN for event frames, multi-step mode; ``forward`` resets the neuron states itself."""

    is_spiking = True

    def __init__(self, in_shape, n_classes, *, channels=128, n_conv=5, neuron="plif", tau=2.0,
                 v_threshold=1.0, fc_hidden=512, dropout=0.5, voters=10):
        super().__init__()
        c_in, h, w = in_shape
        if h % (2 ** n_conv) or w % (2 ** n_conv):
            raise ValueError(f"input {h}x{w} is not divisible by 2**n_conv = {2 ** n_conv} (n_conv={n_conv}); "
                             "lower n_conv or change the frames' downsample")
        blocks = []
        for i in range(n_conv):
            blocks += [
                layer.Conv2d(c_in if i == 0 else channels, channels, kernel_size=3, padding=1, bias=False),
                layer.BatchNorm2d(channels),
                spiking_neuron(neuron, tau, v_threshold),
                layer.MaxPool2d(2, 2),
            ]
        self.conv = nn.Sequential(*blocks)
        feat = channels * (h // 2 ** n_conv) * (w // 2 ** n_conv)
        self.fc = nn.Sequential(
            layer.Flatten(),
            layer.Dropout(dropout),
            layer.Linear(feat, fc_hidden),
            spiking_neuron(neuron, tau, v_threshold),
            layer.Dropout(dropout),
            layer.Linear(fc_hidden, n_classes * voters),
            spiking_neuron(neuron, tau, v_threshold),
        )
        self.vote = layer.VotingLayer(voters)
        functional.set_step_mode(self, "m")

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """x: [T, N, C, H, W] event frames -> [N, n_classes] firing rates in [0, 1]."""
        functional.reset_net(self)
        spikes = self.fc(self.conv(x))           # [T, N, n_classes * voters]
        rates = self.vote(spikes).mean(0)        # [N, n_classes]
        return rates


ARCHS = {"plif_net": PLIFNet}
