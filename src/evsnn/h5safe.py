"""Reading HDF5 files that come from elsewhere (netx ``.net``, Keras ``.model``, MVSEC ``.hdf5``) safely.

An HDF5 file can make a read return the bytes of *other* local files: a dataset with external storage
(``H5Pset_external``: raw data in any file the author names), a virtual dataset (mapped from other files) or an
external link (a group or dataset of another file). And a dataset's header may claim any size, so reading it whole
can ask for terabytes. :func:`check_hdf5` walks every link and object of an open file before anything is read and
refuses the first of these it finds, and :func:`read_whole` checks a dataset's size before reading it; both raise
:class:`~evsnn.errors.FormatError` naming the file and the dataset. Files that evsnn writes itself (frame caches)
need neither.
"""
from __future__ import annotations

import os

import h5py
import numpy as np

from evsnn.errors import FormatError

__all__ = ["MAX_READ_BYTES", "check_hdf5", "open_checked", "read_whole", "dataset_nbytes", "size_problem"]

#: a dataset read whole may hold at most this many bytes (unless the caller gives another limit)
MAX_READ_BYTES = 1 << 30


def dataset_nbytes(ds: h5py.Dataset) -> int:
    """The bytes ``ds[()]`` would take in memory: its element count (from the claimed shape) x item size."""
    shape = ds.shape or ()
    n = 1
    for v in shape:
        n *= int(v)
    return n * int(ds.dtype.itemsize)


def size_problem(ds: h5py.Dataset, limit: int) -> str | None:
    nbytes = dataset_nbytes(ds)
    if nbytes > limit:
        return (f"dataset {ds.name} claims shape {tuple(int(v) for v in ds.shape)} of {ds.dtype} ({nbytes} bytes), "
                f"more than the {limit} bytes allowed; refusing to read it")
    return None


def check_hdf5(h5: h5py.File, path: str | os.PathLike | None = None, *, max_dataset_bytes: int | None = None,
               max_total_bytes: int | None = None) -> None:
    """Refuse (FormatError) a file with an external link, a dataset with external storage, a virtual dataset, or
    (when limits are given) a dataset or a sum of datasets larger than the limits. Nothing is read but metadata,
    and no link is followed."""
    path = os.fspath(path) if path is not None else h5.filename
    problems: list[str] = []

    def on_link(name: str, link) -> None:
        if problems:
            return
        if isinstance(link, h5py.ExternalLink):
            problems.append(f"/{name} is an external link to {link.filename}:{link.path}; refusing to follow it")
        elif not isinstance(link, (h5py.HardLink, h5py.SoftLink)):
            problems.append(f"/{name} is a link of an unknown kind; refusing to follow it")

    h5.visititems_links(on_link)  # every link of every group; soft and external links are not followed
    total = 0

    def on_object(name: str, obj) -> None:
        nonlocal total
        if problems or not isinstance(obj, h5py.Dataset):
            return
        if obj.is_virtual:
            problems.append(f"dataset /{name} is a virtual dataset (mapped from other files); refusing to read it")
        elif obj.external:
            files = ", ".join(sorted({os.fsdecode(e[0]) for e in obj.external}))
            problems.append(f"dataset /{name} keeps its data in external files ({files}); refusing to read it")
        elif max_dataset_bytes is not None and (why := size_problem(obj, max_dataset_bytes)):
            problems.append(why)
        else:
            total += dataset_nbytes(obj)
            if max_total_bytes is not None and total > max_total_bytes:
                problems.append(f"its datasets claim more than {max_total_bytes} bytes in all (at /{name}); "
                                "refusing to read them")

    if not problems:
        h5.visititems(on_object)  # every object once (hard links), soft and external links not followed
    if problems:
        raise FormatError(path, None, problems[0])


def open_checked(path: str | os.PathLike, *, what: str = "HDF5", **limits) -> h5py.File:
    """``h5py.File(path, "r")`` after :func:`check_hdf5` (closed again when the check fails)."""
    path = os.fspath(path)
    try:
        h5 = h5py.File(path, "r")
    except OSError as exc:
        raise FormatError(path, None, f"not a readable {what} file ({exc})") from None
    try:
        check_hdf5(h5, path, **limits)
    except BaseException:
        h5.close()
        raise
    return h5


def read_whole(ds: h5py.Dataset, path: str | os.PathLike | None = None, *,
               max_bytes: int = MAX_READ_BYTES) -> np.ndarray:
    """``ds[()]`` after checking that its claimed size fits ``max_bytes`` (FormatError naming file and dataset)."""
    why = size_problem(ds, max_bytes)
    if why:
        raise FormatError(os.fspath(path) if path is not None else ds.file.filename, None, why)
    return ds[()]
