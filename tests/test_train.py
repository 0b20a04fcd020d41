import json

import numpy as np
import pandas as pd
import pytest
import torch

from evsnn.errors import TrainingError
from evsnn.tasks.gesture.evaluate import classification_metrics, confusion_matrix, evaluate_classifier
from evsnn.models import build_model, count_parameters
from evsnn.train import RunSpec, fit, load_checkpoint, load_model

NET = {"channels": 8, "n_conv": 2, "neuron": "plif", "fc_hidden": 32, "dropout": 0.2, "voters": 4}


def spec(**train):
    cfg = {"epochs": 6, "batch_size": 8, "optimizer": "adam", "lr": 0.01, "momentum": 0.9, "weight_decay": 0.0,
           "scheduler": "cosine", "T_max": None, "step_size": 30, "gamma": 0.1, "loss": "mse", "val_fraction": 0.2,
           "seed": 3, "device": "cpu", "amp": True, "num_workers": 0, "threads": 1}
    cfg.update(train)
    return RunSpec(task="gesture", arch="plif_net", net=dict(NET), train=cfg, code="test")


def run(tmp_path, cache_train, cache_test, sp, tag="a", **kw):
    d = tmp_path / tag
    d.mkdir(exist_ok=True)
    out = dict(out_model=str(d / "model.pt"), out_metrics=str(d / "metrics.csv"), out_summary=str(d / "summary.json"),
               checkpoint=str(d / "checkpoint.pt"))
    res = fit(sp, str(cache_train), str(cache_test), tensorboard_dir=str(d / "tb"), **out, **kw)
    return res, out


def test_paper_network_size():
    m = build_model("plif_net", {}, in_shape=(2, 128, 128), n_classes=11)
    # {c128k3s1-BN-PLIF-MPk2s2}*5-DP-FC512-PLIF-DP-FC110-PLIF: conv 2304 + 4*147456, BN 5*256, FC 2048*512+512,
    # 512*110+110, 7 PLIF time constants
    assert count_parameters(m) == 2304 + 4 * 147456 + 5 * 256 + 2048 * 512 + 512 + 512 * 110 + 110 + 7
    out = build_model("plif_net", {"channels": 8, "n_conv": 2}, in_shape=(2, 16, 16), n_classes=11)(torch.rand(3, 2, 2, 16, 16))
    assert out.shape == (2, 11) and float(out.min()) >= 0 and float(out.max()) <= 1


def test_training_learns_and_writes_outputs(tmp_path, make_cache):
    tr, te = make_cache("train.h5", n_per_class=16), make_cache("test.h5", n_per_class=6, seed=1)
    summary, out = run(tmp_path, tr, te, spec(epochs=15, scheduler="none"))
    assert summary["test_acc_max"] >= summary["test_acc_at_best_val"] > 0.6  # chance = 0.25
    df = pd.read_csv(out["out_metrics"])
    assert list(df["epoch"]) == list(range(15)) and df["train_loss"].iloc[-1] < df["train_loss"].iloc[0]
    assert (tmp_path / "a" / "tb").is_dir() and any((tmp_path / "a" / "tb").iterdir())
    model, blob = load_model(out["out_model"])
    assert blob["epoch"] == summary["best_epoch"]
    metrics = evaluate_classifier(out["out_model"], str(te), str(tmp_path / "m.json"), str(tmp_path / "p.csv"))
    assert metrics["accuracy"] == pytest.approx(summary["test_acc_at_best_val"])
    assert json.loads((tmp_path / "m.json").read_text())["n_samples"] == 24


def test_resume_after_kill_gives_same_result(tmp_path, make_cache):
    tr, te = make_cache("train.h5"), make_cache("test.h5", n_per_class=4, seed=1)
    full, out_full = run(tmp_path, tr, te, spec(epochs=4), tag="full")
    part, out = run(tmp_path, tr, te, spec(epochs=4), tag="resumed", stop_after_epochs=2)
    assert part["stopped_early"] and not (tmp_path / "resumed" / "model.pt").exists()
    assert load_checkpoint(out["checkpoint"])["epoch"] == 1
    resumed, _ = run(tmp_path, tr, te, spec(epochs=4), tag="resumed")
    a, b = pd.read_csv(out_full["out_metrics"]), pd.read_csv(out["out_metrics"])
    cols = ["train_loss", "train_acc", "val_acc", "test_acc", "lr"]
    np.testing.assert_allclose(a[cols].to_numpy(), b[cols].to_numpy(), rtol=1e-6)
    for key in ("test_acc_at_best_val", "test_acc_max", "best_epoch"):
        assert full[key] == resumed[key]


def test_checkpoint_of_other_settings_is_not_resumed(tmp_path, make_cache):
    tr, te = make_cache("train.h5"), make_cache("test.h5", n_per_class=4, seed=1)
    run(tmp_path, tr, te, spec(epochs=2), tag="x", stop_after_epochs=1)
    summary, out = run(tmp_path, tr, te, spec(epochs=2, lr=0.02), tag="x")
    assert len(pd.read_csv(out["out_metrics"])) == 2  # started from scratch: both epochs trained


def test_nan_loss_stops_without_model(tmp_path, make_cache):
    tr, te = make_cache("train.h5", n_per_class=4), make_cache("test.h5", n_per_class=2, seed=1)
    with pytest.raises(TrainingError, match=r"(loss|gradient norm) became nan in epoch 0 at batch \d+.*without writing a model"):
        run(tmp_path, tr, te, spec(lr=float("nan"), optimizer="sgd", epochs=2), tag="nan")
    assert not (tmp_path / "nan" / "model.pt").exists()


def test_metrics_helpers():
    y, p = np.array([0, 0, 1, 2, 2, 2]), np.array([0, 1, 1, 2, 2, 0])
    cm = confusion_matrix(y, p, 3)
    assert cm.tolist() == [[1, 1, 0], [0, 1, 0], [1, 0, 2]]
    m = classification_metrics(y, p, 3)
    assert m["accuracy"] == pytest.approx(4 / 6) and m["chance_accuracy"] == pytest.approx(0.5)
    assert m["per_class_accuracy"] == pytest.approx([0.5, 1.0, 2 / 3])


def _epoch_lines(caplog):
    return [r.getMessage() for r in caplog.records if r.name == "evsnn.train" and r.getMessage().startswith("epoch ")
            and ": train loss" in r.getMessage()]


def test_rerun_of_a_finished_training_starts_from_scratch(tmp_path, make_cache, caplog):
    """snakemake --forcerun train: a finished training is retrained, not "resumed" after its last epoch."""
    import logging

    caplog.set_level(logging.INFO, logger="evsnn.train")
    tr, te = make_cache("train.h5"), make_cache("test.h5", n_per_class=4, seed=1)
    first, out = run(tmp_path, tr, te, spec(epochs=3), tag="x")
    assert len(_epoch_lines(caplog)) == 3
    assert load_checkpoint(out["checkpoint"])["finished"] is True
    caplog.clear()
    second, _ = run(tmp_path, tr, te, spec(epochs=3), tag="x")
    messages = [r.getMessage() for r in caplog.records]
    assert not any("resuming from" in m for m in messages), messages
    assert any("finished training; starting from scratch" in m for m in messages)
    assert len(_epoch_lines(caplog)) == 3  # every epoch trained again
    df = pd.read_csv(out["out_metrics"])
    assert list(df["epoch"]) == [0, 1, 2] and (df["seconds"] > 0).all()
    for key in ("test_acc_at_best_val", "best_epoch", "val_acc_best"):
        assert first[key] == second[key]  # same seed, same result


def test_checkpoint_of_an_unfinished_attempt_is_still_resumed(tmp_path, make_cache, caplog):
    import logging

    caplog.set_level(logging.INFO, logger="evsnn.train")
    tr, te = make_cache("train.h5"), make_cache("test.h5", n_per_class=4, seed=1)
    run(tmp_path, tr, te, spec(epochs=3), tag="x", stop_after_epochs=1)
    ck = load_checkpoint(tmp_path / "x" / "checkpoint.pt")
    assert ck["epoch"] == 0 and not ck.get("finished")
    caplog.clear()
    run(tmp_path, tr, te, spec(epochs=3), tag="x")
    assert any("resuming from" in r.getMessage() and "after epoch 0" in r.getMessage() for r in caplog.records)
    assert len(_epoch_lines(caplog)) == 2


SIGTERM_SCRIPT = '''
import logging, os, sys, time
from pathlib import Path

from evsnn.train import RunSpec, fit
from evsnn.util import setup_logging

spec_kw, train_cache, test_cache, out, trigger = {args}
signal_dir = Path(out)
setup_logging(str(signal_dir / "train.log"))
triggered = []


class Watch(logging.Handler):
    """When fit logs that the trigger batch started: write started.flag, then hold the batch until the test has sent
    SIGTERM, so that the stop lands at a known batch boundary however slow this machine is."""

    def emit(self, record):
        if not triggered and record.getMessage() == trigger:
            triggered.append(True)
            (signal_dir / "started.flag").write_text("started")
            t0 = time.time()
            while not (signal_dir / "sent.flag").exists() and time.time() - t0 < 120:
                time.sleep(0.01)


logging.getLogger("evsnn.train").setLevel(logging.DEBUG)
logging.getLogger("evsnn.train").addHandler(Watch())
fit(RunSpec(**spec_kw), train_cache, test_cache, out + "/model.pt", out + "/metrics.csv", out + "/summary.json",
    out + "/checkpoint.pt")
'''


@pytest.mark.parametrize("num_workers", [0, 1])
def test_sigterm_checkpoints_at_batch_boundary_and_resume_matches(tmp_path, make_cache, caplog, num_workers):
    """SLURM preemption: SIGTERM mid-epoch -> checkpoint at the next batch boundary, non-zero exit; the requeued
    run resumes inside the epoch and ends with the metrics of an uninterrupted run."""
    import logging
    import os
    import signal
    import subprocess
    import sys
    import time
    from pathlib import Path

    tr, te = make_cache("train.h5"), make_cache("test.h5", n_per_class=4, seed=1)
    sp = spec(epochs=3, batch_size=6, amp=False, num_workers=num_workers)
    full, out_full = run(tmp_path, tr, te, sp, tag="full")
    d = tmp_path / "pre"
    d.mkdir()
    args = ({"task": sp.task, "arch": sp.arch, "net": sp.net, "train": sp.train, "code": sp.code}, str(tr), str(te),
            str(d), "epoch 1 train: batch 2 started")
    script = tmp_path / "train_script.py"
    script.write_text(SIGTERM_SCRIPT.replace("{args}", repr(args)))
    src = str(Path(__file__).resolve().parents[1] / "src")
    env = dict(os.environ, PYTHONPATH=src + os.pathsep + os.environ.get("PYTHONPATH", ""))
    proc = subprocess.Popen([sys.executable, str(script)], env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            text=True, start_new_session=True)
    try:
        t0 = time.time()
        while not (d / "started.flag").exists():
            assert proc.poll() is None, proc.communicate()
            assert time.time() - t0 < 300, "the trigger batch never started"
            time.sleep(0.02)
        os.killpg(proc.pid, signal.SIGTERM)  # as SLURM does: every process of the job, loader workers too
        (d / "sent.flag").write_text("sent")
        _, err = proc.communicate(timeout=300)
    finally:
        if proc.poll() is None:
            proc.kill()
    assert proc.returncode != 0
    lines = [line for line in err.splitlines() if line.startswith("evsnn error:")]  # (torch may warn at import)
    assert len(lines) == 1 and lines[0].startswith("evsnn error: training stopped by signal 15 in epoch 1"), err
    assert "Traceback" not in err and "Traceback" not in (d / "train.log").read_text()
    assert not (d / "model.pt").exists()
    ck = load_checkpoint(d / "checkpoint.pt")
    # batch 2 had started when the signal came: the stop comes at its end, 3 of the epoch's 7 batches done
    assert ck["epoch"] == 0 and ck["partial"]["epoch"] == 1 and ck["partial"]["batch"] == 3
    assert len(ck["history"]) == 1 and not ck.get("finished")
    # the requeued job
    caplog.set_level(logging.INFO, logger="evsnn.train")
    resumed = fit(sp, str(tr), str(te), str(d / "model.pt"), str(d / "metrics.csv"), str(d / "summary.json"),
                  str(d / "checkpoint.pt"))
    assert any("resuming from" in r.getMessage() and "in epoch 1 after batch 3" in r.getMessage()
               for r in caplog.records)
    a, b = pd.read_csv(out_full["out_metrics"]), pd.read_csv(d / "metrics.csv")
    cols = ["epoch", "lr", "train_loss", "train_acc", "val_loss", "val_acc", "test_loss", "test_acc"]
    np.testing.assert_allclose(a[cols].to_numpy(), b[cols].to_numpy(), rtol=1e-6)
    for key in ("test_acc_at_best_val", "test_acc_max", "best_epoch", "val_acc_best"):
        assert full[key] == resumed[key]
    wa, wb = load_model(out_full["out_model"])[1], load_model(d / "model.pt")[1]
    for k in wa["state_dict"]:
        torch.testing.assert_close(wa["state_dict"][k], wb["state_dict"][k], rtol=1e-6, atol=1e-7)


# ------------------------------------------------------------------------------------------- issue 13: as published
def test_plif_paper_size_without_fc_bias():
    """The paper code's FC layers have no bias: 1,698,311 parameters (PLIF repository codes/models.py:50-59)."""
    m = build_model("plif_net", {"bias": False}, in_shape=(2, 128, 128), n_classes=11)
    assert count_parameters(m) == 1_698_311
    assert count_parameters(build_model("plif_net", {}, in_shape=(2, 128, 128), n_classes=11)) == 1_698_311 + 622


def test_per_class_tail_split_is_the_paper_split():
    from evsnn.data import per_class_tail_split

    labels = np.array([0] * 20 + [1] * 7 + [2] * 13)
    rng = np.random.default_rng(0)
    labels = labels[rng.permutation(len(labels))]  # interleaved, as a training set's order may be
    tr, va = per_class_tail_split(labels, 0.15)
    for c, n_train in ((0, 17), (1, 6), (2, 12)):  # ceil(0.85 n): 17/3, 6/1, 12/1
        idx = np.flatnonzero(labels == c)
        assert idx[:n_train].tolist() == [i for i in tr if labels[i] == c]
        assert idx[n_train:].tolist() == [i for i in va if labels[i] == c]
    assert sorted(np.concatenate([tr, va]).tolist()) == list(range(len(labels)))
    with pytest.raises(ValueError, match="leaves class 1 .6 training samples. without a validation sample"):
        per_class_tail_split(np.array([0] * 20 + [1] * 6), 0.15)


def test_fit_with_per_class_tail_split_and_ties_kept_last(tmp_path, make_cache):
    tr, te = make_cache("train.h5", n_per_class=8), make_cache("test.h5", n_per_class=2, seed=1)
    # a learning rate too small to change any prediction: every epoch ties on validation accuracy
    first, _ = run(tmp_path, tr, te, spec(epochs=3, lr=1e-12, val_split="per_class_tail", val_fraction=0.15), "f")
    last, _ = run(tmp_path, tr, te, spec(epochs=3, lr=1e-12, val_split="per_class_tail", val_fraction=0.15,
                                         best_on_tie="last"), "l")
    assert first["n_val"] == last["n_val"] == 4 and first["n_train"] == 28  # 8 per class: 7 train, 1 val
    assert first["val_split"] == "per_class_tail"
    assert first["best_epoch"] == 0 and last["best_epoch"] == 2
    from evsnn.errors import ConfigError

    with pytest.raises(ConfigError, match="without a validation sample"):
        run(tmp_path, tr, te, spec(epochs=1, val_split="per_class_tail", val_fraction=0.05), "e")


def test_rmsprop_is_keras_224s_rule():
    from evsnn.train import make_optimizer

    torch.manual_seed(0)
    p = torch.nn.Parameter(torch.randn(5))
    ref = p.detach().clone().double()
    a = torch.zeros(5, dtype=torch.float64)
    opt = make_optimizer([p], {"optimizer": "rmsprop", "lr": 1e-2, "weight_decay": 0.0})  # rho, eps: Keras defaults
    for step in range(4):
        g = torch.randn(5)
        p.grad = g.clone()
        opt.step()
        a = 0.9 * a + 0.1 * g.double() ** 2              # Keras 2.2.4 optimizers.RMSprop.get_updates
        ref = ref - 1e-2 * g.double() / (a.sqrt() + 1e-7)
    np.testing.assert_allclose(p.detach().double().numpy(), ref.numpy(), rtol=1e-5, atol=1e-7)
    assert opt.param_groups[0]["alpha"] == 0.9 and opt.param_groups[0]["eps"] == 1e-7


def test_init_weights_and_zero_epochs(tmp_path, make_cache):
    """train.init starts from a model.pt; with epochs 0 the model is those weights, evaluated once."""
    from evsnn.errors import ConfigError

    tr, te = make_cache("train.h5", n_per_class=8), make_cache("test.h5", n_per_class=3, seed=1)
    trained, out = run(tmp_path, tr, te, spec(epochs=3), "trained")
    as_is, out0 = run(tmp_path, tr, te, spec(epochs=0, init=out["out_model"]), "as_is")
    a, b = torch.load(out["out_model"], weights_only=True), torch.load(out0["out_model"], weights_only=True)
    assert all(torch.equal(a["state_dict"][k], b["state_dict"][k]) for k in a["state_dict"])
    assert as_is["epochs"] == 0 and as_is["best_epoch"] == 0 and as_is["init"] == out["out_model"]
    metrics = evaluate_classifier(out0["out_model"], str(te), str(tmp_path / "m.json"), str(tmp_path / "p.csv"))
    assert metrics["accuracy"] == pytest.approx(as_is["test_acc_at_best_val"])
    assert metrics["accuracy"] == pytest.approx(trained["test_acc_at_best_val"])
    df = pd.read_csv(out0["out_metrics"])
    assert len(df) == 1 and np.isnan(df["train_loss"].iloc[0])
    with pytest.raises(ConfigError, match="does not exist"):
        run(tmp_path, tr, te, spec(epochs=0, init=str(tmp_path / "none.pt")), "missing")
    with pytest.raises(ConfigError, match="does not fit this model's net settings"):
        run(tmp_path, tr, te, RunSpec(task="gesture", arch="plif_net", net={**NET, "fc_hidden": 16},
                                      train={**spec().train, "epochs": 0, "init": out["out_model"]}), "other")


def test_official_dhp19_weights_as_a_model_entry(tmp_path):
    """A fake DHP_CNN.model -> `pose import-dhp19-cnn` -> train.init with epochs 0: the model is the imported CNN."""
    from evsnn.data import FrameCacheWriter
    from evsnn.tasks.pose.keras_import import import_dhp19_cnn
    from test_pose_models import random_kernels, write_keras_file

    src = write_keras_file(tmp_path / "DHP_CNN.model", random_kernels(seed=4))
    import_dhp19_cnn(src, tmp_path / "dhp19_cnn_official.pt")
    rng = np.random.default_rng(0)
    for split in ("train", "test"):
        w = FrameCacheWriter(tmp_path / f"{split}.h5", (1, 1, 12, 16), {"T": 1, "n_classes": 13, "downsample": 1},
                             dtype=np.uint8)
        for i in range(4):
            frame = (rng.random((1, 1, 12, 16)) < 0.3) * rng.integers(1, 255, (1, 1, 12, 16))
            w.add(frame.astype(np.uint8), rng.uniform(1, 11, (2, 13)).astype(np.float32), f"rec{i % 2}", (i, i + 1))
        w.close()
    train = {**spec().train, "epochs": 0, "init": str(tmp_path / "dhp19_cnn_official.pt"), "loss": "mse",
             "heatmap_sigma": 4.0, "optimizer": "rmsprop", "lr": 1e-5, "val_fraction": 0.5}
    sp = RunSpec(task="pose", arch="dhp19_cnn", net={}, train=train, code="test")
    summary, out = run(tmp_path, tmp_path / "train.h5", tmp_path / "test.h5", sp, "official")
    assert summary["epochs"] == 0 and summary["parameters"] == 218_592
    model, blob = load_model(out["out_model"])
    ref, _ = load_model(tmp_path / "dhp19_cnn_official.pt")
    assert all(torch.equal(v, ref.state_dict()[k]) for k, v in model.state_dict().items())
