"""The paper depth networks: StereoSpike (Rançon et al. 2022), its equivalent ANN, and the hybrid network of the
Depth-SNN era (spiking encoder, ANN decoder), each binocular and monocular.

Sources (read, not copied): urancon/StereoSpike @6254fec ("SS") and the Depth-SNN-era commit e675c29 ("e67") of
the same repository.

StereoSpike (SS ``network/SNN_models.py:63-192``, blocks in ``network/blocks.py:90-181``):

    bottom   conv5x5 s1  C_in -> 32              no bias, IF          (C_in = 4 binocular, 2 monocular)
    conv1-4  conv5x5 s2  32 -> 64 -> 128 -> 256 -> 512, no bias, IF
    bottleneck  two SEW residual blocks (ADD): conv3x3 512 -> 512, IF, conv3x3, IF, + identity
                (their IF neurons use the Sigmoid surrogate: SS blocks.py:141-157 leave it at its default)
    deconv4-1   nearest-neighbour upsampling to (skip + 4) then a valid conv5x5, no bias, IF, to the size of
                conv3, conv2, conv1, bottom (33x44, 65x87, 130x173, 260x346 at 260x346); each output is summed
                with that skip (``out_add``)
    predict_depth4-1  nearest upsampling to (H + 2, W + 2) and a valid conv3x3 with bias, 256 / 128 / 64 / 32 -> 1,
                all at full resolution, feeding one shared non-firing IF neuron (threshold +inf) that
                accumulates: its potential after head 4, 4+3, 4+3+2, 4+3+2+1; the last is depth in metres.

All IF neurons: threshold 1, hard reset to 0, ``detach_reset``, ATan surrogate (SS train.py:118); every neuron
is reset before each sample (stateless, SS train.py:221). Parameters at 260x346: 18,148,708 binocular,
18,147,108 monocular. ``neuron: plif`` gives the PLIF variant SS calls "the baseline model that we used for our
experiments" (SS SNN_models.py:251-330: PLIF neurons everywhere, in the SEW blocks too, init tau 3 and
multiply_factor 10 in their experiments; one learnable parameter per neuron layer: 18,148,721 / 18,147,121).

The equivalent ANN (SS ``network/ANN_models.py:28-152``): the same layers with biased encoder convs, every conv
followed by the activation (Sigmoid, SS train.py:119) and then batch norm; ANN residual blocks
(conv-act-BN twice + identity, ``blocks.py:40-83``); decoder convs without bias (``NNConvUpsampling`` default);
the same heads and accumulating output. 18,158,788 parameters binocular.

The Depth-SNN hybrid (HNN, e67 ``network/HYBRID_models.py:233-311``): a spiking encoder with an ANN decoder of
LeakyReLU(0.1) + batch norm. Built here, as the issue asks, from StereoSpike's encoder (bottom, conv1-4, SEW
bottleneck) and the equivalent ANN's decoder (deconv: upsample + conv, activation, BN) with LeakyReLU(0.1)
(e67 HYBRID_models.py:277-294) and the same heads; its decoder declares ``is_spiking = False``.

Input: evsnn's ``[T, N, C, H, W]`` frames (or ``[N, C, H, W]``); the T bins are summed into the one 50-ms count
frame per depth map that SS feeds (SS train.py:200-218, ``nfpdm = 1``); counts are not normalised. Binocular
uses all four channels, monocular the first two (the left camera). Any input size works: the decoder
upsamples to the size of each skip, as SS's fixed ``up_size`` does at 260x346.

Output: ``[4, N, H, W]``, the output neuron's potential after each head (coarse to fine); ``out[-1]`` is the
depth prediction. The loss of SS sums over all four (``DepthTask`` loss ``stereospike``); metrics use the last.

``width`` scales every channel count (32, 64, ..., 512 times ``width``, at least 1) so that the embedded demo can
run the same architecture small on a CPU; ``width: 1`` is the paper's.
"""
from __future__ import annotations

import torch
import torch.nn as nn
import torch.nn.functional as F

from evsnn.errors import ConfigError
from evsnn.models._layout import as_seq

MODALITIES = ("binocular", "monocular")
#: channel counts of SS: bottom, conv1, conv2, conv3, conv4 (= bottleneck)
BASE_CHANNELS = (32, 64, 128, 256, 512)
ACTIVATIONS = {"sigmoid": nn.Sigmoid, "relu": nn.ReLU, "tanh": nn.Tanh,
               "leaky_relu": lambda: nn.LeakyReLU(0.1)}


def channels(width: float) -> tuple[int, ...]:
    return tuple(max(1, int(round(c * float(width)))) for c in BASE_CHANNELS)


def _check(arch: str, in_shape, modality, width) -> int:
    """Validate the shared options; return the number of input channels used."""
    try:
        c, h, w = (int(v) for v in in_shape)
    except (TypeError, ValueError):
        raise ConfigError(f"{arch}: in_shape must be (channels, height, width), got {in_shape!r}") from None
    if modality not in MODALITIES:
        raise ConfigError(f"{arch}: modality must be one of {', '.join(MODALITIES)}, not {modality!r}")
    if c != 4:
        raise ConfigError(f"{arch}: StereoSpike-family models take stereo frames of 4 channels (left ON/OFF, right "
                          f"ON/OFF), got {c}; monocular models use the left camera's two")
    if not isinstance(width, (int, float)) or isinstance(width, bool) or width <= 0:
        raise ConfigError(f"{arch}: width must be a positive number (1 = the paper's channels), got {width!r}")
    if h < 16 or w < 16:
        raise ConfigError(f"{arch}: the input must be at least 16 x 16 pixels (four stride-2 stages), got {h} x {w}")
    return 4 if modality == "binocular" else 2


class MultiplyBy(nn.Module):
    """A constant gain before a neuron (SS blocks.py:90-107, not learnable here: SS never sets learnable)."""

    def __init__(self, factor: float = 1.0):
        super().__init__()
        self.factor = float(factor)

    def forward(self, x):
        return x * self.factor if self.factor != 1.0 else x


class UpConv(nn.Module):
    """Nearest-neighbour upsampling to ``size + (k - 1)`` and a valid ``k x k`` conv: output ``size`` (SS
    blocks.py:110-132 ``NNConvUpsampling``, with the size taken from the skip at run time)."""

    def __init__(self, c_in: int, c_out: int, k: int, bias: bool = False):
        super().__init__()
        self.k = k
        # index 0 (the upsampling, done in forward with the size of the skip) keeps SS's parameter names up.1.*
        self.up = nn.Sequential(nn.Identity(), nn.Conv2d(c_in, c_out, k, stride=1, padding=0, bias=bias))

    def forward(self, x, size):
        x = F.interpolate(x, size=(size[0] + self.k - 1, size[1] + self.k - 1), mode="nearest")
        return self.up[1](x)


class AccumulatingOutput(nn.Module):
    """The non-firing output IF neuron (threshold +inf, SS SNN_models.py:150): its potential starts at 0 at every
    sample and accumulates its inputs; it never spikes and never resets within a sample."""

    def __init__(self):
        super().__init__()
        self.v: torch.Tensor | float = 0.0

    def reset(self):
        self.v = 0.0

    def forward(self, x):
        self.v = self.v + x
        return self.v


def _if_node(surrogate: str = "atan", detach_reset: bool = True):
    from spikingjelly.activation_based import neuron, surrogate as sg

    fn = sg.ATan() if surrogate == "atan" else sg.Sigmoid()
    return neuron.IFNode(v_threshold=1.0, v_reset=0.0, surrogate_function=fn, detach_reset=detach_reset)


def _spiking(kind: str, tau: float, detach_reset: bool, surrogate: str = "atan"):
    """IF (StereoSpike) or PLIF (SS's PLIF variant: spikingjelly's default Sigmoid surrogate, decay_input)."""
    if kind == "if":
        return _if_node(surrogate, detach_reset)
    if kind == "plif":
        from spikingjelly.activation_based import neuron, surrogate as sg

        return neuron.ParametricLIFNode(init_tau=float(tau), v_threshold=1.0, v_reset=0.0, decay_input=True,
                                        surrogate_function=sg.Sigmoid(), detach_reset=detach_reset)
    raise ConfigError(f"stereospike: neuron must be 'if' (StereoSpike) or 'plif' (its PLIF variant), not {kind!r}")


class SEWBlock(nn.Module):
    """Spike-element-wise residual block, ADD (SS blocks.py:135-181): conv3x3-neuron-conv3x3-neuron + identity."""

    def __init__(self, c: int, neuron: str, tau: float, detach_reset: bool, multiply_factor: float):
        super().__init__()
        self.conv1 = nn.Sequential(nn.Conv2d(c, c, 3, padding=1, bias=False), MultiplyBy(multiply_factor))
        self.sn1 = _spiking(neuron, tau, detach_reset, surrogate="sigmoid")
        self.conv2 = nn.Sequential(nn.Conv2d(c, c, 3, padding=1, bias=False), MultiplyBy(multiply_factor))
        self.sn2 = _spiking(neuron, tau, detach_reset, surrogate="sigmoid")

    def forward(self, x):
        return self.sn2(self.conv2(self.sn1(self.conv1(x)))) + x


class ResBlock(nn.Module):
    """The ANN residual block (SS blocks.py:40-83): (conv3x3 with bias, activation, BN) twice, + identity."""

    def __init__(self, c: int, act):
        super().__init__()
        self.conv1 = nn.Sequential(nn.Conv2d(c, c, 3, padding=1, bias=True), act(), nn.BatchNorm2d(c))
        self.conv2 = nn.Sequential(nn.Conv2d(c, c, 3, padding=1, bias=True), act(), nn.BatchNorm2d(c))

    def forward(self, x):
        return self.conv2(self.conv1(x)) + x


class _Decoder(nn.Module):
    """deconv4-1 and the four heads; ``block(c_in, c_out)`` builds one deconv's post-conv layers."""

    def __init__(self, ch, post, bias_deconv: bool, head_post=()):
        super().__init__()
        b, c1, c2, c3, c4 = ch
        for name, ci, co in (("deconv4", c4, c3), ("deconv3", c3, c2), ("deconv2", c2, c1), ("deconv1", c1, b)):
            setattr(self, name, nn.Sequential(UpConv(ci, co, 5, bias=bias_deconv), *post(co)))
        for name, ci in (("predict_depth4", c3), ("predict_depth3", c2), ("predict_depth2", c1),
                         ("predict_depth1", b)):
            setattr(self, name, nn.Sequential(UpConv(ci, 1, 3, bias=True), *[m() for m in head_post]))


def _seq(block: nn.Sequential, x, size=None):
    """Run a Sequential whose first module may be an UpConv (needs the target size)."""
    for m in block:
        x = m(x, size) if isinstance(m, UpConv) else m(x)
    return x


class _StereoSpikeFamily(nn.Module):
    """Shared forward of the three families: encoder (bottom, conv1-4, bottleneck), decoder with skip sums,
    multiscale heads into the accumulating output neuron."""

    def _prepare(self, x):
        x = as_seq(x).sum(0)                    # the T bins -> one count frame [N, C, H, W]
        return x[:, : self.c_used]

    def _reset(self):
        from spikingjelly.activation_based import functional

        functional.reset_net(self)
        self.Ineurons.reset()

    def forward(self, x: torch.Tensor, return_heads: bool = False):
        frame = self._prepare(x)
        self._reset()
        size = frame.shape[-2:]
        out_bottom = self.bottom(frame)
        out_conv1 = self.conv1(out_bottom)
        out_conv2 = self.conv2(out_conv1)
        out_conv3 = self.conv3(out_conv2)
        out_conv4 = self.conv4(out_conv3)
        out_rconv = self.bottleneck(out_conv4)
        d = self.decoder
        heads, pots = [], []
        h = out_rconv
        for deconv, skip, head in ((d.deconv4, out_conv3, d.predict_depth4), (d.deconv3, out_conv2, d.predict_depth3),
                                   (d.deconv2, out_conv1, d.predict_depth2), (d.deconv1, out_bottom, d.predict_depth1)):
            h = _seq(deconv, h, skip.shape[-2:]) + skip
            z = _seq(head, h, size)[:, 0]
            heads.append(z)
            pots.append(self.Ineurons(z))
        out = torch.stack(pots)                 # [4, N, H, W]: potential after head 4, 4+3, 4+3+2, all four
        if return_heads:
            return out, torch.stack(heads)
        return out


def _snn_encoder(self, c_in, ch, neuron, tau, detach_reset, multiply_factor):
    b, c1, c2, c3, c4 = ch

    def stage(ci, co, stride):
        return nn.Sequential(nn.Conv2d(ci, co, 5, stride=stride, padding=2, bias=False), MultiplyBy(multiply_factor),
                             _spiking(neuron, tau, detach_reset))

    self.bottom = stage(c_in, b, 1)
    self.conv1 = stage(b, c1, 2)
    self.conv2 = stage(c1, c2, 2)
    self.conv3 = stage(c2, c3, 2)
    self.conv4 = stage(c3, c4, 2)
    self.bottleneck = nn.Sequential(SEWBlock(c4, neuron, tau, detach_reset, multiply_factor),
                                    SEWBlock(c4, neuron, tau, detach_reset, multiply_factor))


class StereoSpike(_StereoSpikeFamily):
    """StereoSpike (SS network/SNN_models.py:63-192); ``neuron: plif`` its PLIF variant (SS :251-330)."""

    is_spiking = True

    def __init__(self, in_shape=(4, 260, 346), n_classes=1, *, modality="binocular", width=1.0, neuron="if",
                 tau=3.0, multiply_factor=1.0, detach_reset=True):
        super().__init__()
        self.c_used = _check("stereospike", in_shape, modality, width)
        self.modality = modality
        ch = channels(width)
        _snn_encoder(self, self.c_used, ch, neuron, tau, bool(detach_reset), multiply_factor)

        def post(co):
            return [MultiplyBy(multiply_factor), _spiking(neuron, tau, bool(detach_reset))]

        self.decoder = _Decoder(ch, post, bias_deconv=False, head_post=(lambda: MultiplyBy(multiply_factor),))
        self.Ineurons = AccumulatingOutput()


class StereoSpikeANN(_StereoSpikeFamily):
    """StereoSpike's equivalent ANN (SS network/ANN_models.py:28-152)."""

    is_spiking = False

    def __init__(self, in_shape=(4, 260, 346), n_classes=1, *, modality="binocular", width=1.0,
                 activation="sigmoid"):
        super().__init__()
        self.c_used = _check("stereospike_ann", in_shape, modality, width)
        if activation not in ACTIVATIONS:
            raise ConfigError(f"stereospike_ann: activation must be one of {', '.join(ACTIVATIONS)}, not "
                              f"{activation!r}")
        self.modality = modality
        act = ACTIVATIONS[activation]
        b, c1, c2, c3, c4 = ch = channels(width)

        def stage(ci, co, stride):
            return nn.Sequential(nn.Conv2d(ci, co, 5, stride=stride, padding=2, bias=True), act(), nn.BatchNorm2d(co))

        self.bottom = stage(self.c_used, b, 1)
        self.conv1 = stage(b, c1, 2)
        self.conv2 = stage(c1, c2, 2)
        self.conv3 = stage(c2, c3, 2)
        self.conv4 = stage(c3, c4, 2)
        self.bottleneck = nn.Sequential(ResBlock(c4, act), ResBlock(c4, act))
        self.decoder = _Decoder(ch, lambda co: [act(), nn.BatchNorm2d(co)], bias_deconv=False)
        self.Ineurons = AccumulatingOutput()


class DepthSNNHybrid(_StereoSpikeFamily):
    """The Depth-SNN hybrid (e67 network/HYBRID_models.py:233-311): StereoSpike's spiking encoder, the equivalent
    ANN's decoder with LeakyReLU(0.1) (e67 :277-294); the decoder is dense (``is_spiking = False``)."""

    is_spiking = True

    def __init__(self, in_shape=(4, 260, 346), n_classes=1, *, modality="binocular", width=1.0, neuron="if",
                 tau=3.0, multiply_factor=1.0, detach_reset=True, activation="leaky_relu"):
        super().__init__()
        self.c_used = _check("depthsnn_hnn", in_shape, modality, width)
        if activation not in ACTIVATIONS:
            raise ConfigError(f"depthsnn_hnn: activation must be one of {', '.join(ACTIVATIONS)}, not "
                              f"{activation!r}")
        self.modality = modality
        act = ACTIVATIONS[activation]
        ch = channels(width)
        _snn_encoder(self, self.c_used, ch, neuron, tau, bool(detach_reset), multiply_factor)
        self.decoder = _Decoder(ch, lambda co: [act(), nn.BatchNorm2d(co)], bias_deconv=False)
        self.decoder.is_spiking = False
        self.Ineurons = AccumulatingOutput()


def count_parameters_at(cls, in_shape=(4, 260, 346), **kw) -> int:
    """Trainable parameters of a paper model (building it allocates weights only, no activations)."""
    m = cls(in_shape, 1, **kw)
    return sum(p.numel() for p in m.parameters() if p.requires_grad)
