"""Results tables aggregated over all configured runs (CSV + Markdown + HTML for the Snakemake report)."""
from __future__ import annotations

import html
import json
from pathlib import Path

import pandas as pd

from evsnn.published import PUBLISHED_KEYS, load_published, published_models  # noqa: F401

from evsnn.report import html_table, write_html
from evsnn.util import atomic_path


#: energy columns of the results tables -> the energy model behind each (evsnn.energy.ENERGY_MODELS, data in
#: resources/energy_models.yaml; sources and what each counts in the cost files and the table notes)
TABLE_ENERGY = {"energy_mJ_fp32": "horowitz45_fp32", "energy_mJ_loihi": "loihi",
                "energy_mJ_snn_rate_mops": "hybrid_rate_x_mops"}

#: operation columns of the results tables -> the count in cost.json (evsnn.energy.DEFINITIONS)
TABLE_OPS = {"MACs_M": "macs", "eff_MACs_M": "effective_macs", "ACs_M": "acs", "eff_ACs_M": "effective_acs",
             "nb_dense_M": "nb_dense"}


#: short names of the energy models for figure axes and the results summary
ENERGY_LABELS = {"horowitz45_fp32": "fp32 arithmetic, 45 nm (Horowitz 2014)",
                 "horowitz45_int8": "int8 arithmetic, 45 nm (Horowitz 2014)",
                 "loihi": "Loihi (Davies et al. 2018)",
                 "hybrid_rate_x_mops": "0.38 pJ x rate x MOPs (Aydin et al. 2024)"}


def energy_model_of(spec) -> str:
    """The energy model behind a table's energy column (TableSpec.energy_model, else TABLE_ENERGY, else fp32)."""
    return spec.energy_model or TABLE_ENERGY.get(spec.energy_col, "horowitz45_fp32")


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
    "nir_export: whether the spiking model was exported to NIR (rule export_nir; else the layer NIR cannot express, "
    "rule nir_check); nir_<framework>_<metric>: the NIR file imported and run by that framework on the Lava stage's "
    "test samples, beside the PyTorch model on the same samples (nir_torch_<metric>); nir_<framework>_parity: neuron "
    "layers whose spikes are identical to the PyTorch model's, else the fraction of spikes that differ and the "
    "largest difference (rule nir_run); for lava-dl CUBA models the reference is slayer's fixed-point run and "
    "'unrounded CUBA' compares with the same update in floating point (what NIR expresses)",
]


def collect_runs(models, configs: dict, summaries, metrics, costs, lava_models=(), lava=(), nir_models=(),
                 nir=()) -> dict[str, dict]:
    """The ``runs`` mapping of the table functions from a table rule's params and inputs (same model order)."""
    lava_of = dict(zip(lava_models, lava))
    nir_of = dict(zip(nir_models, nir))
    return {m: {"summary": s, "metrics": e, "config": configs[m], "cost": c, "lava": lava_of.get(m),
                "nir": nir_of.get(m)} for m, s, e, c in zip(models, summaries, metrics, costs)}


def nir_parity_cell(parity: dict) -> str:
    """'5/5 layers identical', or that plus the fraction of spikes that differ and the largest difference."""
    if parity["identical"]:
        return parity["summary"]
    return (f"{parity['summary']}; {100 * parity['fraction_differ']:.3g} % differ, max |diff| "
            f"{parity['max_abs_diff']:.3g}")


def nir_columns(path) -> dict:
    """The NIR columns of a model from rule nir_run's or nir_check's metrics.json."""
    nr = json.loads(open(path).read())
    if not nr.get("exportable") or "frameworks" not in nr:
        return {"nir_export": nr.get("reason", "not exported")}
    row = {"nir_export": "ok"}
    metric = nr.get("metric")
    torch_value = None
    for fw, e in nr["frameworks"].items():
        if "error" in e:
            row[f"nir_{fw}_parity"] = f"not run: {e['error']}"
            continue
        row[f"nir_{fw}_{e['metric']}"] = round(e["value"], 3)
        row[f"nir_{fw}_parity"] = nir_parity_cell(e["parity"])
        if "parity_float_reference" in e:  # lava-dl CUBA: the same update without slayer's fixed-point rounding
            row[f"nir_{fw}_parity"] += f" (unrounded CUBA: {e['parity_float_reference']['summary']})"
        torch_value = e["pytorch"]
    if torch_value is not None and metric:
        row[f"nir_torch_{metric}"] = round(torch_value, 3)
    return row


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
    if r.get("nir"):
        row.update(nir_columns(r["nir"]))
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


def _rows(df: pd.DataFrame) -> list[list]:
    return [["" if _missing(v) else (v.item() if hasattr(v, "item") else v) for v in row]
            for row in df.itertuples(index=False)]


def compact_columns(df: pd.DataFrame, spec=None) -> list[str]:
    """The columns of a table's compact view: the task's ``compact`` list, else model, seeds, the headline metrics
    with their spread, energy, parameters, Lava agreement and the published comparison."""
    if spec is not None and spec.compact:
        return [c for c in spec.compact if c in df.columns]
    metrics = [c for c, _ in headline_of(spec)] if spec is not None else []
    keep = ["model", "n_seeds", *([spec.group_col] if spec is not None and spec.group_col else [])]
    for c in metrics:
        keep += [c, f"{c}_std", f"{c}_ci95", f"published_{c}", f"gap_{c}"]
    keep += [spec.energy_col] if spec is not None else []
    keep += ["parameters"] + [c for c in df.columns if c.startswith(("lava_", "torch_")) and c != "lava_s_per_sample"]
    keep += ["source", "verified"]
    return [c for c in dict.fromkeys(keep) if c in df.columns]


def headline_of(spec) -> list[tuple[str, str]]:
    """(column, label) of a task's headline metrics."""
    return list(spec.headline) or [(spec.metric_col, spec.ylabel or spec.metric_col)]


def write_html_table(df: pd.DataFrame, html_path: str, title: str, notes: list[str] | None = None,
                     compact: list[str] | None = None, csv_name: str | None = None) -> None:
    """The table as a standalone HTML page: `snakemake --report` renders HTML results, not CSV. With ``compact``
    (fewer columns than the table has), the page shows those columns and keeps the full table one click away
    (an expandable section, and the CSV as a download link embedded in the page)."""
    body = ""
    if compact and len(compact) < len(df.columns):
        body += (f'<p class="lead">The headline columns ({len(compact)} of {len(df.columns)}); every column: '
                 f'<a href="#full" onclick="document.getElementById(\'full\').open = true">the full table</a>')
        if csv_name:
            body += f" or {_csv_link(df, csv_name)}"
        body += ".</p>" + html_table(list(compact), _rows(df[list(compact)]))
        body += (f'<details id="full"><summary>all {len(df.columns)} columns</summary>'
                 f'{html_table(list(df.columns), _rows(df))}</details>')
    else:
        body += html_table(list(df.columns), _rows(df))
        if csv_name:
            body += f"<p>Download: {_csv_link(df, csv_name)}.</p>"
    if notes:
        body += '<ul class="notes">' + "".join(f"<li>{html.escape(n)}</li>" for n in notes) + "</ul>"
    write_html(html_path, title, body)


def _csv_link(df: pd.DataFrame, name: str) -> str:
    """A download link carrying the table as CSV (a data: URL: the report is one offline file)."""
    import base64

    data = base64.b64encode(df.to_csv(index=False).encode()).decode()
    return f'<a download="{html.escape(name)}" href="data:text/csv;base64,{data}">the CSV ({html.escape(name)})</a>'


def headline_record(spec, summary: pd.DataFrame, table: pd.DataFrame, entries: list[dict], runs: dict) -> dict:
    """What the report's results summary shows of one task: its headline metrics per model (mean, std, 95 %
    interval, seeds), energy (with its energy model), Lava agreement and the published values; the sample counts
    of the runs' frame caches."""
    from evsnn.energy import ENERGY_MODELS  # noqa: F401 - the energy model must exist

    metrics = headline_of(spec)

    def num(row, col):
        v = row.get(col)
        return None if v is None or _missing(v) else float(v)

    rows = []
    for _, r in summary.iterrows():
        r = r.to_dict()
        lava_metric = next((c for c in r if c.startswith("lava_") and c not in ("lava_parity", "lava_s_per_sample")),
                           None)
        lava = None
        if lava_metric and num(r, lava_metric) is not None:
            m = lava_metric[len("lava_"):]
            lava = {"metric": m, "lava": num(r, lava_metric), "pytorch": num(r, f"torch_{m}_same_samples"),
                    "parity": r.get("lava_parity")}
        rows.append({"model": r["model"], "n_seeds": int(r.get("n_seeds") or 1),
                     "metrics": {c: {"mean": num(r, c), "std": num(r, f"{c}_std"), "ci95": num(r, f"{c}_ci95"),
                                     "published": num(r, f"published_{c}")} for c, _ in metrics},
                     "energy_mJ": num(r, spec.energy_col), "lava": lava})
    published = [{"model": e["model"], "column": e["column"], "value": e["value"], "unit": e.get("unit", ""),
                  "source": e["source"], "verified": bool(e["verified"])}
                 for e in entries if e["column"] in {c for c, _ in metrics}]
    counts = {}
    for r in runs.values():
        s = json.loads(open(r["summary"]).read())
        counts = {k: s.get(k) for k in ("n_train", "n_val", "n_test")}
        counts["frames_dataset"] = (s.get("frames") or {}).get("dataset")
        break
    return {"title": spec.title, "metrics": [{"column": c, "label": lab} for c, lab in metrics],
            "lower_is_better": spec.lower_is_better, "energy_col": spec.energy_col,
            "energy_model": energy_model_of(spec), "energy_label": ENERGY_LABELS.get(energy_model_of(spec), ""),
            "rows": rows, "published": published, "samples": counts}


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


def t_interval(values) -> tuple[float, float, float, int]:
    """Mean, sample standard deviation, half-width of the 95 % interval of the mean (Student's t, n - 1 degrees of
    freedom) and n of the finite ``values``; std and interval are NaN for fewer than two values."""
    import math

    from scipy import stats

    x = [float(v) for v in values if v is not None and not pd.isna(v)]
    n = len(x)
    if n == 0:
        return math.nan, math.nan, math.nan, 0
    mean = sum(x) / n
    if n < 2:
        return mean, math.nan, math.nan, n
    std = math.sqrt(sum((v - mean) ** 2 for v in x) / (n - 1))
    return mean, std, float(stats.t.ppf(0.975, n - 1)) * std / math.sqrt(n), n


def run_info(name: str, config: dict) -> dict:
    """The run a model entry is (``run`` of an expanded entry): base entry, seed and swept values."""
    run = config.get("run") or {}
    return {"base": run.get("base", name), "seed": run.get("seed", config.get("train", {}).get("seed")),
            "sweep": run.get("sweep", {}) or {}}


def _group_label(name: str, info: dict) -> str:
    from evsnn.config import _slug

    slug = "_".join(f"{k.rpartition('.')[2]}{_slug(v)}" for k, v in info["sweep"].items())
    return f"{info['base']}__{slug}" if slug else info["base"]


def aggregate_runs(df: pd.DataFrame, configs: dict, stat_cols, published: list[dict] | None = None
                   ) -> tuple[pd.DataFrame, pd.DataFrame]:
    """(summary, runs): ``runs`` is ``df`` (one row per run) with the base entry, seed and swept values; ``summary``
    has one row per base entry and sweep combination: the mean of every numeric column over its seeds, ``n_seeds``,
    and for ``stat_cols`` the standard deviation and the 95 % interval of the mean (``<col>_std``, ``<col>_ci95``).
    A single-seed run keeps its name. Entries with ``compare_with`` get ``published_<col>`` and ``gap_<col>`` (ours
    minus published) for the stat columns the published result has."""
    import math

    infos = {m: run_info(m, configs.get(m, {})) for m in df["model"]}
    runs = df.copy()
    runs.insert(1, "base", [infos[m]["base"] for m in runs["model"]])
    runs.insert(2, "seed", [infos[m]["seed"] for m in runs["model"]])
    sweep_keys = sorted({k for i in infos.values() for k in i["sweep"]})
    for j, k in enumerate(sweep_keys):
        runs.insert(3 + j, k, [json.dumps(infos[m]["sweep"].get(k)) if k in infos[m]["sweep"] else "" for m in
                                runs["model"]])
    labels = [_group_label(m, infos[m]) for m in runs["model"]]
    runs.insert(1, "group", labels)  # the summary row a run belongs to
    rows = []
    for label in dict.fromkeys(labels):
        sub = df[[lab == label for lab in labels]]
        members = list(sub["model"])
        row: dict = {"model": label if len(members) > 1 else members[0], "n_seeds": len(members)}
        for k in sweep_keys:
            row[k] = json.dumps(infos[members[0]]["sweep"].get(k)) if k in infos[members[0]]["sweep"] else ""
        for col in df.columns:
            if col == "model":
                continue
            vals = list(sub[col])
            if pd.api.types.is_numeric_dtype(df[col]) and not pd.api.types.is_bool_dtype(df[col]):
                mean, std, ci, n = t_interval(vals)
                same = len({v for v in vals if not pd.isna(v)}) <= 1
                row[col] = vals[0] if same and len(vals) else (round(mean, 4) if n else math.nan)
                if col in stat_cols:
                    row[f"{col}_std"] = round(std, 4) if not math.isnan(std) else math.nan
                    row[f"{col}_ci95"] = round(ci, 4) if not math.isnan(ci) else math.nan
            else:
                uniq = list(dict.fromkeys(str(v) for v in vals if not pd.isna(v)))
                row[col] = uniq[0] if len(uniq) == 1 else ("; ".join(uniq) if uniq else None)
        compare = configs.get(members[0], {}).get("compare_with")
        if compare and published:
            for e in published:
                if e["model"] == compare and e["column"] in stat_cols:
                    row[f"published_{e['column']}"] = e["value"]
                    row[f"gap_{e['column']}"] = round(float(row[e["column"]]) - float(e["value"]), 4)
        rows.append(row)
    summary = pd.DataFrame(rows)
    order = ["model", "n_seeds", *sweep_keys]
    rest = [c for c in summary.columns if c not in order]
    summary = summary[order + rest]
    for col in df.columns:  # integer columns stay integers
        if col in summary and pd.api.types.is_integer_dtype(df[col]) and summary[col].notna().all():
            summary[col] = summary[col].astype("int64")
    return summary, runs


def write_task_table(task, params, inputs, outputs) -> pd.DataFrame:
    """Rule ``table``: the task package's table of every configured run of ``task``, the published numbers of its
    ``published.yaml`` as reference rows, and the metric-against-energy figure (CSV, Markdown, HTML, PNG)."""
    from evsnn.plots import plot_metric_vs_energy

    runs = collect_runs(params.models, params.configs, inputs.summaries, inputs.metrics, inputs.costs,
                        params.lava_models, inputs.lava, getattr(params, "nir_models", ()),
                        getattr(inputs, "nir", ()))
    spec = task.call("table", runs)
    entries = load_published(task.path(task.published)) if task.published and spec.published else []
    per_run = spec.df.copy()
    if len(per_run):
        det = {m: json.loads(open(r["summary"]).read()).get("deterministic") for m, r in runs.items()}
        per_run["deterministic"] = [det.get(m) for m in per_run["model"]]
    stat_cols = tuple(spec.stat_cols) or (spec.metric_col,)
    summary, runs_df = aggregate_runs(per_run, params.configs, stat_cols, entries) if len(per_run) else (per_run, per_run)
    df = with_published(summary, entries)
    notes = list(spec.notes)
    if len(summary) and (summary["n_seeds"] > 1).any():
        notes.append("n_seeds > 1: the row is the mean over the seeds; <metric>_std is the sample standard deviation "
                     "and <metric>_ci95 the half-width of the 95 % interval of the mean (Student's t, n - 1 degrees "
                     f"of freedom); every seed's row is in {Path(outputs.runs_csv).name}")
    if any(c.startswith("gap_") for c in summary.columns):
        srcs = sorted({e["source"] for e in entries for m in params.configs.values() if m.get("compare_with") == e["model"]})
        notes.append("published_<metric> / gap_<metric>: the published result the entry reproduces (compare_with) and "
                     "ours minus it (its uncertainty is our <metric>_ci95); source: " + "; ".join(srcs))
    if "deterministic" in summary.columns:
        notes.append("deterministic: the run's kernels were deterministic (CPU, or CUDA with deterministic algorithms "
                     "on); two runs of the same seed then give the same numbers")
    with atomic_path(outputs.runs_csv) as tmp:
        runs_df.to_csv(tmp, index=False)
    if len(df) > len(spec.df):
        notes.append("rows 'published: ...': numbers published for the real dataset under the protocol in "
                     f"{task.package}/{task.published} (source and whether it was verified in the last columns); "
                     "ours above them are on the data of this config")
    write_table(df, outputs.csv, outputs.md, spec.title, notes=notes)
    write_html_table(df, outputs.html, spec.title, notes=notes, compact=compact_columns(df, spec),
                     csv_name=Path(outputs.csv).name)
    if getattr(outputs, "headline", None):
        with atomic_path(outputs.headline) as tmp:
            tmp.write_text(json.dumps(headline_record(spec, summary, df, entries, runs), indent=1, default=str))
    model = energy_model_of(spec)
    plot_metric_vs_energy(summary, spec.energy_col, spec.metric_col, outputs.energy, ylabel=spec.ylabel,
                          xlabel=f"energy per inference (mJ), energy model: {ENERGY_LABELS.get(model, model)}",
                          lower_is_better=spec.lower_is_better, title=spec.energy_title or spec.title,
                          **({"group_col": spec.group_col} if spec.group_col else {}))
    from evsnn.plots import plot_seeds

    refs = {e["model"]: e["value"] for e in entries if e["column"] == spec.metric_col}
    plot_seeds(runs_df, summary, spec.metric_col, outputs.seeds, ylabel=spec.ylabel, published=refs,
               title=f"{spec.title}: every seed, mean and 95 % interval")
    return df
