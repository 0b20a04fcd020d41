"""Adapter, evaluation, figure and table of the toy task (reusing evsnn's shared pieces)."""
from __future__ import annotations

import json

import numpy as np
import pandas as pd
import torch

from evsnn.data import FrameCacheDataset, time_major
from evsnn.tables import cost_lava_columns
from evsnn.tasks import TableSpec
from evsnn.tasks.gesture.metrics import ClassificationTask
from evsnn.train import load_model
from evsnn.util import write_json


def adapter(train_cfg, train_ds, test_ds):
    return ClassificationTask(n_classes=2, loss_name=train_cfg.get("loss") or "cross_entropy")


def evaluate(job) -> dict:
    model, _ = load_model(job.model)
    ds = FrameCacheDataset(job.test)
    with torch.no_grad():
        x = torch.stack([ds[i][0] for i in range(len(ds))])
        scores = torch.softmax(model(time_major(x)), 1).numpy()
    y = np.asarray([int(ds[i][1]) for i in range(len(ds))])
    metrics = {"accuracy": float((scores.argmax(1) == y).mean()), "n_samples": int(len(y)),
               "true_class_scores": scores[np.arange(len(y)), y].tolist()}
    np.savez(job.outputs["scores"], scores=scores, labels=y)
    write_json(job.out_metrics, metrics)
    return metrics


def score_histogram(metrics: dict, path: str, title: str = "") -> None:
    from evsnn.plots import _save, plt

    fig, ax = plt.subplots()
    ax.hist(metrics["true_class_scores"], bins=10, range=(0, 1))
    ax.set_title(title)
    _save(fig, path)


def table(runs) -> TableSpec:
    rows = []
    for name, r in runs.items():
        m = json.loads(open(r["metrics"]).read())
        rows.append({"model": name, "accuracy": round(100 * m["accuracy"], 1), **cost_lava_columns(r)})
    return TableSpec(pd.DataFrame(rows), "Toy task", ["accuracy: test accuracy (%)"], energy_col="energy_mJ_fp32",
                     metric_col="accuracy", ylabel="accuracy (%)")
