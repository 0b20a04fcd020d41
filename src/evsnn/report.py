"""What a run used, for `snakemake --report`: the validated config and the software environment.

Also the small HTML helpers that the report items share (a styled standalone page, a table), so that every
table in the report looks the same. Snakemake shows HTML results in an iframe; CSV and YAML would only be
offered as downloads.
"""
from __future__ import annotations

import html
import importlib.metadata
import logging
import os
import platform
import sys
from pathlib import Path
from typing import Iterable, Sequence

import yaml

from evsnn.util import atomic_path

log = logging.getLogger("evsnn.report")

# the packages whose versions decide what a run computes (distribution names)
PACKAGES = ("evsnn", "torch", "numpy", "spikingjelly", "lava-nc", "lava-dl", "snakemake", "h5py", "pandas",
            "matplotlib", "numba", "scipy")

_CSS = """
body { font-family: system-ui, -apple-system, "Segoe UI", Roboto, sans-serif; color: #1e293b; background: #fff;
       margin: 1rem 1.25rem; font-size: 13px; }
h1 { font-size: 1.25rem; margin: 0 0 0.75rem 0; }
h2 { font-size: 1.05rem; margin: 1.5rem 0 0.5rem 0; }
table.evsnn { border-collapse: collapse; margin: 0.5rem 0 1rem 0; }
table.evsnn th, table.evsnn td { border: 1px solid #cbd5e1; padding: 0.25rem 0.45rem; text-align: left; }
table.evsnn th { background: #f1f5f9; font-weight: 600; vertical-align: bottom; }
table.evsnn td.num { text-align: right; font-variant-numeric: tabular-nums; }
table.evsnn tbody tr:nth-child(even) { background: #f8fafc; }
pre { background: #f8fafc; border: 1px solid #cbd5e1; padding: 0.75rem; overflow: auto; font-size: 12px; }
ul.notes { color: #475569; padding-left: 1.2rem; }
"""


def html_table(columns: Sequence[str], rows: Iterable[Sequence]) -> str:
    """An HTML table (escaped; numbers right-aligned)."""
    # long snake_case headers may break after their underscores, so that wide tables fit the report's frame
    head = "".join(f"<th>{html.escape(str(c)).replace('_', '_<wbr>')}</th>" for c in columns)
    body = []
    for row in rows:
        cells = []
        for v in row:
            num = isinstance(v, (int, float)) and not isinstance(v, bool)
            cells.append(f'<td class="num">{html.escape(str(v))}</td>' if num else f"<td>{html.escape(str(v))}</td>")
        body.append("<tr>" + "".join(cells) + "</tr>")
    return f'<table class="evsnn"><thead><tr>{head}</tr></thead><tbody>{"".join(body)}</tbody></table>'


def html_page(title: str, body: str) -> str:
    """A standalone page (inline CSS, no external resources: the report is a single offline file)."""
    return (f'<!doctype html>\n<html lang="en"><head><meta charset="utf-8"><title>{html.escape(title)}</title>'
            f"<style>{_CSS}</style></head>\n<body><h1>{html.escape(title)}</h1>\n{body}\n</body></html>\n")


def write_html(path: str | os.PathLike, title: str, body: str) -> None:
    with atomic_path(path) as tmp:
        tmp.write_text(html_page(title, body), encoding="utf-8")


def package_versions(names: Iterable[str] = PACKAGES) -> dict[str, str]:
    out = {}
    for name in names:
        try:
            out[name] = importlib.metadata.version(name)
        except importlib.metadata.PackageNotFoundError:
            out[name] = "not installed"
    return out


def environment_info(packages: Iterable[str] = PACKAGES) -> dict:
    """Python, platform, package versions and the torch runtime (threads, CUDA) of this process."""
    info = {
        "python": f"{platform.python_implementation()} {platform.python_version()}",
        "python_executable": sys.executable,
        "platform": platform.platform(),
        "machine": platform.machine(),
        "cpu_count": os.cpu_count(),
        "packages": package_versions(packages),
    }
    try:
        import torch

        cuda = torch.cuda.is_available()
        info["torch"] = {
            "threads": torch.get_num_threads(),
            "interop_threads": torch.get_num_interop_threads(),
            "cuda_available": cuda,
            "cuda_version": torch.version.cuda or "none",
            "cudnn_version": (torch.backends.cudnn.version() if cuda else None) or "none",
            "cuda_devices": [torch.cuda.get_device_name(i) for i in range(torch.cuda.device_count())] if cuda else [],
        }
    except ImportError:
        info["torch"] = {"error": "torch is not installed"}
    return info


def environment_rows(info: dict) -> list[tuple[str, str]]:
    rows = [("Python", info["python"]), ("Python executable", info["python_executable"]),
            ("platform", info["platform"]), ("machine", info["machine"]), ("CPU count", str(info["cpu_count"]))]
    t = info.get("torch", {})
    if "error" in t:
        rows.append(("torch runtime", t["error"]))
    else:
        rows += [("torch threads of this job (intra-op / inter-op)", f"{t['threads']} / {t['interop_threads']}"),
                 ("CUDA available", "yes" if t["cuda_available"] else "no"),
                 ("CUDA / cuDNN version", f"{t['cuda_version']} / {t['cudnn_version']}"),
                 ("CUDA devices", ", ".join(t["cuda_devices"]) or "none")]
    return rows


def write_run_record(config: dict, config_yaml: str | os.PathLike, config_html: str | os.PathLike,
                     environment_html: str | os.PathLike, environment_yaml: str | os.PathLike | None = None,
                     packages: Iterable[str] = PACKAGES) -> dict:
    """Write the validated config (YAML + an HTML view of it) and the environment of this process (HTML,
    optionally YAML). Returns the environment info."""
    text = yaml.safe_dump(config, sort_keys=False, default_flow_style=False)
    with atomic_path(config_yaml) as tmp:
        tmp.write_text(text, encoding="utf-8")
    write_html(config_html, "Configuration (validated, defaults filled)",
               f"<p>Rerun with <code>snakemake --configfile {html.escape(Path(config_yaml).name)}</code>.</p>"
               f"<pre>{html.escape(text)}</pre>")

    info = environment_info(packages)
    body = ("<h2>System</h2>" + html_table(("item", "value"), environment_rows(info))
            + "<h2>Packages</h2>" + html_table(("package", "version"), sorted(info["packages"].items())))
    write_html(environment_html, "Software environment", body)
    if environment_yaml is not None:
        with atomic_path(environment_yaml) as tmp:
            tmp.write_text(yaml.safe_dump(info, sort_keys=False), encoding="utf-8")
    log.info("recorded the config (%s) and the environment: %s; %s", config_yaml, info["python"],
             ", ".join(f"{k} {v}" for k, v in info["packages"].items()))
    return info
