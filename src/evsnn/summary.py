"""The results summary that `snakemake --report` opens on: per task the headline table (model, metric(s) with
their spread over seeds, energy with its energy model, Lava agreement, published values), the metric-against-
energy figure, and one line saying what data the task ran on (synthetic demo or the real dataset, with its size).

Written by the rule ``summary`` twice: a standalone page (a report item, and a file to open by itself) and the
same content as an HTML fragment with scoped styles, which the report's landing page
(``workflow/report/workflow.rst``) embeds.
"""
from __future__ import annotations

import base64
import html
import json
import os
from pathlib import Path

from evsnn.report import html_page
from evsnn.util import atomic_path

_CSS = """
.evsnn-summary { font-family: system-ui, -apple-system, "Segoe UI", Roboto, sans-serif; color: #1e293b;
                 font-size: 13px; max-width: 1500px; }
.evsnn-summary h1 { font-size: 1.35rem; margin: 0 0 0.4rem 0; }
.evsnn-summary h2 { font-size: 1.1rem; margin: 1.4rem 0 0.3rem 0; border-bottom: 1px solid #cbd5e1; }
.evsnn-summary p { margin: 0.3rem 0; }
.evsnn-summary p.data { color: #334155; }
.evsnn-summary .task { display: flex; flex-wrap: wrap; gap: 1rem; align-items: flex-start; }
.evsnn-summary table { border-collapse: collapse; margin: 0.4rem 0; width: auto; font-size: 13px; }
.evsnn-summary th, .evsnn-summary td { border: 1px solid #cbd5e1; padding: 0.2rem 0.45rem; text-align: left;
                                       vertical-align: top; }
.evsnn-summary th { background: #f1f5f9; font-weight: 600; }
.evsnn-summary td.num { text-align: right; font-variant-numeric: tabular-nums; white-space: nowrap; }
.evsnn-summary tr.published td { color: #475569; font-style: italic; }
.evsnn-summary .spread { color: #64748b; font-size: 11px; }
.evsnn-summary img { max-width: 560px; width: 100%; height: auto; border: 1px solid #e2e8f0; margin: 0; }
.evsnn-summary .note { color: #64748b; font-size: 12px; }
"""

# in Snakemake's report the landing page shows the workflow description in a narrow column (max-w-lg): let the
# summary use the width, and keep it off the rule-graph page (Workflow), which shows the same description
_REPORT_CSS = """
.prose:has(.evsnn-summary) { max-width: none !important; }
div.overflow-auto:has(.evsnn-summary) { align-items: flex-start !important; justify-content: flex-start !important; }
div:has(> #rulegraph) .evsnn-summary { display: none; }
div:has(> #rulegraph) .evsnn-summary-pointer { display: block; }
.evsnn-summary-pointer { display: none; }
"""


def _fmt(v) -> str:
    if v is None:
        return ""
    v = float(v)
    if v != v:
        return ""
    if abs(v) >= 1000:
        return f"{v:,.0f}"
    if abs(v) >= 100:
        return f"{v:.1f}"
    if abs(v) >= 0.01 or v == 0:
        return f"{v:.2f}"
    return f"{v:.3g}"


def _size(n: float) -> str:
    for unit in ("B", "kB", "MB", "GB", "TB"):
        if n < 1000 or unit == "TB":
            return f"{n:.0f} {unit}" if unit == "B" else f"{n:.1f} {unit}"
        n /= 1000
    return ""


def data_line(title: str, datasets: list[dict], samples: dict) -> str:
    """One sentence: what data a task ran on. ``datasets``: {name, kind, source, path, manifest (path or None)}."""
    parts = []
    for d in datasets:
        manifest = {}
        if d.get("manifest") and os.path.isfile(d["manifest"]):
            manifest = json.loads(Path(d["manifest"]).read_text())
        raw = manifest.get("raw_files") or []
        files = manifest.get("files")
        if isinstance(files, dict) and all(isinstance(v, (int, float)) for v in files.values()):
            nbytes = sum(files.values())
        else:
            nbytes = sum(os.path.getsize(f) for f in raw if os.path.isfile(f))
        recs = manifest.get("recordings") or manifest.get("sequences")
        own = d.get("kind") == "recordings"  # a lab's folder of recordings with a labels CSV
        n_rec = len(recs) if isinstance(recs, list) or (own and isinstance(recs, dict)) else None
        size = ", ".join(x for x in (f"{n_rec} recordings" if n_rec else "", f"{len(raw)} raw files" if raw else "",
                                     _size(nbytes) if nbytes else "") if x)
        if own:
            where = f" in {html.escape(str(d['path']))}" if d.get("path") else ""
            what = f"<b>your own recordings</b> {html.escape(d['name'])}{where} (labels CSV)"
        elif d["source"] == "synthetic":
            what = (f"<b>synthetic demo data</b> ({html.escape(d['name'])}, written by the workflow in the raw format of "
                    f"the real dataset; not comparable with published numbers)")
        else:
            where = f" from {html.escape(str(d['path']))}" if d.get("path") else ""
            what = f"<b>the real dataset</b> {html.escape(d['name'])} ({html.escape(d['source'])}{where})"
        parts.append(what + (f": {size}" if size else ""))
    counts = [f"{samples[k]} {lab}" for k, lab in (("n_train", "training"), ("n_val", "validation"),
                                                    ("n_test", "test")) if samples.get(k) is not None]
    tail = f"; {' / '.join(counts)} samples" if counts else ""
    return f"<p class=\"data\">Data: {'; '.join(parts) or 'unknown'}{tail}.</p>"


def _metric_cell(m: dict, n_seeds: int) -> str:
    if m.get("mean") is None:
        return '<td class="num"></td>'
    cell = _fmt(m["mean"])
    if n_seeds > 1 and m.get("std") is not None:
        cell += f" ± {_fmt(m['std'])}"
        extra = f"95 % CI ± {_fmt(m['ci95'])}, " if m.get("ci95") is not None else ""
        cell += f'<br><span class="spread">{extra}n = {n_seeds}</span>'
    return f'<td class="num">{cell}</td>'


def headline_table(rec: dict) -> str:
    """The headline table of one task from its headline record (evsnn.tables.headline_record)."""
    metrics = rec["metrics"]
    any_lava = any(r.get("lava") for r in rec["rows"])
    head = ["model"] + [html.escape(m["label"]) + (" ↓" if rec["lower_is_better"] else " ↑") for m in metrics]
    head.append(f"energy (mJ)<br><span class=\"spread\">{html.escape(rec.get('energy_label') or rec['energy_model'])}"
                "</span>")
    if any_lava:
        head.append("Lava vs PyTorch<br><span class=\"spread\">same test samples</span>")
    head.append("published")
    body = []
    for r in rec["rows"]:
        cells = [f"<td>{html.escape(r['model'])}</td>"]
        cells += [_metric_cell(r["metrics"].get(m["column"], {}), r["n_seeds"]) for m in metrics]
        e = r.get("energy_mJ")
        cells.append(f'<td class="num">{"" if e is None else f"{e:.3g}"}</td>')
        if any_lava:
            lv = r.get("lava")
            if lv:
                unit = " %" if lv["metric"].endswith("pct") else (" px" if lv["metric"].endswith("px") else "")
                txt = f"{_fmt(lv['lava'])}{unit} vs {_fmt(lv['pytorch'])}{unit}"
                if lv.get("parity"):
                    txt += f'<br><span class="spread">{html.escape(str(lv["parity"]))}</span>'
                cells.append(f'<td class="num">{txt}</td>')
            else:
                cells.append("<td></td>")
        pub = [f"{_fmt(v['published'])} (ours {'+' if v['mean'] - v['published'] >= 0 else '−'}"
               f"{_fmt(abs(v['mean'] - v['published']))})"
               for v in r["metrics"].values() if v.get("published") is not None and v.get("mean") is not None]
        cells.append(f"<td>{'; '.join(pub)}</td>")
        body.append("<tr>" + "".join(cells) + "</tr>")
    by_model: dict[str, dict] = {}
    for p in rec["published"]:
        by_model.setdefault(p["model"], {"values": {}, "source": p["source"], "verified": p["verified"]})
        by_model[p["model"]]["values"][p["column"]] = p["value"]
    for name, p in by_model.items():
        cells = [f"<td>published: {html.escape(name)}</td>"]
        cells += [f'<td class="num">{_fmt(p["values"].get(m["column"]))}</td>' for m in metrics]
        cells.append("<td></td>" + ("<td></td>" if any_lava else ""))
        verified = "verified" if p["verified"] else "not verified"
        cells.append(f"<td>{html.escape(p['source'])} ({verified})</td>")
        body.append('<tr class="published">' + "".join(cells) + "</tr>")
    return (f"<table><thead><tr>{''.join(f'<th>{h}</th>' for h in head)}</tr></thead>"
            f"<tbody>{''.join(body)}</tbody></table>")


def _png(path) -> str:
    data = base64.b64encode(Path(path).read_bytes()).decode()
    return f"data:image/png;base64,{data}"


def summary_fragment(tasks: list[dict], heading: bool = True) -> str:
    """The summary as an HTML fragment with scoped styles. ``tasks``: {title, headline (path of the headline
    JSON), energy_png (path), datasets ([{name, kind, source, path, manifest}])}."""
    out = [f'<div class="evsnn-summary"><style>{_CSS}{_REPORT_CSS}</style>', "<h1>Results</h1>" if heading else "",
           '<p class="note">Every task of this run: the headline columns of its results table (mean ± standard '
           "deviation over seeds where there are several), energy per inference, the Lava run beside PyTorch on the "
           "same samples, and the published numbers for the real dataset. The full tables (every column, CSV) are "
           "under <b>Tables</b>, each model's figures under its own name, the configuration and software under "
           "<b>Run</b>, the rule graph under <b>Workflow</b>.</p>"]
    for t in tasks:
        rec = json.loads(Path(t["headline"]).read_text())
        out.append(f"<h2>{html.escape(t['title'])}</h2>")
        out.append(data_line(t["title"], t.get("datasets", []), rec.get("samples", {})))
        fig = (f'<img alt="{html.escape(t["title"])}: metric against energy" src="{_png(t["energy_png"])}">'
               if t.get("energy_png") and os.path.isfile(t["energy_png"]) else "")
        out.append(f'<div class="task"><div>{headline_table(rec)}</div>{fig}</div>')
    out.append("</div>")
    out.append('<p class="evsnn-summary-pointer">The results of this run: '
               "<a href=\"javascript:app.showCategory('Results%20summary')\">Results summary</a> "
               "(the first page of the report when it is made with the workflow profile, which sets "
               "<code>report-metadata</code>).</p>")
    return "\n".join(out)


def write_summary(tasks: list[dict], out_html: str | os.PathLike, out_body: str | os.PathLike) -> None:
    """Rule ``summary``: the standalone page and the fragment the report's landing page embeds."""
    body = summary_fragment(tasks)
    with atomic_path(out_body) as tmp:
        tmp.write_text(body + "\n", encoding="utf-8")
    with atomic_path(out_html) as tmp:
        tmp.write_text(html_page("Results summary", summary_fragment(tasks, heading=False)), encoding="utf-8")
