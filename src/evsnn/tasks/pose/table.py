"""The DHP19 pose results table: one row per configured run, with each run's mean-pose baseline."""
from __future__ import annotations

import json

import pandas as pd

from evsnn.tables import COST_NOTES, cost_lava_columns
from evsnn.tasks import TableSpec


def pose_table(runs: dict[str, dict]) -> pd.DataFrame:
    """DHP19 pose runs side by side: 2D MPJPE per camera, 3D MPJPE, and the mean-pose baseline of each run."""
    rows = []
    for name, r in runs.items():
        summary = json.loads(open(r["summary"]).read())
        m = json.loads(open(r["metrics"]).read())
        base = m["baseline_mean_pose"]
        row = {"model": name, "arch": summary["arch"], "parameters": summary["parameters"],
               "epochs": summary["epochs"], "input": "x".join(map(str, summary["in_shape"]))}
        for cam, v in sorted(m["mpjpe_2d"].items()):
            row[f"mpjpe_2d_{cam}"] = round(v, 2)
        row["mpjpe_3d_mm"] = round(m["mpjpe_3d"], 1)
        row["baseline_2d_mean"] = round(base["mpjpe_2d_mean"], 2)
        row["baseline_3d_mm"] = round(base["mpjpe_3d"], 1)
        row["n_test"] = m["n_samples"]
        row["train_minutes"] = round(summary["train_seconds"] / 60, 2)
        row.update(cost_lava_columns(r))
        rows.append(row)
    return pd.DataFrame(rows)


def table(runs: dict[str, dict]) -> TableSpec:
    notes = [
        "mpjpe_2d_camN: 2D MPJPE in pixels of the 260x344 CNN input, test split; mpjpe_3d: 3D MPJPE (mm) by "
        "triangulating the front cameras 2 and 3",
        "baseline columns: the constant mean pose of the training set, scored like the model",
        *COST_NOTES,
    ]
    return TableSpec(pose_table(runs), "DHP19 pose: 2D (px) and 3D (mm) joint errors", notes,
                     energy_col="energy_mJ_fp32", metric_col="mpjpe_3d_mm", ylabel="3D MPJPE (mm)",
                     lower_is_better=True, energy_title="DHP19 pose: 3D error against energy per inference",
                     stat_cols=("mpjpe_2d_cam2", "mpjpe_2d_cam3", "mpjpe_3d_mm"),
                     headline=(("mpjpe_3d_mm", "3D MPJPE (mm)"), ("mpjpe_2d_cam2", "2D MPJPE cam 2 (px)"),
                               ("mpjpe_2d_cam3", "2D MPJPE cam 3 (px)")))
