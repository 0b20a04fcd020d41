import json

import h5py
import numpy as np
import pytest

from evsnn.data import FrameCacheDataset, split_indices
from evsnn.errors import DataMissingError
from evsnn.tasks.pose.data import build_pose_frames, prepare_dhp19


@pytest.fixture(scope="module")
def pose_caches(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("dhp19")
    ds = {"kind": "dhp19", "source": "synthetic",
          "synthetic": {"subjects": [1, 13], "sessions": [1], "movements": [1, 2, 3], "duration_s": 0.6, "seed": 2}}
    manifest = prepare_dhp19("dhp19", ds, str(tmp / "resources"), str(tmp / "manifest.json"))
    frames = {"dataset": "dhp19", "T": 2, "downsample": 4, "dhp19": {"events_per_frame": 300, "cameras": [2, 3]}}
    stats = build_pose_frames(manifest, frames, str(tmp / "train.h5"), str(tmp / "test.h5"))
    return manifest, stats, tmp


def test_manifest_lists_recordings(pose_caches):
    manifest, _, tmp = pose_caches
    assert json.loads((tmp / "manifest.json").read_text())["kind"] == "dhp19"
    subjects = {r["subject"] for r in manifest["recordings"]}
    assert subjects == {1, 13}


def test_pose_caches_layout_and_targets(pose_caches):
    _, stats, tmp = pose_caches
    assert stats["samples"]["train"] > 0 and stats["samples"]["test"] > 0
    with h5py.File(tmp / "train.h5") as h5:
        n = h5["frames"].shape[0]
        assert h5["frames"].shape[1:] == (2, 1, 65, 86) and h5["frames"].dtype == np.uint8
        assert h5["labels"].shape == (n, 2, 13) and h5["xyz"].shape == (n, 3, 13)
        assert set(np.unique(h5["camera"][:])) == {2, 3}
        assert h5.attrs["n_classes"] == 13 and h5.attrs["downsample"] == 4
        uv = h5["labels"][:]
        ok = np.isfinite(uv)
        assert ok.mean() > 0.8
        assert np.all(uv[:, 0][ok[:, 0]] <= 86) and np.all(uv[:, 1][ok[:, 1]] <= 65)
        # events concentrate around the projected joints: frame mass near joints exceeds the frame average
        frames = h5["frames"][:, -1, 0].astype(float)
        near, overall = [], frames.mean()
        for f, (u, v) in zip(frames, uv):
            for j in range(13):
                if np.isfinite(u[j]) and np.isfinite(v[j]):
                    r, c = int(v[j]), int(u[j])
                    near.append(f[max(r - 3, 0): r + 4, max(c - 3, 0): c + 4].mean())
        assert np.mean(near) > 2 * overall
        skipped = json.loads(h5.attrs["skipped_recordings"])
    ds = FrameCacheDataset(tmp / "train.h5")
    x, y = ds[0]
    assert x.shape == (2, 1, 65, 86) and y.shape == (2, 13)
    tr, va = split_indices(ds, 0.5, 0)
    assert len(tr) and len(va) and not set(ds.trial[tr]) & set(ds.trial[va])  # split by recording
    assert len(skipped) == 1  # the synthetic recording with > 5 special events, skipped as the official code does


def test_local_source_without_data_is_one_sentence(tmp_path):
    with pytest.raises(DataMissingError, match="DVS_movies"):
        prepare_dhp19("dhp19", {"kind": "dhp19", "source": "local", "path": str(tmp_path)}, "r", str(tmp_path / "m.json"))
    with pytest.raises(DataMissingError, match="sites.google.com/view/dhp19"):
        prepare_dhp19("dhp19", {"kind": "dhp19", "source": "download"}, "r", str(tmp_path / "m.json"))
    assert not (tmp_path / "m.json").exists()
