"""Stereo / monocular depth networks for event frames (MVSEC-style depth task).

Input: evsnn's time-major event frames ``[T, N, C, H, W]`` (a plain ``[N, C, H, W]`` counts as T=1) with the
channels ordered ``[left p0, left p1, right p0, right p1]``; ``modality="monocular"`` uses the first half of the
channels (the left camera), ``"binocular"`` all of them. Output: depth in metres ``[N, H, W]``.

All three models share one U-Net skeleton (in the spirit of StereoSpike, Rançon et al. 2022, and of the
Depth-SNN / DDES encoder-decoders) so that the comparison between them is fair; with ``b = base_channels`` and
``L = n_levels``:

    stem   conv3x3 s1    C_in -> b                          (full resolution)
    enc_i  conv3x3 s2    b*2^(i-1) -> b*2^i,  i = 1..L      (1/2^i resolution)
    bott   conv3x3 s1    b*2^L -> b*2^L
    dec_i  2x nearest upsampling, concatenation with the skip (enc_(i-1), or stem for i = 1),
           conv3x3 s1    b*2^i + b*2^(i-1) -> b*2^(i-1),  i = L..1
    head   conv3x3 s1    b -> 1   (with bias, no norm, no activation): the depth logit

Every conv but the head is followed by batch norm (``batch_norm``) and the activation: ReLU (ANN) or a
spikingjelly multi-step IF/LIF/PLIF neuron (SNN). Skips are concatenated, not summed, and upsampling is
nearest-neighbour, so every conv of the SNN after the stem receives binary spikes (accumulate-only synapses;
``evsnn.energy`` counts them as ACs). Inputs whose height/width are not multiples of ``2^L`` are zero-padded
at the bottom/right and the prediction is cropped back.

Depth read-out (all models): ``depth = exp(log(min_depth) + sigmoid(logit) * (log(max_depth) - log(min_depth)))``,
i.e. a sigmoid over normalised log depth scaled to ``[min_depth, max_depth]`` metres: positive by construction,
equal relative resolution near and far, and the L1-on-log-depth loss of ``DepthTask`` acts on it linearly.

- ``depth_ann``: the skeleton with ReLU. The time bins are summed into one count image per channel (default), or
  stacked as channels with ``stack_bins = T`` (the input must then have exactly T bins).
- ``depth_snn``: the skeleton with spiking neurons, run over the T bins (spikingjelly multi-step); the stem sees
  the event counts of each bin. The logit is read out by non-spiking integration of the head's currents, as
  StereoSpike does: the membrane potential of a threshold-less, non-leaky integrator after the T steps divided
  by T (the time average of the head output). The neuron states are reset at every forward, so the output is
  a deterministic function of the input.
- ``depth_hybrid``: the hybrid ANN-SNN scheme of the pose hybrid model (Aydin et al., CVPRW 2024): an ANN pass
  (the same skeleton with ReLU, width ``ann_base_channels``) on the events of the first ``ann_bins`` bins
  initialises the SNN: each ANN layer's ReLU output, through a learned 1x1 conv, becomes the initial membrane
  potential of the same SNN layer, and the ANN's logit initialises the read-out; the SNN then runs over all T
  bins and its time-averaged head current is added: ``logit = ann_logit + mean_t(snn_head_t)``. The ANN runs
  once per inference (dense MACs), the SNN at every step (ACs).

``n_classes`` is passed by the registry for every task and ignored here.
"""
from __future__ import annotations

import math

import torch
import torch.nn as nn
import torch.nn.functional as F

from evsnn.errors import ConfigError
from evsnn.models._layout import as_seq, seq_apply


MODALITIES = ("binocular", "monocular")


# ----------------------------------------------------------------------------------------------- helpers
def _check(arch: str, in_shape, modality, base_channels, n_levels, min_depth, max_depth) -> tuple[int, int, int]:
    """Validate the shared config; return (input channels used, H, W)."""
    try:
        c, h, w = (int(v) for v in in_shape)
    except (TypeError, ValueError):
        raise ConfigError(f"{arch}: in_shape must be (channels, height, width), got {in_shape!r}") from None
    if h <= 0 or w <= 0:
        raise ConfigError(f"{arch}: input height and width must be positive, got {h}x{w}")
    if modality not in MODALITIES:
        raise ConfigError(f"{arch}: modality must be one of {', '.join(MODALITIES)}, not {modality!r}")
    if c <= 0 or c % 2:
        raise ConfigError(f"{arch}: depth frames need an even number of channels (left camera first, then the "
                          f"right one: [left p0, left p1, right p0, right p1]), got {c}")
    if modality == "binocular" and c < 4:
        raise ConfigError(f"{arch}: binocular depth needs both cameras (4 channels: left p0, left p1, right p0, "
                          f"right p1), got {c} channels; use modality: monocular or stereo frames")
    if not isinstance(base_channels, int) or base_channels <= 0:
        raise ConfigError(f"{arch}: base_channels must be a positive integer, got {base_channels!r}")
    if not isinstance(n_levels, int) or n_levels < 1:
        raise ConfigError(f"{arch}: n_levels must be an integer >= 1, got {n_levels!r}")
    if not 0 < float(min_depth) < float(max_depth):
        raise ConfigError(f"{arch}: need 0 < min_depth < max_depth (metres), got {min_depth} and {max_depth}")
    return (c if modality == "binocular" else c // 2), h, w


def _pad_to(x: torch.Tensor, multiple: int) -> torch.Tensor:
    """Zero-pad the last two dims of x up to multiples of ``multiple`` (bottom / right)."""
    h, w = x.shape[-2:]
    ph, pw = (-h) % multiple, (-w) % multiple
    if ph or pw:
        x = F.pad(x, (0, pw, 0, ph))
    return x


def depth_from_logit(logit: torch.Tensor, min_depth: float, max_depth: float) -> torch.Tensor:
    """Metres from the network's logit: a sigmoid over normalised log depth in [min_depth, max_depth]."""
    lo, hi = math.log(min_depth), math.log(max_depth)
    return torch.exp(lo + torch.sigmoid(logit) * (hi - lo))


def unet_layers(c_in: int, base_channels: int, n_levels: int) -> list[tuple[str, int, int, int]]:
    """The skeleton as (name, c_in, c_out, stride), in execution order, head last."""
    w = [base_channels * 2 ** i for i in range(n_levels + 1)]
    spec = [("stem", c_in, w[0], 1)]
    spec += [(f"enc{i}", w[i - 1], w[i], 2) for i in range(1, n_levels + 1)]
    spec += [("bott", w[-1], w[-1], 1)]
    spec += [(f"dec{i}", w[i] + w[i - 1], w[i - 1], 1) for i in range(n_levels, 0, -1)]
    spec += [("head", w[0], 1, 1)]
    return spec


class _UNet(nn.Module):
    """The shared skeleton on time-major input [T, N, C, H, W] (T = 1 for an ANN pass).

    ``spiking``: spikingjelly multi-step neurons after conv + BN (else ReLU). Returns the head's logit currents
    [T, N, 1, H', W'] (padded size) and, with ``keep_features``, each layer's activation at the last step.
    """

    def __init__(self, c_in: int, base_channels: int, n_levels: int, batch_norm: bool, spiking: bool,
                 neuron: str = "if", tau: float = 2.0, v_threshold: float = 1.0, detach_reset: bool = True):
        super().__init__()
        self.spec = unet_layers(c_in, base_channels, n_levels)
        self.n_levels = n_levels
        self.spiking = spiking
        self.convs = nn.ModuleDict({name: nn.Conv2d(ci, co, 3, stride=s, padding=1,
                                                    bias=(name == "head" or not batch_norm))
                                    for name, ci, co, s in self.spec})
        body = [(name, co) for name, _, co, _ in self.spec if name != "head"]
        self.norms = nn.ModuleDict({name: nn.BatchNorm2d(co) for name, co in body}) if batch_norm else nn.ModuleDict()
        if spiking:
            from evsnn.models._neurons import spiking_neuron

            self.nodes = nn.ModuleDict({name: spiking_neuron(neuron, tau, v_threshold, detach_reset, step_mode="m")
                                        for name, _ in body})
        self.last_rates: dict[str, torch.Tensor] = {}

    def reset_states(self) -> None:
        if self.spiking:
            from spikingjelly.activation_based import functional

            functional.reset_net(self.nodes)

    def _block(self, name: str, h: torch.Tensor, v_init, feats, rates) -> torch.Tensor:
        h = seq_apply(self.convs[name], h)
        if name in self.norms:
            h = seq_apply(self.norms[name], h)
        if self.spiking:
            node = self.nodes[name]
            if v_init is not None and name in v_init:
                node.v = v_init[name]
            h = node(h)
            rates[name] = h.detach().mean()
        else:
            h = F.relu(h)
        if feats is not None:
            feats[name] = h[-1]
        return h

    def forward(self, x: torch.Tensor, v_init: dict | None = None, keep_features: bool = False):
        feats = {} if keep_features else None
        rates: dict[str, torch.Tensor] = {}
        h = self._block("stem", x, v_init, feats, rates)
        skips = [h]
        for i in range(1, self.n_levels + 1):
            h = self._block(f"enc{i}", h, v_init, feats, rates)
            skips.append(h)
        h = self._block("bott", h, v_init, feats, rates)
        for i in range(self.n_levels, 0, -1):
            h = seq_apply(lambda z: F.interpolate(z, scale_factor=2, mode="nearest"), h)
            h = torch.cat([h, skips[i - 1]], dim=2)
            h = self._block(f"dec{i}", h, v_init, feats, rates)
        z = seq_apply(self.convs["head"], h)
        self.last_rates = rates
        return z, feats


class _DepthBase(nn.Module):
    """Shared input handling: channel selection (modality), padding, cropping, log-depth read-out."""

    def _setup(self, arch, in_shape, modality, base_channels, n_levels, min_depth, max_depth):
        self.c_used, self.h, self.w = _check(arch, in_shape, modality, base_channels, n_levels, min_depth, max_depth)
        self.modality = modality
        self.min_depth, self.max_depth = float(min_depth), float(max_depth)
        self.n_levels = n_levels

    def _prepare(self, x: torch.Tensor) -> torch.Tensor:
        x = as_seq(x)
        if self.modality == "monocular":
            x = x[:, :, : x.shape[2] // 2]
        return _pad_to(x, 2 ** self.n_levels)

    def _output(self, logit: torch.Tensor, h: int, w: int) -> torch.Tensor:
        """logit [N, 1, H', W'] -> depth [N, H, W] metres."""
        return depth_from_logit(logit[:, 0, :h, :w], self.min_depth, self.max_depth)


# ----------------------------------------------------------------------------------------------- ANN
class DepthANN(_DepthBase):
    """U-Net with ReLU on the summed (or channel-stacked) time bins; output depth [N, H, W] in metres."""

    is_spiking = False

    def __init__(self, in_shape=(4, 64, 88), n_classes=1, *, modality="binocular", base_channels=16, n_levels=3,
                 batch_norm=True, stack_bins=0, min_depth=0.5, max_depth=80.0):
        super().__init__()
        self._setup("depth_ann", in_shape, modality, base_channels, n_levels, min_depth, max_depth)
        if not isinstance(stack_bins, int) or stack_bins < 0:
            raise ConfigError(f"depth_ann: stack_bins must be 0 (sum the time bins) or the number of bins T to "
                              f"stack as channels, got {stack_bins!r}")
        self.stack_bins = stack_bins
        c_in = self.c_used * (stack_bins if stack_bins else 1)
        self.net = _UNet(c_in, base_channels, n_levels, bool(batch_norm), spiking=False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        h, w = x.shape[-2:]
        x = self._prepare(x)
        if self.stack_bins:
            if x.shape[0] != self.stack_bins:
                raise ValueError(f"depth_ann was built with stack_bins={self.stack_bins} but got {x.shape[0]} "
                                 "time bins")
            x = x.permute(1, 0, 2, 3, 4).flatten(1, 2)      # [N, T*C, H, W]
        else:
            x = x.sum(0)                                   # [N, C, H, W]
        z, _ = self.net(x.unsqueeze(0))
        return self._output(z[0], h, w)


# ----------------------------------------------------------------------------------------------- SNN
class DepthSNN(_DepthBase):
    """Spiking U-Net over the T bins; the head's currents are integrated without spiking (time average)."""

    is_spiking = True

    def __init__(self, in_shape=(4, 64, 88), n_classes=1, *, modality="binocular", base_channels=16, n_levels=3,
                 neuron="if", tau=2.0, v_threshold=1.0, detach_reset=True, batch_norm=True, min_depth=0.5,
                 max_depth=80.0):
        super().__init__()
        self._setup("depth_snn", in_shape, modality, base_channels, n_levels, min_depth, max_depth)
        self.net = _UNet(self.c_used, base_channels, n_levels, bool(batch_norm), spiking=True, neuron=neuron,
                         tau=float(tau), v_threshold=float(v_threshold), detach_reset=bool(detach_reset))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        h, w = x.shape[-2:]
        x = self._prepare(x)
        self.net.reset_states()
        z, _ = self.net(x)                                 # [T, N, 1, H', W'] head currents
        return self._output(z.mean(0), h, w)               # integrator potential / T


# ----------------------------------------------------------------------------------------------- hybrid
class _AnnBranch(nn.Module):
    """The ANN of the hybrid model (declared non-spiking: evsnn.energy counts it as dense MACs)."""

    is_spiking = False

    def __init__(self, c_in, base_channels, n_levels, batch_norm):
        super().__init__()
        self.net = _UNet(c_in, base_channels, n_levels, batch_norm, spiking=False)

    def forward(self, x: torch.Tensor):
        z, feats = self.net(x.unsqueeze(0), keep_features=True)
        return z[0], feats


class DepthHybrid(_DepthBase):
    """ANN pass on the first ``ann_bins`` bins initialises the SNN's membranes and read-out; SNN updates over T."""

    is_spiking = True

    def __init__(self, in_shape=(4, 64, 88), n_classes=1, *, modality="binocular", base_channels=16,
                 ann_base_channels=16, n_levels=3, neuron="if", tau=2.0, v_threshold=1.0, detach_reset=True,
                 batch_norm=True, ann_bins=1, min_depth=0.5, max_depth=80.0):
        super().__init__()
        self._setup("depth_hybrid", in_shape, modality, base_channels, n_levels, min_depth, max_depth)
        _check("depth_hybrid", in_shape, modality, ann_base_channels, n_levels, min_depth, max_depth)
        if not isinstance(ann_bins, int) or ann_bins < 1:
            raise ConfigError(f"depth_hybrid: ann_bins (leading time bins summed into the ANN input) must be an "
                              f"integer >= 1, got {ann_bins!r}")
        self.ann_bins = ann_bins
        self.ann = _AnnBranch(self.c_used, ann_base_channels, n_levels, bool(batch_norm))
        self.snn = _UNet(self.c_used, base_channels, n_levels, bool(batch_norm), spiking=True, neuron=neuron,
                         tau=float(tau), v_threshold=float(v_threshold), detach_reset=bool(detach_reset))
        ann_w = {name: co for name, _, co, _ in self.ann.net.spec}
        self.init_proj = nn.ModuleDict({name: nn.Conv2d(ann_w[name], co, 1)
                                        for name, _, co, _ in self.snn.spec if name != "head"})

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        h, w = x.shape[-2:]
        x = self._prepare(x)
        ann_logit, feats = self.ann(x[: self.ann_bins].sum(0))
        v_init = {name: proj(feats[name]) for name, proj in self.init_proj.items()}
        self.snn.reset_states()
        z, _ = self.snn(x, v_init)
        return self._output(ann_logit + z.mean(0), h, w)




# ----------------------------------------------------------------------------------------------- paper models
# The classes live in evsnn.tasks.depth.stereospike (sources and layer lists there); these builders name them.
def stereospike(in_shape=(4, 260, 346), n_classes=1, *, modality="binocular", width=1.0, neuron="if", tau=3.0,
                multiply_factor=1.0, detach_reset=True):
    """StereoSpike (Rançon et al. 2022; urancon/StereoSpike@6254fec network/SNN_models.py:63-192): 18,148,708
    parameters binocular, 18,147,108 monocular at width 1; ``neuron: plif`` its PLIF variant (:251-330)."""
    from evsnn.tasks.depth.stereospike import StereoSpike

    return StereoSpike(in_shape, n_classes, modality=modality, width=width, neuron=neuron, tau=tau,
                       multiply_factor=multiply_factor, detach_reset=detach_reset)


def stereospike_ann(in_shape=(4, 260, 346), n_classes=1, *, modality="binocular", width=1.0, activation="sigmoid"):
    """StereoSpike's equivalent ANN (urancon/StereoSpike@6254fec network/ANN_models.py:28-152): 18,158,788
    parameters binocular at width 1."""
    from evsnn.tasks.depth.stereospike import StereoSpikeANN

    return StereoSpikeANN(in_shape, n_classes, modality=modality, width=width, activation=activation)


def depthsnn_hnn(in_shape=(4, 260, 346), n_classes=1, *, modality="binocular", width=1.0, neuron="if", tau=3.0,
                 multiply_factor=1.0, detach_reset=True, activation="leaky_relu"):
    """The Depth-SNN hybrid (urancon/StereoSpike@e675c29 network/HYBRID_models.py:233-311): StereoSpike's spiking
    encoder, the equivalent ANN's decoder with LeakyReLU(0.1)."""
    from evsnn.tasks.depth.stereospike import DepthSNNHybrid

    return DepthSNNHybrid(in_shape, n_classes, modality=modality, width=width, neuron=neuron, tau=tau,
                          multiply_factor=multiply_factor, detach_reset=detach_reset, activation=activation)


ARCHS = {
    "depth_ann": DepthANN,
    "depth_snn": DepthSNN,
    "depth_hybrid": DepthHybrid,
    "stereospike": stereospike,
    "stereospike_ann": stereospike_ann,
    "depthsnn_hnn": depthsnn_hnn,
}
