"""The MVSEC depth results table: | model | type | modality | mean depth error (cm) | energy (mJ) | ... ."""
from __future__ import annotations

import json

import pandas as pd

from evsnn.tables import COST_NOTES, cost_lava_columns
from evsnn.tasks import TableSpec

#: model type of each depth architecture (the Depth-SNN / hybrid papers' SNN / HNN / ANN)
DEPTH_TYPES = {"depth_snn": "SNN", "depth_hybrid": "HNN", "depth_ann": "ANN", "stereospike": "SNN",
               "depthsnn_hnn": "HNN", "stereospike_ann": "ANN"}


def depth_table(runs: dict[str, dict]) -> pd.DataFrame:
    """Depth runs side by side: | model | type | modality | mean depth error (cm) | energy (mJ) | ... ."""
    rows = []
    for name, r in runs.items():
        summary = json.loads(open(r["summary"]).read())
        m = json.loads(open(r["metrics"]).read())
        cost = cost_lava_columns(r)
        row = {"model": name, "type": DEPTH_TYPES.get(summary["arch"], summary["arch"]),
               "modality": m.get("modality", "binocular"), "split": int(summary.get("frames", {}).get("split", 1)),
               "mean_depth_error_cm": round(m["mde_cm"], 1),
               "energy_mJ": cost.get("energy_mJ_fp32")}
        for k in sorted(m):
            if k.startswith("mde") and k.endswith("_cm") and k != "mde_cm":
                row[k] = round(m[k], 1)
        row.update({"baseline_constant_cm": round(m["baseline_constant_depth"]["mde_cm"], 1),
                    "arch": summary["arch"], "parameters": summary["parameters"], "epochs": summary["epochs"],
                    "input": "x".join(map(str, summary["in_shape"])), "n_test": m["n_samples"],
                    "train_minutes": round(summary["train_seconds"] / 60, 2)})
        row.update({k: v for k, v in cost.items() if k != "energy_mJ_fp32"})
        rows.append(row)
    order = {"SNN": 0, "HNN": 1, "ANN": 2}
    df = pd.DataFrame(rows)
    for col in [c for c in df.columns if c.startswith("mde") and c.endswith("_cm")]:
        if (df[col] == df["mean_depth_error_cm"]).all():  # a cut-off beyond every depth (indoor scenes)
            df = df.drop(columns=col)
    if len(df):
        df = df.sort_values(["split", "modality", "type"], key=lambda s: s.map(order) if s.name == "type" else s,
                            kind="stable").reset_index(drop=True)
    return df


def table(runs: dict[str, dict]) -> TableSpec:
    notes = [
        "type: SNN (spiking encoder-decoder), HNN (hybrid: an ANN pass initialises the SNN), ANN (same skeleton, "
        "ReLU); modality: binocular (both cameras) or monocular (left camera); split: the MVSEC split (1: test "
        "indoor_flying1, 3: test indoor_flying3); published rows carry the split they were measured on",
        "mean_depth_error_cm: mean |prediction - ground truth| over the valid (lidar) pixels of each test depth map, "
        "averaged over maps; mdeN_cm: the same over pixels closer than N m; baseline_constant_cm: the median "
        "training depth everywhere",
        "energy_mJ: MACs x 4.6 pJ + ACs x 0.9 pJ (Horowitz, ISSCC 2014, 45 nm, 32-bit float), from the trained "
        "model's activity on test samples (the column energy_mJ_fp32 of the other tables)",
        *COST_NOTES[:-1],
    ]
    return TableSpec(depth_table(runs), "MVSEC depth: mean depth error (cm) and energy per inference (mJ)", notes,
                     energy_col="energy_mJ", metric_col="mean_depth_error_cm", ylabel="mean depth error (cm)",
                     lower_is_better=True, group_col="modality",
                     energy_title="MVSEC depth: error against energy per inference")
