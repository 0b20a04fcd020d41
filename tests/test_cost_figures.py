"""Cost figures people can compare (issue 19): NeuroBench's definitions beside evsnn's, per-layer firing rates,
each paper's energy model as data, and the bad input (a layer the counter does not know).

The expected numbers of the cross-check are counted by hand in the comments, not by the counting code.
"""
from __future__ import annotations

import json

import numpy as np
import pytest
import torch
import torch.nn as nn
import torch.nn.functional as F

from evsnn.energy import (DEFINITIONS, ENERGY_MODELS, ENERGY_TABLES, UncountedLayerError, count_ops, energy,
                          model_cost, static_metrics, write_cost)

torch.set_num_threads(1)

# the kernel has 5 zeros out of 9 (the centre and the corners)
KERNEL = torch.tensor([[0.0, 1.0, 0.0],
                       [2.0, 0.0, 3.0],
                       [0.0, 4.0, 0.0]])
EVENTS = [(0, 0), (1, 2), (3, 1)]  # a corner, an interior pixel, a bottom-edge pixel of a 4x4 frame


def _conv():
    conv = nn.Conv2d(1, 1, 3, padding=1, bias=True)
    with torch.no_grad():
        conv.weight.copy_(KERNEL.view(1, 1, 3, 3))
        conv.bias.zero_()
    conv.bias.requires_grad_(False)  # a non-trainable parameter: still a parameter (NeuroBench counts it)
    return conv


def _frame(values=(1.0, 1.0, 1.0)):
    x = torch.zeros(1, 1, 4, 4)
    for (r, c), v in zip(EVENTS, values):
        x[0, 0, r, c] = v
    return x


class SpikingConv(nn.Module):
    """conv -> IF neuron (threshold 2.5), declared spiking."""

    is_spiking = True

    def __init__(self):
        super().__init__()
        from spikingjelly.activation_based import neuron

        self.conv = _conv()
        self.bn = nn.BatchNorm2d(1)  # 2 parameters and 3 buffers; identity in eval mode (mean 0, var 1)
        self.bn.eps = 0.0
        self.sn = neuron.IFNode(v_threshold=2.5)

    def forward(self, x):
        return self.sn(self.bn(self.conv(x)))


# ------------------------------------------------------------------------------------------ hand cross-check
def test_every_count_equals_the_hand_count_on_a_one_channel_conv():
    """3x3 conv, padding 1, 4x4 frame, events at (0,0), (1,2), (3,1); out[i,j] = sum_ab K[a,b] x[i+a-1, j+b-1].

    - dense MACs (evsnn, padding taps included): 16 outputs x 9 taps = 144
    - NeuroBench Dense (no padding taps): per axis the in-bounds taps of rows 0..3 are 2+3+3+2 = 10: 10 x 10 = 100
    - ACs (synapses reached, zero weights included): corner 2x2 = 4, interior 3x3 = 9, bottom edge 2x3 = 6: 19
    - effective (non-zero input x non-zero weight, taps (0,1), (1,0), (1,2), (2,1)): the output of input (r,c)
      through tap (a,b) is (r-a+1, c-b+1): corner -> (1,0), (0,1): 2; interior -> (2,2), (1,3), (1,1), (0,2): 4;
      bottom edge -> (3,2), (3,0), (2,1) ((4,1) is outside): 3; total 9
    - rate x dense (hybrid paper): 3/16 x 144 = 27
    - conv output: (1,0)=1, (0,1)=2, (2,2)=1, (1,3)=2, (1,1)=3, (0,2)=4, (3,2)=2, (3,0)=3, (2,1)=4, else 0:
      4 values >= 2.5 -> 4 spikes of 16 neurons: firing rate 0.25, activation sparsity 12/16
    """
    net = SpikingConv().eval()
    static = static_metrics(net)
    ops = count_ops(net, _frame())
    L, T = ops["layers"]["conv"], ops["total"]
    assert L["inputs"] == ["spikes"]
    assert T["macs"] == 0 and L["macs_if_dense"] == 144
    assert T["nb_dense"] == 100
    assert T["acs"] == 19
    assert T["effective_acs"] == 9 and T["effective_macs"] == 0   # binary input: spiking in NeuroBench's sense
    assert T["rate_x_dense"] == pytest.approx(27.0)
    sn = ops["neurons"]["sn"]
    assert sn["kind"] == "spikes" and sn["events"] == 4 and sn["updates"] == 16 and sn["rate"] == 0.25
    assert T["activation_sparsity"] == 12 / 16
    # static: conv 9 weights + 1 bias (not trainable) + bn 2 = 12 parameters, 11 trainable; buffers: bn running
    # mean and var (float32) + num_batches_tracked (int64): 12 x 4 + 4 + 4 + 8 = 64 bytes; 5 of 9 weights zero
    assert static["parameters"] == 12 and static["parameters_trainable"] == 11
    assert static["footprint_bytes"] == 12 * 4 + 4 + 4 + 8
    assert static["connection_sparsity"] == pytest.approx(5 / 9)

    # graded input (values outside {-1, 0, 1}) into the same conv as an ANN: dense MACs; NeuroBench: effective MACs
    ann = nn.Sequential(_conv())
    ops = count_ops(ann, _frame((2.0, 0.5, -3.0)))
    T = ops["total"]
    assert T["macs"] == 144 and T["acs"] == 0 and T["nb_dense"] == 100
    assert T["effective_macs"] == 9 and T["effective_acs"] == 0
    assert T["rate_x_dense"] == 0 and T["activation_sparsity"] is None and ops["neurons"] == {}
    # binary input into the ANN: evsnn counts dense MACs (an ANN does not skip zeros), NeuroBench effective ACs
    T = count_ops(ann, _frame())["total"]
    assert T["macs"] == 144 and T["acs"] == 0 and T["effective_acs"] == 9 and T["effective_macs"] == 0


def test_transposed_conv_and_relu_counts_by_hand():
    """ConvTranspose2d(1, 1, 3, stride 2, padding 1, output_padding 1) on 2x2 -> 4x4: input row r reaches output
    rows 2r-1+a (a = 0..2): r=0 -> 2 in bounds, r=1 -> 3: NeuroBench Dense 5 x 5 = 25 against 4 x 9 = 36 dense.
    With a ReLU after it: activation sparsity = zero outputs / 16."""
    ct = nn.ConvTranspose2d(1, 1, 3, stride=2, padding=1, output_padding=1, bias=False)
    with torch.no_grad():
        ct.weight.copy_(KERNEL.view(1, 1, 3, 3))
    x = torch.tensor([[[[2.0, 0.0], [0.0, 0.5]]]])
    ops = count_ops(nn.Sequential(ct, nn.ReLU()), x)
    T = ops["total"]
    assert T["macs"] == 36 and T["nb_dense"] == 25
    # input (0,0) -> outputs (2r-1+a, 2c-1+b) for non-zero taps (0,1),(1,0),(1,2),(2,1): (-1,0) out, (0,-1) out,
    # (0,1), (1,0): 2; input (1,1): (1,2), (2,1), (2,3), (3,2): 4 -> 6 effective MACs
    assert T["effective_macs"] == 6
    y = ct(x)
    assert T["activation_sparsity"] == pytest.approx(float((F.relu(y) == 0).sum()) / 16)


def test_neurobench_and_evsnn_counts_agree_where_their_definitions_meet():
    """Every weight non-zero: NeuroBench's effective ACs are evsnn's ACs; a linear layer has no padding: Dense is
    the dense count."""
    torch.manual_seed(0)

    class Net(nn.Module):
        is_spiking = True

        def __init__(self):
            super().__init__()
            self.conv = nn.Conv2d(2, 3, 3, stride=2, padding=1, bias=False)
            self.fc = nn.Linear(3 * 4 * 4, 5, bias=False)

        def forward(self, x):
            return self.fc((self.conv(x) > 0.5).float().flatten(1))

    net = Net()
    with torch.no_grad():
        for p in net.parameters():
            p.copy_(torch.rand_like(p) + 0.1)
    ops = count_ops(net, (torch.rand(3, 2, 8, 8) < 0.3).float())
    for e in ops["layers"].values():
        assert e["effective_acs"] == pytest.approx(e["acs"]) and e["effective_macs"] == 0
    assert ops["layers"]["fc"]["nb_dense"] == ops["layers"]["fc"]["macs_if_dense"] == 3 * 4 * 4 * 5
    assert ops["layers"]["conv"]["nb_dense"] < ops["layers"]["conv"]["macs_if_dense"]
    assert set(DEFINITIONS) >= {"macs", "acs", "effective_macs", "effective_acs", "nb_dense", "footprint_bytes",
                                "connection_sparsity", "activation_sparsity", "parameters", "firing_rates"}
    for key in ("effective_macs", "nb_dense", "footprint_bytes", "connection_sparsity", "activation_sparsity",
                "parameters"):
        assert "NeuroBench/neurobench@" in DEFINITIONS[key]


# ------------------------------------------------------------------------------------------ bad input
class Mystery(nn.Module):
    """A layer with its own weight that the counter does not know (it would count as zero)."""

    def __init__(self):
        super().__init__()
        self.kernel = nn.Parameter(torch.ones(2, 1, 3, 3))

    def forward(self, x):
        return F.conv2d(x, self.kernel, padding=1)


def test_an_unknown_layer_fails_naming_the_layer_and_its_type():
    net = nn.Sequential(nn.Conv2d(1, 1, 3, padding=1), nn.Sequential(nn.ReLU(), Mystery()))
    with pytest.raises(UncountedLayerError, match=r"'1\.1'.*test_cost_figures\.Mystery.*kernel"):
        count_ops(net, torch.rand(1, 1, 4, 4))
    # layers that are counted or deliberately left out (normalisation) pass
    count_ops(nn.Sequential(nn.Conv2d(1, 2, 3), nn.BatchNorm2d(2), nn.LayerNorm(2), nn.ReLU()), torch.rand(1, 1, 4, 4))


def _cache(path, n=4, shape=(3, 4, 8, 8)):
    from evsnn.data import FrameCacheWriter
    from evsnn.util import atomic_path

    rng = np.random.default_rng(0)
    with atomic_path(path) as tmp:
        w = FrameCacheWriter(tmp, shape, {"T": shape[0]})
        for i in range(n):
            w.add(rng.integers(0, 3, shape), rng.uniform(1, 5, shape[-2:]).astype(np.float32), f"s/{i}", (0, 1))
        w.close()
    return path


def test_the_cost_rule_fails_on_an_unknown_layer(tmp_path, monkeypatch):
    import evsnn.train

    cache = _cache(tmp_path / "test.h5")

    class Net(nn.Module):
        def __init__(self):
            super().__init__()
            self.head = Mystery()

        def forward(self, x):
            return self.head(x[-1][:, :1])

    monkeypatch.setattr(evsnn.train, "load_model", lambda p: (Net(), {"arch": "mystery", "task": "depth"}))
    with pytest.raises(UncountedLayerError, match="'head'.*Mystery"):
        write_cost(tmp_path / "model.pt", cache, tmp_path / "cost.json", tmp_path / "rates.png", n_samples=2)
    assert not (tmp_path / "cost.json").exists() and not (tmp_path / "rates.png").exists()


# ------------------------------------------------------------------------------------------ energy models
def test_energy_models_are_data_with_sources():
    for name, m in ENERGY_MODELS.items():
        assert m["source"] and m["counts"] and isinstance(m["verified"], bool), name
    assert ENERGY_MODELS["horowitz45_fp32"]["mac_pj"] == 4.6 and ENERGY_MODELS["horowitz45_fp32"]["ac_pj"] == 0.9
    assert ENERGY_MODELS["loihi"]["verified"] is False and "APPROXIMATE" in ENERGY_MODELS["loihi"]["notes"]
    hy = ENERGY_MODELS["hybrid_rate_x_mops"]
    assert hy["op_pj"] == 0.38 and "uzh-rpg/hybrid_ann_snn@39f1248" in hy["source"] and "101.3" in hy["source"]
    assert "hybrid_rate_x_mops" not in ENERGY_TABLES  # it does not cost dense MACs
    ops = {"total": {"macs": 1000.0, "acs": 500.0, "rate_x_dense": 800.0}}
    e = energy(ops, "hybrid_rate_x_mops")
    assert e["energy_pj"] == pytest.approx(800 * 0.38) and e["uncosted_macs"] == 1000.0
    assert e["energy_mJ"] == pytest.approx(800 * 0.38e-9)


def test_table_notes_name_the_model_of_each_energy_column():
    from evsnn.tables import COST_NOTES, TABLE_ENERGY

    text = " ".join(COST_NOTES)
    assert "as the Depth-SNN" not in text and "hybrid SNN papers" not in text
    for col, name in TABLE_ENERGY.items():
        note = next(n for n in COST_NOTES if n.startswith(col + ":"))
        assert f"energy model {name}" in note and ENERGY_MODELS[name]["source"] in note


# ------------------------------------------------------------------------------------------ the rule's path
@pytest.mark.parametrize("arch, net", [("depth_snn", {"base_channels": 4, "n_levels": 2}),
                                       ("depth_ann", {"base_channels": 4, "n_levels": 2})])
def test_cost_json_figure_and_table_columns(tmp_path, arch, net):
    from evsnn.models import build_model
    from evsnn.tables import cost_lava_columns

    cache = _cache(tmp_path / "test.h5", n=3)
    model = build_model(arch, net, in_shape=(4, 8, 8), n_classes=1)
    ckpt = tmp_path / "model.pt"
    torch.save({"arch": arch, "task": "depth", "net": net, "in_shape": [4, 8, 8], "n_classes": 1,
                "state_dict": model.state_dict(), "epoch": 0}, ckpt)
    res = write_cost(ckpt, cache, tmp_path / "cost.json", tmp_path / "firing_rates.png", n_samples=3, title=arch)
    c = json.loads((tmp_path / "cost.json").read_text())
    assert c["static"] == static_metrics(model.eval()) and c["definitions"] == DEFINITIONS
    assert set(c["energy"]) == set(ENERGY_MODELS)
    o = c["ops"]
    assert o["effective_macs"] + o["effective_acs"] <= o["nb_dense"] <= o["macs_if_dense"]
    png = (tmp_path / "firing_rates.png").read_bytes()
    assert png[:8] == b"\x89PNG\r\n\x1a\n"
    row = cost_lava_columns({"cost": str(tmp_path / "cost.json")})
    assert {"MACs_M", "eff_MACs_M", "ACs_M", "eff_ACs_M", "nb_dense_M", "footprint_bytes", "params_all",
            "conn_sparsity", "energy_mJ_fp32", "energy_mJ_loihi"} <= set(row)
    assert row["params_all"] == sum(p.numel() for p in model.parameters())
    if arch == "depth_snn":
        assert res["rates"] and all(r["kind"] == "spikes" and 0 <= r["rate"] <= 1 for r in res["rates"].values())
        assert "energy_mJ_snn_rate_mops" in row and "act_sparsity" in row
        assert row["energy_mJ_snn_rate_mops"] == pytest.approx(o["rate_x_dense"] * 0.38e-9, rel=1e-3)
    else:
        assert res["rates"] == {} and "energy_mJ_snn_rate_mops" not in row


def test_sigma_delta_layers_report_message_rates():
    from evsnn.models import build_model

    m = build_model("dhp19_sdnn", {"base_channels": 2}, in_shape=(1, 16, 20), n_classes=3)
    fresh = static_metrics(m)
    ops = count_ops(m, torch.poisson(torch.full((3, 2, 1, 16, 20), 0.6)))
    assert ops["neurons"] and all(n["kind"] == "messages" for n in ops["neurons"].values())
    assert all(0 < n["rate"] <= 1 for n in ops["neurons"].values())
    # slayer neurons keep their state in buffers: after a forward pass the buffers hold a batch of state, which is
    # why the footprint is taken from the freshly loaded model
    assert static_metrics(m)["footprint_bytes"] > fresh["footprint_bytes"]
    assert fresh["parameters"] > fresh["parameters_trainable"]  # slayer's non-trainable parameters count
