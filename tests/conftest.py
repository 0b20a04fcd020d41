import os
import sys
from pathlib import Path

import numpy as np
import pytest

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "src"))
os.environ.setdefault("OMP_NUM_THREADS", "2")

# EVSNN_REQUIRE: environment skips (Chromium, SLURM, Lava, numba, spikingjelly) fail where they must run
from _require import pytest_make_collect_report, pytest_runtest_makereport  # noqa: E402,F401


@pytest.fixture(autouse=True)
def _seed_torch():
    """Every test starts from the same torch random state, whatever ran before it (a test that needs spikes or
    gradients from randomly initialised weights also seeds itself). torch is not imported here for tests that
    do not use it."""
    torch = sys.modules.get("torch")
    if torch is not None:
        torch.manual_seed(0)
    yield


@pytest.fixture
def make_cache(tmp_path):
    """Write a small learnable frame cache: class c has its events in quadrant/stripe c."""
    from evsnn.data import FrameCacheWriter

    def _make(name="train.h5", n_per_class=12, n_classes=4, T=4, H=16, W=16, seed=0, noise=0.2):
        rng = np.random.default_rng(seed)
        path = tmp_path / name
        w = FrameCacheWriter(path, (T, 2, H, W), {"T": T, "n_classes": n_classes, "H": H, "W": W})
        for c in range(n_classes):
            for i in range(n_per_class):
                fr = (rng.random((T, 2, H, W)) < noise).astype(np.uint16)
                rows = slice(c * H // n_classes, (c + 1) * H // n_classes)
                fr[:, c % 2, rows, :] += rng.poisson(2.0, size=(T, H // n_classes, W)).astype(np.uint16)
                w.add(fr, c, f"trial{i % 3}.aedat", (i * 10, i * 10 + 10))
        w.close()
        return path

    return _make
