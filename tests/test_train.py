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
