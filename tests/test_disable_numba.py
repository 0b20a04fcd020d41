"""EVSNN_DISABLE_NUMBA: every module with numba kernels falls back to numpy, with identical results, and a request
for the numba backend says why it cannot be had (src/evsnn/_accel.py). Run in child processes: the switch is read
once per process, when a module first builds its kernels."""
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]

CHILD = r"""
import json, sys
import numpy as np
from evsnn import frames
from evsnn.events import make_events
from evsnn.io import aedat2, aedat3
from evsnn.lava import event_synapse
from evsnn.tasks.pose import preprocess as dp

rng = np.random.default_rng(0)
n = 5000
ev = make_events(rng.integers(0, 32, n), rng.integers(0, 24, n), np.sort(rng.integers(0, 100_000, n)),
                 rng.integers(0, 2, n))
out = {"available": {m.__name__: m.numba_available() for m in (frames, aedat2, aedat3, dp, event_synapse)}}
x = (rng.integers(-2 ** 20, 2 ** 20, (9, 7, 6)) * (rng.random((9, 7, 6)) < 0.3)).astype(np.int32)
w = rng.integers(-128, 128, (10, 3, 3, 3))
sums = event_synapse.event_forward("conv", x, event_synapse.prepare_weight("conv", w, 6, 2), (2, 1), (1, 1), (1, 2),
                                  (7, 4, 10))   # (Wo, Ho, C) of a (W 9, H 7) input; backend "auto"
out["event_digest"] = int((sums.astype(np.int64) * np.arange(sums.size).reshape(sums.shape)).sum() % 1000003)
out["event_nonzero"] = int(np.count_nonzero(sums))
fr = frames.integrate_fixed_frames(ev, 4, split_by="number", H=24, W=32)   # backend "auto"
out["frames_sum"] = int(fr.sum())
out["frames_digest"] = int((fr.astype(np.int64) * np.arange(fr.size).reshape(fr.shape)).sum() % 1000003)
try:
    frames.integrate_fixed_frames(ev, 4, split_by="number", H=24, W=32, backend="numba")
    out["numba_request"] = "ran"
except ValueError as exc:
    out["numba_request"] = str(exc)
print(json.dumps(out))
"""


def _child(value):
    env = {k: v for k, v in os.environ.items() if k != "EVSNN_DISABLE_NUMBA"}
    if value is not None:
        env["EVSNN_DISABLE_NUMBA"] = value
    env["PYTHONPATH"] = str(ROOT / "src") + os.pathsep + env.get("PYTHONPATH", "")
    proc = subprocess.run([sys.executable, "-c", CHILD], env=env, capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr[-3000:]
    return json.loads(proc.stdout.strip().splitlines()[-1])


def test_disable_numba_falls_back_to_numpy_with_identical_results():
    pytest.importorskip("numba")
    on, off, zero = _child(None), _child("1"), _child("0")
    assert all(on["available"].values()), on["available"]
    assert not any(off["available"].values()), off["available"]  # every module: frames, aedat2/3, dhp19, lava events
    assert zero["available"] == on["available"]                           # "0" does not disable
    assert (off["frames_sum"], off["frames_digest"]) == (on["frames_sum"], on["frames_digest"]) and on["frames_sum"]
    assert (off["event_digest"], off["event_nonzero"]) == (on["event_digest"], on["event_nonzero"])
    assert on["event_nonzero"] > 0
    assert on["numba_request"] == "ran"
    assert "EVSNN_DISABLE_NUMBA" in off["numba_request"]
