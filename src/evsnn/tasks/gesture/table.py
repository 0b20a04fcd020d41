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
    own = _own_data(runs)
    for name, r in runs.items():
        summary = json.loads(open(r["summary"]).read())
        metrics = json.loads(open(r["metrics"]).read())
        cfg = r["config"]
        frames = summary.get("frames", {})
        rows.append({
            "model": name,
            **({"dataset": frames.get("dataset")} if own else {}),
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


def _kinds(runs: dict[str, dict]) -> dict[str, str]:
    """dataset -> kind of the frames each run trained on."""
    out = {}
    for r in runs.values():
        frames = json.loads(open(r["summary"]).read()).get("frames", {})
        out[str(frames.get("dataset"))] = str(frames.get("kind", "dvsgesture"))
    return out


def _own_data(runs: dict[str, dict]) -> bool:
    """Whether some run is on a lab's own recordings (kind ``recordings``) rather than DVS128 Gesture."""
    return any(k != "dvsgesture" for k in _kinds(runs).values())


def table(runs: dict[str, dict]) -> TableSpec:
    kinds = _kinds(runs)
    own = sorted(d for d, k in kinds.items() if k != "dvsgesture")
    if own:  # a lab's own recordings: named as such, without DVS128 Gesture's published numbers beside them
        what = ", ".join(own) + ("" if len(own) == len(kinds) else " and DVS128 Gesture")
        title = f"Event recordings ({what}): test accuracy (%)"
        return TableSpec(gesture_table(runs), title, [
            "dataset: the recordings dataset of the config the run trained and was tested on (labels CSV)",
            "test_acc_val_selected: test accuracy of the epoch with the best validation accuracy",
            "test_acc_max: maximum test accuracy over all epochs",
            "chance: accuracy of always answering the most frequent test class",
            *COST_NOTES,
        ], energy_col="energy_mJ_fp32", metric_col="test_acc_eval", ylabel="test accuracy (%)",
            energy_title=f"Event recordings ({what}): accuracy against energy per inference",
            stat_cols=("test_acc_val_selected", "test_acc_max", "test_acc_eval"),
            headline=(("test_acc_val_selected", "test accuracy (%), val-selected epoch"),
                      ("test_acc_max", "test accuracy (%), best epoch")), published=False)
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
