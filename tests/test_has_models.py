"""The hybrid ANN-SNN paper's networks (uzh-rpg/hybrid_ann_snn @8a88791) as published: parameter counts at the
paper's input, layers and neuron semantics."""
import pytest
import torch
import torch.nn as nn

from evsnn.errors import ConfigError
from evsnn.models import count_parameters, init_stages, static_registry
from evsnn.tasks.pose import has_models as h

PAPER = {  # parameters at 2 x 256 x 256 input, 13 joints, base 32
    "has_cnn": (h.HASCNN, 19_818_669),
    "has_snn": (h.HASSNN, 4_410_138),
    "has_hybrid_cnn_snn": (h.HASHybridCNNSNN, 24_780_845),
    "has_rnn": (h.HASRNN, 10_710_106),
    "has_hybrid_cnn_rnn": (h.HASHybridCNNRNN, 30_703_495),
}


@pytest.mark.parametrize("arch", sorted(PAPER))
def test_paper_parameter_counts(arch):
    cls, n = PAPER[arch]
    with torch.device("meta"):
        model = cls()
    assert count_parameters(model, trainable_only=False) == n


def test_frozen_cnn_trainable_counts():
    with torch.device("meta"):
        snn, rnn = h.HASHybridCNNSNN(), h.HASHybridCNNRNN()
    for m in (snn, rnn):
        for p in m.cnn.parameters():
            p.requires_grad_(False)
    assert count_parameters(snn) == 4_962_176
    assert sum(p.numel() for p in snn.snn.parameters()) == 4_410_112
    assert sum(p.numel() for p in snn.states.parameters()) == 552_064
    assert count_parameters(rnn) == 10_884_826


def test_registered_through_the_pose_model_module():
    reg = static_registry()
    assert set(PAPER) <= set(reg)
    assert reg["has_hybrid_cnn_snn"][2] == ("base_channels", "cnn_base_channels", "tau", "v_threshold",
                                            "output_decay", "per_step")
    assert init_stages("has_hybrid_cnn_snn") == ({"cnn": "has_cnn", "snn": "has_snn"}, ("cnn",))
    assert init_stages("has_hybrid_cnn_rnn") == ({"cnn": "has_cnn", "rnn": "has_rnn"}, ("cnn",))
    assert init_stages("has_cnn") == ({}, ())


def test_layers_as_published():
    with torch.device("meta"):
        cnn, snn = h.HASCNN(), h.HASSNN()
    convs = [m for m in cnn.modules() if isinstance(m, nn.Conv2d)]
    assert len(convs) == 23 and all(m.bias is not None for m in convs)  # "2 + 10 + 10 + 1 = 23 layers"
    assert (convs[0].in_channels, convs[0].kernel_size) == (20, (7, 7))
    assert (convs[-1].in_channels, convs[-1].out_channels, convs[-1].kernel_size) == (32, 13, (3, 3))
    s = snn.snn
    spiking = [s.static.conv, s.down1.conv, s.down2.conv, s.down3.conv, s.res_conv1, s.res_conv2, s.up1.conv,
               s.up2.conv, s.up3.conv, s.readout]
    assert all(m.bias is None for m in spiking)
    assert [(m.in_channels, m.out_channels, m.kernel_size[0], m.stride[0]) for m in spiking] == [
        (2, 32, 5, 1), (32, 64, 5, 2), (64, 128, 5, 2), (128, 256, 5, 2), (256, 256, 3, 1), (256, 256, 3, 1),
        (512, 128, 5, 1), (256, 64, 5, 1), (128, 32, 5, 1), (64, 13, 1, 1)]
    node = s.static.lif
    assert (node.tau, node.v_threshold, node.v_reset, node.detach_reset) == (2.0, 1.0, None, False)
    with torch.device("meta"):
        hyb = h.HASHybridCNNSNN()
    assert hyb.snn.static.lif.tau == 3.0 and hyb.output_decay == 0.8
    assert [hyb.states[k].upsize for k in hyb.STATE_SOURCES] == [False] * 4 + [True] + [False] * 4


def test_lif_soft_reset_not_detached():
    node = h.lif(2.0)
    v0 = torch.tensor([1.5])
    x = torch.tensor([2.0], requires_grad=True)
    node.v = v0
    spike = node(x)
    assert spike.item() == 1.0
    assert node.v.item() == pytest.approx(0.75)  # 1.5 + (2 - 1.5) / 2 = 1.75, minus threshold 1
    node.v.sum().backward()
    # the reset is not detached: dv/dx = 1/tau - dspike/dx * threshold (ATan surrogate, alpha 2, at v - th = 0.75)
    alpha, u = 2.0, 0.75
    dspike = alpha / 2 / (1 + (torch.pi / 2 * alpha * u) ** 2)
    assert x.grad.item() == pytest.approx(0.5 - 0.5 * dspike, rel=1e-5)


def _tiny(cls, **kw):
    torch.manual_seed(0)
    extra = {"cnn_base_channels": 2} if cls in (h.HASHybridCNNSNN, h.HASHybridCNNRNN) else {}
    return cls((2, 32, 32), 13, base_channels=2, **extra, **kw)


def _input(T=3, N=2):
    torch.manual_seed(1)
    return (torch.rand(h.LEAD_STEPS + T, N, 2, 32, 32) < 0.2).float() * 3


def test_snn_readout_membrane_kept_across_bins():
    model = _tiny(h.HASSNN).eval()
    x = _input(T=4)
    y = model(x)
    assert y.shape == (4, 2, 13, 32, 32)
    # the readout membrane: v_t = v_{t-1} + (z_t - v_{t-1}) / tau with v_{-1} = 0 and z = BN(conv(...))
    zs = []
    model.snn.reset()
    for t in range(4):
        zs.append(model.readout_bn(model.snn(x[h.LEAD_STEPS + t])))
    v = torch.zeros_like(zs[0])
    for t in range(4):
        v = v + (zs[t] - v) / 2.0
        assert torch.allclose(y[t], v, atol=1e-6)


def test_hybrid_seed_detached_and_decay():
    model = _tiny(h.HASHybridCNNSNN).train()
    x = _input()
    y = model(x)
    y[0].sum().backward()
    assert model.cnn.conv3.weight.grad is None     # the CNN prediction enters detached
    assert model.states["static"].conv1.weight.grad is not None   # the state initialisers are trained
    assert model.state_loss is not None and model.state_loss.dim() == 0

    class Const(nn.Module):  # an SNN that always outputs 1: the readout then shows the decay alone
        def reset(self, v_init=None):
            pass

        def forward(self, x):
            return torch.ones(x.shape[0], 13, *x.shape[2:])

    model.eval()
    with torch.no_grad():
        _, pred = model.init_states(h.cnn_channels(x[:h.CNN_BINS]))
        model.snn = Const()
        y = model(x)
    assert torch.allclose(y[0], 0.8 * pred + 1)
    assert torch.allclose(y[2], 0.8 * (0.8 * (0.8 * pred + 1) + 1) + 1, atol=1e-6)
    assert model.state_loss is None  # evaluation: no state loss


def test_hybrid_rnn_hidden_states_from_cnn():
    model = _tiny(h.HASHybridCNNRNN).train()
    y = model(_input())
    assert y.shape == (3, 2, 13, 32, 32)
    y.sum().backward()
    assert model.cnn.conv3.weight.grad is None
    assert model.states[2].conv1.weight.grad is not None


def test_cnn_input_is_polarity_major():
    bins = torch.arange(10 * 1 * 2).float().reshape(10, 1, 2, 1, 1).expand(10, 1, 2, 2, 2)
    c = h.cnn_channels(bins)
    assert c.shape == (1, 20, 2, 2)
    assert c[0, :, 0, 0].tolist() == [2.0 * b for b in range(10)] + [2.0 * b + 1 for b in range(10)]


def test_load_stage_checks_and_freezes():
    hyb = _tiny(h.HASHybridCNNSNN)
    cnn = _tiny(h.HASCNN)
    blob = {"arch": "has_cnn", "state_dict": cnn.state_dict()}
    hyb.load_stage("cnn", blob, "cnn/model.pt")
    assert all(not p.requires_grad for p in hyb.cnn.parameters())
    assert torch.equal(hyb.cnn.conv3.weight, cnn.unet.conv3.weight)
    snn = _tiny(h.HASSNN)
    hyb.load_stage("snn", {"arch": "has_snn", "state_dict": snn.state_dict()}, "snn/model.pt")
    assert torch.equal(hyb.snn.up3.conv.weight, snn.snn.up3.conv.weight)
    with pytest.raises(ConfigError, match="is a 'dhp19_cnn' model"):
        hyb.load_stage("cnn", {"arch": "dhp19_cnn", "state_dict": {}}, "x/model.pt")
    wide = h.HASCNN((2, 32, 32), 13, base_channels=4)
    with pytest.raises(ConfigError, match="does not fit"):
        hyb.load_stage("cnn", {"arch": "has_cnn", "state_dict": wide.state_dict()}, "wide/model.pt")


def test_bad_inputs_one_sentence():
    with pytest.raises(ConfigError, match="2 polarity channels"):
        h.HASCNN((1, 256, 256), 13)
    with pytest.raises(ConfigError, match="multiples of 32"):
        h.HASCNN((2, 260, 344), 13)
    with pytest.raises(ConfigError, match="cnn_base_channels must equal"):
        h.HASHybridCNNSNN((2, 32, 32), 13, base_channels=4, cnn_base_channels=2)
