"""Seeds and sweeps: expansion into named runs, statistics over seeds, the gap to the published number, and the
workflow running exactly a new seed's jobs (with the test-only toy task, tests/plugins/toytask)."""
import copy
import json
import math
import shutil
from pathlib import Path

import pandas as pd
import pytest
import yaml
from _workflow_helpers import ROOT, copy_project, planned_jobs, smk

from evsnn.config import validate_config
from evsnn.errors import ConfigError
from evsnn.tables import aggregate_runs, t_interval

PLUGINS = Path(__file__).resolve().parent / "plugins"


def demo():
    return yaml.safe_load((ROOT / "config.yaml").read_text())


def test_seeds_and_sweeps_expand_into_named_runs():
    cfg = demo()
    cfg["models"]["gesture_plif"]["seeds"] = [0, 1, 2]
    cfg["models"]["gesture_sdnn"]["sweep"] = {"train.lr": [0.001, 0.003], "net.hidden": [32, 64]}
    cfg["models"]["pose_cnn"]["seeds"] = [7]
    v = validate_config(cfg)["models"]
    assert [m for m in v if m.startswith("gesture_plif_s")] == ["gesture_plif_s0", "gesture_plif_s1", "gesture_plif_s2"]
    assert v["gesture_plif_s2"]["train"]["seed"] == 2 and v["gesture_plif_s2"]["run"] == {
        "base": "gesture_plif", "seed": 2, "sweep": {}}
    assert "seeds" not in v["gesture_plif_s0"]
    sw = v["gesture_sdnn__lr0p003_hidden32"]
    assert sw["train"]["lr"] == 0.003 and sw["net"]["hidden"] == 32 and sw["net"]["channels"] == [8, 16]
    assert sw["run"]["sweep"] == {"train.lr": 0.003, "net.hidden": 32}
    assert len([m for m in v if m.startswith("gesture_sdnn__")]) == 4
    assert v["pose_cnn"]["train"]["seed"] == 7      # one seed keeps the entry's name
    assert validate_config(validate_config(cfg))["models"].keys() == v.keys()   # validating again changes nothing


@pytest.mark.parametrize("edit, expect", [
    (lambda m: m.update(seeds=[0, 1, 1]), "models.gesture_plif.seeds' lists seed 1 twice"),
    (lambda m: m.update(seeds=[]), "models.gesture_plif.seeds"),
    (lambda m: m.update(sweep={"train.learning_rate": [0.1]}), "sweeps over 'train.learning_rate'"),
    (lambda m: m.update(sweep={"optimizer": ["adam"]}), "sweeps over 'optimizer'"),
    (lambda m: m.update(sweep={"train.lr": []}), "models.gesture_plif.sweep.train.lr"),
    (lambda m: m.update(sweep={"train.lr": [-1.0]}), "lr"),
    (lambda m: m.update(sweep={"net.chanels": [8]}), "chanels"),
    (lambda m: m.update(compare_with="PLIF"), "not a published result of task 'gesture'"),
])
def test_bad_seeds_and_sweeps_are_refused_naming_model_and_key(edit, expect):
    cfg = demo()
    edit(cfg["models"]["gesture_plif"])
    with pytest.raises(ConfigError) as err:
        validate_config(cfg)
    assert expect in str(err.value), str(err.value)


def test_a_sweep_producing_an_existing_name_is_refused():
    cfg = demo()
    cfg["models"]["gesture_plif_s1"] = copy.deepcopy(cfg["models"]["gesture_plif"])
    cfg["models"]["gesture_plif_s1"].pop("seeds")
    cfg["models"]["gesture_plif"]["seeds"] = [0, 1]
    with pytest.raises(ConfigError, match="'gesture_plif_s1'"):
        validate_config(cfg)


def test_t_interval_matches_the_textbook():
    mean, std, ci, n = t_interval([1.0, 2.0, 3.0])
    assert (mean, std, n) == (2.0, 1.0, 3) and ci == pytest.approx(4.302652729911275 / math.sqrt(3))
    assert math.isnan(t_interval([5.0])[2]) and t_interval([5.0])[0] == 5.0


def test_aggregate_runs_over_seeds_and_the_gap_to_the_published_number():
    df = pd.DataFrame({"model": ["m_s0", "m_s1", "m_s2", "single"], "acc": [90.0, 92.0, 94.0, 50.0],
                       "parameters": [10, 10, 10, 7], "arch": ["a", "a", "a", "b"]})
    configs = {f"m_s{i}": {"run": {"base": "m", "seed": i, "sweep": {}}, "compare_with": "P"} for i in range(3)}
    configs["single"] = {"train": {"seed": 0}}
    published = [{"model": "P", "column": "acc", "value": 95.0, "source": "s", "verified": True}]
    summary, runs = aggregate_runs(df, configs, ("acc",), published)
    m = summary.set_index("model")
    assert list(summary["model"]) == ["m", "single"] and m.loc["m", "n_seeds"] == 3
    assert m.loc["m", "acc"] == 92.0 and m.loc["m", "acc_std"] == 2.0
    assert m.loc["m", "acc_ci95"] == pytest.approx(round(4.302652729911275 * 2 / math.sqrt(3), 4))
    assert m.loc["m", "published_acc"] == 95.0 and m.loc["m", "gap_acc"] == -3.0
    assert m.loc["m", "parameters"] == 10 and m.loc["m", "arch"] == "a"
    assert m.loc["single", "n_seeds"] == 1 and math.isnan(m.loc["single", "acc_std"])
    assert list(runs["seed"]) == [0, 1, 2, 0] and list(runs["group"]) == ["m", "m", "m", "single"]


def _toy(wf: Path, seeds, extra_models=None) -> str:
    cfg = yaml.safe_load((PLUGINS / "toy.yaml").read_text())
    cfg["models"]["toy_a"]["seeds"] = seeds
    cfg["models"].update(extra_models or {})
    (wf / "seeds.yaml").write_text(yaml.safe_dump(cfg))
    return "seeds.yaml"


@pytest.mark.slow
def test_adding_a_seed_runs_exactly_its_jobs_and_the_tables(tmp_path):
    wf = copy_project(tmp_path / "wf")
    shutil.copytree(PLUGINS, wf / "plugins", ignore=shutil.ignore_patterns("__pycache__"))
    path = [wf / "plugins"]
    twin = {"toy_twin": yaml.safe_load((PLUGINS / "toy.yaml").read_text())["models"]["toy_a"]}  # seed 0 again
    smk(wf, "--configfile", _toy(wf, [0, 1, 2], twin), pythonpath=path)
    table = pd.read_csv(wf / "results/tables/toy.csv")
    row = table[table["model"] == "toy_a"].iloc[0]
    assert row["n_seeds"] == 3 and row["accuracy_std"] >= 0 and "accuracy_ci95" in table
    runs = pd.read_csv(wf / "results/tables/toy_runs.csv")
    assert sorted(runs["model"]) == ["toy_a_s0", "toy_a_s1", "toy_a_s2", "toy_twin"] and runs["deterministic"].all()
    assert (wf / "results/tables/toy_seeds.png").read_bytes()[:4] == b"\x89PNG"
    # the same seed twice on CPU: the same numbers, epoch by epoch
    a = pd.read_csv(wf / "results/models/toy_a_s0/metrics.csv").drop(columns="seconds")
    b = pd.read_csv(wf / "results/models/toy_twin/metrics.csv").drop(columns="seconds")
    pd.testing.assert_frame_equal(a, b)
    summary = json.loads((wf / "results/models/toy_a_s1/summary.json").read_text())
    assert summary["seed"] == 1 and summary["deterministic"] is True and summary["versions"]["torch"]
    # seed 3 added: its own jobs and the table, nothing of seeds 0-2
    jobs = planned_jobs(smk(wf, "-n", "--configfile", _toy(wf, [0, 1, 2, 3], twin), pythonpath=path))
    jobs.pop("all", None)
    assert jobs == {"train": 1, "evaluate_toy": 1, "toy_score_hist": 1, "cost": 1, "table": 1, "summary": 1,
                    "environment": 1}, jobs
