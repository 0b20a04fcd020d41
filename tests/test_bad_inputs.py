"""Every failure on a bad input file is one sentence (issue 11 item 7).

Each ``python -m evsnn ...`` command meets a missing, empty, truncated, random-bytes, damaged-in-the-middle and
directory input: it exits non-zero with one ``evsnn error:`` line that names the path, and no traceback. Frame caches
with random bytes in the middle stop training / evaluation with a sentence naming the cache.
"""
from __future__ import annotations

import os
import subprocess
import sys
import textwrap
from pathlib import Path

import numpy as np
import pytest

from evsnn.cli import main
from evsnn.errors import FormatError
from evsnn.events import make_events
from evsnn.io.aedat2 import write_aedat2
from evsnn.io.aedat3 import write_aedat3

try:  # Lava sets the multiprocessing start method when imported: import it at collection, before any test forks
    import lava.lib.dl.netx  # noqa: F401
except ImportError:
    pass

SRC = str(Path(__file__).resolve().parents[1] / "src")
TESTS = str(Path(__file__).resolve().parent)

KINDS = ("missing", "empty", "truncated", "random", "damaged", "directory")


def _events(n=3000, camera=False, seed=0):
    rng = np.random.default_rng(seed)
    t = 1_000_000 + np.sort(rng.integers(0, 2_000_000, n))
    if camera:
        return make_events(rng.integers(0, 346, n), rng.integers(0, 260, n), t, rng.integers(0, 2, n),
                           c=np.repeat(np.arange(4), n // 4))
    return make_events(rng.integers(0, 128, n), rng.integers(0, 128, n), t, rng.integers(0, 2, n))


def _good_aedat3(d: Path) -> Path:
    return write_aedat3(d / "good3.aedat", _events(), packet_size=500)


def _good_aedat2(d: Path) -> Path:
    return write_aedat2(d / "good2.aedat", _events(camera=True), layout="davis346")


def _good_keras(d: Path) -> Path:
    sys.path.insert(0, TESTS)
    from test_pose_models import random_kernels, write_keras_file

    return write_keras_file(d / "DHP_CNN.model", random_kernels())


def _good_net(d: Path) -> Path:
    pytest.importorskip("lava.lib.dl.netx")
    sys.path.insert(0, TESTS)
    from test_lava_netx import write_dhp19_like

    return write_dhp19_like(d / "good.net")


def _good_npy(d: Path) -> Path:
    path = d / "input.npy"
    np.save(path, (np.random.default_rng(0).random((1, 8, 12, 2)) < 0.3).astype(np.float64))
    return path


def make_bad(good: Path, kind: str, out_dir: Path, truncate_at=None) -> Path:
    """A bad variant of ``good``: ``kind`` one of KINDS (same suffix, so the command sees the same kind of name)."""
    bad = out_dir / f"{kind}_{good.name}"
    data = good.read_bytes()
    rng = np.random.default_rng(1)
    if kind == "missing":
        pass
    elif kind == "empty":
        bad.write_bytes(b"")
    elif kind == "truncated":
        bad.write_bytes(data[:truncate_at(len(data)) if truncate_at else len(data) // 2])
    elif kind == "random":
        bad.write_bytes(rng.integers(0, 256, 4096, dtype=np.uint8).tobytes())
    elif kind == "damaged":  # random bytes over the middle half: the header survives, the structure does not
        n = len(data)
        mid = bytearray(data)
        mid[n // 4:3 * n // 4] = rng.integers(0, 256, 3 * n // 4 - n // 4, dtype=np.uint8).tobytes()
        bad.write_bytes(bytes(mid))
    elif kind == "directory":
        bad.mkdir()
    return bad


# command name -> (good-input factory, argv builder, kinds that must fail, truncation point)
# AEDAT 2.0 and .npy bodies are plain records / numbers without structure: random bytes inside them are data
# (a valid file), so "damaged" is not a failure there.
COMMANDS = {
    "events info (AEDAT 3.1)": (_good_aedat3, lambda f, d: ["events", "info", f], KINDS, None),
    "events info (AEDAT 2.0)": (_good_aedat2, lambda f, d: ["events", "info", f],
                                tuple(k for k in KINDS if k != "damaged"), lambda n: n - 5),
    "pose import-dhp19-cnn": (_good_keras, lambda f, d: ["pose", "import-dhp19-cnn", f, str(d / "out.pt")], KINDS,
                              None),
    "netx info": (_good_net, lambda f, d: ["netx", "info", f], KINDS, None),
    "netx run": (_good_net, lambda f, d: ["netx", "run", f, "--steps", "2"], KINDS, None),
    "netx run --input": (_good_npy, lambda f, d: ["netx", "run", str(_good_net(d)), "--input", f, "--steps", "2"],
                         tuple(k for k in KINDS if k != "damaged"), None),
}
CASES = [(cmd, kind) for cmd, (_, _, kinds, _) in COMMANDS.items() for kind in kinds]


@pytest.fixture(scope="module")
def goods(tmp_path_factory):
    cache: dict = {}

    def get(cmd):
        if cmd not in cache:
            d = tmp_path_factory.mktemp("good")
            cache[cmd] = (COMMANDS[cmd][0](d), d)
        return cache[cmd]

    return get


@pytest.mark.parametrize("cmd, kind", CASES, ids=[f"{c}-{k}" for c, k in CASES])
def test_cli_bad_input_is_one_sentence(cmd, kind, goods, tmp_path, capfd):
    good, good_dir = goods(cmd)
    bad = make_bad(good, kind, tmp_path, COMMANDS[cmd][3])
    argv = COMMANDS[cmd][1](str(bad), good_dir)
    code = main(argv)  # an exception escaping here would be a traceback
    out, err = capfd.readouterr()
    assert code != 0, out[-2000:]
    lines = err.strip().splitlines()
    assert len(lines) == 1, err
    assert lines[0].startswith("evsnn error: ") and str(bad) in lines[0], lines[0]
    assert "Traceback" not in err and out == ""


@pytest.mark.parametrize("kind", ["directory", "damaged"])
def test_cli_subprocess_has_no_traceback(kind, goods, tmp_path):
    good, _ = goods("events info (AEDAT 3.1)")
    bad = make_bad(good, kind, tmp_path)
    env = dict(os.environ, PYTHONPATH=SRC + os.pathsep + os.environ.get("PYTHONPATH", ""))
    r = subprocess.run([sys.executable, "-m", "evsnn", "events", "info", str(bad)], capture_output=True, text=True,
                       env=env, timeout=120)
    assert r.returncode != 0 and r.stdout == ""
    assert r.stderr.count("\n") == 1 and r.stderr.startswith("evsnn error: ") and str(bad) in r.stderr, r.stderr
    assert "Traceback" not in r.stderr


def test_events_info_directory_says_so(tmp_path):
    with pytest.raises(FormatError, match="is a directory"):
        from evsnn.io import info

        info(tmp_path)


# ------------------------------------------------------------------------------ frame caches damaged in the middle
def _damage_frames(path: Path) -> None:
    """Random bytes over the middle of the file: inside the compressed frame chunks of this cache."""
    data = bytearray(path.read_bytes())
    n = len(data)
    rng = np.random.default_rng(2)
    data[n // 3:2 * n // 3] = rng.integers(0, 256, 2 * n // 3 - n // 3, dtype=np.uint8).tobytes()
    path.write_bytes(bytes(data))


def test_damaged_frame_cache_names_the_file_when_read(make_cache):
    from evsnn.data import FrameCacheDataset

    path = make_cache("train.h5", n_per_class=12)
    _damage_frames(path)
    with pytest.raises(FormatError) as err:
        ds = FrameCacheDataset(path)
        for i in range(len(ds)):
            ds[i]
    msg = str(err.value)
    assert str(path) in msg and "damaged" in msg and "\n" not in msg


def test_damaged_frame_cache_stops_training_with_one_sentence(make_cache, tmp_path):
    train = make_cache("train.h5", n_per_class=12)
    test = make_cache("test.h5", n_per_class=4, seed=1)
    _damage_frames(train)
    script = tmp_path / "train_script.py"
    script.write_text(textwrap.dedent(f"""
        from evsnn.train import RunSpec, fit
        from evsnn.util import setup_logging

        setup_logging({str(tmp_path / 'train.log')!r})
        net = {{"channels": 8, "n_conv": 2, "neuron": "plif", "fc_hidden": 32, "dropout": 0.2, "voters": 4}}
        train = {{"epochs": 2, "batch_size": 8, "optimizer": "adam", "lr": 0.01, "momentum": 0.9,
                  "weight_decay": 0.0, "scheduler": "none", "T_max": None, "step_size": 30, "gamma": 0.1,
                  "loss": "mse", "val_fraction": 0.2, "seed": 3, "device": "cpu", "amp": False, "num_workers": 0,
                  "threads": 1}}
        d = {str(tmp_path)!r}
        fit(RunSpec("gesture", "plif_net", net, train, code="t"), {str(train)!r}, {str(test)!r}, d + "/model.pt",
            d + "/metrics.csv", d + "/summary.json", d + "/checkpoint.pt")
    """))
    env = dict(os.environ, PYTHONPATH=SRC + os.pathsep + os.environ.get("PYTHONPATH", ""))
    r = subprocess.run([sys.executable, str(script)], capture_output=True, text=True, env=env, timeout=300)
    assert r.returncode != 0
    lines = r.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("evsnn error: ") and str(train) in lines[0], r.stderr
    assert "Traceback" not in (tmp_path / "train.log").read_text()
    assert not (tmp_path / "model.pt").exists()
