"""A corrupt checkpoint is discarded, not fatal: training starts from scratch and gives the fresh run's result
(src/evsnn/train.py, ``fit``: "ignoring unreadable checkpoint")."""
import logging

import numpy as np
import pandas as pd
import pytest

from evsnn.train import RunSpec, fit, load_checkpoint

NET = {"channels": 4, "n_conv": 2, "neuron": "plif", "fc_hidden": 16, "dropout": 0.0, "voters": 2}


def _spec():
    cfg = {"epochs": 2, "batch_size": 8, "optimizer": "adam", "lr": 0.01, "momentum": 0.9, "weight_decay": 0.0,
           "scheduler": "none", "T_max": None, "step_size": 30, "gamma": 0.1, "loss": "mse", "val_fraction": 0.2,
           "seed": 5, "device": "cpu", "amp": False, "num_workers": 0, "threads": 1}
    return RunSpec(task="gesture", arch="plif_net", net=dict(NET), train=cfg, code="test")


def _run(d, tr, te, **kw):
    d.mkdir(exist_ok=True)
    out = dict(out_model=str(d / "model.pt"), out_metrics=str(d / "metrics.csv"), out_summary=str(d / "summary.json"),
               checkpoint=str(d / "checkpoint.pt"))
    return fit(_spec(), str(tr), str(te), **out, **kw), out


@pytest.mark.parametrize("damage", ["truncated", "garbage", "empty"])
def test_corrupt_checkpoint_is_discarded_and_training_starts_fresh(tmp_path, make_cache, caplog, damage):
    tr, te = make_cache("train.h5", n_per_class=6), make_cache("test.h5", n_per_class=3, seed=1)
    fresh, out_fresh = _run(tmp_path / "fresh", tr, te)
    # a run killed after its first epoch leaves a checkpoint; then the file is damaged
    part, out = _run(tmp_path / "hurt", tr, te, stop_after_epochs=1)
    ckpt = tmp_path / "hurt" / "checkpoint.pt"
    assert part["stopped_early"] and load_checkpoint(ckpt)["epoch"] == 0
    data = ckpt.read_bytes()
    ckpt.write_bytes({"truncated": data[: len(data) // 2], "garbage": b"\x00not a torch file" * 64,
                      "empty": b""}[damage])
    with pytest.raises(Exception):
        load_checkpoint(ckpt)
    with caplog.at_level(logging.WARNING, logger="evsnn"):
        resumed, _ = _run(tmp_path / "hurt", tr, te)
    assert any("ignoring unreadable checkpoint" in r.getMessage() and str(ckpt) in r.getMessage()
               for r in caplog.records), [r.getMessage() for r in caplog.records]
    # both epochs trained again, from scratch: the same curves and result as the fresh run
    a, b = pd.read_csv(out_fresh["out_metrics"]), pd.read_csv(out["out_metrics"])
    assert list(b["epoch"]) == [0, 1]
    cols = ["train_loss", "val_acc", "test_acc"]
    np.testing.assert_allclose(a[cols].to_numpy(), b[cols].to_numpy(), rtol=1e-6)
    assert resumed["best_epoch"] == fresh["best_epoch"] and not resumed.get("stopped_early")
