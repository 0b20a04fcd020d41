"""The run record and the docs helpers stay small and safe (issue 11, item 9): the `environment` job's reason line
names a config digest, not the whole config; `make rulegraph` without graphviz leaves docs/rulegraph.svg alone."""
from __future__ import annotations

import os
import shutil
import stat
import subprocess
import sys
from pathlib import Path

import yaml
from _workflow_helpers import ROOT, copy_project, smk


def test_environment_job_reason_is_short_and_config_change_reruns_it(tmp_path):
    wf = copy_project(tmp_path / "wf")
    target = "results/report/config.yaml"
    smk(wf, target)
    cfg = yaml.safe_load((wf / "config.yaml").read_text())
    cfg["frames"]["gesture_t8"]["T"] = 9
    edited = wf / "edited.yaml"
    edited.write_text(yaml.safe_dump(cfg))
    proc = smk(wf, "-n", target, "--configfile", str(edited))
    text = proc.stdout + proc.stderr
    reasons = [line for line in text.splitlines() if "reason:" in line]
    assert reasons and "Params have changed" in reasons[0], text[-3000:]
    assert max(len(line) for line in text.splitlines()) < 500, max(text.splitlines(), key=len)[:300]
    smk(wf, target, "--configfile", str(edited))
    written = yaml.safe_load((wf / target).read_text())
    from evsnn.config import validate_config

    assert written["frames"]["gesture_t8"]["T"] == 9
    assert set(written["models"]) == set(validate_config(cfg)["models"])  # the runs, seeds expanded


def _make_project(tmp_path: Path) -> Path:
    d = tmp_path / "proj"
    (d / "docs").mkdir(parents=True)
    shutil.copy2(ROOT / "Makefile", d / "Makefile")
    (d / "docs" / "rulegraph.svg").write_text("<svg>old</svg>\n")
    return d


def _script(path: Path, text: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("#!/bin/sh\n" + text)
    path.chmod(path.stat().st_mode | stat.S_IXUSR)


def _make(d: Path, path: str, venv: Path):
    make = shutil.which("make")
    assert make, "make is needed for this test"
    return subprocess.run([make, "-o", "setup", "rulegraph", f"VENV={venv}"], cwd=d, capture_output=True, text=True,
                          env={"PATH": path, "HOME": os.environ.get("HOME", "/tmp")}, timeout=60)


def test_make_rulegraph_without_dot_leaves_svg_alone(tmp_path):
    d = _make_project(tmp_path)
    venv = tmp_path / "venv"
    _script(venv / "bin" / "snakemake", "echo 'digraph {}'\n")
    proc = _make(d, str(tmp_path / "empty-bin"), venv)  # no dot on PATH
    assert proc.returncode != 0
    assert "dot" in proc.stderr and "not installed" in proc.stderr
    assert (d / "docs" / "rulegraph.svg").read_text() == "<svg>old</svg>\n"
    assert sorted(p.name for p in (d / "docs").iterdir()) == ["rulegraph.svg"]


def test_make_rulegraph_writes_svg_only_when_everything_succeeds(tmp_path):
    d = _make_project(tmp_path)
    bin_dir = tmp_path / "bin"
    _script(bin_dir / "dot", "cat >/dev/null\necho '<svg>new</svg>'\n")
    venv = tmp_path / "venv"
    _script(venv / "bin" / "snakemake", "exit 3\n")  # snakemake fails: the old SVG stays
    path = f"{bin_dir}{os.pathsep}/usr/bin{os.pathsep}/bin"
    assert _make(d, path, venv).returncode != 0
    assert (d / "docs" / "rulegraph.svg").read_text() == "<svg>old</svg>\n"
    _script(venv / "bin" / "snakemake", "echo 'digraph {}'\n")
    assert _make(d, path, venv).returncode == 0
    assert (d / "docs" / "rulegraph.svg").read_text() == "<svg>new</svg>\n"
    assert sorted(p.name for p in (d / "docs").iterdir()) == ["rulegraph.svg"]
