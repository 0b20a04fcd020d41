"""The paper depth networks (StereoSpike, its equivalent ANN, the Depth-SNN hybrid), their neurons, StereoSpike's
loss and the multistep schedule (urancon/StereoSpike@6254fec, @e675c29)."""
from __future__ import annotations

import pytest
import torch

from evsnn.errors import ConfigError
from evsnn.models import available_archs, build_model, count_parameters
from evsnn.tasks.depth.metrics import DepthTask, stereospike_loss
from evsnn.tasks.depth.stereospike import (AccumulatingOutput, DepthSNNHybrid, StereoSpike, StereoSpikeANN,
                                           _if_node, count_parameters_at)

torch.set_num_threads(1)

#: (class, options) -> trainable parameters at 260 x 346 (the issue's figures; counted by building the weights only)
PAPER_COUNTS = [
    (StereoSpike, {}, 18_148_708),
    (StereoSpike, {"modality": "monocular"}, 18_147_108),
    (StereoSpike, {"neuron": "plif"}, 18_148_721),
    (StereoSpike, {"neuron": "plif", "modality": "monocular"}, 18_147_121),
    (StereoSpikeANN, {}, 18_158_788),
    (StereoSpikeANN, {"modality": "monocular"}, 18_157_188),
    (DepthSNNHybrid, {}, 18_149_668),
    (DepthSNNHybrid, {"modality": "monocular"}, 18_148_068),
]


@pytest.mark.parametrize("cls,kw,n", PAPER_COUNTS, ids=[f"{c.__name__}-{'-'.join(map(str, k.values())) or 'bino'}"
                                                        for c, k, _ in PAPER_COUNTS])
def test_paper_parameter_counts_at_260x346(cls, kw, n):
    assert count_parameters_at(cls, (4, 260, 346), **kw) == n


def _x(T=2, N=2, H=32, W=44, rate=0.4, seed=0):
    g = torch.Generator().manual_seed(seed)
    return torch.poisson(torch.full((T, N, 4, H, W), rate), generator=g)


@pytest.mark.parametrize("arch", ["stereospike", "stereospike_ann", "depthsnn_hnn"])
def test_paper_archs_output_four_accumulated_potentials_at_any_size(arch):
    assert arch in available_archs("depth")
    m = build_model(arch, {"width": 0.125}, in_shape=(4, 30, 41), n_classes=1)
    out, heads = m(_x(H=30, W=41), return_heads=True)
    assert out.shape == (4, 2, 30, 41) and heads.shape == (4, 2, 30, 41)
    # the output neuron accumulates the heads: its potential after head k is the sum of heads 4..k
    assert torch.allclose(out, heads.cumsum(0), atol=1e-5)
    assert m(_x(H=30, W=41)[0]).shape == (4, 2, 30, 41)    # a plain [N, C, H, W] frame
    # stateless: the same input gives the same output (every neuron is reset per forward)
    m.eval()
    assert torch.equal(m(_x(H=30, W=41)), m(_x(H=30, W=41)))


def test_monocular_uses_the_left_camera_only():
    torch.manual_seed(0)
    m = build_model("stereospike_ann", {"width": 0.125, "modality": "monocular"}, in_shape=(4, 32, 44), n_classes=1)
    m.eval()
    x = _x()
    x2 = x.clone()
    x2[:, :, 2:] = 7.0
    assert torch.equal(m(x), m(x2))
    b = build_model("stereospike_ann", {"width": 0.125}, in_shape=(4, 32, 44), n_classes=1).eval()
    assert not torch.equal(b(x), b(x2))


def test_time_bins_are_summed_into_one_count_frame():
    m = build_model("stereospike", {"width": 0.125}, in_shape=(4, 32, 44), n_classes=1).eval()
    x = _x(T=5)
    assert torch.allclose(m(x), m(x.sum(0, keepdim=True)))


def test_width_scales_channels_and_rejects_bad_options():
    assert count_parameters(build_model("stereospike", {"width": 0.25}, in_shape=(4, 32, 44), n_classes=1)) < 2e6
    with pytest.raises(ConfigError, match="width"):
        build_model("stereospike", {"width": 0}, in_shape=(4, 32, 44), n_classes=1)
    with pytest.raises(ConfigError, match="neuron"):
        build_model("stereospike", {"neuron": "lif"}, in_shape=(4, 32, 44), n_classes=1)
    with pytest.raises(ConfigError, match="4 channels"):
        build_model("stereospike", {}, in_shape=(2, 32, 44), n_classes=1)


# ------------------------------------------------------------------------------------------------ neurons
def test_if_neuron_hard_resets_to_zero_and_detaches_the_reset():
    node = _if_node()
    x1 = torch.tensor([1.5, 0.4], requires_grad=True)
    s = node(x1)
    assert s.tolist() == [1.0, 0.0]
    assert node.v.tolist()[0] == 0.0 and abs(node.v.tolist()[1] - 0.4) < 1e-6   # hard reset to 0; IF: no leak
    # detach_reset: the reset does not carry gradient, so the potential after a spike has none w.r.t. the input
    g, = torch.autograd.grad(node.v.sum(), x1)
    assert g.tolist() == [0.0, 1.0]
    node2 = _if_node(detach_reset=False)
    x2 = torch.tensor([1.5, 0.4], requires_grad=True)
    node2(x2)
    g2, = torch.autograd.grad(node2.v.sum(), x2)
    assert g2[0] != 0.0   # without detach_reset the surrogate gradient flows through the reset
    # threshold 1: 0.4 + 0.7 crosses it at the next step
    assert node(torch.tensor([0.0, 0.7])).tolist() == [0.0, 1.0]


def test_the_output_neuron_accumulates_and_never_fires():
    out = AccumulatingOutput()
    out.reset()
    big = torch.full((2,), 1e6)
    assert out(big).tolist() == [1e6, 1e6]
    assert out(torch.tensor([-3.0, 2.0])).tolist() == [1e6 - 3, 1e6 + 2]   # no threshold, no reset
    out.reset()
    assert out(torch.tensor([1.0, 1.0])).tolist() == [1.0, 1.0]


def test_stereospike_convs_have_no_bias_and_heads_do():
    m = StereoSpike((4, 32, 44), 1, width=0.125)
    for name, p in m.named_parameters():
        if name.endswith(".bias"):
            assert "predict_depth" in name, name
    names = {n for n, _ in m.named_parameters()}
    assert {"decoder.predict_depth1.0.up.1.bias", "bottom.0.weight"} <= names


# ------------------------------------------------------------------------------------------------ loss
def _brute_ss_loss(pred, gt):
    """SS loss.py:7-75 for one map, written out pixel by pixel."""
    H, W = gt.shape
    valid = ~torch.isnan(gt)
    n = int(valid.sum())
    r = torch.zeros(H, W, dtype=torch.float64)
    r[valid] = (pred.double() - gt.double())[valid]
    si = float((r[valid] ** 2).sum()) / n - float(r[valid].sum()) ** 2 / n ** 2
    kx = [[1, 0, -1], [2, 0, -2], [1, 0, -1]]
    ky = [[1, 2, 1], [0, 0, 0], [-1, -2, -1]]
    gm = 0.0
    for i in range(H):
        for j in range(W):
            if not valid[i, j]:
                continue
            gx = gy = 0.0
            for a in range(3):
                for b in range(3):
                    ii, jj = i + a - 1, j + b - 1
                    if 0 <= ii < H and 0 <= jj < W:
                        gx += kx[a][b] * float(r[ii, jj])
                        gy += ky[a][b] * float(r[ii, jj])
            gm += abs(gx) + abs(gy)
    return si + 0.5 * gm / n


def test_stereospike_loss_matches_its_definition_and_sums_the_heads():
    g = torch.Generator().manual_seed(1)
    gt = torch.rand(2, 6, 7, generator=g) * 5 + 1
    gt[0, 1, 2] = float("nan")
    gt[1, :, 0] = float("nan")
    outs = torch.rand(4, 2, 6, 7, generator=g) * 5
    want = sum((_brute_ss_loss(outs[s, 0], gt[0]) + _brute_ss_loss(outs[s, 1], gt[1])) / 2 for s in range(4))
    assert abs(float(stereospike_loss(outs, gt)) - want) < 1e-4
    task = DepthTask(loss_name="stereospike")
    assert abs(float(task.loss(outs, gt)) - want) < 1e-4
    # a constant offset costs no scale-invariant loss: only the gradient term at the edges of the valid region
    gt_full = torch.rand(1, 6, 7, generator=g) + 1
    off = (gt_full + 0.3).unsqueeze(0)
    assert abs(float(stereospike_loss(off, gt_full)) - _brute_ss_loss(off[0, 0], gt_full[0])) < 1e-4
    r = torch.full((6, 7), 0.3)
    assert abs(_brute_ss_loss(gt_full[0] + 0.3, gt_full[0]) - 0.5 * float(
        torch.nn.functional.conv2d(r[None, None], torch.tensor([[[[1.0, 0, -1], [2, 0, -2], [1, 0, -1]]],
                                                                [[[1.0, 2, 1], [0, 0, 0], [-1, -2, -1]]]]),
                                   padding=1).abs().sum()) / 42) < 1e-4
    # metrics use the last (full) prediction
    stats = task.batch_stats(outs, gt)
    assert abs(stats["mde_cm"] - float(task.sample_errors(outs[-1], gt)["mde_cm"].sum())) < 1e-3


def test_multistep_scheduler_follows_the_milestones():
    from evsnn.train import make_scheduler

    p = torch.nn.Parameter(torch.zeros(1))
    opt = torch.optim.Adam([p], lr=2e-4)
    sched = make_scheduler(opt, {"scheduler": "multistep", "milestones": [8, 42, 60], "gamma": 0.5, "epochs": 70})
    lrs = []
    for _ in range(70):
        lrs.append(opt.param_groups[0]["lr"])
        sched.step()
    assert lrs[7] == 2e-4 and lrs[8] == 1e-4 and lrs[42] == 5e-5 and lrs[60] == 2.5e-5
    with pytest.raises(ConfigError, match="milestones"):
        make_scheduler(opt, {"scheduler": "multistep", "gamma": 0.5, "epochs": 3})
