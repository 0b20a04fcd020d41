"""Results tables aggregated over all configured runs (CSV + Markdown + HTML for the Snakemake report)."""
from __future__ import annotations

import html
import json

import pandas as pd

from evsnn.report import html_table, write_html
from evsnn.util import atomic_path


#: energy tables shown in the results tables (evsnn.energy.ENERGY_TABLES; sources in the cost files)
TABLE_ENERGY = {"energy_mJ_fp32": "horowitz45_fp32", "energy_mJ_loihi": "loihi"}


#: table notes for the shared columns
COST_NOTES = [
    "MACs_M / ACs_M: millions of multiply-accumulates (dense inputs) and accumulates (spikes, sigma-delta messages) "
    "per inference, counted from the trained model's activity on test samples (rule cost, evsnn.energy)",
    "energy_mJ_fp32: MACs x 4.6 pJ + ACs x 0.9 pJ (Horowitz, ISSCC 2014, 45 nm, 32-bit float), as in the "
    "Depth-SNN / hybrid SNN papers; energy_mJ_loihi: 23.6 pJ per synaptic op + 52 pJ per neuron update (Davies et "
    "al., IEEE Micro 2018, Table 1)",
    "lava_*: the netx export run in Lava (Loihi2SimCfg fixed_pt, CPU) on the first test samples, beside the PyTorch "
    "model on the same samples; lava_parity: layers bit-exact with slayer (rule lava_run)",
]


def collect_runs(models, configs: dict, summaries, metrics, costs, lava_models=(), lava=()) -> dict[str, dict]:
    """The ``runs`` mapping of the table functions from a table rule's params and inputs (same model order)."""
    lava_of = dict(zip(lava_models, lava))
    return {m: {"summary": s, "metrics": e, "config": configs[m], "cost": c, "lava": lava_of.get(m)}
            for m, s, e, c in zip(models, summaries, metrics, costs)}


def cost_lava_columns(r: dict) -> dict:
    """The columns every task's table shares: operations and energy per inference (``r["cost"]``, the output of
    rule ``cost``) and, for lava-dl models, the Lava run (``r["lava"]``, the metrics of rule ``lava_run``)."""
    row = {}
    if r.get("cost"):
        c = json.loads(open(r["cost"]).read())
        row["MACs_M"] = round(c["ops"]["macs"] / 1e6, 3)
        row["ACs_M"] = round(c["ops"]["acs"] / 1e6, 3)
        for col, table in TABLE_ENERGY.items():
            row[col] = float(f"{c['energy'][table]['energy_mJ']:.4g}")
    if r.get("lava"):
        lv = json.loads(open(r["lava"]).read())
        row[f"lava_{lv['metric']}"] = round(lv["lava"], 3)
        row[f"torch_{lv['metric']}_same_samples"] = round(lv["pytorch"], 3)
        row["lava_parity"] = lv["parity"]["summary"]
        row["lava_s_per_sample"] = round(lv["seconds_per_sample"], 2)
    return row


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


def _missing(v) -> bool:
    return v is None or (isinstance(v, float) and v != v)


def md_cell(value) -> str:
    """A Markdown table cell: a '|' would end the cell and a line break the row, so they are escaped."""
    text = str(value).replace("\\", "\\\\").replace("|", "\\|")
    return "<br>".join(text.replace("\r\n", "\n").replace("\r", "\n").split("\n"))


def write_table(df: pd.DataFrame, csv_path: str, md_path: str, title: str, notes: list[str] | None = None) -> None:
    with atomic_path(csv_path) as tmp:
        df.to_csv(tmp, index=False)
    lines = [f"# {md_cell(title)}", ""]
    cols = list(df.columns)
    lines.append("| " + " | ".join(md_cell(c) for c in cols) + " |")
    lines.append("|" + "|".join("---" for _ in cols) + "|")
    for _, row in df.iterrows():  # a column that does not apply to a model (pd.isna) stays empty
        lines.append("| " + " | ".join("" if _missing(row[c]) else md_cell(row[c]) for c in cols) + " |")
    if notes:
        lines += [""] + [f"- {n}" for n in notes]
    with atomic_path(md_path) as tmp:
        tmp.write_text("\n".join(lines) + "\n")


def write_html_table(df: pd.DataFrame, html_path: str, title: str, notes: list[str] | None = None) -> None:
    """The table as a standalone HTML page: `snakemake --report` renders HTML results, not CSV."""
    rows = [["" if _missing(v) else (v.item() if hasattr(v, "item") else v) for v in row]
            for row in df.itertuples(index=False)]
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
        row.update(cost_lava_columns(r))
        rows.append(row)
    return pd.DataFrame(rows)


#: model type of each depth architecture (the Depth-SNN / hybrid papers' SNN / HNN / ANN)
DEPTH_TYPES = {"depth_snn": "SNN", "depth_hybrid": "HNN", "depth_ann": "ANN"}


def depth_table(runs: dict[str, dict]) -> pd.DataFrame:
    """Depth runs side by side: | model | type | modality | mean depth error (cm) | energy (mJ) | ... ."""
    rows = []
    for name, r in runs.items():
        summary = json.loads(open(r["summary"]).read())
        m = json.loads(open(r["metrics"]).read())
        cost = cost_lava_columns(r)
        row = {"model": name, "type": DEPTH_TYPES.get(summary["arch"], summary["arch"]),
               "modality": m.get("modality", "binocular"), "mean_depth_error_cm": round(m["mde_cm"], 1),
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
        df = df.sort_values(["modality", "type"], key=lambda s: s.map(order) if s.name == "type" else s,
                            kind="stable").reset_index(drop=True)
    return df
