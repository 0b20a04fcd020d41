"""DVS128 Gesture classifiers.

``plif_net``: the network of Fang et al., "Incorporating Learnable Membrane Time Constant to Enhance Learning
of Spiking Neural Networks" (ICCV 2021) for DVS128 Gesture,
``{c128k3s1-BN-PLIF-MPk2s2}*5-DP-FC512-PLIF-DP-FC110-PLIF-APk10s10``, built with spikingjelly 2.0
``activation_based`` layers in multi-step mode (input [T, N, 2, H, W], output firing rates [N, classes]).
The neuron (PLIF or LIF), channels, number of conv blocks, hidden width and voters come from the config;
the defaults are the paper's, except ``bias``: the paper code's fully connected layers have no bias
(fangwei123456/Parametric-Leaky-Integrate-and-Fire-Spiking-Neuron@f644ff6 ``codes/models.py:50-59``
``create_2fc``: ``nn.Linear(..., bias=False)`` twice; convolutions ``bias=False`` at lines 34 and 42), 1,698,311
parameters at paper size; ``bias=True`` (the default, kept for existing configs) adds 622 (512 + 110).
Other facts of the paper code (same repository and commit): PLIF ``w`` initialised to ``-log(tau0 - 1)`` so that
``sigmoid(w) = 1/tau0`` (``codes/models.py:9-13``, one learnable ``w`` per layer), ATan surrogate, ``detach_reset``
on (README.md:122), max pooling, dropout 0.5 before each FC, the second on spikes (``models.py:53-56``), voting by
``AvgPool1d(10, 10)`` over 110 outputs (``models.py:226``), 128 x 128 input (``models.py:277-282``); T=20, 1024
epochs, batch 16, Adam lr 1e-3, cosine annealing with T_max 64 (``codes/train_val.py:53-55, 290-291``; README.md:122),
MSE between the output firing rates and one-hot labels (``train_val.py:334-335``).
Our options beside the paper's: ``pool="avg"`` (2x2 average instead of max pooling) and ``batch_norm=False``
(convolutions with a bias instead of conv + batch norm): with both, and a LIF, PLIF or IF neuron, the network is
a chain of layers that NIR expresses (``NIR_WHEN``; exported by :mod:`evsnn.nirx`, the voting readout as a fixed
``Linear``). Batch norm alone would be folded into the convolutions at export; max pooling has no NIR node.

``gesture_sdnn``: a small lava-dl (slayer) network for Lava/Loihi deployment: Input, {Conv 3x3 + sum Pool 2}
per entry of ``channels``, Flatten, Dense ``hidden``, and a Dense readout of ``n_classes``. With
``neuron="sdnn"`` (default) the blocks are sigma-delta ReLU units and the readout is slayer's sigma ``Output``
(linear logits: the weighted sum of the hidden activations), averaged over time; with ``neuron="cuba"`` they
are CUBA-LIF neurons and the output is the firing rate of the readout. It exports to netx
(:func:`evsnn.lava.export.export_network`) and runs bit-exactly in Lava (:mod:`evsnn.lava`); the CUBA variant
also exports to NIR (:mod:`evsnn.nirx.slayer`: its blocks have ``delay_shift=False``, which NIR needs).
"""
from __future__ import annotations

import torch
import torch.nn as nn
from spikingjelly.activation_based import functional, layer

from evsnn.models._neurons import spiking_neuron
from evsnn.models._slayer import check_sdnn_threshold, clamp_thresholds, sdnn_neuron_params



class PLIFNet(nn.Module):
    """Spiking CNN for event frames, multi-step mode; ``forward`` resets the neuron states itself."""

    is_spiking = True
    #: exported to NIR by the workflow when the net config has these values (read with ``ast``; the paper's
    #: defaults, max pooling, are not expressible): evsnn.models.nir_archs, evsnn.nirx
    NIR_WHEN = {"pool": "avg"}

    def __init__(self, in_shape, n_classes, *, channels=128, n_conv=5, neuron="plif", tau=2.0,
                 v_threshold=1.0, fc_hidden=512, dropout=0.5, voters=10, bias=True, pool="max", batch_norm=True):
        super().__init__()
        from evsnn.errors import ConfigError

        if pool not in ("max", "avg"):
            raise ConfigError(f"plif_net: pool must be 'max' (the paper's) or 'avg', not {pool!r}")
        c_in, h, w = in_shape
        if h % (2 ** n_conv) or w % (2 ** n_conv):
            raise ValueError(f"input {h}x{w} is not divisible by 2**n_conv = {2 ** n_conv} (n_conv={n_conv}); "
                             "lower n_conv or change the frames' downsample")
        blocks = []
        for i in range(n_conv):
            blocks += [
                # without batch norm the convolution has a bias (batch norm's shift when it is there)
                layer.Conv2d(c_in if i == 0 else channels, channels, kernel_size=3, padding=1,
                             bias=not batch_norm),
                *([layer.BatchNorm2d(channels)] if batch_norm else []),
                spiking_neuron(neuron, tau, v_threshold),
                layer.MaxPool2d(2, 2) if pool == "max" else layer.AvgPool2d(2, 2),
            ]
        self.conv = nn.Sequential(*blocks)
        feat = channels * (h // 2 ** n_conv) * (w // 2 ** n_conv)
        self.fc = nn.Sequential(
            layer.Flatten(),
            layer.Dropout(dropout),
            layer.Linear(feat, fc_hidden, bias=bool(bias)),
            spiking_neuron(neuron, tau, v_threshold),
            layer.Dropout(dropout),
            layer.Linear(fc_hidden, n_classes * voters, bias=bool(bias)),
            spiking_neuron(neuron, tau, v_threshold),
        )
        self.vote = layer.VotingLayer(voters)
        functional.set_step_mode(self, "m")

    def nir_layers(self) -> list[tuple[str, nn.Module]]:
        """The layers of ``forward`` in order, as (name, module): the chain evsnn.nirx exports."""
        return [*((f"conv.{k}", m) for k, m in enumerate(self.conv)), *((f"fc.{k}", m) for k, m in enumerate(self.fc)),
                ("vote", self.vote)]

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """x: [T, N, C, H, W] event frames -> [N, n_classes] firing rates in [0, 1]."""
        functional.reset_net(self)
        spikes = self.fc(self.conv(x))           # [T, N, n_classes * voters]
        rates = self.vote(spikes).mean(0)        # [N, n_classes]
        return rates


class GestureSDNN(nn.Module):
    """lava-dl gesture classifier (see the module docstring), slayer layout [N, C, H, W, T] inside.

    ``forward`` takes event frames [T, N, C, H, W] (counts), multiplies them by ``input_scale`` (the Input block
    quantises to steps of 1/32 and clamps to [-4, 3.97]: with the default 0.25, 16 events per pixel saturate)
    and returns [N, n_classes]: the time-mean of the readout. The sigma-delta threshold is quantised to
    multiples of 1/64 by lava-dl (vThMant = threshold * 64): a configured value below 1/64 is refused, learnt
    values are kept >= 1/64. ``threshold`` is shared by both neuron kinds; CUBA needs a larger one (0.25-1).
    """

    is_spiking = True
    LAVA_DL = True  # exported to netx and run in Lava by the workflow (evsnn.models.lava_dl_archs)
    #: the CUBA variant (no sigma-delta, no delay_shift) is also exported to NIR by the workflow (evsnn.nirx.slayer)
    NIR_WHEN = {"neuron": "cuba"}

    def __init__(self, in_shape, n_classes, *, channels=(8, 16), hidden=64, neuron="sdnn", threshold=0.0625,
                 tau_grad=0.5, scale_grad=1.0, learn_threshold=True, weight_scale=2, weight_norm=True,
                 mean_only_bn=True, current_decay=0.25, voltage_decay=0.03, input_scale=0.25):
        super().__init__()
        from lava.lib.dl import slayer

        from evsnn.errors import ConfigError

        try:
            c, h, w = (int(v) for v in in_shape)
        except (TypeError, ValueError):
            raise ConfigError(f"gesture_sdnn: in_shape must be (channels, height, width), got {in_shape!r}") from None
        channels = [int(v) for v in ([channels] if isinstance(channels, int) else channels)]
        if not channels or min(channels) <= 0:
            raise ConfigError(f"gesture_sdnn: channels must be a non-empty list of positive widths, got {channels}")
        k = 2 ** len(channels)
        if h % k or w % k:
            raise ConfigError(f"gesture_sdnn: input {h}x{w} is not divisible by 2**len(channels) = {k} (one 2x2 "
                              "pooling per conv block); use fewer conv blocks or other frames")
        if int(n_classes) <= 0 or int(hidden) <= 0:
            raise ConfigError(f"gesture_sdnn: n_classes and hidden must be positive, got {n_classes}, {hidden}")
        if neuron not in ("sdnn", "cuba"):
            raise ConfigError(f"gesture_sdnn: neuron must be 'sdnn' or 'cuba', not {neuron!r}")
        if neuron == "sdnn":
            check_sdnn_threshold("gesture_sdnn", threshold)
        self._init_kwargs = dict(in_shape=(c, h, w), n_classes=int(n_classes), channels=list(channels),
                                 hidden=int(hidden), neuron=neuron, threshold=threshold, tau_grad=tau_grad,
                                 scale_grad=scale_grad, learn_threshold=learn_threshold, weight_scale=weight_scale,
                                 weight_norm=weight_norm, mean_only_bn=mean_only_bn, current_decay=current_decay,
                                 voltage_decay=voltage_decay, input_scale=input_scale)
        self.in_shape = (c, h, w)
        self.neuron_kind = neuron
        self.input_scale = float(input_scale)
        # CUBA blocks model Lava's one-step-per-layer latency by default: not while training on short sequences
        lag = {} if neuron == "sdnn" else {"delay_shift": False}
        syn = dict(weight_scale=weight_scale, weight_norm=bool(weight_norm), **lag)
        if neuron == "sdnn":
            lib = slayer.block.sigma_delta
            params = sdnn_neuron_params(threshold=threshold, tau_grad=tau_grad, scale_grad=scale_grad,
                                        learn_threshold=learn_threshold, mean_only_bn=mean_only_bn)
        else:
            lib = slayer.block.cuba

            def params(c_out=None):  # noqa: ARG001 - same signature as the SDNN variant
                return {"threshold": float(threshold), "current_decay": float(current_decay),
                        "voltage_decay": float(voltage_decay), "tau_grad": float(tau_grad),
                        "scale_grad": float(scale_grad), "requires_grad": False}
        blocks = [lib.Input(params(), **lag)]
        c_prev = c
        for width in channels:
            blocks += [lib.Conv(params(width), c_prev, width, 3, padding=1, **syn),
                       lib.Pool(params(), 2, stride=2, **lag)]
            c_prev = width
        feat = c_prev * (h // k) * (w // k)
        blocks += [lib.Flatten(), lib.Dense(params(int(hidden)), feat, int(hidden), **syn)]
        if neuron == "sdnn":
            blocks.append(lib.Output(params(), int(hidden), int(n_classes), weight_scale=weight_scale,
                                     weight_norm=bool(weight_norm)))
        else:
            blocks.append(lib.Dense(params(int(n_classes)), int(hidden), int(n_classes), **syn))
        self.blocks = nn.ModuleList(blocks)
        self.last_event_rates: list[torch.Tensor] = []

    def clamp_thresholds(self) -> None:
        """Keep learnt sigma-delta thresholds >= 1/64, the smallest one netx can export (see models._slayer)."""
        clamp_thresholds(self.blocks)

    def forward_slayer(self, x: torch.Tensor) -> torch.Tensor:
        """x [N, C, H, W, T] -> readout [N, n_classes, T] (SDNN: the sigma output; CUBA: spikes)."""
        self.clamp_thresholds()
        rates = []
        for block in self.blocks:
            x = block(x)
            rates.append((x.detach() != 0).float().mean())
        self.last_event_rates = rates
        return x

    def lava_readout(self, y: torch.Tensor) -> torch.Tensor:
        """The class scores [N, n_classes] from the last block's output over time [N, n_classes, T]."""
        return y.mean(-1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """x: [T, N, C, H, W] event frames -> [N, n_classes]."""
        if x.dim() == 4:
            x = x.unsqueeze(0)
        y = self.forward_slayer((x * self.input_scale).permute(1, 2, 3, 4, 0).contiguous())
        return self.lava_readout(y)

    def export_hdf5(self, path) -> dict:
        """Write the netx description to ``path`` (see :func:`evsnn.lava.export.export_network`)."""
        from evsnn.lava.export import export_network

        self.clamp_thresholds()
        return export_network(self, path)


ARCHS = {"plif_net": PLIFNet, "gesture_sdnn": GestureSDNN}
