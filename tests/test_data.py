"""Frame caches: class labels and target arrays, dense target maps streamed to the file and read per sample."""
import h5py
import numpy as np
import pytest

from evsnn.data import FrameCacheDataset, FrameCacheWriter, split_indices
from evsnn.util import atomic_path


def _write(path, labels, trials):
    with atomic_path(path) as tmp:
        w = FrameCacheWriter(tmp, (2, 1, 4, 5), {"T": 2})
        for i, (label, trial) in enumerate(zip(labels, trials)):
            w.add(np.full((2, 1, 4, 5), i), label, trial, (i, i + 1))
        w.close()
    return path


def test_depth_maps_are_streamed_to_the_file_and_read_per_sample(tmp_path):
    rng = np.random.default_rng(0)
    maps = [rng.uniform(1, 5, (40, 50)).astype(np.float32) for _ in range(6)]
    maps[2][0, 0] = np.nan
    path = _write(tmp_path / "depth.h5", maps, ["s/0", "s/0", "s/1", "s/1", "t/0", "t/0"])
    with h5py.File(path) as h5:
        assert h5["labels"].shape == (6, 40, 50) and h5["labels"].chunks == (1, 40, 50)
    ds = FrameCacheDataset(path)
    assert ds._labels is None and len(ds) == 6 and not ds.is_classification
    x, y = ds[2]
    assert x.shape == (2, 1, 4, 5) and float(x[0, 0, 0, 0]) == 2
    np.testing.assert_array_equal(y.numpy(), maps[2])                    # NaN where there is no ground truth
    tr, va = split_indices(ds, 0.34, seed=0)                              # whole trials to validation ...
    assert ds._labels is None                                             # ... without loading every map
    assert set(tr) | set(va) == set(range(6)) and len({int(ds.trial[i]) for i in va}) == 1
    np.testing.assert_array_equal(ds.labels, np.stack(maps))             # all of them on demand
    sub = ds.subset([5, 0])
    np.testing.assert_array_equal(sub[0][1].numpy(), maps[5])


def test_class_labels_and_small_targets_stay_in_memory(tmp_path):
    ds = FrameCacheDataset(_write(tmp_path / "cls.h5", [0, 1, 1, 0], ["a", "a", "b", "b"]))
    assert ds.is_classification and ds._labels is not None and ds[1][1] == 1
    joints = [np.full((2, 13), i, dtype=np.float32) for i in range(3)]
    ds = FrameCacheDataset(_write(tmp_path / "pose.h5", joints, ["a", "b", "c"]))
    assert not ds.is_classification and ds._labels is not None and ds.labels.shape == (3, 2, 13)


def test_class_indices_and_arrays_cannot_be_mixed(tmp_path):
    with pytest.raises(ValueError, match="mixed"):
        _write(tmp_path / "mixed.h5", [np.zeros((4, 5)), 1], ["a", "b"])
