"""Operation counting and energy (evsnn.energy).

Expected counts are computed independently of the counting code: by hand for tiny networks, by per-layer
formulas written out here, and, for event-driven layers, by perturbation: the fan-out of one input element is
the number of output elements that change when only that element is 1 (weights random and non-zero, no bias),
summed over the non-zero inputs.
"""
from __future__ import annotations

import json
import math

import pytest
import torch
import torch.nn as nn

from evsnn.energy import ENERGY_TABLES, count_ops, energy, energy_report
from evsnn.models import available_archs, build_model, static_registry

torch.set_num_threads(1)


def _fanout_by_perturbation(module: nn.Module, x: torch.Tensor) -> int:
    """Sum over non-zero elements of x of the number of outputs that element reaches (independent reference)."""
    total = 0
    with torch.no_grad():
        for idx in torch.nonzero(x != 0):
            one = torch.zeros_like(x)
            one[tuple(idx)] = 1.0
            total += int((module(one) != 0).sum())
    return total


def _nonzero_weights(module: nn.Module) -> nn.Module:
    with torch.no_grad():
        for p in module.parameters():
            p.copy_(torch.rand_like(p) + 0.5)  # strictly positive: no accidental zero products
    return module


class Spiking(nn.Module):
    """Wrap a layer in a module that declares itself spiking (as evsnn models do)."""

    is_spiking = True

    def __init__(self, *layers):
        super().__init__()
        self.body = nn.Sequential(*layers)

    def forward(self, x):
        return self.body(x)


# ------------------------------------------------------------------------------------------- dense (ANN) layers
def test_dense_conv_linear_by_hand():
    net = nn.Sequential(nn.Conv2d(2, 3, 3, padding=1), nn.ReLU(), nn.Conv2d(3, 4, 3, stride=2, padding=1),
                        nn.ReLU(), nn.Conv2d(4, 4, 3, padding=1, groups=2), nn.Flatten(), nn.Linear(36, 7))
    x = torch.rand(2, 2, 5, 6)
    ops = count_ops(net, x)
    L = ops["layers"]
    assert L["0"]["macs"] == 3 * 5 * 6 * 2 * 9          # out elements x C_in x k*k = 1620
    assert L["2"]["macs"] == 4 * 3 * 3 * 3 * 9          # stride 2: 3x3 outputs: 972
    assert L["4"]["macs"] == 4 * 3 * 3 * 2 * 9          # groups=2: C_in/groups = 2: 648
    assert L["6"]["macs"] == 36 * 7                     # 252
    assert ops["total"]["macs"] == 1620 + 972 + 648 + 252
    assert ops["total"]["acs"] == 0 and ops["total"]["neuron_updates"] == 0
    assert ops["n_samples"] == 2 and all(v["inputs"] == ["dense"] for v in L.values())


def test_dense_conv_transpose_scatters_k2_cout_per_input():
    from evsnn.tasks.pose.models import KerasConvTranspose2d

    x = torch.rand(3, 3, 4, 5)
    for layer in (nn.ConvTranspose2d(3, 2, 3, stride=2, padding=1, output_padding=1),
                  KerasConvTranspose2d(3, 2, 3, 2)):
        ops = count_ops(nn.Sequential(layer), x)
        assert ops["total"]["macs"] == 3 * 4 * 5 * 2 * 9  # every input element x k*k x C_out = 1080
        assert ops["layers"]["0"]["kind"] == "convT"


def test_linear_on_sequences_and_recurrent_layers():
    lin = nn.Linear(5, 3)
    assert count_ops(lin, torch.rand(4, 6, 5))["total"]["macs"] == 6 * 5 * 3  # per sample: 6 rows

    class Seq(nn.Module):
        def __init__(self):
            super().__init__()
            self.gru = nn.GRU(3, 4, num_layers=2)
            self.lstm = nn.LSTM(4, 2)

        def forward(self, x):
            return self.lstm(self.gru(x)[0])[0]

    ops = count_ops(Seq(), torch.rand(5, 2, 3), n_samples=2)  # [T=5, N=2, F]
    gru = 5 * (3 * (3 + 4) * 4 + 3 * (4 + 4) * 4)            # two layers, 3 gates, per step
    lstm = 5 * 4 * (4 + 2) * 2
    assert ops["layers"]["gru"]["macs"] == gru and ops["layers"]["lstm"]["macs"] == lstm
    cell = nn.GRUCell(3, 4)
    assert count_ops(cell, torch.rand(2, 3))["total"]["macs"] == 3 * (3 + 4) * 4


def test_dhp19_cnn_total_matches_the_layer_table():
    base, J, H, W = 2, 3, 16, 20
    m = build_model("dhp19_cnn", {"base_channels": base}, in_shape=(1, H, W), n_classes=J)
    ops = count_ops(m, torch.rand(3, 2, 1, H, W))  # the CNN runs on the last frame only
    b1, b2, b4 = base, 2 * base, 4 * base
    full, half, quarter = H * W, H * W // 4, H * W // 16
    expected = (full * b1 * 1 * 9                                 # conv1
                + half * (b2 * b1 + 2 * b2 * b2) * 9               # conv2a, 2b, 2d
                + quarter * (b4 * b2 + 3 * b4 * b4) * 9            # conv3a-d
                + quarter * b4 * b2 * 9                            # conv3_up: inputs x C_out x 9
                + half * 4 * b2 * b2 * 9                           # conv4a-d
                + half * b2 * b1 * 9                               # conv4_up
                + full * (2 * b1 * b1 + J * b1) * 9)               # conv5a, 5d, pred_cube
    assert ops["total"]["macs"] == expected
    assert ops["total"]["acs"] == 0


# ------------------------------------------------------------------------------------------- event-driven layers
def test_snn_hand_set_spikes_give_exact_acs():
    from spikingjelly.activation_based import functional, layer, neuron

    conv1 = layer.Conv2d(1, 1, 1, bias=False)
    conv2 = layer.Conv2d(1, 3, 3, padding=1, bias=False)
    with torch.no_grad():
        conv1.weight.fill_(1.0)
    net = nn.Sequential(conv1, neuron.IFNode(v_threshold=1.0), conv2)
    functional.set_step_mode(net, "m")
    x = torch.zeros(2, 1, 1, 4, 4)                    # T=2, N=1: event counts of 2 -> dense first layer
    x[0, 0, 0, 0, 0] = 2.0                            # corner: 4 taps of the 3x3 'same' conv
    x[0, 0, 0, 1, 2] = 2.0                            # interior: 9 taps
    x[1, 0, 0, 3, 3] = 2.0                            # corner at t=1: 4 taps
    ops = count_ops(net, x)
    L = ops["layers"]
    assert L["0"]["inputs"] == ["dense"] and L["0"]["macs"] == 2 * 16 * 1  # 2 steps x 16 outputs x 1 tap
    assert L["2"]["inputs"] == ["spikes"] and L["2"]["acs"] == 3 * (4 + 9 + 4)
    assert L["2"]["macs"] == 0 and L["2"]["macs_if_dense"] == 2 * 3 * 16 * 9
    assert ops["total"]["neuron_updates"] == 2 * 16 and ops["total"]["neuron_events"] == 3
    # the same frames as 0/1 events: the first layer is event-driven too (1 synapse per event)
    ops = count_ops(net, (x > 0).float())
    assert ops["layers"]["0"]["inputs"] == ["spikes"] and ops["layers"]["0"]["acs"] == 3
    assert ops["total"]["macs"] == 0


@pytest.mark.parametrize("layer_fn", [
    lambda: nn.Conv2d(4, 6, 3, stride=2, padding=1, groups=2, bias=False),
    lambda: nn.Conv2d(4, 3, 3, padding=2, dilation=2, bias=False),
    lambda: nn.Conv2d(4, 3, (3, 5), padding=(0, 2), bias=False),
    lambda: nn.ConvTranspose2d(4, 3, 3, stride=2, padding=1, output_padding=1, bias=False),
    lambda: __import__("evsnn.tasks.pose.models", fromlist=["x"]).KerasConvTranspose2d(4, 3, 3, 2),
    lambda: nn.Linear(7, 5, bias=False),
])
def test_event_driven_counts_are_exact_at_borders_strides_groups_and_crops(layer_fn):
    torch.manual_seed(0)
    mod = _nonzero_weights(layer_fn())
    x = (torch.rand(2, 4, 7, 9) < 0.3).float() if not isinstance(mod, nn.Linear) else (torch.rand(3, 7) < 0.4).float()
    ops = count_ops(Spiking(mod), x)
    entry = ops["layers"]["body.0"]
    assert entry["inputs"] == ["spikes"]
    assert entry["acs"] * ops["n_samples"] == _fanout_by_perturbation(mod, x)
    assert 0 < entry["acs"] <= entry["macs_if_dense"]


def test_ann_zero_inputs_and_binary_values_stay_dense():
    # an ANN does not skip zeros: binary data into a model without spiking neurons is still dense MACs
    net = nn.Sequential(nn.Conv2d(1, 2, 3, padding=1))
    ops = count_ops(net, (torch.rand(1, 1, 4, 4) < 0.5).float())
    assert ops["total"]["acs"] == 0 and ops["total"]["macs"] == 2 * 16 * 9
    # forcing the event-driven reading counts the exact synapses instead
    ops = count_ops(net, torch.zeros(1, 1, 4, 4), event_driven=True)
    assert ops["total"]["acs"] == 0 and ops["total"]["macs"] == 0


def test_slayer_sdnn_counts_follow_the_delta_sparsity():
    from lava.lib.dl import slayer

    sd = slayer.block.sigma_delta
    p = {"threshold": 0.1, "tau_grad": 0.5, "scale_grad": 1.0, "requires_grad": False, "shared_param": True,
         "activation": torch.relu}

    class Net(nn.Module):
        def __init__(self):
            super().__init__()
            self.blocks = nn.ModuleList([sd.Input(p), sd.Conv(p, 2, 4, 3, padding=1, weight_scale=2),
                                         sd.Conv(p, 4, 3, 1, weight_scale=2), sd.Pool(p, 2, stride=2)])

        def forward(self, x):  # evsnn layout [T, N, C, H, W] -> slayer [N, C, H, W, T]
            x = x.permute(1, 2, 3, 4, 0).contiguous()
            for b in self.blocks:
                x = b(x)
            return x

    torch.manual_seed(1)
    net = Net()
    seen = {}
    hooks = [b.synapse.register_forward_hook(lambda m, i, o, k=k: seen.__setitem__(k, i[0].clone()))
             for k, b in enumerate(net.blocks) if hasattr(b, "synapse")]
    x = torch.rand(4, 2, 2, 6, 8) * (torch.rand(4, 2, 2, 6, 8) < 0.4)
    ops = count_ops(net, x)
    for h in hooks:
        h.remove()
    L = ops["layers"]
    assert ops["total"]["macs"] == 0 and ops["total"]["acs"] == ops["total"]["acs_deltas"] > 0
    # 1x1 conv: every non-zero delta reaches exactly C_out = 3 synapses
    assert L["blocks.2.synapse"]["acs"] == L["blocks.2.synapse"]["in_nonzero"] * 3
    assert L["blocks.2.synapse"]["in_nonzero"] * 2 == int((seen[2] != 0).sum())
    # 3x3 conv with borders: exact by perturbation of the recorded delta input (weights without quantisation)
    syn = net.blocks[1].synapse
    ref = nn.Conv3d(2, 4, (3, 3, 1), padding=(1, 1, 0), bias=False)
    _nonzero_weights(ref)
    assert L["blocks.1.synapse"]["acs"] * 2 == _fanout_by_perturbation(ref, seen[1])
    assert syn.kernel_size == ref.kernel_size and syn.padding == ref.padding
    # 2x2 sum pooling: one synapse per non-zero delta (even sizes)
    assert L["blocks.3.synapse"]["kind"] == "pool"
    assert L["blocks.3.synapse"]["acs"] == L["blocks.3.synapse"]["in_nonzero"]
    # the counts scale with the delta density of each block input
    for name in ("blocks.1.synapse", "blocks.2.synapse"):
        e = L[name]
        assert e["acs"] <= e["macs_if_dense"] and 0 < e["density"] < 1
    # neuron updates per sample: T=4 steps x the state sizes of the Conv, Conv and Pool blocks (the Input block
    # only delta-encodes)
    assert ops["total"]["neuron_updates"] == 4 * (4 * 6 * 8 + 3 * 6 * 8 + 3 * 3 * 4)


def test_counting_leaves_the_model_as_it_was():
    m = build_model("dhp19_snn", {"base_channels": 2}, in_shape=(1, 16, 20), n_classes=3)
    m.train()
    count_ops(m, torch.rand(2, 1, 1, 16, 20))
    assert m.training
    assert not any(mod._forward_hooks for mod in m.modules())
    for p in m.parameters():
        assert isinstance(p, nn.Parameter)
    assert all((mod.weight != 1).any() for mod in m.modules() if isinstance(mod, nn.Conv2d))


# ------------------------------------------------------------------------------------------- energy
def test_energy_tables_by_hand():
    ops = {"total": {"macs": 1000.0, "acs": 500.0, "acs_deltas": 200.0, "neuron_updates": 10.0}}
    e = energy(ops, "horowitz45_fp32")
    assert e["energy_pj"] == pytest.approx(1000 * 4.6 + 500 * 0.9)        # 5050 pJ
    assert e["energy_mJ"] == pytest.approx(5050e-9)
    assert e["e_mac_pj"] == 4.6 and e["e_ac_pj"] == 0.9 and e["neuron_updates"] is None
    assert "Horowitz" in e["source"] and "ISSCC 2014" in e["source"] and e["table"] == "horowitz45_fp32"
    assert energy(ops, "horowitz45_int8")["energy_pj"] == pytest.approx(1000 * 0.23 + 500 * 0.03)
    lo = energy(ops, "loihi")
    assert lo["energy_pj"] == pytest.approx(1500 * 23.6 + 10 * 52.0)
    assert "Davies" in lo["source"] and "IEEE Micro" in lo["source"] and "APPROXIMATE" in lo["notes"]
    assert energy(ops, "loihi", include_neurons=False)["energy_pj"] == pytest.approx(1500 * 23.6)
    # graded deltas costed as multiplies
    assert energy(ops, "horowitz45_fp32", delta_as="mac")["energy_pj"] == pytest.approx(1200 * 4.6 + 300 * 0.9)
    custom = energy(ops, {"name": "mine", "mac_pj": 1.0, "ac_pj": 0.5})
    assert custom["table"] == "mine" and custom["energy_pj"] == 1250
    with pytest.raises(ValueError, match="unknown energy table"):
        energy(ops, "tpu")
    rep = energy_report(ops)
    assert set(rep) == set(ENERGY_TABLES)
    json.dumps(rep)
    for tab in ENERGY_TABLES.values():
        assert tab["source"]


# ------------------------------------------------------------------------------------------- every architecture
SMALL = {
    "plif_net": ({"channels": 4, "n_conv": 2, "fc_hidden": 8}, (2, 16, 16), 11),
    "dhp19_cnn": ({"base_channels": 2}, (1, 16, 20), 3),
    "dhp19_snn": ({"base_channels": 2}, (1, 16, 20), 3),
    "hybrid_cnn_snn": ({"base_channels": 2, "cnn_base_channels": 2}, (1, 16, 20), 3),
    "dhp19_rnn": ({"base_channels": 2}, (1, 16, 20), 3),
    "cnn_rnn": ({"base_channels": 2}, (1, 16, 20), 3),
    "dhp19_sdnn": ({"base_channels": 2}, (1, 16, 20), 3),
    "depth_ann": ({"base_channels": 2, "n_levels": 2}, (4, 12, 20), 1),
    "depth_snn": ({"base_channels": 2, "n_levels": 2}, (4, 12, 20), 1),
    "depth_hybrid": ({"base_channels": 2, "ann_base_channels": 2, "n_levels": 2}, (4, 12, 20), 1),
    # the hybrid ANN-SNN paper's models take the HAS layout: 20 CNN steps, then the bins (2 polarities)
    "has_cnn": ({"base_channels": 2}, (2, 32, 32), 3),
    "has_snn": ({"base_channels": 2}, (2, 32, 32), 3),
    "has_hybrid_cnn_snn": ({"base_channels": 2, "cnn_base_channels": 2}, (2, 32, 32), 3),
    "has_rnn": ({"base_channels": 2}, (2, 32, 32), 3),
    "has_hybrid_cnn_rnn": ({"base_channels": 2, "cnn_base_channels": 2}, (2, 32, 32), 3),
}
STEPS = {arch: 23 for arch in SMALL if arch.startswith("has_")}  # 20 CNN steps + 3 bins
DEFAULT_SHAPE = {"gesture": ((2, 32, 32), 11), "pose": ((1, 16, 20), 3), "depth": ((4, 16, 24), 1)}


@pytest.mark.parametrize("arch", available_archs())
def test_every_architecture_is_counted(arch):
    if arch in SMALL:
        net, shape, n_cls = SMALL[arch]
    else:  # an architecture added later: its defaults at a small input
        net = {}
        shape, n_cls = DEFAULT_SHAPE.get(static_registry()[arch][0], ((2, 32, 32), 4))
    torch.manual_seed(0)
    model = build_model(arch, net, in_shape=shape, n_classes=n_cls)
    steps = STEPS.get(arch, 3)
    x = torch.poisson(torch.full((steps, 2, *shape), 0.6))        # event counts, some > 1
    ops = count_ops(model, x)
    tot = ops["total"]
    json.dumps(ops)
    assert tot["macs"] + tot["acs"] > 0 and ops["n_samples"] == 2 and ops["time_steps"] == steps
    assert tot["macs"] + tot["acs"] <= tot["macs_if_dense"] + 1e-9
    spiking = getattr(model, "is_spiking", None)
    if spiking is False:
        assert tot["acs"] == 0 and tot["neuron_updates"] == 0
    if spiking:
        assert tot["neuron_updates"] > 0
    if arch.endswith("sdnn"):
        assert tot["macs"] == 0 and tot["acs_deltas"] > 0
    if arch in ("hybrid_cnn_snn", "depth_hybrid"):
        assert any(k.startswith(("cnn.", "ann.")) and v["inputs"] == ["dense"] for k, v in ops["layers"].items())
    for table in ENERGY_TABLES:
        e = energy(ops, table)
        assert e["energy_mJ"] == pytest.approx(e["energy_pj"] * 1e-9) and e["energy_pj"] > 0


def test_snn_first_layer_on_counts_is_dense_and_later_layers_are_acs():
    torch.manual_seed(0)
    model = build_model("plif_net", {"channels": 4, "n_conv": 2, "fc_hidden": 8}, in_shape=(2, 16, 16), n_classes=11)
    x = torch.poisson(torch.full((4, 1, 2, 16, 16), 1.0))
    assert float(x.max()) > 1
    ops = count_ops(model, x)
    first = ops["layers"]["conv.0"]
    assert first["inputs"] == ["dense"] and first["macs"] == 4 * 4 * 16 * 16 * 2 * 9
    assert all(v["inputs"] == ["spikes"] for k, v in ops["layers"].items() if k != "conv.0")
    assert math.isclose(ops["total"]["acs"], sum(v["acs"] for v in ops["layers"].values()))


def _independent_ops(model, x):
    """MACs and ACs per sample counted apart from evsnn.energy: forward hooks on every conv / transposed conv /
    linear layer; a layer whose input is all 0/1 costs accumulates, one per (non-zero input, synapse inside the
    output) pair, counted by convolving the channel-summed non-zero mask with an all-ones kernel of the layer's
    geometry; any other input costs dense MACs, padding taps included (out elements x C_in x k*k for a conv,
    in elements x C_out x k*k for a transposed conv, in elements x out features for a linear layer)."""
    import torch.nn.functional as F

    tot = {"macs": 0.0, "acs": 0.0}

    def hook(m, inp, out):
        a = inp[0].detach()
        binary = bool(((a == 0) | (a == 1)).all())
        if isinstance(m, nn.Linear):
            tot["acs" if binary else "macs"] += float((a != 0).sum() if binary else a.numel()) * m.out_features
            return
        assert m.groups == 1
        k = math.prod(m.kernel_size)
        if not binary:
            n_el = a.numel() if isinstance(m, nn.ConvTranspose2d) else out.numel()
            c = m.out_channels if isinstance(m, nn.ConvTranspose2d) else m.in_channels
            tot["macs"] += float(n_el) * c * k
            return
        mask = (a.reshape(-1, *a.shape[-3:]) != 0).float().sum(1, keepdim=True)
        ones = torch.ones(1, 1, *m.kernel_size)
        if isinstance(m, nn.ConvTranspose2d):
            taps = F.conv_transpose2d(mask, ones, stride=m.stride, padding=m.padding, dilation=m.dilation,
                                      output_padding=m.output_padding)
        else:
            taps = F.conv2d(mask, ones, stride=m.stride, padding=m.padding, dilation=m.dilation)
        tot["acs"] += float(taps.sum()) * m.out_channels

    handles = [m.register_forward_hook(hook) for m in model.modules()
               if isinstance(m, (nn.Conv2d, nn.ConvTranspose2d, nn.Linear))]
    try:
        with torch.no_grad():
            model(x)
    finally:
        for h in handles:
            h.remove()
    return {k: v / x.shape[1] for k, v in tot.items()}


@pytest.mark.parametrize("arch, net", [("depth_ann", {"base_channels": 4, "n_levels": 2}),
                                       ("depth_snn", {"base_channels": 4, "n_levels": 2})])
def test_model_cost_of_a_trained_checkpoint_on_a_cache(tmp_path, arch, net):
    """model_cost (rule cost): the checkpoint and cache path of the workflow, averaged over the samples."""
    import numpy as np

    from evsnn.data import FrameCacheWriter
    from evsnn.energy import model_cost
    from evsnn.util import atomic_path

    rng = np.random.default_rng(0)
    cache = tmp_path / "test.h5"
    with atomic_path(cache) as tmp:
        w = FrameCacheWriter(tmp, (3, 4, 8, 8), {"T": 3})
        for i in range(5):
            w.add(rng.integers(0, 3, (3, 4, 8, 8)), rng.uniform(1, 5, (8, 8)).astype(np.float32), f"s/{i}", (0, 1))
        w.close()
    torch.manual_seed(0)   # the SNN must spike for its ACs to be counted
    model = build_model(arch, net, in_shape=(4, 8, 8), n_classes=1)
    ckpt = tmp_path / "model.pt"
    torch.save({"arch": arch, "task": "depth", "net": net, "in_shape": [4, 8, 8], "n_classes": 1,
                "state_dict": model.state_dict(), "epoch": 0}, ckpt)
    res = model_cost(ckpt, cache, n_samples=4, batch_size=3)   # two batches: 3 + 1 samples, weighted
    assert res["n_samples"] == 4 and res["arch"] == arch
    from evsnn.data import FrameCacheDataset, time_major

    ds = FrameCacheDataset(cache)
    x = time_major(torch.stack([ds[i][0] for i in range(4)]).float())
    direct = _independent_ops(model.eval(), x)   # not count_ops: its own hooks and formulas
    assert direct["macs"] > 0 and (direct["acs"] > 0) == (arch == "depth_snn")
    assert res["ops"]["macs"] == pytest.approx(direct["macs"])
    assert res["ops"]["acs"] == pytest.approx(direct["acs"])
    assert res["energy"]["horowitz45_fp32"]["energy_mJ"] == pytest.approx(
        (direct["macs"] * 4.6 + direct["acs"] * 0.9) * 1e-9)
    json.dumps(res)  # JSON-able for the workflow
