"""The five DHP19 networks of the hybrid ANN-SNN paper (Aydin et al., CVPRW 2024) as published.

Source: uzh-rpg/hybrid_ann_snn @8a88791 ("HAS" below). Each class reproduces the official layers, widths,
biases, normalisations and neuron dynamics; ``base_channels`` scales every width (the paper: 32) so the demo can
run a tiny version. At the paper's input (256 x 256, 13 joints, base 32) the parameter counts are:

==================== ============ =============================================================
arch                 parameters   official class
==================== ============ =============================================================
has_cnn              19,818,669   ``models/cnn.py:44-85`` UNet (SuperSloMo UNet, 20 input channels)
has_snn               4,410,138   ``models/snn.py:135-193`` EVSNN_LIF_final
has_hybrid_cnn_snn   24,780,845   ``models/hybrid_cnn_snn.py:196-387`` Hybrid_CNN_SNN (4,962,176 trainable
                                  with the CNN frozen: SNN 4,410,112 + nine state initialisers 552,064)
has_rnn              10,710,106   ``models/rnn.py`` E2VIDRecurrent / ``models/rnn_unet.py:129-199``
                                  UNetRecurrent, ``configs/rnn_config.ini`` (ConvLSTM, 3 encoders, BN)
has_hybrid_cnn_rnn   30,703,495   ``models/hybrid_cnn_rnn.py:67-175`` Hybrid_CNN_RNN (10,884,826
                                  trainable with the CNN frozen)
==================== ============ =============================================================

Input layout (the ``representation: has`` frame cache, :mod:`evsnn.tasks.pose.has_data`): every sample is a
sequence ``[S, N, 2, H, W]`` (time-major, polarity as channel): steps ``0..9`` are the CNN input (10 bins of the
CNN's events), steps ``10..19`` the CNN input of the next window (the hybrid's state loss), steps ``20..`` the
SNN/RNN bins. The CNN sees its 10 bins as 20 channels, the 10 polarity-0 bins then the 10 polarity-1 bins (HAS
``dataloaders/snn_dataloader/sequence.py:205-206``). A bare ``[N, 20, H, W]`` batch is a CNN input too.

Outputs: ``has_cnn`` returns ``[N, J, H, W]`` (its label is the Vicon sample just before the window); the
sequence models return one heatmap per bin, ``[T, N, J, H, W]`` (the loss is taken at every bin, as in the HAS
training scripts), or with ``per_step=False`` ... still every bin: the HAS losses need them all, and evaluation
reads the last.

Initialisation: Xavier-normal on every ``nn.Conv2d`` weight, biases and transposed convolutions left at PyTorch's
default (``torch_utils/network_initialization.py:104-120``: ``isinstance(m, nn.Conv2d or nn.ConvTranspose2d)``
tests ``nn.Conv2d`` only). The division by 2500 there applies to a 32 -> 13 convolution only, i.e. the CNN's
output layer inside the hybrids, whose weights are then overwritten by the trained CNN; the SNN's 64 -> 13 readout
is not divided. So no layer of a published model keeps a divided weight, and none is divided here.
"""
from __future__ import annotations

import torch
import torch.nn as nn
import torch.nn.functional as F

from evsnn.errors import ConfigError

CNN_BINS = 10          # the CNN input: 10 bins x 2 polarities = 20 channels
LEAD_STEPS = 2 * CNN_BINS  # cache steps before the SNN bins: the CNN input, then the next window's CNN input
LEAKY = 0.1            # LeakyReLU slope of the CNN and the state initialisers


def _check(arch: str, in_shape, n_classes, base_channels, levels: int) -> tuple[int, int, int]:
    try:
        c, h, w = (int(v) for v in in_shape)
    except (TypeError, ValueError):
        raise ConfigError(f"{arch}: in_shape must be (channels, height, width), got {in_shape!r}") from None
    if c != 2:
        raise ConfigError(f"{arch}: needs the HAS input (2 polarity channels per bin: frames with dhp19 "
                          f"representation 'has'), got {c} channels")
    m = 2 ** levels
    if h % m or w % m or h <= 0 or w <= 0:
        raise ConfigError(f"{arch}: input height and width must be positive multiples of {m}, got {h}x{w} "
                          "(the paper crops DHP19 to 256 x 256)")
    if int(n_classes) <= 0:
        raise ConfigError(f"{arch}: the number of joints (n_classes) must be positive, got {n_classes}")
    if not isinstance(base_channels, int) or base_channels <= 0:
        raise ConfigError(f"{arch}: base_channels must be a positive integer, got {base_channels!r}")
    return c, h, w


def xavier_init_(module: nn.Module) -> nn.Module:
    """HAS ``init_weights``: Xavier-normal weights of every ``nn.Conv2d`` (not ConvTranspose2d), biases untouched."""
    with torch.no_grad():
        for m in module.modules():
            if isinstance(m, nn.Conv2d):
                nn.init.xavier_normal_(m.weight)
    return module


def split_input(x: torch.Tensor):
    """``[S, N, 2, H, W]`` (HAS cache layout) -> (CNN input [N, 20, H, W], next CNN input [N, 20, H, W] or None,
    bins [T, N, 2, H, W]); a ``[N, 20, H, W]`` batch -> (it, None, None)."""
    if x.dim() == 4:
        return x, None, None
    if x.dim() != 5 or x.shape[0] <= LEAD_STEPS:
        raise ValueError(f"HAS models take [S, N, 2, H, W] with S > {LEAD_STEPS} (the CNN input, the next CNN "
                         f"input, then the bins), got {tuple(x.shape)}")
    return cnn_channels(x[:CNN_BINS]), cnn_channels(x[CNN_BINS:LEAD_STEPS]), x[LEAD_STEPS:]


def cnn_channels(bins: torch.Tensor) -> torch.Tensor:
    """[10, N, 2, H, W] -> [N, 20, H, W]: the 10 polarity-0 bins, then the 10 polarity-1 bins."""
    return torch.cat([bins[:, :, 0].transpose(0, 1), bins[:, :, 1].transpose(0, 1)], dim=1)


# ------------------------------------------------------------------------------------------------------- CNN
class _Down(nn.Module):
    """HAS ``models/cnn.py:19-41``: average pool 2, two k x k convs with biases, LeakyReLU 0.1 after each."""

    def __init__(self, c_in: int, c_out: int, k: int):
        super().__init__()
        self.conv1 = nn.Conv2d(c_in, c_out, k, padding=(k - 1) // 2)
        self.conv2 = nn.Conv2d(c_out, c_out, k, padding=(k - 1) // 2)

    def forward(self, x):
        x = F.avg_pool2d(x, 2)
        return F.leaky_relu(self.conv2(F.leaky_relu(self.conv1(x), LEAKY)), LEAKY)


class _Up(nn.Module):
    """HAS ``models/cnn.py:6-16``: bilinear x2, 3x3 conv, concatenate the skip, 3x3 conv; LeakyReLU 0.1."""

    def __init__(self, c_in: int, c_out: int):
        super().__init__()
        self.conv1 = nn.Conv2d(c_in, c_out, 3, padding=1)
        self.conv2 = nn.Conv2d(2 * c_out, c_out, 3, padding=1)

    def forward(self, x, skip):
        x = F.interpolate(x, scale_factor=2, mode="bilinear", align_corners=False)
        x = F.leaky_relu(self.conv1(x), LEAKY)
        return F.leaky_relu(self.conv2(torch.cat([x, skip], 1)), LEAKY)


class HASUNet(nn.Module):
    """The HAS CNN body (``models/cnn.py:44-85``): widths b, 2b, 4b, 8b, 16b, 16b (b = 32 in the paper)."""

    def __init__(self, in_channels: int, n_joints: int, b: int):
        super().__init__()
        self.conv1 = nn.Conv2d(in_channels, b, 7, padding=3)
        self.conv2 = nn.Conv2d(b, b, 7, padding=3)
        self.down1, self.down2 = _Down(b, 2 * b, 5), _Down(2 * b, 4 * b, 3)
        self.down3, self.down4, self.down5 = _Down(4 * b, 8 * b, 3), _Down(8 * b, 16 * b, 3), _Down(16 * b, 16 * b, 3)
        self.up1, self.up2, self.up3 = _Up(16 * b, 16 * b), _Up(16 * b, 8 * b), _Up(8 * b, 4 * b)
        self.up4, self.up5 = _Up(4 * b, 2 * b), _Up(2 * b, b)
        self.conv3 = nn.Conv2d(b, n_joints, 3, padding=1)

    def features(self, x: torch.Tensor) -> dict[str, torch.Tensor]:
        """Every block's output by name (``conv2``, ``down1``..``down5``, ``up1``..``up5``) and ``out``."""
        f = {}
        f["conv2"] = s1 = F.leaky_relu(self.conv2(F.leaky_relu(self.conv1(x), LEAKY)), LEAKY)
        f["down1"] = s2 = self.down1(s1)
        f["down2"] = s3 = self.down2(s2)
        f["down3"] = s4 = self.down3(s3)
        f["down4"] = s5 = self.down4(s4)
        f["down5"] = x = self.down5(s5)
        f["up1"] = x = self.up1(x, s5)
        f["up2"] = x = self.up2(x, s4)
        f["up3"] = x = self.up3(x, s3)
        f["up4"] = x = self.up4(x, s2)
        f["up5"] = x = self.up5(x, s1)
        f["out"] = self.conv3(x)          # no activation on the heatmaps
        return f

    def forward(self, x):
        return self.features(x)["out"]


class HASCNN(nn.Module):
    """``has_cnn``: the HAS UNet on the 20-channel CNN input (the 7,500 events before the window, or the previous
    100 ms for the CNN-RNN's CNN), heatmaps ``[N, J, H, W]`` for the Vicon sample just before the window."""

    is_spiking = False

    def __init__(self, in_shape=(2, 256, 256), n_classes=13, *, base_channels=32, per_step=False):
        super().__init__()
        _check("has_cnn", in_shape, n_classes, base_channels, 5)
        self.unet = xavier_init_(HASUNet(2 * CNN_BINS, int(n_classes), base_channels))
        self.per_step = bool(per_step)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        cnn, _, _ = split_input(x)
        return self.unet(cnn)


# ------------------------------------------------------------------------------------------------------- SNN
def lif(tau: float, v_threshold: float = 1.0):
    """The HAS LIF neuron (``models/neurons.py:16-67, 496-517``): v += (x - v) / tau, spike = ATan(v - threshold),
    soft reset v -= spike * threshold, reset NOT detached (``detach_reset = False`` in the configs)."""
    from evsnn.models._neurons import spiking_neuron

    return spiking_neuron("lif", tau, v_threshold, detach_reset=False, step_mode="s", v_reset=None)


class _SpikingConv(nn.Module):
    """conv (no bias) -> BN -> LIF, HAS ``ConvLayer`` / ``Spike_upsample_layer`` (``models/snn.py:41-119``)."""

    def __init__(self, c_in, c_out, k, stride=1, tau=2.0, v_threshold=1.0, upsample=False):
        super().__init__()
        self.upsample = upsample
        self.conv = nn.Conv2d(c_in, c_out, k, stride, (k - 1) // 2, bias=False)
        self.bn = nn.BatchNorm2d(c_out)
        self.lif = lif(tau, v_threshold)

    def forward(self, x):
        if self.upsample:
            x = F.interpolate(x, scale_factor=2, mode="bilinear", align_corners=False)
        return self.lif(self.bn(self.conv(x)))


class HASSpikingNet(nn.Module):
    """EVSNN_LIF_final's spiking layers (``models/snn.py:135-188``), one bin per call.

    5x5 conv 2 -> b; three stride-2 5x5 convs to 2b, 4b, 8b; a residual block of two 3x3 convs at 8b whose input
    is added before the second LIF (``:86-99``); three bilinear-upsample + 5x5 conv layers 16b -> 4b, 8b -> 2b,
    4b -> b on the concatenated skips; the readout is a 1x1 conv 2b -> J (no bias) on [up3, static].
    The nine spiking layers, in the order of the hybrid's state initialisers: ``LAYERS``.
    """

    LAYERS = ("static", "down1", "down2", "down3", "res1", "res2", "up1", "up2", "up3")

    def __init__(self, n_joints: int, b: int, tau: float, v_threshold: float = 1.0):
        super().__init__()
        kw = dict(tau=tau, v_threshold=v_threshold)
        self.static = _SpikingConv(2, b, 5, **kw)
        self.down1 = _SpikingConv(b, 2 * b, 5, 2, **kw)
        self.down2 = _SpikingConv(2 * b, 4 * b, 5, 2, **kw)
        self.down3 = _SpikingConv(4 * b, 8 * b, 5, 2, **kw)
        self.res_conv1 = nn.Conv2d(8 * b, 8 * b, 3, padding=1, bias=False)
        self.res_bn1 = nn.BatchNorm2d(8 * b)
        self.res_lif1 = lif(tau, v_threshold)
        self.res_conv2 = nn.Conv2d(8 * b, 8 * b, 3, padding=1, bias=False)
        self.res_bn2 = nn.BatchNorm2d(8 * b)
        self.res_lif2 = lif(tau, v_threshold)
        self.up1 = _SpikingConv(16 * b, 4 * b, 5, upsample=True, **kw)
        self.up2 = _SpikingConv(8 * b, 2 * b, 5, upsample=True, **kw)
        self.up3 = _SpikingConv(4 * b, b, 5, upsample=True, **kw)
        self.readout = nn.Conv2d(2 * b, n_joints, 1, bias=False)

    def neurons(self) -> dict[str, nn.Module]:
        return {"static": self.static.lif, "down1": self.down1.lif, "down2": self.down2.lif,
                "down3": self.down3.lif, "res1": self.res_lif1, "res2": self.res_lif2, "up1": self.up1.lif,
                "up2": self.up2.lif, "up3": self.up3.lif}

    def reset(self, v_init: dict[str, torch.Tensor] | None = None) -> None:
        """Start a sample: every membrane at 0, or at ``v_init[layer]`` (the hybrid's CNN states)."""
        for name, node in self.neurons().items():
            node.reset()
            if v_init is not None and name in v_init:
                node.v = v_init[name]

    def membranes(self) -> dict[str, torch.Tensor]:
        """The membrane potentials after the last step (after the soft reset, as HAS returns them)."""
        return {name: node.v for name, node in self.neurons().items()}

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """One bin [N, 2, H, W] -> the readout current [N, J, H, W]."""
        x_in = self.static(x)
        x1 = self.down1(x_in)
        x2 = self.down2(x1)
        x3 = self.down3(x2)
        r = self.res_lif1(self.res_bn1(self.res_conv1(x3)))
        r = self.res_lif2(self.res_bn2(self.res_conv2(r)) + x3)
        u1 = self.up1(torch.cat([r, x3], 1))
        u2 = self.up2(torch.cat([u1, x2], 1))
        u3 = self.up3(torch.cat([u2, x1], 1))
        return self.readout(torch.cat([u3, x_in], 1))


class HASSNN(nn.Module):
    """``has_snn``: EVSNN_LIF_final (``models/snn.py:135-193``, ``configs/snn_config.ini``: LIF, tau 2,
    threshold 1, detach_reset False). The readout 1x1 conv -> BN feeds a non-firing LIF (``MpLIFNode``,
    ``models/neurons.py:351-371``, threshold inf) whose membrane is the heatmap: v += (z - v) / tau, kept
    across the bins of a sample and reset between samples (``functional.reset_net``). Output ``[T, N, J, H, W]``.
    """

    is_spiking = True

    def __init__(self, in_shape=(2, 256, 256), n_classes=13, *, base_channels=32, tau=2.0, v_threshold=1.0,
                 per_step=True):
        super().__init__()
        _check("has_snn", in_shape, n_classes, base_channels, 3)
        if not float(tau) > 1.0:
            raise ConfigError(f"has_snn: tau must be > 1 (v += (x - v) / tau), got {tau}")
        self.snn = HASSpikingNet(int(n_classes), base_channels, float(tau), float(v_threshold))
        self.readout_bn = nn.BatchNorm2d(int(n_classes))
        self.tau = float(tau)
        self.per_step = bool(per_step)
        xavier_init_(self)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        _, _, bins = split_input(x)
        if bins is None:
            raise ValueError("has_snn takes the HAS sequence [S, N, 2, H, W]")
        self.snn.reset()
        v, outs = None, []
        for t in range(bins.shape[0]):
            z = self.readout_bn(self.snn(bins[t]))
            v = z / self.tau if v is None else v + (z - v) / self.tau   # v starts at 0
            outs.append(v)
        return torch.stack(outs)


# ---------------------------------------------------------------------------------------------- hybrids
class StateInitializer(nn.Module):
    """HAS ``state_initializer`` (``models/hybrid_cnn_snn.py:168-194``): [bilinear x2 when it reduces the
    channels] -> 1x1 conv -> BN -> LeakyReLU 0.1 -> 1x1 conv -> BN."""

    def __init__(self, c_in: int, c_out: int):
        super().__init__()
        self.upsize = c_in > c_out
        self.conv1 = nn.Conv2d(c_in, c_out, 1)
        self.bn1 = nn.BatchNorm2d(c_out)
        self.conv2 = nn.Conv2d(c_out, c_out, 1)
        self.bn2 = nn.BatchNorm2d(c_out)

    def forward(self, x):
        if self.upsize:
            x = F.interpolate(x, scale_factor=2, mode="bilinear", align_corners=False)
        return self.bn2(self.conv2(F.leaky_relu(self.bn1(self.conv1(x)), LEAKY)))


class _Staged(nn.Module):
    """What the staged hybrids share: a CNN that can be loaded from a trained ``has_cnn`` and frozen, and a
    sequence part that can be loaded from a trained SNN / RNN (``train.init_from``)."""

    #: role -> the architecture a ``train.init_from`` entry must name (checked with the config)
    INIT_FROM = {"cnn": "has_cnn"}
    INIT_REQUIRED = ("cnn",)

    def load_stage(self, role: str, blob: dict, source: str = "") -> None:
        """Load a trained stage (``model.pt`` blob): ``cnn`` -> the CNN (then frozen), ``snn``/``rnn`` -> the
        sequence network. Raises ConfigError naming the checkpoint when it does not fit."""
        want = self.INIT_FROM.get(role)
        if want is None:
            raise ConfigError(f"{type(self).__name__} takes no '{role}' stage; it takes {', '.join(self.INIT_FROM)}")
        if blob.get("arch") != want:
            raise ConfigError(f"the {role} checkpoint {source} is a {blob.get('arch')!r} model; "
                              f"train.init_from.{role} must name a {want} model")
        prefix, target = self._stage_target(role)
        state = {k[len(prefix):]: v for k, v in blob["state_dict"].items() if k.startswith(prefix)}
        own = target.state_dict()
        bad = [k for k in own if k not in state or state[k].shape != own[k].shape]
        if bad:
            raise ConfigError(f"the {role} checkpoint {source} does not fit this model (first mismatch: {bad[0]}); "
                              f"train it with the same widths ({role} base_channels) and number of joints")
        target.load_state_dict({k: state[k] for k in own})
        if role == "cnn":
            for p in self.cnn.parameters():
                p.requires_grad_(False)


class HASHybridCNNSNN(_Staged):
    """``has_hybrid_cnn_snn``: HAS ``Hybrid_CNN_SNN`` (``models/hybrid_cnn_snn.py:196-387``).

    The CNN (``has_cnn``) runs once on the CNN input; nine state initialisers set the starting membranes of the
    nine spiking layers from its ``conv2``, ``down1``-``down3``, ``up1``-``up5`` outputs (``:234-300``), and the
    output starts as the DETACHED CNN prediction (``:327``). Then at each bin ``output = output_decay * output +
    snn`` (``:365``), the SNN (tau 3, ``configs/hybrid_cnn_snn_config.ini``) with a bare 1x1 conv readout.
    After the last bin, :attr:`state_loss` holds the hybrid loss's second term (``train/
    train_cnn_snn_hybrid_model.py:152-160``): the mean over the nine layers of the MSE between the CNN's states
    for the next window and the SNN's membranes after the last bin.
    """

    is_spiking = True
    INIT_FROM = {"cnn": "has_cnn", "snn": "has_snn"}
    INIT_REQUIRED = ("cnn",)
    #: SNN layer <- CNN feature (``models/hybrid_cnn_snn.py:234-300``)
    STATE_SOURCES = {"static": "conv2", "down1": "down1", "down2": "down2", "down3": "down3", "res1": "up1",
                     "res2": "up2", "up1": "up3", "up2": "up4", "up3": "up5"}

    def __init__(self, in_shape=(2, 256, 256), n_classes=13, *, base_channels=32, cnn_base_channels=32, tau=3.0,
                 v_threshold=1.0, output_decay=0.8, per_step=True):
        super().__init__()
        _check("has_hybrid_cnn_snn", in_shape, n_classes, cnn_base_channels, 5)
        _check("has_hybrid_cnn_snn", in_shape, n_classes, base_channels, 3)
        if not 0.0 <= float(output_decay) <= 1.0:
            raise ConfigError(f"has_hybrid_cnn_snn: output_decay must be in [0, 1], got {output_decay}")
        J, b, cb = int(n_classes), base_channels, cnn_base_channels
        self.cnn = HASUNet(2 * CNN_BINS, J, cb)
        self.snn = HASSpikingNet(J, b, float(tau), float(v_threshold))
        cnn_w = {"conv2": cb, "down1": 2 * cb, "down2": 4 * cb, "down3": 8 * cb, "up1": 16 * cb, "up2": 8 * cb,
                 "up3": 4 * cb, "up4": 2 * cb, "up5": cb}
        snn_w = {"static": b, "down1": 2 * b, "down2": 4 * b, "down3": 8 * b, "res1": 8 * b, "res2": 8 * b,
                 "up1": 4 * b, "up2": 2 * b, "up3": b}
        self.states = nn.ModuleDict({layer: StateInitializer(cnn_w[src], snn_w[layer])
                                     for layer, src in self.STATE_SOURCES.items()})
        # HAS upsamples where an initialiser reduces the channels: that must be the up1 one (H/16 -> H/8) only
        if any((src == "up1") != (cnn_w[src] > snn_w[layer]) for layer, src in self.STATE_SOURCES.items()):
            raise ConfigError("has_hybrid_cnn_snn: cnn_base_channels must equal base_channels (the state "
                              "initialisers upsample the CNN's up1 features, and no other)")
        self.output_decay = float(output_decay)
        self.per_step = bool(per_step)
        self.state_loss: torch.Tensor | None = None
        xavier_init_(self)

    def _stage_target(self, role):
        return ("unet.", self.cnn) if role == "cnn" else ("snn.", self.snn)

    def init_states(self, cnn_input: torch.Tensor) -> tuple[dict[str, torch.Tensor], torch.Tensor]:
        """(the nine starting membranes, the CNN prediction) from a CNN input [N, 20, H, W]."""
        f = self.cnn.features(cnn_input)
        return {layer: self.states[layer](f[src]) for layer, src in self.STATE_SOURCES.items()}, f["out"]

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        cnn, cnn_next, bins = split_input(x)
        if bins is None:
            raise ValueError("has_hybrid_cnn_snn takes the HAS sequence [S, N, 2, H, W]")
        v_init, pred = self.init_states(cnn)
        self.snn.reset(v_init)
        y = pred.detach()
        outs = []
        for t in range(bins.shape[0]):
            y = self.output_decay * y + self.snn(bins[t])
            outs.append(y)
        self.state_loss = None
        if cnn_next is not None and self.training:
            target, _ = self.init_states(cnn_next)
            last = self.snn.membranes()
            self.state_loss = sum(F.mse_loss(target[k], last[k]) for k in self.STATE_SOURCES) / len(self.STATE_SOURCES)
        return torch.stack(outs)


# ------------------------------------------------------------------------------------------------------ RNN
class _ConvBN(nn.Module):
    """E2VID ``ConvLayer`` (``models/rnn_submodules.py:8-36``): conv (bias only without BN) [-> BN] -> ReLU."""

    def __init__(self, c_in, c_out, k, stride=1, bn=True, relu=True, transposed=False):
        super().__init__()
        if transposed:  # TransposedConvLayer (:39-68): k5 stride 2 padding 2 output_padding 1
            self.conv = nn.ConvTranspose2d(c_in, c_out, k, 2, (k - 1) // 2, output_padding=1, bias=not bn)
        else:
            self.conv = nn.Conv2d(c_in, c_out, k, stride, (k - 1) // 2, bias=not bn)
        self.bn = nn.BatchNorm2d(c_out) if bn else None
        self.relu = relu

    def forward(self, x):
        x = self.conv(x)
        if self.bn is not None:
            x = self.bn(x)
        return F.relu(x) if self.relu else x


class ConvLSTM(nn.Module):
    """E2VID ConvLSTM (``models/rnn_submodules.py:181-237``): one 3x3 conv with bias for the four gates (input,
    remember, output, cell), state (hidden, cell), zeros when absent."""

    def __init__(self, c: int):
        super().__init__()
        self.hidden = c
        self.gates = nn.Conv2d(2 * c, 4 * c, 3, padding=1)

    def forward(self, x, state=None):
        if state is None:
            z = x.new_zeros(x.shape[0], self.hidden, *x.shape[2:])
            state = (z, z)
        h, c = state
        i, r, o, g = self.gates(torch.cat([x, h], 1)).chunk(4, 1)
        c = torch.sigmoid(r) * c + torch.sigmoid(i) * torch.tanh(g)
        h = torch.sigmoid(o) * torch.tanh(c)
        return h, c


class _ResBlock(nn.Module):
    """E2VID ResidualBlock with BN (``models/rnn_submodules.py:146-178``)."""

    def __init__(self, c):
        super().__init__()
        self.conv1, self.bn1 = nn.Conv2d(c, c, 3, padding=1, bias=False), nn.BatchNorm2d(c)
        self.conv2, self.bn2 = nn.Conv2d(c, c, 3, padding=1, bias=False), nn.BatchNorm2d(c)

    def forward(self, x):
        return F.relu(self.bn2(self.conv2(F.relu(self.bn1(self.conv1(x))))) + x)


class UNetRecurrent(nn.Module):
    """E2VID UNetRecurrent as HAS configures it (``configs/rnn_config.ini``: 2 input channels, 3 encoders,
    base 32, 2 residual blocks, ConvLSTM, sum skips, BN, transposed-conv decoders; ``models/rnn_unet.py:129-199``):
    head 5x5 conv with bias (no BN) -> 3 x [5x5 stride-2 conv, BN, ReLU, ConvLSTM] -> 2 residual blocks -> 3 x
    [sum skip, 5x5 transposed conv stride 2, BN, ReLU] -> sum the head -> 1x1 conv + BN (the final 'leaky_relu' is
    ``nn.LeakyReLU(negative_slope=1)``, the identity: ``rnn_unet.py:51-52``)."""

    def __init__(self, n_joints: int, b: int, num_encoders: int = 3):
        super().__init__()
        self.head = _ConvBN(2, b, 5, bn=False)
        widths = [b * 2 ** i for i in range(num_encoders + 1)]
        self.encoders = nn.ModuleList(_ConvBN(widths[i], widths[i + 1], 5, 2) for i in range(num_encoders))
        self.lstms = nn.ModuleList(ConvLSTM(widths[i + 1]) for i in range(num_encoders))
        self.resblocks = nn.ModuleList(_ResBlock(widths[-1]) for _ in range(2))
        self.decoders = nn.ModuleList(_ConvBN(w, w // 2, 5, transposed=True) for w in reversed(widths[1:]))
        self.pred = _ConvBN(b, n_joints, 1, relu=False)

    def forward(self, x, states=None):
        """One bin [N, 2, H, W] and the encoders' (hidden, cell) states -> (heatmaps, new states)."""
        head = x = self.head(x)
        states = states or [None] * len(self.encoders)
        blocks, new = [], []
        for enc, lstm, st in zip(self.encoders, self.lstms, states):
            h, c = lstm(enc(x), st)
            x = h
            blocks.append(h)
            new.append((h, c))
        for rb in self.resblocks:
            x = rb(x)
        for i, dec in enumerate(self.decoders):
            x = dec(x + blocks[-1 - i])
        return self.pred(x + head), new


class HASRNN(nn.Module):
    """``has_rnn``: the E2VID recurrent UNet of HAS (``configs/rnn_config.ini``, ``train/train_rnn_model.py``:
    states start at zero per sample, carried across its bins). Output ``[T, N, J, H, W]``."""

    is_spiking = False

    def __init__(self, in_shape=(2, 256, 256), n_classes=13, *, base_channels=32, per_step=True):
        super().__init__()
        _check("has_rnn", in_shape, n_classes, base_channels, 3)
        self.rnn = UNetRecurrent(int(n_classes), base_channels)
        self.per_step = bool(per_step)
        xavier_init_(self)

    def forward(self, x):
        _, _, bins = split_input(x)
        if bins is None:
            raise ValueError("has_rnn takes the HAS sequence [S, N, 2, H, W]")
        states, outs = None, []
        for t in range(bins.shape[0]):
            y, states = self.rnn(bins[t], states)
            outs.append(y)
        return torch.stack(outs)


class HASHybridCNNRNN(_Staged):
    """``has_hybrid_cnn_rnn``: HAS ``Hybrid_CNN_RNN`` (``models/hybrid_cnn_rnn.py:67-175``): three state
    initialisers set the ConvLSTM hidden states of the three encoders from the CNN's down1-down3 features, the cell
    states start at zero (``:135-147``); the output starts as the detached CNN prediction (``:164``) and each bin
    adds the RNN's output to 0.8 x the previous one (``:169``). The CNN is the one trained on the previous 100 ms
    (``configs/hybrid_cnn_rnn_config.ini``: constant_duration)."""

    is_spiking = False
    INIT_FROM = {"cnn": "has_cnn", "rnn": "has_rnn"}
    INIT_REQUIRED = ("cnn",)

    def __init__(self, in_shape=(2, 256, 256), n_classes=13, *, base_channels=32, cnn_base_channels=32,
                 output_decay=0.8, per_step=True):
        super().__init__()
        _check("has_hybrid_cnn_rnn", in_shape, n_classes, cnn_base_channels, 5)
        _check("has_hybrid_cnn_rnn", in_shape, n_classes, base_channels, 3)
        if not 0.0 <= float(output_decay) <= 1.0:
            raise ConfigError(f"has_hybrid_cnn_rnn: output_decay must be in [0, 1], got {output_decay}")
        J, b, cb = int(n_classes), base_channels, cnn_base_channels
        self.cnn = HASUNet(2 * CNN_BINS, J, cb)
        self.rnn = UNetRecurrent(J, b)
        self.states = nn.ModuleList(StateInitializer(cb * 2 ** (i + 1), b * 2 ** (i + 1)) for i in range(3))
        if any(s.upsize for s in self.states):
            raise ConfigError("has_hybrid_cnn_rnn: cnn_base_channels must not exceed base_channels")
        self.output_decay = float(output_decay)
        self.per_step = bool(per_step)
        xavier_init_(self)

    def _stage_target(self, role):
        return ("unet.", self.cnn) if role == "cnn" else ("rnn.", self.rnn)

    def forward(self, x):
        cnn, _, bins = split_input(x)
        if bins is None:
            raise ValueError("has_hybrid_cnn_rnn takes the HAS sequence [S, N, 2, H, W]")
        f = self.cnn.features(cnn)
        states = [(init(f[f"down{i + 1}"]), None) for i, init in enumerate(self.states)]
        states = [(h, torch.zeros_like(h)) for h, _ in states]
        y = f["out"].detach()
        outs = []
        for t in range(bins.shape[0]):
            z, states = self.rnn(bins[t], states)
            y = self.output_decay * y + z
            outs.append(y)
        return torch.stack(outs)

