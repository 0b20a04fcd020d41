"""No-op speed of the workflow: how long Snakemake takes to say there is nothing (or what there is) to do.

1. On a finished demo run (config.yaml, run here in a temporary copy of the project unless
   ``--workdir`` names a finished one), ``snakemake -n`` must report nothing to do; its wall time is printed.
2. The full ``configs/paper.yaml`` DAG, dry run, with the raw DVS Gesture path pointed at a synthetic stand-in
   (``source: local``): target under 2 s (the rules' code fingerprints are derived from the imports at every call,
   ``evsnn.fingerprint``; case 3 times that part alone).
3. Every code fingerprint of the paper DAG computed in a fresh process (what the derivation costs a dry run).

The process exits non-zero when a target is missed.

Usage: python benchmarks/bench_noop.py [--workdir FINISHED_DEMO_COPY] [--repeats 3]
"""
from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import yaml

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import ROOT  # noqa: E402  (puts src/ and tests/ on sys.path)
from _workflow_helpers import copy_project  # noqa: E402


def snakemake(wf: Path, *args) -> tuple[float, subprocess.CompletedProcess]:
    env = dict(os.environ, PYTHONPATH=str(wf / "src"))
    t0 = time.perf_counter()
    proc = subprocess.run([sys.executable, "-m", "snakemake", "--cores", "2", *args], cwd=wf, env=env,
                          capture_output=True, text=True)
    return time.perf_counter() - t0, proc


def best_of(wf: Path, repeats: int, *args) -> tuple[float, subprocess.CompletedProcess]:
    runs = [snakemake(wf, *args) for _ in range(repeats)]
    for _, proc in runs:
        if proc.returncode != 0:
            raise SystemExit(f"snakemake {' '.join(args)} failed:\n{proc.stderr[-3000:]}")
    return min(r[0] for r in runs), runs[-1][1]


def main(workdir: str | None = None, repeats: int = 3) -> list[dict]:
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        if workdir:
            wf = Path(workdir)
        else:
            wf = copy_project(tmp / "demo")
            print("running the demo once (a few minutes) ...", flush=True)
            seconds, proc = snakemake(wf)
            if proc.returncode != 0:
                raise SystemExit(f"demo run failed:\n{proc.stderr[-3000:]}")
        seconds, proc = best_of(wf, repeats, "-n")
        nothing = "Nothing to be done" in proc.stdout + proc.stderr
        rows.append({"benchmark": "noop", "case": "finished demo, snakemake -n", "seconds": round(seconds, 2),
                     "nothing_to_do": nothing, "target_s": None})

        from evsnn.tasks.gesture.synth import write_dvsgesture_tree

        stand_in = tmp / "standin" / "DvsGesture"
        write_dvsgesture_tree(stand_in, n_train_users=2, n_test_users=1, lightings=["led"], repeats=1)
        paper = yaml.safe_load((ROOT / "configs/paper.yaml").read_text())
        paper["datasets"]["dvsgesture"].update(source="local", path=str(stand_in))
        paper_wf = copy_project(tmp / "paper")
        (paper_wf / "paper_standin.yaml").write_text(yaml.safe_dump(paper))
        seconds, proc = best_of(paper_wf, repeats, "-n", "--configfile", "paper_standin.yaml")
        jobs = proc.stdout.split("Job stats:")[-1].split("\n\n")[0].strip().splitlines()[-1] if "Job stats" in proc.stdout else "?"
        rows.append({"benchmark": "noop", "case": "configs/paper.yaml DAG, dry run", "seconds": round(seconds, 2),
                     "nothing_to_do": False, "target_s": 2.0, "jobs": jobs.split()[-1]})
        code = ("import time, yaml; t0 = time.perf_counter(); from evsnn.config import validate_config; "
                "from evsnn.fingerprint import code_digest; from evsnn.tasks import get_task; "
                "cfg = validate_config(yaml.safe_load(open('paper_standin.yaml'))); t1 = time.perf_counter(); "
                "tasks = {get_task(m['task']) for m in cfg['models'].values()}; "
                "[code_digest([*t.entry_modules(e), t.models, 'evsnn.train', 'evsnn.energy', 'evsnn.lava.deploy']) "
                "for t in tasks for e in ('prepare', 'build_frames', 'adapter', 'evaluate', 'table', 'lava')]; "
                "print(time.perf_counter() - t1, t1 - t0)")
        fp = subprocess.run([sys.executable, "-c", code], cwd=paper_wf, capture_output=True, text=True,
                            env=dict(os.environ, PYTHONPATH=str(paper_wf / "src")))
        if fp.returncode != 0:
            raise SystemExit(f"fingerprint timing failed:\n{fp.stderr[-3000:]}")
        fp_s, validate_s = map(float, fp.stdout.split())
        rows.append({"benchmark": "noop", "case": "every code fingerprint of the paper DAG (fresh process)",
                     "seconds": round(fp_s, 3), "nothing_to_do": False, "target_s": 0.5, "jobs": "-"})
        rows.append({"benchmark": "noop", "case": "config validation (imports + schema + task packages)",
                     "seconds": round(validate_s, 3), "nothing_to_do": False, "target_s": None, "jobs": "-"})

    print("| case | seconds (best of %d) | target | result |" % repeats)
    print("|---|---|---|---|")
    missed = []
    for r in rows:
        verdict = ("nothing to do" if r["nothing_to_do"] else "jobs pending") if r["target_s"] is None else \
            ("met" if r["seconds"] < r["target_s"] else "MISSED") + f", {r['jobs']} jobs"
        if "MISSED" in verdict or (r["case"].startswith("finished demo") and not r["nothing_to_do"]):
            missed.append(r["case"])
        print(f"| {r['case']} | {r['seconds']:.2f} | {r['target_s'] or '-'} | {verdict} |")
    if missed:
        print(f"targets missed: {', '.join(missed)}", file=sys.stderr)
        return 1
    return rows


if __name__ == "__main__":
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--workdir", help="a finished demo run (project copy) to time instead of running one")
    ap.add_argument("--repeats", type=int, default=3)
    a = ap.parse_args()
    sys.exit(1 if main(a.workdir, a.repeats) == 1 else 0)
