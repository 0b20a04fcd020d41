"""The DVS128 Gesture results table: one row per configured run."""
from __future__ import annotations

import json

import pandas as pd

from evsnn.tables import COST_NOTES, cost_lava_columns
from evsnn.tasks import TableSpec

#: the neuron of a gesture architecture when its config does not name one
DEFAULT_NEURON = {"plif_net": "plif", "gesture_sdnn": "sdnn"}


def gesture_table(runs: dict[str, dict]) -> pd.DataFrame:
    """``runs``: model name -> {"summary": path, "metrics": path, "config": model config dict, "cost": path,
    "lava": path or None}."""
    rows = []
    for name, r in runs.items():
        summary = json.loads(open(r["summary"]).read())
        metrics = json.loads(open(r["metrics"]).read())
        cfg = r["config"]
        frames = summary.get("frames", {})
        rows.append({
            "model": name,
            "arch": summary["arch"],
            "neuron": cfg.get("net", {}).get("neuron", DEFAULT_NEURON.get(summary["arch"], "")),
            "T": frames.get("T"),
            "input": "x".join(map(str, summary["in_shape"])),
            "parameters": summary["parameters"],
            "epochs": summary["epochs"],
            "test_acc_val_selected": round(100 * summary["test_acc_at_best_val"], 2),
            "test_acc_max": round(100 * summary["test_acc_max"], 2),
            "test_acc_eval": round(100 * metrics["accuracy"], 2),
            "balanced_acc": round(100 * metrics["balanced_accuracy"], 2),
            "chance": round(100 * metrics["chance_accuracy"], 2),
            "n_test": metrics["n_samples"],
            "train_minutes": round(summary["train_seconds"] / 60, 2),
            **cost_lava_columns(r),
        })
    return pd.DataFrame(rows)


def table(runs: dict[str, dict]) -> TableSpec:
    notes = [
        "test_acc_val_selected: test accuracy of the epoch with the best validation accuracy (PLIF paper accuracy-B)",
        "test_acc_max: maximum test accuracy over all epochs (PLIF paper accuracy-A)",
        *COST_NOTES,
    ]
    return TableSpec(gesture_table(runs), "DVS128 Gesture: test accuracy (%)", notes, energy_col="energy_mJ_fp32",
                     metric_col="test_acc_eval", ylabel="test accuracy (%)",
                     energy_title="DVS128 Gesture: accuracy against energy per inference",
                     stat_cols=("test_acc_val_selected", "test_acc_max", "test_acc_eval"),
                     headline=(("test_acc_val_selected", "test accuracy (%), val-selected epoch"),
                               ("test_acc_max", "test accuracy (%), best epoch")))
