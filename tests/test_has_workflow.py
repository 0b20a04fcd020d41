"""configs/papers/aydin2024_hybrid.yaml: validates, dry-runs, and its stages depend on each other as the paper's."""
import os
import time

from evsnn.config import load_config

from _workflow_helpers import copy_project, planned_jobs, smk

CONFIG = "configs/papers/aydin2024_hybrid.yaml"


def test_paper_config_validates():
    cfg = load_config(CONFIG)
    assert cfg["models"]["has_hybrid_cnn_snn"]["train"]["init_from"] == {"cnn": "has_cnn", "snn": "has_snn"}
    assert cfg["frames"]["has_count"]["dhp19"]["representation"] == "has"


def test_stages_dry_run(tmp_path):
    wf = copy_project(tmp_path / "wf")
    jobs = planned_jobs(smk(wf, "-n", "--configfile", CONFIG))
    assert jobs["train"] == 6 and jobs["frames"] == 2 and jobs["pose_time_since_cnn"] == 2
    # the hybrid's train job needs the CNN and the SNN; the SNN needs nothing but its frames
    out = smk(wf, "results/models/has_hybrid_cnn_snn/model.pt", "-n", "--configfile", CONFIG).stdout
    assert sorted(line.split("=")[1] for line in out.splitlines() if "wildcards: model=" in line) == [
        "has_cnn", "has_hybrid_cnn_snn", "has_snn"]
    # a newer CNN retrains the hybrid and nothing else (outputs stand in for finished jobs; mtimes only: the
    # stand-ins have no provenance records)
    files = ["results/data/dhp19/manifest.json", "results/frames/has_count/train.h5", "results/frames/has_count/test.h5"]
    models = ("has_cnn", "has_snn", "has_hybrid_cnn_snn")
    files += [f"results/models/{m}/{f}" for m in models for f in ("model.pt", "metrics.csv", "summary.json")]
    t0 = time.time() - 1000
    for i, f in enumerate(files):
        p = wf / f
        p.parent.mkdir(parents=True, exist_ok=True)
        p.write_text("stand-in")
        os.utime(p, (t0 + 10 * i, t0 + 10 * i))
    targets = [f"results/models/{m}/model.pt" for m in models]
    args = ("-n", "--rerun-triggers", "mtime", "--configfile", CONFIG)
    assert planned_jobs(smk(wf, *targets, *args)) == {}
    os.utime(wf / "results/models/has_cnn/model.pt")
    proc = smk(wf, *targets, *args)
    assert planned_jobs(proc) == {"train": 1}
    assert [line.split("=")[1] for line in proc.stdout.splitlines() if "wildcards: model=" in line] == [
        "has_hybrid_cnn_snn"]
