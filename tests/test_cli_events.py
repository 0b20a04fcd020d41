"""``python -m evsnn events info FILE``: JSON for AEDAT 3.1 and 2.0 files, exit 2 and one line for a corrupt one."""
from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from evsnn.errors import FormatError
from evsnn.events import make_events
from evsnn.io import info
from evsnn.io.aedat2 import write_aedat2
from evsnn.io.aedat3 import write_aedat3

SRC = str(Path(__file__).resolve().parents[1] / "src")


def run_cli(*args):
    env = dict(os.environ)
    env["PYTHONPATH"] = SRC + os.pathsep + env.get("PYTHONPATH", "")
    return subprocess.run([sys.executable, "-m", "evsnn", *args], capture_output=True, text=True, env=env,
                          timeout=60)


@pytest.fixture(scope="module")
def files(tmp_path_factory):
    d = tmp_path_factory.mktemp("cli")
    rng = np.random.default_rng(0)
    n = 3000
    t = 5_000_000 + np.sort(rng.integers(0, 2_000_000, n))
    ev = make_events(rng.integers(0, 128, n), rng.integers(0, 128, n), t, rng.integers(0, 2, n))
    a3 = write_aedat3(d / "user01_led.aedat", ev, packet_size=700)
    evc = make_events(rng.integers(0, 346, n), rng.integers(0, 260, n), t, rng.integers(0, 2, n),
                      c=np.repeat(np.arange(4), n // 4))
    a2 = write_aedat2(d / "mov1.aedat", evc, layout="davis346", special_timestamps=[int(t[0]) + 1, int(t[-1])])
    corrupt = d / "broken.aedat"
    corrupt.write_bytes(a3.read_bytes()[:-5])
    other = d / "notes.txt"
    other.write_text("hello\n")
    return {"a3": a3, "a2": a2, "t": t, "corrupt": corrupt, "other": other, "n": n}


def test_info_aedat31(files):
    r = run_cli("events", "info", str(files["a3"]))
    assert r.returncode == 0, r.stderr
    out = json.loads(r.stdout)
    t = files["t"]
    assert out["file"] == str(files["a3"])
    assert out["format"] == "AEDAT 3.1"
    assert out["camera_layout"] == "DVS128"
    assert out["events"] == files["n"]
    assert out["resolution"] == [128, 128]
    assert out["t_start_us"] == int(t[0]) and out["t_end_us"] == int(t[-1])
    assert out["duration_s"] == pytest.approx((t[-1] - t[0]) * 1e-6)
    assert out["sources"] == [{"id": 1, "description": "DVS128"}]
    assert out["packets"] == 5 + 1  # 3000 events in packets of 700, plus the special packet


def test_info_aedat20_dhp19(files):
    r = run_cli("events", "info", str(files["a2"]))
    assert r.returncode == 0, r.stderr
    out = json.loads(r.stdout)
    assert out["format"] == "AEDAT 2.0"
    assert out["camera_layout"] == "DAVIS346 (DHP19, 4 cameras)"
    assert out["events"] == files["n"]
    assert out["resolution"] == [346, 260]
    assert out["cameras"] == {"0": 750, "1": 750, "2": 750, "3": 750}
    assert out["special_events"] == 2
    assert out["t_start_us"] == int(files["t"][0])


def test_info_corrupt_file_exits_2_with_one_line(files):
    r = run_cli("events", "info", str(files["corrupt"]))
    assert r.returncode == 2
    assert r.stdout == ""
    lines = r.stderr.strip().splitlines()
    assert len(lines) == 1
    assert "broken.aedat" in lines[0] and "byte offset" in lines[0] and "truncated packet" in lines[0]


def test_info_unknown_format(files):
    with pytest.raises(FormatError, match=r"notes\.txt at byte offset 0: not a supported event file"):
        info(files["other"])
    r = run_cli("events", "info", str(files["other"]))
    assert r.returncode == 2 and "not a supported event file" in r.stderr
    r = run_cli("events", "info", str(files["other"]) + ".missing")
    assert r.returncode == 2 and "file not found" in r.stderr
