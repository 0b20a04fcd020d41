"""Frame caches on disk (one HDF5 file per split) and the torch datasets that read them.

Layout of a cache file::

    /frames   (N, T, C, H, W) uint16   event counts, chunked one sample per chunk, lzf-compressed
    /labels   (N,) int64 | (N, ...) f4  class index (0-based), or a target array (pose: joint positions)
    /trial    (N,) int32               index into /trials
    /trials   (K,) str                 source recording of each sample (e.g. user24_led.aedat)
    /window   (N, 2) int64             [start, end) of the label window in µs
    /<extra>  (N, ...)                 task-specific per-sample arrays (pose: xyz, camera, movement, frame)
    attrs: every parameter that made the file (T, split_by, downsample, H, W, dataset, source digest, evsnn version)
"""
from __future__ import annotations

import math

import os
from pathlib import Path

import h5py
import numpy as np
import torch
from torch.utils.data import Dataset

from evsnn.errors import FormatError, reading_hdf5


class FrameCacheWriter:
    """Append samples to an HDF5 frame cache; used inside ``atomic_path`` so partial files never survive."""

    def __init__(self, path: str | os.PathLike, frame_shape: tuple[int, ...], attrs: dict, dtype=np.uint16):
        self.h5 = h5py.File(path, "w")
        self.frame_shape = tuple(frame_shape)
        self.dtype = np.dtype(dtype)
        self.frames = self.h5.create_dataset("frames", shape=(0, *frame_shape), maxshape=(None, *frame_shape),
                                             dtype=self.dtype, chunks=(1, *frame_shape), compression="lzf")
        self.labels = []
        self._label_ds = None
        self.trial = []
        self.window = []
        self.trials: list[str] = []
        self.extra: dict[str, list] = {}
        self._trial_index: dict[str, int] = {}
        for k, v in attrs.items():
            self.h5.attrs[k] = v

    def add(self, frames: np.ndarray, label, trial: str, window: tuple[int, int], **extra) -> None:
        """Append one sample; ``label`` is a class index or a target array (e.g. joint positions), ``extra``
        per-sample arrays stored as datasets of their own (e.g. 3D joints, camera, movement)."""
        n = self.frames.shape[0]
        self.frames.resize(n + 1, axis=0)
        info = np.iinfo(self.dtype) if self.dtype.kind in "iu" else None
        if info is not None:
            frames = np.clip(frames, info.min, info.max)
        self.frames[n] = frames.astype(self.dtype, copy=False)
        if np.ndim(label) == 0:
            self.labels.append(int(label))
        else:  # target arrays (pose joints, depth maps) go to the file as they come: a real split's depth maps
            label = np.asarray(label, dtype=np.float32)  # are gigabytes, too many to hold until close()
            if self._label_ds is None:
                self._label_ds = self.h5.create_dataset("labels", shape=(0, *label.shape),
                                                        maxshape=(None, *label.shape), dtype=np.float32,
                                                        chunks=(1, *label.shape), compression="lzf")
            self._label_ds.resize(n + 1, axis=0)
            self._label_ds[n] = label
            self.labels.append(None)
        for key, value in extra.items():
            self.extra.setdefault(key, []).append(value)
        if trial not in self._trial_index:
            self._trial_index[trial] = len(self.trials)
            self.trials.append(trial)
        self.trial.append(self._trial_index[trial])
        self.window.append(window)

    def close(self) -> None:
        if self._label_ds is None:
            self.h5.create_dataset("labels", data=np.asarray(self.labels, dtype=np.int64))
        elif any(v is not None for v in self.labels):
            raise ValueError(f"{self.h5.filename}: class indices and target arrays mixed in one cache")
        for key, values in self.extra.items():
            self.h5.create_dataset(key, data=np.asarray(values))
        self.h5.create_dataset("trial", data=np.asarray(self.trial, dtype=np.int32))
        self.h5.create_dataset("trials", data=np.asarray(self.trials, dtype=object), dtype=h5py.string_dtype())
        self.h5.create_dataset("window", data=np.asarray(self.window, dtype=np.int64).reshape(-1, 2))
        self.h5.attrs["n_samples"] = len(self.labels)
        self.h5.close()


def read_cache_attrs(path: str | os.PathLike) -> dict:
    with _open(path) as h5, _reading(path):
        return {k: (v.item() if hasattr(v, "item") else v) for k, v in h5.attrs.items()}


def _open(path):
    try:
        return h5py.File(path, "r")
    except OSError as exc:
        raise FormatError(path, None, f"cannot be opened as an HDF5 frame cache ({exc})") from None


def _reading(path):
    """Reading a cache whose bytes are damaged names the file (h5py's own error names none)."""
    return reading_hdf5(path, "frame cache", "delete it and rerun snakemake to rebuild it")


#: targets with more values per sample than this (dense maps) are read from the file per sample
DENSE_LABEL_SIZE = 1024


class FrameCacheDataset(Dataset):
    """Samples of a frame cache as (float32 tensor [T, C, H, W], label); the file is opened lazily per worker."""

    def __init__(self, path: str | os.PathLike, indices=None):
        self.path = str(path)
        with _open(self.path) as h5, _reading(self.path):
            for key in ("frames", "labels"):
                if key not in h5:
                    raise FormatError(self.path, None, f"is not a frame cache (dataset /{key} missing)")
            # class indices and small targets (pose joints) are read at once; dense maps (depth) per sample, so
            # that a training process does not hold every map of a split (``labels`` reads them on demand)
            dense = int(np.prod(h5["labels"].shape[1:], dtype=np.int64)) > DENSE_LABEL_SIZE
            self._labels = None if dense else h5["labels"][:]
            self.n_labels = int(h5["labels"].shape[0])
            self.is_classification = h5["labels"].ndim == 1 and np.issubdtype(h5["labels"].dtype, np.integer)
            self.frame_shape = tuple(h5["frames"].shape[1:])
            self.attrs = {k: h5.attrs[k] for k in h5.attrs}
            self.trials = [t.decode() if isinstance(t, bytes) else t for t in h5["trials"][:]]
            self.trial = h5["trial"][:]
        self.indices = np.arange(self.n_labels) if indices is None else np.asarray(indices)
        self._h5 = None

    @property
    def labels(self) -> np.ndarray:
        """Every label of the file (dense maps are read from the file on first use)."""
        if self._labels is None:
            with _open(self.path) as h5, _reading(self.path):
                self._labels = h5["labels"][:]
        return self._labels

    def __len__(self) -> int:
        return len(self.indices)

    def __getitem__(self, i):
        if self._h5 is None:
            self._h5 = _open(self.path)
        j = int(self.indices[i])
        with _reading(self.path):
            x = torch.from_numpy(self._h5["frames"][j].astype(np.float32))
            y = self.labels[j] if self._labels is not None else self._h5["labels"][j]
        return x, (int(y) if np.ndim(y) == 0 else torch.from_numpy(np.asarray(y, dtype=np.float32)))

    def __getstate__(self):
        state = dict(self.__dict__)
        state["_h5"] = None
        return state

    def subset(self, indices) -> "FrameCacheDataset":
        out = FrameCacheDataset.__new__(FrameCacheDataset)
        out.__dict__.update(self.__getstate__())
        out.indices = self.indices[np.asarray(indices, dtype=np.int64)]
        return out

    @property
    def n_classes(self) -> int:
        return int(self.attrs.get("n_classes", int(self.labels.max()) + 1))


def stratified_split(labels: np.ndarray, fraction: float, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """Split indices into (train, val) keeping class proportions; ``fraction`` of each class goes to val."""
    rng = np.random.default_rng(seed)
    train, val = [], []
    for c in np.unique(labels):
        idx = np.flatnonzero(labels == c)
        rng.shuffle(idx)
        k = int(round(len(idx) * fraction))
        if fraction > 0 and len(idx) > 1:
            k = max(k, 1)
        val.append(idx[:k])
        train.append(idx[k:])
    return np.sort(np.concatenate(train)), np.sort(np.concatenate(val)) if val else np.array([], dtype=np.int64)


VAL_SPLITS = ("stratified_random", "per_class_tail")


def per_class_tail_split(labels: np.ndarray, fraction: float) -> tuple[np.ndarray, np.ndarray]:
    """The PLIF paper's deterministic split: of each class, in the order of the training set, the first
    ``ceil(n * (1 - fraction))`` samples train and the rest validate (fangwei123456/Parametric-Leaky-Integrate-
    and-Fire-Spiking-Neuron@f644ff6 ``codes/train_val.py:22-40`` ``split_dataset``, called with
    ``1 - val_ratio`` at line 229, ``val_ratio`` 0.15 at line 69). Raises ValueError naming the first class whose
    validation part would be empty (fewer than about 1/fraction samples)."""
    labels = np.asarray(labels)
    train, val = [], []
    for c in np.unique(labels):
        idx = np.flatnonzero(labels == c)
        pos = math.ceil(len(idx) * (1 - fraction))
        if pos >= len(idx):
            raise ValueError(f"train.val_split per_class_tail with val_fraction {fraction} leaves class {int(c)} "
                             f"({len(idx)} training samples) without a validation sample; raise val_fraction "
                             f"to at least {1 / len(idx):.3g} or use stratified_random")
        train.append(idx[:pos])
        val.append(idx[pos:])
    return np.sort(np.concatenate(train)), np.sort(np.concatenate(val))


def split_indices(ds: "FrameCacheDataset", fraction: float, seed: int,
                  method: str = "stratified_random") -> tuple[np.ndarray, np.ndarray]:
    """Validation split carved from training data: stratified by class for class labels (``stratified_random``:
    seeded random ``fraction`` of each class; ``per_class_tail``: the last ``fraction`` of each class, see
    :func:`per_class_tail_split`); for regression targets (pose) whole recordings go to validation so that no frame
    of a validation recording is trained on."""
    if method not in VAL_SPLITS:
        raise ValueError(f"train.val_split must be one of {', '.join(VAL_SPLITS)}, not {method!r}")
    if method == "per_class_tail":
        if not ds.is_classification:
            raise ValueError("train.val_split per_class_tail splits class labels; this cache holds regression "
                             "targets, use stratified_random (whole recordings go to validation)")
        return per_class_tail_split(ds.labels, fraction)
    if ds.is_classification:
        return stratified_split(ds.labels, fraction, seed)
    trials = np.unique(ds.trial)
    rng = np.random.default_rng(seed)
    k = int(round(len(trials) * fraction))
    if fraction > 0 and len(trials) > 1:
        k = max(k, 1)
    val_trials = rng.permutation(trials)[:k]
    is_val = np.isin(ds.trial, val_trials)
    return np.flatnonzero(~is_val), np.flatnonzero(is_val)


def holdout_split(ds: "FrameCacheDataset") -> tuple[np.ndarray, np.ndarray] | None:
    """(test indices, validation indices) of a test cache whose samples carry a ``validation`` flag (a protocol
    that validates on part of the test sequence, as StereoSpike's does); None for a cache without it."""
    with _open(ds.path) as h5, _reading(ds.path):
        if "validation" not in h5:
            return None
        flag = h5["validation"][:].astype(bool)[ds.indices]
    return np.flatnonzero(~flag), np.flatnonzero(flag)


def time_major(batch: torch.Tensor) -> torch.Tensor:
    """[N, T, ...] -> [T, N, ...], the layout of spikingjelly's multi-step mode."""
    return batch.transpose(0, 1).contiguous()


def cache_n_classes(train_ds, test_ds) -> int:
    """Classes (or joints) of a cache: its ``n_classes`` attribute, else the largest label + 1."""
    if "n_classes" in train_ds.attrs:
        return int(train_ds.attrs["n_classes"])
    return int(max(train_ds.labels.max(), test_ds.labels.max()) + 1)

