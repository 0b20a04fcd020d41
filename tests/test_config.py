import copy
from pathlib import Path

import pytest
import yaml

from evsnn.config import load_config, validate_config
from evsnn.errors import ConfigError

ROOT = Path(__file__).resolve().parents[1]


def demo():
    return yaml.safe_load((ROOT / "config.yaml").read_text())


def test_demo_and_paper_configs_validate_and_fill_defaults():
    cfg = validate_config(demo())
    train = cfg["models"]["gesture_plif_s0"]["train"]   # the demo trains gesture_plif with seeds 0, 1, 2
    assert train["loss"] == "mse" and train["amp"] is True and train["num_workers"] == 0
    assert cfg["frames"]["gesture_t8"]["split_by"] == "number"
    paper = load_config(ROOT / "configs" / "paper.yaml")
    m = paper["models"]["gesture_plif_t20_s0"]
    assert m["train"]["lr"] == 0.001 and m["train"]["batch_size"] == 16 and m["net"]["channels"] == 128
    assert paper["frames"]["gesture_t20"]["T"] == 20
    assert paper["models"]["gesture_lif_t16_s4"]["train"]["epochs"] == 256


@pytest.mark.parametrize("mutate, expect", [
    (lambda c: c["models"]["gesture_plif"]["train"].update(optimizer="adamw"),
     ["models.gesture_plif.train.optimizer", "'adam'", "'sgd'"]),
    (lambda c: c["models"]["gesture_plif"]["train"].update(epoch=3),
     ["unknown config key 'models.gesture_plif.train.epoch'", "did you mean 'epochs'"]),
    (lambda c: c.update(modles={}), ["unknown config key 'modles'", "models"]),
    (lambda c: c["models"]["gesture_plif"]["train"].update(loss="spatial_ce"),
     ["models.gesture_plif.train.loss", "'spatial_ce'", "mse, cross_entropy"]),
    (lambda c: c["models"]["gesture_plif"].update(arch="resnet"),
     ["models.gesture_plif.arch", "'resnet'", "plif_net"]),
    (lambda c: c["models"]["gesture_plif"].update(frames="nope"),
     ["models.gesture_plif.frames", "'nope'", "gesture_t8"]),
    (lambda c: c["frames"]["gesture_t8"].update(split_by="events"),
     ["frames.gesture_t8.split_by", "'number'", "'time'"]),
    (lambda c: c["frames"]["gesture_t8"].update(T=0), ["frames.gesture_t8.T", "minimum"]),
    (lambda c: c["models"]["gesture_plif"]["net"].update(chanels=8),
     ["models.gesture_plif.net", "chanels", "channels"]),
    (lambda c: c["datasets"]["dvsgesture"].update(source="ftp"),
     ["datasets.dvsgesture.source", "'synthetic'", "'download'", "'local'"]),
    (lambda c: c["datasets"]["dvsgesture"].update(source="local"), ["datasets.dvsgesture.path"]),
])
def test_bad_config_names_key_and_allowed_values(mutate, expect):
    cfg = copy.deepcopy(demo())
    mutate(cfg)
    with pytest.raises(ConfigError) as err:
        validate_config(cfg)
    msg = str(err.value)
    for part in expect:
        assert part in msg, msg
    assert "\n" not in msg


def test_missing_config_file(tmp_path):
    with pytest.raises(ConfigError, match="does not exist"):
        load_config(tmp_path / "nope.yaml")


def test_numbers_written_as_strings_are_read_where_the_schema_wants_numbers(tmp_path):
    text = (ROOT / "config.yaml").read_text()
    cfg = yaml.safe_load(text)
    cfg["models"]["gesture_plif"]["train"]["lr"] = "REPLACE"
    f = tmp_path / "c.yaml"
    f.write_text(yaml.safe_dump(cfg).replace("REPLACE", "1e-3").replace("'1e-3'", "1e-3"))
    assert yaml.safe_load(f.read_text())["models"]["gesture_plif"]["train"]["lr"] == "1e-3"  # PyYAML: a string
    loaded = load_config(f)
    assert loaded["models"]["gesture_plif_s0"]["train"]["lr"] == pytest.approx(1e-3)


def test_nested_scalars_as_snakemake_passes_them_are_coerced():
    cfg = demo()
    # snakemake --config 'lava={samples: 4, run: false}' reads nested values with YAML's BaseLoader: all strings
    cfg["lava"] = {"samples": "4", "run": "false"}
    cfg["models"]["gesture_plif"]["train"].update(epochs="3", lr="0.5", T_max="null", amp="true")
    cfg["frames"]["gesture_t8"]["T"] = "6"
    cfg["datasets"]["dhp19"]["synthetic"]["movements"] = ["1", "2"]  # inside an if/then branch of the schema
    cfg["datasets"]["dvsgesture"].update(source="local", path="123")  # a string where strings are allowed stays
    v = validate_config(cfg)
    assert v["lava"] == {"samples": 4, "run": False, "parity_samples": 1}
    train = v["models"]["gesture_plif_s0"]["train"]
    assert train["epochs"] == 3 and train["lr"] == 0.5 and train["T_max"] is None and train["amp"] is True
    assert v["frames"]["gesture_t8"]["T"] == 6 and v["datasets"]["dhp19"]["synthetic"]["movements"] == [1, 2]
    assert v["datasets"]["dvsgesture"]["path"] == "123"


@pytest.mark.parametrize("key, value, expect", [
    ("epochs", "three", "'three'; it must be of type integer"),
    ("epochs", "2.5", "'2.5'; it must be of type integer"),
    ("lr", "nan", "'nan'; it must be of type number"),
    ("epochs", "-1", "minimum"),
])
def test_strings_that_are_not_the_wanted_number_are_still_refused(key, value, expect):
    cfg = demo()
    cfg["models"]["gesture_plif"]["train"][key] = value
    with pytest.raises(ConfigError) as err:
        validate_config(cfg)
    assert f"models.gesture_plif.train.{key}" in str(err.value) and expect in str(err.value), str(err.value)


def test_snakemake_nested_config_override_is_accepted(tmp_path):
    import sys
    sys.path.insert(0, str(ROOT / "tests"))
    from _workflow_helpers import copy_project, smk

    wf = copy_project(tmp_path / "wf")
    override = ("--config", "lava={samples: 4, run: false}")
    proc = smk(wf, "-n", "results/report/config.yaml", *override, check=False)
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert "invalid configuration" not in proc.stderr
    smk(wf, "results/report/config.yaml", *override)  # the override reaches the validated config as numbers
    assert yaml.safe_load((wf / "results/report/config.yaml").read_text())["lava"] == {
        "run": False, "samples": 4, "parity_samples": 1}


# ------------------------------------------------------------------------------------------- issue 13: as published
def test_paper_recipes_validate():
    dhp = load_config(ROOT / "configs" / "papers" / "calabrese2019_dhp19.yaml")
    cnn, official = dhp["models"]["dhp19_cnn_s0"], dhp["models"]["dhp19_cnn_official"]
    assert cnn["train"]["optimizer"] == "rmsprop" and cnn["train"]["lr"] == 1e-5 and cnn["train"]["rho"] == 0.9
    assert cnn["train"]["eps"] == 1e-7 and cnn["train"]["loss"] == "mse" and cnn["train"]["heatmap_sigma"] == 4.0
    assert cnn["train"]["heatmap_grid"] == "integer" and cnn["train"]["scheduler"] == "none"
    assert official["train"]["epochs"] == 0 and official["train"]["init"].endswith("dhp19_cnn_official.pt")
    fr = dhp["frames"]["dhp19_cnn_input"]
    assert fr["dhp19"]["cameras"] == [2, 3] and fr["dhp19"]["ba_filter"] == "current" and fr["downsample"] == 1
    assert dhp["datasets"]["dhp19"]["source"] == "local"
    plif = load_config(ROOT / "configs" / "papers" / "fang2021_plif.yaml")
    a, b = plif["models"]["plif_accuracy_a_s0"], plif["models"]["plif_accuracy_b_s0"]
    assert a["net"]["bias"] is False and b["net"] == a["net"] and plif["frames"]["gesture_t20"]["T"] == 20
    assert a["train"]["val_fraction"] == 0.0 and "val_split" not in a["train"] and a["train"]["epochs"] == 1024
    assert b["train"]["val_split"] == "per_class_tail" and b["train"]["val_fraction"] == 0.15
    assert b["train"]["best_on_tie"] == "last" and b["train"]["T_max"] == 64 and b["train"]["batch_size"] == 16


def _pose_demo():
    cfg = demo()
    assert "pose_cnn" in cfg["models"] and "pose_t4" in cfg["frames"]
    return cfg


@pytest.mark.parametrize("mutate, expect", [
    (lambda c: c["models"]["pose_cnn"]["train"].update(heatmap_sigma=0),
     ["models.pose_cnn.train.heatmap_sigma", "0"]),
    (lambda c: c["models"]["pose_cnn"]["train"].update(heatmap_sigma=-2.0),
     ["models.pose_cnn.train.heatmap_sigma", "-2.0"]),
    (lambda c: c["models"]["pose_cnn"]["train"].update(heatmap_grid="half"),
     ["models.pose_cnn.train.heatmap_grid", "'integer'", "'float'"]),
    (lambda c: c["frames"]["pose_t4"]["dhp19"].update(ba_filter="2020"),
     ["frames.pose_t4.dhp19.ba_filter", "'2020'", "'current'", "'2019'"]),
    (lambda c: c["models"]["gesture_plif"]["train"].update(val_split="per_class_tail", val_fraction=0.0),
     ["models.gesture_plif.train.val_split", "per_class_tail", "without a validation sample"]),
    (lambda c: c["models"]["gesture_plif"]["train"].update(val_split="random"),
     ["models.gesture_plif.train.val_split", "'stratified_random'", "'per_class_tail'"]),
    (lambda c: c["models"]["gesture_plif"]["train"].update(epochs=0),
     ["models.gesture_plif.train.epochs", "models.gesture_plif.train.init"]),
    (lambda c: c["models"]["gesture_plif"]["train"].update(optimizer="rmsprop", rho=1.0),
     ["models.gesture_plif.train.rho", "1.0"]),
])
def test_bad_published_recipe_inputs_are_one_sentence(mutate, expect):
    cfg = copy.deepcopy(_pose_demo())
    mutate(cfg)
    with pytest.raises(ConfigError) as err:
        validate_config(cfg)
    msg = str(err.value)
    for part in expect:
        assert part in msg, msg
    assert "\n" not in msg
