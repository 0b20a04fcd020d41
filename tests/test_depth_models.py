"""Depth models (evsnn.tasks.depth.models) and the depth task (evsnn.tasks.DepthTask)."""
from __future__ import annotations

import json
import math

import numpy as np
import pytest
import torch

from evsnn.errors import ConfigError
from evsnn.models import available_archs, build_model, check_net_kwargs, count_parameters
from evsnn.tasks.depth.metrics import DepthTask

torch.set_num_threads(1)

DEPTH_ARCHS = ["depth_ann", "depth_snn", "depth_hybrid"]
SMALL = {"base_channels": 4, "n_levels": 2}


def _frames(T=3, N=2, C=4, H=20, W=28, seed=0):
    g = torch.Generator().manual_seed(seed)
    return torch.poisson(torch.full((T, N, C, H, W), 0.5), generator=g)


def _small(arch, **kw):
    net = dict(SMALL, **kw)
    if arch == "depth_hybrid":
        net.setdefault("ann_base_channels", 4)
    return net


# ------------------------------------------------------------------------------------------------ models
def test_depth_archs_are_registered_with_keyword_configs():
    assert set(DEPTH_ARCHS) <= set(available_archs("depth"))
    assert check_net_kwargs("depth_snn", {"modality": "monocular", "neuron": "lif", "max_depth": 10.0}) is None
    assert check_net_kwargs("depth_ann", {"stack_bins": 5}) is None
    assert check_net_kwargs("depth_hybrid", {"ann_bins": 2, "ann_base_channels": 8}) is None
    assert "unknown argument" in check_net_kwargs("depth_ann", {"neuron": "if"})


@pytest.mark.parametrize("arch", DEPTH_ARCHS)
@pytest.mark.parametrize("modality", ["binocular", "monocular"])
def test_output_is_depth_in_metres_for_any_size(arch, modality):
    # 20 x 28 is not a multiple of 2**n_levels: padded inside, cropped back
    m = build_model(arch, _small(arch, modality=modality, min_depth=0.5, max_depth=20.0),
                    in_shape=(4, 20, 28), n_classes=1).eval()
    y = m(_frames())
    assert y.shape == (2, 20, 28)
    assert bool(torch.isfinite(y).all()) and float(y.min()) >= 0.5 and float(y.max()) <= 20.0
    assert m(_frames()[-1]).shape == (2, 20, 28)  # a single bin [N, C, H, W]


def test_monocular_ignores_the_right_camera_and_binocular_does_not():
    x = _frames()
    x2 = x.clone()
    x2[:, :, 2:] = torch.poisson(torch.full_like(x2[:, :, 2:], 2.0))
    for arch in DEPTH_ARCHS:
        torch.manual_seed(0)
        # train mode (batch statistics): an untrained SNN with fresh running statistics may not spike in eval mode
        mono = build_model(arch, _small(arch, modality="monocular"), in_shape=(4, 20, 28), n_classes=1).train()
        torch.manual_seed(0)
        bino = build_model(arch, _small(arch), in_shape=(4, 20, 28), n_classes=1).train()
        with torch.no_grad():
            assert torch.equal(mono(x), mono(x2))
            assert not torch.equal(bino(x), bino(x2))


def test_parameter_counts_of_the_defaults():
    # skeleton b=16, L=3 written out: conv weights (3x3, no bias before BN), the head's bias, BN weight+bias
    convs = 9 * (4 * 16 + 16 * 32 + 32 * 64 + 64 * 128 + 128 * 128 + (128 + 64) * 64 + (64 + 32) * 32
                 + (32 + 16) * 16 + 16 * 1) + 1
    bn = 2 * (16 + 32 + 64 + 128 + 128 + 64 + 32 + 16)
    ann = convs + bn
    assert ann == 391_057
    assert count_parameters(build_model("depth_ann", {}, in_shape=(4, 64, 88), n_classes=1)) == ann
    assert count_parameters(build_model("depth_snn", {}, in_shape=(4, 64, 88), n_classes=1)) == ann  # IF: none
    assert count_parameters(build_model("depth_ann", {"modality": "monocular"}, in_shape=(4, 64, 88),
                                        n_classes=1)) == ann - 9 * 2 * 16
    proj = sum(c * c + c for c in (16, 32, 64, 128, 128, 64, 32, 16))  # 1x1 ANN -> SNN membrane projections
    assert count_parameters(build_model("depth_hybrid", {}, in_shape=(4, 64, 88), n_classes=1)) == 2 * ann + proj
    # PLIF adds one learnable time constant per layer
    plif = build_model("depth_snn", {"neuron": "plif"}, in_shape=(4, 64, 88), n_classes=1)
    assert count_parameters(plif) == ann + 8
    stacked = build_model("depth_ann", {"stack_bins": 5}, in_shape=(4, 64, 88), n_classes=1)
    assert count_parameters(stacked) == ann + 9 * 4 * 4 * 16


def test_snn_output_is_deterministic_after_reset():
    m = build_model("depth_snn", _small("depth_snn", neuron="lif"), in_shape=(4, 20, 28), n_classes=1).eval()
    h = build_model("depth_hybrid", _small("depth_hybrid"), in_shape=(4, 20, 28), n_classes=1).eval()
    x, other = _frames(seed=0), _frames(seed=5)
    with torch.no_grad():
        for model in (m, h):
            y1 = model(x)
            model(other)                                   # leaves other membrane states behind
            assert torch.equal(model(x), y1)
    # the SNN really is spiking (train mode: batch statistics; untrained running statistics may keep it silent)
    with torch.no_grad():
        y_train = m.train()(x)
        assert torch.equal(m(x), y_train)
    assert any(float(r) > 0 for r in m.net.last_rates.values())


def test_snn_and_hybrid_train_end_to_end():
    torch.manual_seed(0)   # the weights: spikes and gradients depend on them
    task = DepthTask()
    y = torch.full((2, 20, 28), 3.0)
    for arch in ("depth_snn", "depth_hybrid"):
        m = build_model(arch, _small(arch), in_shape=(4, 20, 28), n_classes=1).train()
        loss = task.loss(m(_frames()), y)
        loss.backward()
        grads = [p.grad for p in m.parameters() if p.requires_grad]
        assert all(g is not None for g in grads[:3])
        assert float(sum(g.abs().sum() for g in grads if g is not None)) > 0


def test_config_errors():
    with pytest.raises(ConfigError, match="binocular depth needs both cameras"):
        build_model("depth_snn", {}, in_shape=(2, 32, 44), n_classes=1)
    assert build_model("depth_snn", {"modality": "monocular"}, in_shape=(2, 32, 44), n_classes=1) is not None
    with pytest.raises(ConfigError, match="modality"):
        build_model("depth_ann", {"modality": "stereo"}, in_shape=(4, 32, 44), n_classes=1)
    with pytest.raises(ConfigError, match="min_depth"):
        build_model("depth_ann", {"min_depth": 5.0, "max_depth": 2.0}, in_shape=(4, 32, 44), n_classes=1)
    with pytest.raises(ConfigError, match="neuron"):
        build_model("depth_snn", {"neuron": "relu"}, in_shape=(4, 32, 44), n_classes=1)
    with pytest.raises(ValueError, match="stack_bins=5"):
        build_model("depth_ann", {"stack_bins": 5, **SMALL}, in_shape=(4, 20, 28), n_classes=1)(_frames(T=3))


# ------------------------------------------------------------------------------------------------ learning
def stereo_planes(n, H=16, W=32, T=2, fb=6.0, seed=0, density=0.25):
    """Fronto-parallel textured planes: the right camera sees the left camera's random-dot texture shifted by
    disparity = fB / depth pixels (1..6 px, depth 1..6 m); the two left columns have no ground truth."""
    g = torch.Generator().manual_seed(seed)
    disp = torch.randint(1, 7, (n,), generator=g)
    x = torch.zeros(T, n, 4, H, W)
    for i in range(n):
        d = int(disp[i])
        for t in range(T):
            tex = (torch.rand(2, H, W + 16, generator=g) < density).float()
            x[t, i, 0:2] = tex[:, :, 8:8 + W]
            x[t, i, 2:4] = tex[:, :, 8 + d:8 + d + W]  # a point at left column u is at u - d on the right
    y = (fb / disp.float())[:, None, None].expand(n, H, W).clone()
    y[:, :, :2] = float("nan")
    return x, y


def test_ann_learns_depth_from_disparity_better_than_a_constant():
    torch.manual_seed(0)
    xtr, ytr = stereo_planes(256, seed=0)
    xte, yte = stereo_planes(64, seed=1)
    task = DepthTask()
    best_const = float(ytr[torch.isfinite(ytr)].median())      # the L1-optimal constant on the training set
    baseline = task.reduce("mde_cm", task.batch_stats(torch.full_like(yte, best_const), yte)["mde_cm"], 64)
    model = build_model("depth_ann", {"base_channels": 8, "n_levels": 3, "max_depth": 10.0},
                        in_shape=(4, 16, 32), n_classes=1)
    opt = torch.optim.Adam(model.parameters(), lr=3e-3)
    for _ in range(80):
        idx = torch.randint(0, 256, (32,))
        model.train()
        loss = task.loss(model(xtr[:, idx]), ytr[idx])
        opt.zero_grad()
        loss.backward()
        opt.step()
    model.eval()
    with torch.no_grad():
        mde = task.reduce("mde_cm", task.batch_stats(model(xte), yte)["mde_cm"], 64)
    assert baseline > 100                                      # ~1.2 m for depths of 1..6 m
    assert mde < 0.7 * baseline, (mde, baseline)


# ------------------------------------------------------------------------------------------------ task
def test_depth_task_metrics_by_hand_with_nans():
    task = DepthTask()
    assert isinstance(task, DepthTask) and task.loss_name == "l1_log"  # the depth default
    assert task.metric_names == ("mde_cm", "mde10_cm", "mde20_cm", "mde30_cm")
    assert task.selection_metric == "mde_cm" and task.higher_is_better is False
    nan = float("nan")
    pred = torch.tensor([[[1.0, 2.0], [3.0, 4.0]],
                         [[2.0, 2.0], [2.0, 2.0]],
                         [[5.0, 5.0], [5.0, 5.0]]])
    gt = torch.tensor([[[1.5, nan], [3.0, 25.0]],             # errors 0.5, -, 0, 21 m
                       [[nan, 0.0], [nan, nan]],             # no valid pixel (0 = invalid too)
                       [[4.0, 15.0], [nan, 35.0]]])          # errors 1, 10, -, 30 m
    s = task.batch_stats(pred, gt)
    s1 = (0.5 + 0 + 21) / 3 * 100
    s3 = (1 + 10 + 30) / 3 * 100
    assert s["mde_cm"] == pytest.approx(s1 + s3)
    assert s["mde10_cm"] == pytest.approx((0.5 + 0) / 2 * 100 + 1 * 100)
    assert s["mde20_cm"] == pytest.approx((0.5 + 0) / 2 * 100 + (1 + 10) / 2 * 100)
    assert s["mde30_cm"] == pytest.approx((0.5 + 0 + 21) / 3 * 100 + (1 + 10) / 2 * 100)
    assert task.reduce("mde_cm", s["mde_cm"], 3) == pytest.approx((s1 + s3) / 3)
    # losses over valid pixels only
    l1log = task.loss(pred, gt)
    d = [abs(math.log(1 / 1.5)), 0.0, abs(math.log(4 / 25)), abs(math.log(5 / 4)), abs(math.log(5 / 15)),
         abs(math.log(5 / 35))]
    assert float(l1log) == pytest.approx(sum(d) / 6, rel=1e-5)
    assert float(DepthTask(loss_name="l1").loss(pred, gt)) == pytest.approx((0.5 + 0 + 21 + 1 + 10 + 30) / 6)
    si = float(DepthTask(loss_name="silog").loss(pred, gt))
    a = [math.log(1 / 1.5), 0.0, math.log(4 / 25)]
    b = [math.log(5 / 4), math.log(5 / 15), math.log(5 / 35)]
    ref = np.mean([np.mean(np.square(v)) - 0.5 * np.mean(v) ** 2 for v in (a, b)])
    assert si == pytest.approx(ref, rel=1e-5)
    # a batch without ground truth gives a zero loss that still backpropagates
    p = torch.ones(1, 2, 2, requires_grad=True)
    loss = task.loss(p, torch.full((1, 2, 2), nan))
    loss.backward()
    assert float(loss) == 0 and p.grad is not None
    with pytest.raises(ValueError, match="depth loss"):
        DepthTask(loss_name="cross_entropy")
    assert DepthTask(cutoffs=(5, 50)).metric_names == ("mde_cm", "mde5_cm", "mde50_cm")


def test_fit_trains_a_depth_model_from_a_cache(tmp_path):
    from evsnn.data import FrameCacheWriter
    from evsnn.train import RunSpec, fit, load_model

    def cache(name, n, seed):
        x, y = stereo_planes(n, H=8, W=16, T=2, seed=seed)
        path = tmp_path / name
        w = FrameCacheWriter(path, (2, 4, 8, 16), {"T": 2, "H": 8, "W": 16, "downsample": 1, "fB": 6.0})
        for i in range(n):
            w.add(x[:, i].numpy(), y[i].numpy(), f"seq{i % 3}", (i, i + 1))
        w.close()
        return path

    tr, te = cache("train.h5", 24, 0), cache("test.h5", 8, 1)
    cfg = {"epochs": 2, "batch_size": 8, "optimizer": "adam", "lr": 0.003, "momentum": 0.9, "weight_decay": 0.0,
           "scheduler": "none", "T_max": None, "step_size": 30, "gamma": 0.1, "loss": "l1_log", "val_fraction": 0.34,
           "seed": 0, "device": "cpu", "amp": False, "num_workers": 0, "threads": 1}
    spec = RunSpec(task="depth", arch="depth_snn", net={"base_channels": 2, "n_levels": 2, "max_depth": 10.0},
                   train=cfg, code="test")
    out = {k: str(tmp_path / f) for k, f in (("out_model", "model.pt"), ("out_metrics", "metrics.csv"),
                                             ("out_summary", "summary.json"), ("checkpoint", "ckpt.pt"))}
    summary = fit(spec, str(tr), str(te), **out)
    assert summary["selection_metric"] == "mde_cm" and summary["n_classes"] == 1
    assert "test_mde_cm_min" in summary
    header = open(out["out_metrics"]).readline().strip().split(",")
    assert "val_mde_cm" in header and "test_mde30_cm" in header
    model, blob = load_model(out["out_model"])
    assert model(torch.zeros(2, 1, 4, 8, 16)).shape == (1, 8, 16)
    # the reported test error of the kept (best-validation) model, recomputed here with numpy from its predictions
    # on the test cache: per sample the mean |pred - gt| in cm over the valid pixels, then the mean over samples
    from evsnn.data import FrameCacheDataset, time_major

    ds = FrameCacheDataset(te)
    model.eval()
    with torch.no_grad():
        xs = torch.stack([ds[i][0] for i in range(len(ds))]).float()
        pred = model(time_major(xs)).numpy().astype(np.float64)
    gt = np.stack([ds[i][1].numpy() for i in range(len(ds))]).astype(np.float64)
    valid = np.isfinite(gt) & (gt > 0)
    per_sample = [np.abs(p[v] - g[v]).mean() * 100 for p, g, v in zip(pred, gt, valid)]
    assert summary["test_mde_cm_at_best_val"] == pytest.approx(float(np.mean(per_sample)), rel=1e-4)
    # and a constant predictor is not mistaken for it
    assert abs(summary["test_mde_cm_at_best_val"] - float(np.mean([np.abs(g[v] - 1.0).mean() * 100
                                                                    for g, v in zip(gt, valid)]))) > 1e-3
    json.loads(open(out["out_summary"]).read())
