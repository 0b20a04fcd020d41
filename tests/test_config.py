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
    train = cfg["models"]["gesture_plif"]["train"]
    assert train["loss"] == "mse" and train["amp"] is True and train["num_workers"] == 0
    assert cfg["frames"]["gesture_t8"]["split_by"] == "number"
    paper = load_config(ROOT / "configs" / "paper.yaml")
    m = paper["models"]["gesture_plif_t20"]
    assert m["train"]["lr"] == 0.001 and m["train"]["batch_size"] == 16 and m["net"]["channels"] == 128
    assert paper["frames"]["gesture_t20"]["T"] == 20
    assert paper["models"]["gesture_lif_t16"]["train"]["epochs"] == 256


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
