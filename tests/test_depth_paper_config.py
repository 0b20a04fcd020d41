"""configs/papers/rancon2022_stereospike.yaml: validates, and a dry run plans the twelve trainings."""
from __future__ import annotations

from pathlib import Path

from evsnn.config import load_config

from _workflow_helpers import copy_project, planned_jobs, smk

ROOT = Path(__file__).resolve().parents[1]
CFG = "configs/papers/rancon2022_stereospike.yaml"


def test_stereospike_paper_config_validates():
    cfg = load_config(ROOT / CFG)
    models = cfg["models"]
    assert len(models) == 12 and {m["arch"] for m in models.values()} == {"stereospike", "stereospike_ann",
                                                                           "depthsnn_hnn"}
    t = models["stereospike_bino_s1"]["train"]
    assert (t["epochs"], t["batch_size"], t["lr"], t["milestones"], t["gamma"], t["loss"]) == (
        70, 1, 0.0002, [8, 42, 60], 0.5, "stereospike")
    assert cfg["frames"]["ss_split1"]["mvsec"] == {"protocol": "stereospike", "split": 1}
    assert cfg["frames"]["ss_split3"]["mvsec"]["split"] == 3 and cfg["frames"]["ss_split1"]["T"] == 1


def test_stereospike_paper_config_dry_runs(tmp_path):
    wf = copy_project(tmp_path / "wf")
    jobs = planned_jobs(smk(wf, "-n", "--configfile", CFG))
    assert jobs.get("train") == 12 and jobs.get("frames") == 2 and jobs.get("table", 0) >= 1
