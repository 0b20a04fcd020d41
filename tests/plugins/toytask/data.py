"""The toy raw format: one ``.npy`` file of evsnn events per recording, the label in the file name."""
from __future__ import annotations

import json
from pathlib import Path

import numpy as np

from evsnn.data import FrameCacheWriter
from evsnn.events import make_events
from evsnn.frames import integrate_fixed_frames
from evsnn.util import atomic_path, fresh_dir, write_json

SIZE = 16


def _sweep(direction: int, rng) -> np.ndarray:
    t = np.sort(rng.integers(0, 100_000, 600))
    x = (t * SIZE // 100_000) if direction == 0 else (SIZE - 1 - t * SIZE // 100_000)
    y = rng.integers(0, SIZE, t.size)
    return make_events(x, y, t, np.ones(t.size))


def prepare(name: str, cfg: dict, data_root: str, manifest_out: str) -> dict:
    syn = {"n_train": 24, "n_test": 8, "seed": 0, **cfg.get("synthetic", {})}
    rng = np.random.default_rng(syn["seed"])
    root = fresh_dir(Path(data_root) / "synthetic" / name)
    files = {}
    for split in ("train", "test"):
        (root / split).mkdir(parents=True)
        for i in range(syn[f"n_{split}"]):
            label = i % 2
            path = root / split / f"rec{i:03d}_{label}.npy"
            np.save(path, _sweep(label, rng))
            files[f"{split}/{path.name}"] = path.stat().st_size
    manifest = {"dataset": name, "kind": "toy_sweeps", "source": "synthetic", "root": str(root), "files": files}
    write_json(manifest_out, manifest)
    return manifest


def build_frames(manifest: dict, frames_cfg: dict, out_train: str, out_test: str) -> dict:
    T = frames_cfg["T"]
    for split, out in (("train", out_train), ("test", out_test)):
        with atomic_path(out, suffix=".h5") as tmp:
            w = FrameCacheWriter(tmp, (T, 2, SIZE, SIZE), {"n_classes": 2, "T": T, "downsample": 1,
                                                           "class_names": "right,left"})
            try:
                for rel in sorted(f for f in manifest["files"] if f.startswith(split + "/")):
                    ev = np.load(Path(manifest["root"]) / rel)
                    label = int(rel.rsplit("_", 1)[1][0])
                    w.add(integrate_fixed_frames(ev, T, H=SIZE, W=SIZE), label, rel, (0, 100_000))
            finally:
                w.close()
    return {"frames": json.dumps(frames_cfg)}
