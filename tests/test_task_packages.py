"""Task packages: the registry and its errors, derived code fingerprints, published numbers as data, and a fourth
task defined only in tests/ (tests/plugins/toytask) run through the real Snakefile."""
import json
import shutil
import time
from pathlib import Path

import pandas as pd
import pytest
import yaml
from _workflow_helpers import ROOT, copy_project, planned_jobs, smk

from evsnn.config import validate_config
from evsnn.errors import ConfigError
from evsnn.fingerprint import code_digest, module_closure
from evsnn.tables import load_published, published_rows, with_published
from evsnn.tasks import available_tasks, get_task, registry, task_of_kind

PLUGINS = Path(__file__).resolve().parent / "plugins"


def demo_config():
    return yaml.safe_load((ROOT / "config.yaml").read_text())


def test_builtin_tasks_are_packages_with_one_face():
    assert available_tasks() == ["depth", "gesture", "pose"]
    for name, task in registry().items():
        assert task.package == f"evsnn.tasks.{name}"
        for entry in ("prepare", "build_frames", "adapter", "evaluate", "table"):
            assert callable(task.load(entry)), (name, entry)
        for out in task.outputs:
            assert out.caption is None or task.path(out.caption).is_file(), (name, out)
    assert task_of_kind("dhp19").name == "pose" and task_of_kind("mvsec").name == "depth"


def test_a_config_naming_an_unknown_task_names_the_tasks_that_exist():
    cfg = demo_config()
    cfg["models"]["gesture_plif"]["task"] = "optical_flow"
    with pytest.raises(ConfigError) as exc:
        validate_config(cfg)
    msg = str(exc.value)
    assert "models.gesture_plif.task" in msg and "'optical_flow'" in msg and "depth, gesture, pose" in msg


def test_an_unknown_dataset_kind_and_an_unimportable_package_are_one_sentence():
    cfg = demo_config()
    cfg["datasets"]["dvsgesture"]["kind"] = "aedat4_gestures"
    with pytest.raises(ConfigError, match=r"datasets.dvsgesture.kind.*'aedat4_gestures'.*dhp19, dvsgesture, mvsec"):
        validate_config(cfg)
    cfg = demo_config()
    cfg["task_packages"] = ["no_such_task_package"]
    with pytest.raises(ConfigError, match="task package 'no_such_task_package' cannot be imported"):
        validate_config(cfg)


def test_task_schema_keys_apply_to_their_own_kind_only():
    cfg = demo_config()
    cfg["frames"]["gesture_t8"]["dhp19"] = {"events_per_frame": 100}
    with pytest.raises(ConfigError, match="frames.gesture_t8.dhp19' applies only to frames of a dhp19 dataset"):
        validate_config(cfg)
    cfg = demo_config()
    cfg["datasets"]["dhp19"]["synthetic"]["n_planes"] = 3      # an mvsec generator key
    with pytest.raises(ConfigError, match="n_planes"):
        validate_config(cfg)


def _rel(paths):
    return {str(p.relative_to(ROOT / "src" / "evsnn")) for p in paths}


def test_fingerprints_follow_imports_and_stay_inside_their_task():
    for name, other in (("gesture", ("pose", "depth")), ("pose", ("gesture", "depth")), ("depth", ("gesture", "pose"))):
        task = get_task(name)
        files = _rel(module_closure([*task.entry_modules("evaluate"), task.models]))
        assert f"tasks/{name}/evaluate.py" in files and f"tasks/{name}/models.py" in files
        assert "train.py" in files and "data.py" in files and "tasks/__init__.py" in files
        assert not any(f.startswith(f"tasks/{o}/") for o in other for f in files), (name, sorted(files))
    # a lazy import inside a function is code the stage runs too
    assert "tasks/pose/plots.py" in _rel(module_closure(["evsnn.tasks.pose.evaluate"]))
    # frames of a task do not depend on its models, training or evaluation
    frames = _rel(module_closure(get_task("gesture").entry_modules("build_frames")))
    assert "frames.py" in frames and "tasks/gesture/models.py" not in frames and "train.py" not in frames


def test_fingerprint_changes_with_an_imported_module_and_not_with_an_unrelated_one(tmp_path, monkeypatch):
    pkg = tmp_path / "fpkg"
    (pkg / "sub").mkdir(parents=True)
    (pkg / "__init__.py").write_text("")
    (pkg / "sub" / "__init__.py").write_text("")
    (pkg / "entry.py").write_text("from fpkg.sub import helper\n\ndef f():\n    from . import lazy\n")
    (pkg / "sub" / "helper.py").write_text("X = 1\n")
    (pkg / "lazy.py").write_text("Y = 1\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    d0 = code_digest(["fpkg.entry"], roots=("fpkg",))
    assert {p.name for p in module_closure(["fpkg.entry"], roots=("fpkg",))} == {"__init__.py", "entry.py",
                                                                                  "helper.py", "lazy.py"}
    (pkg / "unrelated.py").write_text("Z = 1\n")
    assert code_digest(["fpkg.entry"], roots=("fpkg",)) == d0
    time.sleep(0.01)
    (pkg / "sub" / "helper.py").write_text("X = 2\n")
    d1 = code_digest(["fpkg.entry"], roots=("fpkg",))
    assert d1 != d0
    (pkg / "lazy.py").write_text("Y = 2\n")
    assert code_digest(["fpkg.entry"], roots=("fpkg",)) != d1


def test_published_numbers_are_data_with_sources():
    for name, task in registry().items():
        entries = load_published(task.path(task.published))
        assert entries, name
        for e in entries:
            assert e["source"] and isinstance(e["verified"], bool) and e["unit"] and e["protocol"]
    pose = {(e["model"], e["column"]): e["value"] for e in load_published(get_task("pose").path("published.yaml"))}
    # the hybrid repository's "camview3" is camera 2 (uzh-rpg/hybrid_ann_snn@8a88791 sequence.py:57-64)
    assert pose[("DHP19 CNN (hybrid repository)", "mpjpe_2d_cam2")] == 5.03
    assert pose[("DHP19 CNN (hybrid repository)", "mpjpe_2d_cam3")] == 4.67
    assert pose[("Hybrid CNN-SNN (Aydin et al., CVPRW 2024)", "mpjpe_2d_cam2")] == 5.17
    assert pose[("Hybrid CNN-SNN (Aydin et al., CVPRW 2024)", "mpjpe_2d_cam3")] == 5.10


def test_published_rows_sit_under_the_tables_own_columns():
    entries = load_published(get_task("depth").path("published.yaml"))
    df = pd.DataFrame([{"model": "ours", "type": "SNN", "split": 1, "modality": "binocular",
                        "mean_depth_error_cm": 60.0}])
    ref = published_rows(entries, df.columns)
    ss = ref[(ref["model"] == "published: StereoSpike (Rancon et al., 2022)") & (ref["split"] == 1)]
    ss = ss.set_index("modality")
    assert ss.loc["binocular", "mean_depth_error_cm"] == 18.5 and ss.loc["monocular", "mean_depth_error_cm"] == 21.7
    full = with_published(df, entries)
    assert list(full.columns)[:5] == list(df.columns) and full["model"].iloc[0] == "ours" and len(full) == 7
    # an entry whose column the table lacks is left out rather than shown under a wrong column
    assert published_rows([{**entries[0], "column": "mde10_cm"}], df.columns).empty


def test_bad_published_file_names_the_file_and_entry(tmp_path):
    bad = tmp_path / "published.yaml"
    bad.write_text("- {model: X, column: acc, value: high, source: s, verified: true}\n")
    with pytest.raises(ValueError, match=r"published.yaml: entry 0 \(X\) has a non-numeric value 'high'"):
        load_published(bad)


@pytest.mark.slow
def test_a_fourth_task_defined_in_tests_runs_through_the_real_workflow(tmp_path):
    wf = copy_project(tmp_path / "wf")
    shutil.copytree(PLUGINS, wf / "plugins", ignore=shutil.ignore_patterns("__pycache__"))
    path = [wf / "plugins"]
    jobs = planned_jobs(smk(wf, "-n", "--configfile", "plugins/toy.yaml", pythonpath=path))
    assert jobs == {"dataset": 1, "frames": 1, "train": 1, "evaluate_toy": 1, "toy_score_hist": 1, "cost": 1,
                    "table": 1, "summary": 1, "environment": 1, "all": 1}, jobs
    smk(wf, "--configfile", "plugins/toy.yaml", pythonpath=path)
    m = json.loads((wf / "results/eval/toy_a/metrics.json").read_text())
    assert m["n_samples"] == 8 and m["accuracy"] >= 0.75, m
    assert (wf / "results/eval/toy_a/score_hist.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert (wf / "results/eval/toy_a/scores.npz").exists()
    table = pd.read_csv(wf / "results/tables/toy.csv")
    assert list(table["model"]) == ["toy_a", "published: a perfect classifier"]
    assert table["energy_mJ_fp32"].iloc[0] > 0
    assert planned_jobs(smk(wf, "-n", "--configfile", "plugins/toy.yaml", pythonpath=path)) == {}
    # editing the toy task's model module reruns exactly its training and what follows
    models = wf / "plugins/toytask/models.py"
    models.write_text(models.read_text() + "\n# edited\n")
    jobs = planned_jobs(smk(wf, "-n", "--configfile", "plugins/toy.yaml", pythonpath=path))
    assert jobs == {"train": 1, "evaluate_toy": 1, "toy_score_hist": 1, "cost": 1, "table": 1, "summary": 1,
                    "all": 1}, jobs
    # nothing under workflow/ or scripts/ was edited for the new task
    for folder in ("workflow", "scripts"):
        for f in (ROOT / folder).rglob("*"):
            if f.is_file() and "__pycache__" not in f.parts:
                assert (wf / f.relative_to(ROOT)).read_bytes() == f.read_bytes(), f
