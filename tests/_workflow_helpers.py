"""Helpers shared by the workflow tests: a temporary copy of the project, running snakemake in it, reading
dry-run job counts, and one finished demo run per test session."""
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
SNAKEMAKE = [sys.executable, "-m", "snakemake"]


def copy_project(dest: Path) -> Path:
    dest.mkdir(parents=True, exist_ok=True)
    for name in ("Snakefile", "config.yaml", "workflow", "scripts", "src", "profiles", "configs", "envs"):
        src = ROOT / name
        if src.is_dir():
            shutil.copytree(src, dest / name, ignore=shutil.ignore_patterns("__pycache__", "*.egg-info"))
        else:
            shutil.copy2(src, dest / name)
    return dest


def smk(wf: Path, *args, check=True, timeout=900, pythonpath=()):
    env = dict(os.environ, PYTHONPATH=os.pathsep.join([str(wf / "src"), *map(str, pythonpath)]))
    proc = subprocess.run([*SNAKEMAKE, "--cores", "2", *args], cwd=wf, env=env, capture_output=True, text=True,
                          timeout=timeout)
    if check and proc.returncode != 0:
        raise AssertionError(f"snakemake {' '.join(args)} failed ({proc.returncode}):\n{proc.stdout[-4000:]}\n{proc.stderr[-6000:]}")
    return proc


def planned_jobs(proc) -> dict[str, int]:
    """Rule -> job count from the 'Job stats' table of a dry run."""
    text = proc.stdout + proc.stderr
    if "Nothing to be done" in text:
        return {}
    m = re.search(r"Job stats:\n(.*?)\ntotal", text, re.S)
    assert m, text[-3000:]
    jobs = {}
    for line in m.group(1).splitlines():
        parts = line.split()
        if len(parts) == 2 and parts[1].isdigit():
            jobs[parts[0]] = int(parts[1])
    return jobs


_DEMO: dict[str, Path] = {}


def finished_demo(tmp_path_factory) -> Path:
    """The demo workflow run to completion in a temporary copy of the project, once per test session.

    Test modules share it (the demo trains a model: minutes on two cores); a test that edits it restores it.
    """
    if "wf" not in _DEMO:
        wf = copy_project(tmp_path_factory.mktemp("wf"))
        smk(wf)
        _DEMO["wf"] = wf
    return _DEMO["wf"]
