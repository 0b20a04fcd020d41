"""Results tables aggregated over all configured runs (CSV + Markdown + HTML for the Snakemake report)."""
from __future__ import annotations

import html
import json

import pandas as pd

from evsnn.report import html_table, write_html
from evsnn.util import atomic_path


def gesture_table(runs: dict[str, dict]) -> pd.DataFrame:
    """``runs``: model name -> {"summary": path, "metrics": path, "config": model config dict}."""
    rows = []
    for name, r in runs.items():
        summary = json.loads(open(r["summary"]).read())
        metrics = json.loads(open(r["metrics"]).read())
        cfg = r["config"]
        frames = summary.get("frames", {})
        rows.append({
            "model": name,
            "arch": summary["arch"],
            "neuron": cfg.get("net", {}).get("neuron", "plif"),
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
        })
    return pd.DataFrame(rows)


def write_table(df: pd.DataFrame, csv_path: str, md_path: str, title: str, notes: list[str] | None = None) -> None:
    with atomic_path(csv_path) as tmp:
        df.to_csv(tmp, index=False)
    lines = [f"# {title}", ""]
    cols = list(df.columns)
    lines.append("| " + " | ".join(cols) + " |")
    lines.append("|" + "|".join("---" for _ in cols) + "|")
    for _, row in df.iterrows():
        lines.append("| " + " | ".join(str(row[c]) for c in cols) + " |")
    if notes:
        lines += [""] + [f"- {n}" for n in notes]
    with atomic_path(md_path) as tmp:
        tmp.write_text("\n".join(lines) + "\n")


def write_html_table(df: pd.DataFrame, html_path: str, title: str, notes: list[str] | None = None) -> None:
    """The table as a standalone HTML page: `snakemake --report` renders HTML results, not CSV."""
    rows = [[v.item() if hasattr(v, "item") else v for v in row] for row in df.itertuples(index=False)]
    body = html_table(list(df.columns), rows)
    if notes:
        body += '<ul class="notes">' + "".join(f"<li>{html.escape(n)}</li>" for n in notes) + "</ul>"
    write_html(html_path, title, body)


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
        rows.append(row)
    return pd.DataFrame(rows)
