"""DHP19 human-pose networks: 2D heatmaps (one per joint) from DHP19 event frames.

Every model takes evsnn's time-major input ``[T, N, C, H, W]`` (a plain ``[N, C, H, W]`` batch counts as T=1)
and returns heatmaps ``[N, J, H, W]`` for the last time step, or ``[T, N, J, H, W]`` with ``per_step=True``.
H and W must be divisible by 4 (two 2x2 poolings, two stride-2 transposed convolutions).

- ``dhp19_cnn``: the DHP19 CNN of Calabrese et al. (CVPRW 2019) exactly as in the official Keras 2.2.4 weights
  file ``DHP_CNN.model``: 17 conv/convT layers, 3x3, 'same', no biases, ReLU after every layer (the output too),
  218,592 weights with the default ``base_channels=16``. The transposed convolutions reproduce Keras/TensorFlow
  'same' padding exactly (see :class:`KerasConvTranspose2d`), so ``evsnn.tasks.pose.keras_import`` can load the official
  weights and give the same output as Keras.
- ``dhp19_snn``: the same topology as a spiking network (spikingjelly multi-step, LIF/PLIF after every
  conv + batch norm), with a non-spiking leaky-integrator (membrane potential) readout of the heatmaps.
- ``hybrid_cnn_snn``: the hybrid ANN-SNN idea of Aydin et al. (CVPRW 2024): a CNN on the first frame (and every
  ``cnn_every`` frames) initialises the membrane potentials of the SNN (one learned 1x1 projection per layer) and
  the readout; the SNN then updates the prediction from the event frames at every following step.
- ``dhp19_rnn``: the DHP19 topology with the last conv of each stage replaced by a ConvGRU/ConvLSTM cell.
- ``cnn_rnn``: the DHP19 CNN encoder on every frame, one ConvGRU/ConvLSTM on the 1/4-resolution features, the
  DHP19 decoder on every step.
- ``has_cnn``, ``has_snn``, ``has_hybrid_cnn_snn``, ``has_rnn``, ``has_hybrid_cnn_rnn``: the five networks of
  Aydin et al. (CVPRW 2024) as published (uzh-rpg/hybrid_ann_snn @8a88791), defined in
  :mod:`evsnn.tasks.pose.has_models` (their own input layout: ``representation: has`` frames).
- ``dhp19_sdnn``: the lava-dl sigma-delta network of sgluege/dhp19_sdnn_min_example (FORMATS 2.11: mean-only
  batch norm as bias, sum pooling, 2x2 stride-2 transposed convs), built from ``lava.lib.dl.slayer.block
  .sigma_delta`` blocks, with ``export_hdf5`` writing the netx ``.net`` file.

``base_channels`` scales every width (b, 2b, 4b); the paper's network is b=16.
"""
from __future__ import annotations

import math
from typing import NamedTuple

import torch
import torch.nn as nn
import torch.nn.functional as F

from evsnn.errors import ConfigError
from evsnn.models._layout import as_seq, seq_apply
from evsnn.tasks.pose.has_models import HASCNN, HASRNN, HASSNN, HASHybridCNNRNN, HASHybridCNNSNN



# ----------------------------------------------------------------------------------------------- topology
class LayerSpec(NamedTuple):
    name: str       # the Keras layer name of DHP_CNN.model (pool1/pool2 for the poolings)
    kind: str       # "conv", "convT" or "pool"
    c_in: int
    c_out: int
    dilation: int


def dhp19_layers(n_joints: int = 13, base_channels: int = 16, in_channels: int = 1) -> list[LayerSpec]:
    """The DHP19 CNN topology in order (FORMATS 2.7 / 2.10); widths b, 2b, 4b with b = ``base_channels``."""
    b1, b2, b4 = base_channels, 2 * base_channels, 4 * base_channels
    spec = [LayerSpec("conv1", "conv", in_channels, b1, 1), LayerSpec("pool1", "pool", b1, b1, 1),
            LayerSpec("conv2a", "conv", b1, b2, 1), LayerSpec("conv2b", "conv", b2, b2, 1),
            LayerSpec("conv2d", "conv", b2, b2, 1), LayerSpec("pool2", "pool", b2, b2, 1),
            LayerSpec("conv3a", "conv", b2, b4, 2)]
    spec += [LayerSpec(f"conv3{s}", "conv", b4, b4, 2) for s in "bcd"]
    spec += [LayerSpec("conv3_up", "convT", b4, b2, 1), LayerSpec("conv4a", "conv", b2, b2, 2)]
    spec += [LayerSpec(f"conv4{s}", "conv", b2, b2, 2) for s in "bcd"]
    spec += [LayerSpec("conv4_up", "convT", b2, b1, 1), LayerSpec("conv5a", "conv", b1, b1, 1),
             LayerSpec("conv5d", "conv", b1, b1, 1), LayerSpec("pred_cube", "conv", b1, n_joints, 1)]
    return spec


def _check_common(arch: str, in_shape, n_classes, base_channels) -> tuple[int, int, int]:
    try:
        c, h, w = (int(v) for v in in_shape)
    except (TypeError, ValueError):
        raise ConfigError(f"{arch}: in_shape must be (channels, height, width), got {in_shape!r}") from None
    if h % 4 or w % 4 or h <= 0 or w <= 0:
        raise ConfigError(f"{arch}: input height and width must be positive multiples of 4 (two 2x2 poolings and "
                          f"two stride-2 upsamplings), got {h}x{w}; crop or pad the frames (DHP19 uses 260x344)")
    if c <= 0:
        raise ConfigError(f"{arch}: input channels must be positive, got {c}")
    if int(n_classes) <= 0:
        raise ConfigError(f"{arch}: the number of joints (n_classes) must be positive, got {n_classes}")
    if not isinstance(base_channels, int) or base_channels <= 0:
        raise ConfigError(f"{arch}: base_channels must be a positive integer, got {base_channels!r}")
    return c, h, w


class KerasConvTranspose2d(nn.ConvTranspose2d):
    """Transposed convolution with Keras/TensorFlow ``padding='same'`` semantics (output = input x stride).

    TensorFlow pads the forward convolution it transposes with ``pad_total = kernel - stride`` split as
    ``pad_before = pad_total // 2`` (the extra pixel goes after), so for kernel 3 / stride 2, output pixel ``o``
    receives ``x[j] * w[k]`` for ``o = 2j + k`` (no shift). PyTorch's ``ConvTranspose2d(padding=1,
    output_padding=1)`` computes ``o = 2j + k - 1`` instead: the same size but shifted by one pixel, and no
    rearrangement of a 3x3 kernel can undo that. This layer therefore runs the un-padded transposed convolution
    (``o = 2j + k``, size 2H+1) and crops ``[pad_before, pad_before + 2H)``. The weight layout is PyTorch's
    ``(in, out, kh, kw)``; a Keras kernel ``(kh, kw, out, in)`` maps to it by ``permute(3, 2, 0, 1)`` with NO
    spatial flip (both frameworks transpose a cross-correlation).
    """

    def __init__(self, in_channels: int, out_channels: int, kernel_size: int = 3, stride: int = 2, bias: bool = False):
        super().__init__(in_channels, out_channels, kernel_size, stride=stride, padding=0, bias=bias)
        self.pad_before = max(kernel_size - stride, 0) // 2

    def forward(self, x: torch.Tensor, output_size=None) -> torch.Tensor:  # noqa: ARG002 - signature of the base
        h, w = x.shape[-2] * self.stride[0], x.shape[-1] * self.stride[1]
        y = super().forward(x)
        p = self.pad_before
        return y[..., p:p + h, p:p + w]


def _make_conv(s: LayerSpec, bias: bool = False) -> nn.Module:
    if s.kind == "convT":
        return KerasConvTranspose2d(s.c_in, s.c_out, 3, 2, bias=bias)
    return nn.Conv2d(s.c_in, s.c_out, 3, padding=s.dilation, dilation=s.dilation, bias=bias)


def _he_init_(module: nn.Module) -> nn.Module:
    """He (Kaiming) normal init of conv/convT weights: keeps activations at a constant scale through the 17 ReLU
    layers (PyTorch's default init shrinks them ~3x per layer, so an untrained bias-free DHP19 CNN outputs ~0)."""
    with torch.no_grad():
        for m in module.modules():
            if isinstance(m, nn.ConvTranspose2d):  # each output pixel sees c_in * k*k / stride^2 inputs on average
                fan_in = m.in_channels * m.kernel_size[0] * m.kernel_size[1] / (m.stride[0] * m.stride[1])
                m.weight.normal_(0.0, math.sqrt(2.0 / fan_in))
            elif isinstance(m, nn.Conv2d):
                nn.init.kaiming_normal_(m.weight, nonlinearity="relu")
            if isinstance(m, (nn.Conv2d, nn.ConvTranspose2d)) and m.bias is not None:
                m.bias.zero_()
    return module


def _select(y_seq: torch.Tensor, per_step: bool) -> torch.Tensor:
    return y_seq if per_step else y_seq[-1]


# ----------------------------------------------------------------------------------------------- DHP19 CNN
class DHP19CNN(nn.Module):
    """The DHP19 CNN (17 conv/convT layers, no biases, ReLU everywhere); module names are the Keras layer names.

    ``output_relu`` (default True, as published) keeps the ReLU on the heatmap layer; set it False when training
    with the ``spatial_ce`` loss, where a joint whose map goes all-zero under the ReLU gets no gradient again.
    """

    is_spiking = False

    def __init__(self, in_shape=(1, 260, 344), n_classes=13, *, base_channels=16, per_step=False, output_relu=True):
        super().__init__()
        c, _, _ = _check_common("dhp19_cnn", in_shape, n_classes, base_channels)
        self.spec = dhp19_layers(int(n_classes), base_channels, c)
        self.per_step = bool(per_step)
        self.output_relu = bool(output_relu)
        for s in self.spec:
            if s.kind != "pool":
                self.add_module(s.name, _make_conv(s))
        _he_init_(self)

    def conv_layers(self) -> list[str]:
        return [s.name for s in self.spec if s.kind != "pool"]

    def features(self, x: torch.Tensor) -> dict[str, torch.Tensor]:
        """[N, C, H, W] -> {layer name: its ReLU output}; ``pred_cube`` is the heatmap prediction."""
        out = {}
        for s in self.spec:
            if s.kind == "pool":
                x = F.max_pool2d(x, 2)
            else:
                x = getattr(self, s.name)(x)
                if s.name != "pred_cube" or self.output_relu:
                    x = F.relu(x)
                out[s.name] = x
        return out

    def frame_forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.features(x)["pred_cube"]

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """[T, N, C, H, W] -> [N, J, H, W] from the last frame ([T, N, J, H, W] with per_step);
        a single batch of frames [N, C, H, W] -> [N, J, H, W]."""
        if x.dim() == 4:
            return self.frame_forward(x)
        x = as_seq(x)
        if self.per_step:
            return seq_apply(self.frame_forward, x)
        return self.frame_forward(x[-1])


# ----------------------------------------------------------------------------------------------- SNN
def _spiking_neuron(kind: str, tau: float, v_threshold: float, detach_reset: bool):
    from evsnn.models._neurons import spiking_neuron

    return spiking_neuron(kind, tau, v_threshold, detach_reset, step_mode="m")


class _SpikingTrunk(nn.Module):
    """DHP19 topology with conv -> BN -> spiking neuron; returns the non-spiking pred_cube currents per step."""

    def __init__(self, spec: list[LayerSpec], neuron: str, tau: float, v_threshold: float, detach_reset: bool,
                 batch_norm: bool):
        super().__init__()
        self.spec = spec
        self.convs = nn.ModuleDict({s.name: _make_conv(s) for s in spec if s.kind != "pool"})
        self.norms = nn.ModuleDict({s.name: nn.BatchNorm2d(s.c_out) for s in spec
                                    if s.kind != "pool" and s.name != "pred_cube" and batch_norm})
        self.nodes = nn.ModuleDict({s.name: _spiking_neuron(neuron, tau, v_threshold, detach_reset)
                                    for s in spec if s.kind != "pool" and s.name != "pred_cube"})
        self.last_rates: dict[str, torch.Tensor] = {}  # spike rate per layer of the last forward pass

    def reset_states(self) -> None:
        from spikingjelly.activation_based import functional

        functional.reset_net(self.nodes)

    def forward(self, x: torch.Tensor, v_init: dict[str, torch.Tensor] | None = None) -> torch.Tensor:
        """x [T, N, C, H, W] -> readout currents [T, N, J, H, W]; ``v_init`` sets initial membrane potentials."""
        rates = {}
        for s in self.spec:
            if s.kind == "pool":
                x = seq_apply(lambda z: F.max_pool2d(z, 2), x)
                continue
            x = seq_apply(self.convs[s.name], x)
            if s.name == "pred_cube":
                break
            if s.name in self.norms:
                x = seq_apply(self.norms[s.name], x)
            node = self.nodes[s.name]
            if v_init is not None and s.name in v_init:
                node.v = v_init[s.name]
            x = node(x)
            rates[s.name] = x.detach().mean()  # a tensor: no device sync in the training loop
        self.last_rates = rates
        return x


def _leaky_readout(z: torch.Tensor, decay: float, y0: torch.Tensor | None = None) -> torch.Tensor:
    """y_t = decay * y_{t-1} + z_t (a non-spiking membrane potential), y_{-1} = y0 or 0; z [T, ...]."""
    ys = []
    y = y0
    for t in range(z.shape[0]):
        y = z[t] if y is None else decay * y + z[t]
        ys.append(y)
    return torch.stack(ys)


class DHP19SNN(nn.Module):
    """Spiking DHP19 network (spikingjelly multi-step), leaky-integrator readout of the heatmaps."""

    is_spiking = True

    def __init__(self, in_shape=(1, 260, 344), n_classes=13, *, base_channels=16, neuron="plif", tau=2.0,
                 v_threshold=1.0, detach_reset=True, batch_norm=True, readout_decay=0.8, per_step=False):
        super().__init__()
        c, _, _ = _check_common("dhp19_snn", in_shape, n_classes, base_channels)
        if not 0.0 <= float(readout_decay) <= 1.0:
            raise ConfigError(f"dhp19_snn: readout_decay must be in [0, 1], got {readout_decay}")
        self.snn = _SpikingTrunk(dhp19_layers(int(n_classes), base_channels, c), neuron, float(tau),
                                 float(v_threshold), bool(detach_reset), bool(batch_norm))
        self.readout_decay = float(readout_decay)
        self.per_step = bool(per_step)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = as_seq(x)
        self.snn.reset_states()
        z = self.snn(x)
        return _select(_leaky_readout(z, self.readout_decay), self.per_step)


# ----------------------------------------------------------------------------------------------- hybrid
class HybridCNNSNN(nn.Module):
    """Hybrid CNN-SNN (Aydin et al., CVPRW 2024): CNN states initialise the SNN, the SNN updates at every step.

    At t0 = 0 (and every ``cnn_every`` steps when it is > 0) the CNN branch (a DHP19 CNN) runs on frame x[t0];
    the ReLU output of each of its layers, through a learned 1x1 convolution, becomes the initial membrane
    potential of the same layer of the SNN (same topology, so the same resolution), and its heatmap prediction
    initialises the readout. The SNN then runs on x[t0], x[t0+1], ... and the readout integrates its output:
    y_t = output_decay * y_{t-1} + snn_t with y_{t0-1} = the CNN prediction.
    """

    is_spiking = True

    def __init__(self, in_shape=(1, 260, 344), n_classes=13, *, base_channels=16, cnn_base_channels=16,
                 neuron="lif", tau=3.0, v_threshold=1.0, detach_reset=True, batch_norm=True, output_decay=0.8,
                 cnn_every=0, per_step=False):
        super().__init__()
        c, _, _ = _check_common("hybrid_cnn_snn", in_shape, n_classes, base_channels)
        _check_common("hybrid_cnn_snn", in_shape, n_classes, cnn_base_channels)
        if not isinstance(cnn_every, int) or cnn_every < 0:
            raise ConfigError(f"hybrid_cnn_snn: cnn_every must be an integer >= 0 (0: the CNN runs on the first "
                              f"frame only), got {cnn_every!r}")
        if not 0.0 <= float(output_decay) <= 1.0:
            raise ConfigError(f"hybrid_cnn_snn: output_decay must be in [0, 1], got {output_decay}")
        self.cnn = DHP19CNN(in_shape, n_classes, base_channels=cnn_base_channels, output_relu=False)
        spec = dhp19_layers(int(n_classes), base_channels, c)
        self.snn = _SpikingTrunk(spec, neuron, float(tau), float(v_threshold), bool(detach_reset), bool(batch_norm))
        cnn_width = {s.name: s.c_out for s in self.cnn.spec}
        self.init_proj = nn.ModuleDict({s.name: nn.Conv2d(cnn_width[s.name], s.c_out, 1)
                                        for s in spec if s.kind != "pool" and s.name != "pred_cube"})
        self.output_decay = float(output_decay)
        self.cnn_every = int(cnn_every)
        self.per_step = bool(per_step)

    def init_states(self, frame: torch.Tensor) -> tuple[dict[str, torch.Tensor], torch.Tensor]:
        feats = self.cnn.features(frame)
        return {n: proj(feats[n]) for n, proj in self.init_proj.items()}, feats["pred_cube"]

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = as_seq(x)
        T = x.shape[0]
        k = self.cnn_every if self.cnn_every > 0 else T
        outs = []
        for t0 in range(0, T, k):
            seg = x[t0:t0 + k]
            v_init, pred = self.init_states(seg[0])
            self.snn.reset_states()
            z = self.snn(seg, v_init)
            outs.append(_leaky_readout(z, self.output_decay, y0=pred))
        return _select(torch.cat(outs, 0), self.per_step)


# ----------------------------------------------------------------------------------------------- RNNs
class ConvGRUCell(nn.Module):
    def __init__(self, c_in: int, c_hidden: int, dilation: int = 1):
        super().__init__()
        self.c_hidden = c_hidden
        self.gates = nn.Conv2d(c_in + c_hidden, 2 * c_hidden, 3, padding=dilation, dilation=dilation)
        self.cand = nn.Conv2d(c_in + c_hidden, c_hidden, 3, padding=dilation, dilation=dilation)

    def init_state(self, x: torch.Tensor):
        return x.new_zeros(x.shape[0], self.c_hidden, *x.shape[2:])

    def forward(self, x: torch.Tensor, h):
        r, u = torch.sigmoid(self.gates(torch.cat([x, h], 1))).chunk(2, 1)
        n = torch.tanh(self.cand(torch.cat([x, r * h], 1)))
        h = (1 - u) * h + u * n
        return h, h


class ConvLSTMCell(nn.Module):
    def __init__(self, c_in: int, c_hidden: int, dilation: int = 1):
        super().__init__()
        self.c_hidden = c_hidden
        self.gates = nn.Conv2d(c_in + c_hidden, 4 * c_hidden, 3, padding=dilation, dilation=dilation)

    def init_state(self, x: torch.Tensor):
        z = x.new_zeros(x.shape[0], self.c_hidden, *x.shape[2:])
        return z, z

    def forward(self, x: torch.Tensor, state):
        h, c = state
        i, f, g, o = self.gates(torch.cat([x, h], 1)).chunk(4, 1)
        c = torch.sigmoid(f) * c + torch.sigmoid(i) * torch.tanh(g)
        h = torch.sigmoid(o) * torch.tanh(c)
        return h, (h, c)


def _rnn_cell(kind: str, c_in: int, c_hidden: int, dilation: int) -> nn.Module:
    if kind == "gru":
        return ConvGRUCell(c_in, c_hidden, dilation)
    if kind == "lstm":
        return ConvLSTMCell(c_in, c_hidden, dilation)
    raise ConfigError(f"cell must be 'gru' or 'lstm', not {kind!r}")


class DHP19RNN(nn.Module):
    """Recurrent DHP19 network: the last conv of each stage (conv2d, conv3d, conv4d, conv5d) is a ConvGRU/LSTM."""

    is_spiking = False
    RECURRENT = ("conv2d", "conv3d", "conv4d", "conv5d")

    def __init__(self, in_shape=(1, 260, 344), n_classes=13, *, base_channels=16, cell="gru", per_step=False):
        super().__init__()
        c, _, _ = _check_common("dhp19_rnn", in_shape, n_classes, base_channels)
        self.spec = dhp19_layers(int(n_classes), base_channels, c)
        for s in self.spec:
            if s.kind == "pool":
                continue
            mod = _rnn_cell(cell, s.c_in, s.c_out, s.dilation) if s.name in self.RECURRENT else _he_init_(_make_conv(s))
            self.add_module(s.name, mod)
        self.per_step = bool(per_step)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = as_seq(x)
        states: dict[str, object] = {}
        outs = []
        for t in range(x.shape[0]):
            h = x[t]
            for s in self.spec:
                if s.kind == "pool":
                    h = F.max_pool2d(h, 2)
                elif s.name in self.RECURRENT:
                    cell = getattr(self, s.name)
                    prev = states.get(s.name)
                    h, states[s.name] = cell(h, cell.init_state(h) if prev is None else prev)
                else:
                    h = getattr(self, s.name)(h)
                    if s.name != "pred_cube":  # linear heatmap output: see CNNRNN
                        h = F.relu(h)
            outs.append(h)
        return _select(torch.stack(outs), self.per_step)


class CNNRNN(nn.Module):
    """DHP19 CNN encoder (conv1..conv3d) per frame -> ConvGRU/LSTM at 1/4 resolution -> DHP19 decoder per step.

    The encoder features are layer-normalised (per sample and frame, no affine) before the recurrent cell: the
    bias-free ReLU encoder passes on the scale of the event frames (DHP19 frames are 0..255), which saturates the
    cell's sigmoid/tanh gates and stops learning. The recurrent models' heatmap layer (``pred_cube``) is linear:
    a ReLU there can switch a joint's map off for good (all zeros: no gradient, argmax at the corner), which
    happened to the CNN-RNN in training.
    """

    is_spiking = False

    def __init__(self, in_shape=(1, 260, 344), n_classes=13, *, base_channels=16, cell="gru", per_step=False):
        super().__init__()
        c, _, _ = _check_common("cnn_rnn", in_shape, n_classes, base_channels)
        spec = dhp19_layers(int(n_classes), base_channels, c)
        cut = [s.name for s in spec].index("conv3_up")
        self.enc_spec, self.dec_spec = spec[:cut], spec[cut:]
        self.encoder = nn.ModuleDict({s.name: _make_conv(s) for s in self.enc_spec if s.kind != "pool"})
        width = self.enc_spec[-1].c_out
        self.rnn = _rnn_cell(cell, width, width, 1)
        self.decoder = nn.ModuleDict({s.name: _make_conv(s) for s in self.dec_spec})
        _he_init_(self.encoder)
        _he_init_(self.decoder)
        self.per_step = bool(per_step)

    def _encode(self, x):
        for s in self.enc_spec:
            x = F.max_pool2d(x, 2) if s.kind == "pool" else F.relu(self.encoder[s.name](x))
        return x

    def _decode(self, x):
        for s in self.dec_spec:
            x = self.decoder[s.name](x)
            if s.name != "pred_cube":
                x = F.relu(x)
        return x

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = as_seq(x)
        feats = seq_apply(self._encode, x)
        state = self.rnn.init_state(feats[0])
        hs = []
        for t in range(feats.shape[0]):
            h, state = self.rnn(F.layer_norm(feats[t], feats.shape[2:]), state)
            hs.append(h)
        hs = torch.stack(hs)
        if self.per_step:
            return seq_apply(self._decode, hs)
        return self._decode(hs[-1])


# ----------------------------------------------------------------------------------------------- SDNN
class DHP19SDNN(nn.Module):
    """Sigma-delta DHP19 network with lava-dl slayer blocks (FORMATS 2.11), slayer layout [N, C, H, W, T] inside.

    Blocks (``self.blocks``, exported as /layer/{i}): Input; Conv b; Pool 2; Conv 2b x3; Pool 2; Conv 4b x4
    (dilation 2); ConvT 2b (2x2 s2); Conv 2b x4 (dilation 2); ConvT b (2x2 s2); Conv b x2; Conv J. Conv/ConvT
    neurons carry slayer's mean-only batch norm (exported as the layer bias). The last block's delta output is
    accumulated over time (a sigma readout) to give the heatmaps.

    ``delay_shift`` (default False) models the one-step latency of each layer of the Loihi/Lava runtime; it is
    off for training on short sequences (with it, a 20-block network outputs nothing for T < 20 steps). Input
    values are 8-bit quantised by the Input block (step 1/32, clamped to [-4, 3.97]): feed normalised frames.
    ``threshold`` is quantised by lava-dl to multiples of 1/64 (vThMant = threshold * 64); values below 1/64 are
    refused (they would become 0: no sparsity and NaN gradients for the learnable threshold).
    """

    is_spiking = True
    LAVA_DL = True  # exported to netx and run in Lava by the workflow (evsnn.models.lava_dl_archs)

    def __init__(self, in_shape=(1, 260, 344), n_classes=13, *, base_channels=16, threshold=0.03125, tau_grad=0.5,
                 scale_grad=1.0, learn_threshold=True, weight_scale=3, weight_norm=True, mean_only_bn=True,
                 delay_shift=False, per_step=False, input_scale=1.0):
        super().__init__()
        from evsnn.models._slayer import check_sdnn_threshold

        c, h, w = _check_common("dhp19_sdnn", in_shape, n_classes, base_channels)
        self.input_scale = float(input_scale)  # DHP19 frames are 0..255: 1/64 maps them onto the Input grid [0, 4)
        check_sdnn_threshold("dhp19_sdnn", threshold)
        self._init_kwargs = dict(in_shape=(c, h, w), n_classes=int(n_classes), base_channels=base_channels,
                                 threshold=threshold, tau_grad=tau_grad, scale_grad=scale_grad,
                                 learn_threshold=learn_threshold, weight_scale=weight_scale, weight_norm=weight_norm,
                                 mean_only_bn=mean_only_bn, delay_shift=delay_shift, per_step=per_step,
                                 input_scale=input_scale)
        from lava.lib.dl import slayer

        from evsnn.models._slayer import sdnn_neuron_params

        sd = slayer.block.sigma_delta
        params = sdnn_neuron_params(threshold=threshold, tau_grad=tau_grad, scale_grad=scale_grad,
                                    learn_threshold=learn_threshold, mean_only_bn=mean_only_bn)

        syn = dict(weight_scale=weight_scale, weight_norm=bool(weight_norm), delay_shift=bool(delay_shift))
        b1, b2, b4, J = base_channels, 2 * base_channels, 4 * base_channels, int(n_classes)

        def conv(ci, co, d=1):
            return sd.Conv(params(co), ci, co, 3, padding=d, dilation=d, **syn)

        def convT(ci, co):
            return sd.ConvT(params(co), ci, co, 2, stride=2, padding=0, **syn)

        def pool():
            return sd.Pool(params(), 2, stride=2, delay_shift=bool(delay_shift))

        blocks = [sd.Input(params(), delay_shift=bool(delay_shift)), conv(c, b1), pool(),
                  conv(b1, b2), conv(b2, b2), conv(b2, b2), pool(),
                  conv(b2, b4, 2), conv(b4, b4, 2), conv(b4, b4, 2), conv(b4, b4, 2), convT(b4, b2),
                  conv(b2, b2, 2), conv(b2, b2, 2), conv(b2, b2, 2), conv(b2, b2, 2), convT(b2, b1),
                  conv(b1, b1), conv(b1, b1), conv(b1, J)]
        self.blocks = nn.ModuleList(blocks)
        self.in_shape = (c, h, w)
        self.per_step = bool(per_step)
        self.last_event_rates: list[torch.Tensor] = []  # fraction of non-zero messages per block, last pass

    def forward_slayer(self, x: torch.Tensor) -> torch.Tensor:
        """x [N, C, H, W, T] -> heatmaps [N, J, H, W, T] (the sigma of the last block's deltas)."""
        from evsnn.models._slayer import clamp_thresholds

        clamp_thresholds(self.blocks)
        rates = []
        for block in self.blocks:
            x = block(x)
            rates.append((x.detach() != 0).float().mean())  # tensors: no device sync while training
        self.last_event_rates = rates
        return torch.cumsum(x, dim=-1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = as_seq(x)
        y = self.forward_slayer((x * self.input_scale).permute(1, 2, 3, 4, 0).contiguous())  # [N, J, H, W, T]
        y = y.permute(4, 0, 1, 2, 3)                                       # [T, N, J, H, W]
        return _select(y, self.per_step)

    def lava_readout(self, y: torch.Tensor) -> torch.Tensor:
        """What ``forward`` returns, from the last block's delta output over time [N, J, H, W, T] (a Lava run):
        its sigma (cumulative sum) at the last step, or every step with ``per_step``."""
        z = torch.cumsum(torch.as_tensor(y, dtype=torch.float32), dim=-1).permute(4, 0, 1, 2, 3)
        return _select(z, self.per_step)

    def export_hdf5(self, path) -> dict:
        """Write the netx network description (``/layer/{i}`` per block) to ``path`` atomically, with the threshold
        quantisation that makes Lava match (see :func:`evsnn.lava.export.export_network`)."""
        from evsnn.lava.export import export_network

        return export_network(self, path)


def count_weights(model: nn.Module) -> int:
    """Number of conv/convT weights (the DHP19 paper's count: 218,592 for the CNN)."""
    return sum(m.weight.numel() for m in model.modules() if isinstance(m, (nn.Conv2d, nn.ConvTranspose2d)))


ARCHS = {
    "dhp19_cnn": DHP19CNN,
    "dhp19_snn": DHP19SNN,
    "hybrid_cnn_snn": HybridCNNSNN,
    "dhp19_rnn": DHP19RNN,
    "cnn_rnn": CNNRNN,
    "dhp19_sdnn": DHP19SDNN,
    # the hybrid ANN-SNN paper as published (Aydin et al. CVPRW 2024; evsnn.tasks.pose.has_models)
    "has_cnn": HASCNN,
    "has_snn": HASSNN,
    "has_hybrid_cnn_snn": HASHybridCNNSNN,
    "has_rnn": HASRNN,
    "has_hybrid_cnn_rnn": HASHybridCNNRNN,
}
