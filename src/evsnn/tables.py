"""Results tables aggregated over all configured runs (CSV + Markdown + HTML for the Snakemake report)."""
from __future__ import annotations

import html
import json
from pathlib import Path

import pandas as pd
import yaml

from evsnn.report import html_table, write_html
from evsnn.util import atomic_path


#: energy columns of the results tables -> the energy model behind each (evsnn.energy.ENERGY_MODELS, data in
#: resources/energy_models.yaml; sources and what each counts in the cost files and the table notes)
TABLE_ENERGY = {"energy_mJ_fp32": "horowitz45_fp32", "energy_mJ_loihi": "loihi",
                "energy_mJ_snn_rate_mops": "hybrid_rate_x_mops"}

#: operation columns of the results tables -> the count in cost.json (evsnn.energy.DEFINITIONS)
TABLE_OPS = {"MACs_M": "macs", "eff_MACs_M": "effective_macs", "ACs_M": "acs", "eff_ACs_M": "effective_acs",
             "nb_dense_M": "nb_dense"}


def _energy_note(col: str, name: str) -> str:
    from evsnn.energy import ENERGY_MODELS

    m = ENERGY_MODELS[name]
    if m["basis"] == "rate_x_dense":
        how = f"{m['op_pj']} pJ x the SNN layers' input firing rate x their dense MACs (empty without SNN layers)"
    else:
        how = f"MACs x {m['mac_pj']} pJ + ACs x {m['ac_pj']} pJ"
        if m.get("neuron_pj") is not None:
            how += f" + neuron updates x {m['neuron_pj']} pJ"
    status = "" if m.get("verified") else " (figures not checked in the source: " + m.get("checked", "") + ")"
    return f"{col}: energy model {name}: {how}; counts {m['counts']}; source: {m['source']}{status}"


#: table notes for the shared columns (the last one is the Lava note)
COST_NOTES = [
    "MACs_M / ACs_M: millions of evsnn's dense multiply-accumulates (layers with dense inputs, padding taps "
    "included) and exact accumulates (spikes, sigma-delta messages) per inference, counted from the trained model's "
    "activity on test samples (rule cost, evsnn.energy); eff_MACs_M / eff_ACs_M / nb_dense_M: the same pass counted "
    "with NeuroBench's definitions (Effective_MACs, Effective_ACs: non-zero input x non-zero weight; Dense: every "
    "product without padding taps); footprint_bytes, params_all (trainable or not), conn_sparsity (zero weights), "
    "act_sparsity (zero activations): NeuroBench's static and activation figures; definitions and sources under "
    "'definitions' in each cost.json",
    *(_energy_note(col, name) for col, name in TABLE_ENERGY.items()),
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
        for col, key in TABLE_OPS.items():
            if c["ops"].get(key) is not None:
                row[col] = float(f"{c['ops'][key] / 1e6:.4g}")
        st = c.get("static", {})
        for col, key, digits in (("footprint_bytes", "footprint_bytes", None), ("params_all", "parameters", None),
                                 ("conn_sparsity", "connection_sparsity", 4)):
            if st.get(key) is not None:
                row[col] = round(st[key], digits) if digits else st[key]
        if c["ops"].get("activation_sparsity") is not None:
            row["act_sparsity"] = round(c["ops"]["activation_sparsity"], 4)
        for col, name in TABLE_ENERGY.items():
            e = c["energy"].get(name)
            if e is None or (e.get("basis") == "rate_x_dense" and not e.get("ops")):
                continue  # an older cost file, or no event-driven layer for the SNN-only model
            row[col] = float(f"{e['energy_mJ']:.4g}")
    if r.get("lava"):
        lv = json.loads(open(r["lava"]).read())
        row[f"lava_{lv['metric']}"] = round(lv["lava"], 3)
        row[f"torch_{lv['metric']}_same_samples"] = round(lv["pytorch"], 3)
        row["lava_parity"] = lv["parity"]["summary"]
        row["lava_s_per_sample"] = round(lv["seconds_per_sample"], 2)
    return row


def _missing(v) -> bool:
    return v is None or v is pd.NA or (isinstance(v, float) and v != v)


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


#: the keys of one published number (a task package's published.yaml); other keys are table columns (modality ...)
PUBLISHED_KEYS = ("model", "column", "value", "unit", "protocol", "source", "verified")


def load_published(path: str | Path) -> list[dict]:
    """The published numbers of a task (its ``published.yaml``): a list of entries with ``model`` (who published
    it), ``column`` (the results-table column it belongs to), ``value``, ``unit``, ``protocol`` (split / protocol),
    ``source`` (paper table or repository file and commit) and ``verified`` (read in that source)."""
    path = Path(path)
    if not path.is_file():
        return []
    with open(path) as fh:
        entries = yaml.safe_load(fh) or []
    if not isinstance(entries, list):
        raise ValueError(f"{path}: published numbers must be a list of entries")
    for i, e in enumerate(entries):
        missing = [k for k in ("model", "column", "value", "source", "verified") if k not in e]
        if missing:
            raise ValueError(f"{path}: entry {i} ({e.get('model', '?')}) lacks {', '.join(missing)}")
        if not isinstance(e["value"], (int, float)):
            raise ValueError(f"{path}: entry {i} ({e['model']}) has a non-numeric value {e['value']!r}")
    return entries


def published_rows(entries: list[dict], columns) -> pd.DataFrame:
    """Reference rows for a results table: one row per published model (and extra key values, e.g. modality),
    its values under the table's own columns; entries whose column the table lacks are left out."""
    columns = list(columns)
    rows: dict[tuple, dict] = {}
    for e in entries:
        if e["column"] not in columns:
            continue
        extra = {k: v for k, v in e.items() if k not in PUBLISHED_KEYS and k in columns}
        key = (e["model"], tuple(sorted(extra.items())))
        row = rows.setdefault(key, {"model": f"published: {e['model']}", **extra, "source": e["source"],
                                    "verified": bool(e["verified"])})
        row[e["column"]] = e["value"]
        if row["source"] != e["source"] and e["source"] not in row["source"]:
            row["source"] = f"{row['source']}; {e['source']}"
        row["verified"] = row["verified"] and bool(e["verified"])
    return pd.DataFrame(list(rows.values()))


def with_published(df: pd.DataFrame, entries: list[dict]) -> pd.DataFrame:
    """The table with the published reference rows appended (columns ``source`` and ``verified`` added)."""
    ref = published_rows(entries, df.columns)
    if not len(ref):
        return df
    out = pd.concat([df, ref], ignore_index=True, sort=False)
    for col in df.columns:  # integer columns stay integers (the reference rows leave them empty)
        if pd.api.types.is_integer_dtype(df[col]):
            out[col] = out[col].astype("Int64")
    return out[[c for c in df.columns] + [c for c in ("source", "verified") if c not in df.columns]]


def write_task_table(task, params, inputs, outputs) -> pd.DataFrame:
    """Rule ``table``: the task package's table of every configured run of ``task``, the published numbers of its
    ``published.yaml`` as reference rows, and the metric-against-energy figure (CSV, Markdown, HTML, PNG)."""
    from evsnn.plots import plot_metric_vs_energy

    runs = collect_runs(params.models, params.configs, inputs.summaries, inputs.metrics, inputs.costs,
                        params.lava_models, inputs.lava)
    spec = task.call("table", runs)
    entries = load_published(task.path(task.published)) if task.published else []
    df = with_published(spec.df, entries)
    notes = list(spec.notes)
    if len(df) > len(spec.df):
        notes.append("rows 'published: ...': numbers published for the real dataset under the protocol in "
                     f"{task.package}/{task.published} (source and whether it was verified in the last columns); "
                     "ours above them are on the data of this config")
    write_table(df, outputs.csv, outputs.md, spec.title, notes=notes)
    write_html_table(df, outputs.html, spec.title, notes=notes)
    plot_metric_vs_energy(spec.df, spec.energy_col, spec.metric_col, outputs.energy, ylabel=spec.ylabel,
                          lower_is_better=spec.lower_is_better, title=spec.energy_title or spec.title,
                          **({"group_col": spec.group_col} if spec.group_col else {}))
    return df
