"""The hybrid ANN-SNN paper's loss, staged training (train.init_from) and evaluation, on the synthetic DHP19 tree."""
import json

import pytest
import torch
import yaml

from evsnn.config import load_config
from evsnn.errors import ConfigError
from evsnn.tasks.pose import has_models as h
from evsnn.tasks.pose.has_train import HASPoseTask, blur_kernel, has_targets
from evsnn.train import RunSpec, fit


def test_targets_as_has():
    assert len(blur_kernel(2.0)) == 11
    uv = torch.tensor([[[10.0, 1.0, float("nan")], [12.0, 3.0, 4.0]]])     # [1, 2, 3]: (u, v) per joint
    t = has_targets(uv, 32, 32)
    assert t.shape == (1, 3, 32, 32)
    assert t[0, 0, 12, 10] == 1.0 and t[0, 0].max() == 1.0
    assert t[0, 0, 12, 15] > 0 and t[0, 0, 12, 16] == 0       # kernel 11: radius 5
    g = blur_kernel(2.0)
    assert t[0, 0, 12, 11].item() == pytest.approx((g[6] / g[5]).item(), rel=1e-5)
    # torchvision's reflect padding mirrors the one-hot at column 1 onto column -1: column 0 then peaks (as in HAS)
    assert t[0, 1, 3, 0] == 1.0
    assert t[0, 1, 3, 1].item() == pytest.approx(((g[5] + g[7]) / (2 * g[6])).item(), rel=1e-5)
    assert t[0, 2].sum() == 0                                   # a joint outside the crop: no target


def test_hybrid_loss_adds_the_state_term():
    task = HASPoseTask()
    model = h.HASHybridCNNSNN((2, 32, 32), 13, base_channels=2, cnn_base_channels=2).train()
    task.bind_model(model)
    x = (torch.rand(h.LEAD_STEPS + 3, 2, 2, 32, 32) < 0.2).float()
    y = torch.randint(0, 32, (2, 4, 2, 13)).float()
    out = model(x)
    total = task.loss(out, y)
    assert total.item() == pytest.approx(0.95 * task.heatmap_loss(out, y).item() + 0.05 * model.state_loss.item(),
                                         rel=1e-5)
    # bins are scored against their own labels (the last T), the CNN against label 0
    assert torch.equal(task._labels(out, y), y[:, 1:].transpose(0, 1))
    assert torch.equal(task._labels(out[0], y), y[:, 0])



def test_spatial_ce_option_scores_every_bin_and_keeps_the_state_mix():
    """train.loss: spatial_ce (the CPU demo's option; the paper's is mse): the cross-entropy of each joint's spatial
    softmax against its normalised HAS target, every bin against its own label, joints outside the crop ignored."""
    task = HASPoseTask(loss_name="spatial_ce")
    torch.manual_seed(0)
    out = torch.randn(3, 2, 13, 16, 16)                                  # [T, N, J, H, W]
    y = torch.randint(0, 16, (2, 4, 2, 13)).float()
    y[1, 2, :, 5] = float("nan")                                        # bin 1 of sample 1: joint 5 outside the crop
    want, n = 0.0, 0
    for t in range(3):
        for i in range(2):
            tgt = has_targets(y[i:i + 1, 1 + t], 16, 16)[0]             # [J, H, W]
            for j in range(13):
                if tgt[j].sum() == 0:
                    continue
                p = tgt[j].flatten() / tgt[j].sum()
                want += -(p * torch.log_softmax(out[t, i, j].flatten(), 0)).sum().item()
                n += 1
    assert n == 3 * 2 * 13 - 1
    assert task.loss(out, y).item() == pytest.approx(want / n, rel=1e-5)
    assert task.loss(out[0], y).item() != task.loss(out[0], y.roll(1, dims=1)).item()   # the CNN: label 0
    model = h.HASHybridCNNSNN((2, 32, 32), 13, base_channels=2, cnn_base_channels=2).train()
    task.bind_model(model)
    x = (torch.rand(h.LEAD_STEPS + 3, 2, 2, 32, 32) < 0.2).float()
    y32 = torch.randint(0, 32, (2, 4, 2, 13)).float()
    o = model(x)
    assert task.loss(o, y32).item() == pytest.approx(
        0.95 * task.heatmap_loss(o, y32).item() + 0.05 * model.state_loss.item(), rel=1e-5)
    with pytest.raises(ValueError, match="'mse' or 'spatial_ce'"):
        HASPoseTask(loss_name="l1").loss(out, y)


def test_adapter_reads_the_loss_setting():
    from types import SimpleNamespace

    from evsnn.tasks.pose.has_train import adapter

    ds = SimpleNamespace(attrs={"downsample": 8, "n_classes": 13})
    assert adapter({"heatmap_sigma": 2.0}, ds, ds).loss_name == "mse"              # the paper's by default
    assert adapter({"loss": None}, ds, ds).loss_name == "mse"
    assert adapter({"loss": "spatial_ce"}, ds, ds).loss_name == "spatial_ce"

def _config(tmp_path, models):
    cfg = yaml.safe_load(open("configs/papers/aydin2024_hybrid.yaml"))
    cfg["models"] = models
    path = tmp_path / "c.yaml"
    path.write_text(yaml.safe_dump(cfg))
    return path


def test_config_stage_checks(tmp_path):
    base = yaml.safe_load(open("configs/papers/aydin2024_hybrid.yaml"))["models"]
    cnn, snn, hyb = base["has_cnn"], base["has_snn"], dict(base["has_hybrid_cnn_snn"])
    no_cnn = {**hyb, "train": {**hyb["train"], "init_from": {"snn": "s"}}}
    with pytest.raises(ConfigError, match="init_from' has no 'cnn' entry: has_hybrid_cnn_snn is trained from a "
                                          "trained has_cnn model"):
        load_config(_config(tmp_path, {"s": snn, "hyb": no_cnn}))
    wrong = {**hyb, "train": {**hyb["train"], "init_from": {"cnn": "s"}}}
    with pytest.raises(ConfigError, match="names model 's', a has_snn model; the cnn stage of has_hybrid_cnn_snn "
                                          "must be a has_cnn model"):
        load_config(_config(tmp_path, {"s": snn, "hyb": wrong}))
    missing = {**hyb, "train": {**hyb["train"], "init_from": {"cnn": "nope"}}}
    with pytest.raises(ConfigError, match="names 'nope', which is not another model"):
        load_config(_config(tmp_path, {"c": cnn, "hyb": missing}))
    with pytest.raises(ConfigError, match="has no 'cnn' stage; it starts from no trained stage"):
        load_config(_config(tmp_path, {"c": cnn, "s": {**snn, "train": {**snn["train"], "init_from": {"cnn": "c"}}}}))


@pytest.fixture(scope="module")
def caches(tmp_path_factory):
    from evsnn.tasks.pose.data import build_pose_frames, prepare_dhp19
    from evsnn.tasks.pose.synth import write_dhp19_tree

    root = tmp_path_factory.mktemp("has")
    write_dhp19_tree(root, subjects=(1, 13), sessions=(1,), movements=(1,), duration_s=1.0, pathologies={})
    manifest = prepare_dhp19("d", {"source": "local", "path": str(root)}, str(root / "data"),
                             str(root / "manifest.json"))
    frames = {"T": 1, "downsample": 4, "dhp19": {"representation": "has", "has": {"cnn_events": 1000}}}
    build_pose_frames(manifest, frames, str(root / "train.h5"), str(root / "test.h5"))
    return root, manifest


def _train(root, name, arch, net, init_from=None, epochs=1):
    cfg = {"epochs": epochs, "batch_size": 4, "optimizer": "adam", "lr": 1e-3, "weight_decay": 0.0, "momentum": 0.9,
           "scheduler": "none", "val_fraction": 0.2, "heatmap_sigma": 2.0, "seed": 0, "device": "cpu", "amp": False,
           "num_workers": 0, "threads": 1, "loss": "mse"}
    out = root / name
    out.mkdir(exist_ok=True)
    spec = RunSpec(task="pose", arch=arch, net=net, train=cfg)
    return fit(spec, str(root / "train.h5"), str(root / "test.h5"), str(out / "model.pt"), str(out / "metrics.csv"),
               str(out / "summary.json"), str(out / "checkpoint.pt"), init_from=init_from)


def test_staged_training_and_evaluation(caches):
    from evsnn.tasks.pose.has_evaluate import evaluate_has

    root, manifest = caches
    s_cnn = _train(root, "cnn", "has_cnn", {"base_channels": 2})
    s_snn = _train(root, "snn", "has_snn", {"base_channels": 2})
    assert s_cnn["parameters"] > 0 and s_snn["in_shape"] == [2, 64, 64]
    net = {"base_channels": 2, "cnn_base_channels": 2}
    with pytest.raises(ConfigError, match="is a 'has_snn' model; train.init_from.cnn must name a has_cnn model"):
        _train(root, "bad", "has_hybrid_cnn_snn", net, {"cnn": str(root / "snn" / "model.pt")})
    s_hyb = _train(root, "hyb", "has_hybrid_cnn_snn", net, {"cnn": str(root / "cnn" / "model.pt"),
                                                            "snn": str(root / "snn" / "model.pt")})
    full = h.HASHybridCNNSNN((2, 64, 64), 13, **net)
    n_cnn = sum(p.numel() for p in full.cnn.parameters())
    assert s_hyb["parameters"] == sum(p.numel() for p in full.parameters()) - n_cnn   # the CNN is frozen
    cnn_blob = torch.load(root / "cnn" / "model.pt", weights_only=True)
    hyb_blob = torch.load(root / "hyb" / "model.pt", weights_only=True)
    assert torch.equal(hyb_blob["state_dict"]["cnn.conv3.weight"], cnn_blob["state_dict"]["unet.conv3.weight"])
    figs = {k: str(root / f"{k}.png") for k in ("overlay", "skeleton", "per_movement")}
    m = evaluate_has(str(root / "hyb" / "model.pt"), str(root / "test.h5"), str(root / "train.h5"),
                     manifest["p_matrices"], str(root / "metrics.json"), str(root / "pred.npz"), figs)
    assert m["steps_per_window"] == 20 and m["triangulated"] == [2, 3]
    assert len(m["by_steps_since_cnn"]["group"]) == 20 and len(m["mpjpe_2d_has_by_step"]["cam2"]) == 20
    assert set(m["mpjpe_2d_has"]) == {"cam2", "cam3"} and m["mpjpe_3d"] > 0
    assert json.loads((root / "metrics.json").read_text())["protocol"] == "has"
    m_cnn = evaluate_has(str(root / "cnn" / "model.pt"), str(root / "test.h5"), str(root / "train.h5"),
                         manifest["p_matrices"], str(root / "m2.json"), str(root / "p2.npz"), figs)
    assert m_cnn["steps_per_window"] == 1 and "by_steps_since_cnn" not in m_cnn
