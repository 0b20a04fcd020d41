"""MVSEC (Zhu et al. RA-L 2018): streaming readers of the HDF5 release, calibration, rectification, time matching.

Files (reference/FORMATS.md section 3)::

    {seq}_data.hdf5   /davis/{left,right}/events               (N, 4) float64: x, y, t [s, ROS epoch], p (-1/+1)
                      /davis/{left,right}/image_raw_ts          (M,) float64 s, ~31 Hz
                      /davis/{left,right}/image_raw_event_inds  (M,) int64 index into events
                      /davis/{left,right}/image_raw             (M, 260, 346) uint8 (optional here)
    {seq}_gt.hdf5     /davis/{left,right}/depth_image_rect(_ts) (D, 260, 346) float32 metres, NaN = no depth, ~20 Hz
                      /davis/{left,right}/depth_image_raw(_ts)  same in raw (distorted) pixels
    camchain-imucam-{scene}.yaml                 Kalibr camchain: cam0 = left DAVIS, cam1 = right DAVIS
    {scene}_{left,right}_{x,y}_map.txt           260 x 346 floats: x_rect = x_map[y, x], y_rect = y_map[y, x]

Events are never read whole: a real sequence holds tens of millions of rows. :func:`search_time` finds a time in the
``t`` column by bisection (single-row probes, then one block of at most ``chunk`` rows), and
:func:`iter_event_chunks` / :func:`read_events_window` read a window ``[t0, t1)`` in blocks of ``chunk`` rows.
Events come back as :data:`evsnn.events.EVENT_DTYPE` (x, y uint16; t int64 µs; p int8, 1 = ON) with ``t`` relative
to the sequence's *origin*: :func:`sequence_origin`, the whole second at or before the first event of either camera
(so that ``t_us = round((t_s - origin) * 1e6)`` is exact and the two cameras share one clock). Depth and image
timestamps are converted with the same origin (:func:`to_us`).

Depth maps (~20 Hz) and images (~31 Hz) are not aligned: a depth map is matched to the events by *time*
(:func:`depth_event_windows`, :func:`match_event_windows`: the window ``[t_depth - dt, t_depth)``), never by index.
Rectified depth (``depth_image_rect``) goes with rectified events (:func:`rectify_events`).

Bad input raises :class:`~evsnn.errors.DataMissingError` (a missing file: what to download, from where, where to
put it) or :class:`~evsnn.errors.FormatError` (a truncated / corrupt / foreign HDF5 file, a calibration whose
resolution does not match the sequence, a gt file whose timestamps do not overlap its data file), each naming the
file.
"""
from __future__ import annotations

import logging
import math
import os
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import h5py
import numpy as np

from evsnn.errors import DataMissingError, FormatError
from evsnn.events import EVENT_DTYPE
from evsnn.h5safe import check_hdf5, size_problem

__all__ = [
    "SENSOR_SIZE", "CAMERAS", "DEPTH_KINDS", "DEFAULT_CHUNK",
    "scene_of", "data_file_name", "gt_file_name", "calib_file_names", "sequence_files", "missing_file_message",
    "open_hdf5", "events_dataset", "event_count", "event_time_range", "sequence_origin", "to_us", "search_time",
    "iter_event_chunks", "read_events_window", "read_depth_timestamps", "read_depth", "read_image_timestamps",
    "sensor_size", "check_gt_overlap", "MVSECSequence",
    "depth_event_windows", "match_event_windows", "match_nearest",
    "CameraCalibration", "StereoCalibration", "read_camchain", "read_rectification_map", "find_calibration",
    "load_calibration", "check_calibration", "rectify_events", "read_mvsec",
]

log = logging.getLogger("evsnn.mvsec")

#: (H, W) of the DAVIS346 sensors of MVSEC
SENSOR_SIZE = (260, 346)
CAMERAS = ("left", "right")
#: camchain entry of each camera
CAMCHAIN_KEYS = {"left": "cam0", "right": "cam1"}
DEPTH_KINDS = ("rect", "raw")
#: rows per block read from an events dataset (4 float64 columns: 2 MiB per block)
DEFAULT_CHUNK = 1 << 16
#: the bisection of :func:`search_time` reads the last SEARCH_BLOCK rows of the t column at once
SEARCH_BLOCK = 4096
#: HDF5 chunk cache per dataset (compressed event chunks are then decompressed once per window, not per probe)
RDCC_BYTES = 16 << 20
#: a dataset read whole (timestamps, image event indices: a few MB in MVSEC) may claim at most this many bytes
MAX_WHOLE_BYTES = 256 << 20


# ------------------------------------------------------------------------------------------------ naming
def scene_of(sequence: str) -> str:
    """``indoor_flying1`` -> ``indoor_flying``."""
    scene = sequence.rstrip("0123456789")
    if not scene or scene == sequence:
        raise ValueError(f"{sequence!r} is not an MVSEC sequence name (scene + number, e.g. indoor_flying1)")
    return scene


def data_file_name(sequence: str) -> str:
    return f"{sequence}_data.hdf5"


def gt_file_name(sequence: str) -> str:
    return f"{sequence}_gt.hdf5"


def calib_file_names(scene: str) -> list[str]:
    """The five calibration files of a scene (the content of ``{scene}_calib.zip``)."""
    return [f"camchain-imucam-{scene}.yaml"] + [f"{scene}_{cam}_{ax}_map.txt" for cam in CAMERAS for ax in "xy"]


def missing_file_message(name: str, dest_dir: str | os.PathLike, reason: str | None = None) -> str:
    """What to download (``name``, a file of the MVSEC distribution), from where (the registry's locations) and
    into which folder."""
    from evsnn.datasets import MVSEC
    from evsnn.download import manual_download_message

    try:
        remote = MVSEC.file(name)
        urls = remote.manual_urls()
        files = {name: remote.md5 or remote.sha256}
    except Exception:  # a file the registry does not list (another scene): point at the download page
        urls = [MVSEC.homepage + "download/"]
        files = {name: None}
    return manual_download_message(MVSEC.title, files, urls, dest_dir, reason=reason)


def sequence_files(root: str | os.PathLike, sequence: str) -> tuple[Path, Path]:
    """``(data, gt)`` paths of a sequence under ``root`` (directly in it or in its ``{scene}/`` sub-folder).

    Raises :class:`~evsnn.errors.DataMissingError` naming the missing file(s), the URLs and the folder.
    """
    root = Path(root)
    scene = scene_of(sequence)
    found, missing = [], []
    for name in (data_file_name(sequence), gt_file_name(sequence)):
        for cand in (root / name, root / scene / name):
            if cand.is_file():
                found.append(cand)
                break
        else:
            missing.append(name)
    if missing:
        msgs = [missing_file_message(name, root, reason=f"{name} is not in {root} nor in {root / scene}")
                for name in missing]
        raise DataMissingError(" ".join(msgs))
    return found[0], found[1]


# ---------------------------------------------------------------------------------------------- opening
_REQUIRED = {
    "data": [f"davis/{cam}/events" for cam in CAMERAS],
    "gt": ["davis/left/depth_image_rect", "davis/left/depth_image_rect_ts"],
}


def open_hdf5(path: str | os.PathLike, role: str | None = None) -> h5py.File:
    """Open an MVSEC HDF5 file read-only; ``role`` ``"data"`` / ``"gt"`` also checks its required datasets.

    A missing file raises :class:`~evsnn.errors.DataMissingError`; a truncated or corrupt file (or one that is
    not HDF5) and a file without the datasets of its role raise :class:`~evsnn.errors.FormatError` naming it.
    """
    path = Path(path)
    if not path.is_file():
        raise DataMissingError(missing_file_message(path.name, path.parent, reason=f"{path} does not exist"))
    try:
        h5 = h5py.File(path, "r", rdcc_nbytes=RDCC_BYTES)
    except OSError as exc:
        raise FormatError(path, None, f"cannot be opened as HDF5, the file is truncated or corrupt ({exc}); "
                                      "delete it and download it again") from None
    try:
        check_hdf5(h5, path)  # data of other local files (external storage, links, virtual datasets): refused
    except FormatError:
        h5.close()
        raise
    if role is not None:
        for key in _REQUIRED[role]:
            if key not in h5:
                h5.close()
                what = "*_data.hdf5 (events)" if role == "data" else "*_gt.hdf5 (depth)"
                raise FormatError(path, None, f"has no dataset /{key}: not an MVSEC {what} file")
    return h5


class _File:
    """Accept a path, an open h5py.File or an MVSECSequence; close only what was opened here."""

    def __init__(self, file, role: str):
        self.own = False
        if isinstance(file, MVSECSequence):
            self.h5 = file.data if role == "data" else file.gt
            if self.h5 is None:
                raise ValueError(f"the MVSECSequence has no {role} file")
        elif isinstance(file, h5py.File):
            self.h5 = file
        else:
            self.h5 = open_hdf5(file, role)
            self.own = True
        self.path = self.h5.filename

    def __enter__(self) -> "_File":
        return self

    def __exit__(self, *exc) -> None:
        if self.own:
            self.h5.close()


def _read(path, ds: h5py.Dataset, sel, *, whole: bool = False):
    """``ds[sel]`` with HDF5 read failures (a truncated or corrupt chunk) turned into FormatError; ``whole``: the
    whole dataset is read, so its claimed size is checked against MAX_WHOLE_BYTES first."""
    if whole and (why := size_problem(ds, MAX_WHOLE_BYTES)):
        raise FormatError(path, None, why)
    try:
        return ds[sel]
    except (OSError, RuntimeError) as exc:
        raise FormatError(path, None, f"dataset {ds.name} cannot be read ({exc}); the file is truncated or "
                                      "corrupt: delete it and download it again") from None


def events_dataset(h5: h5py.File, camera: str) -> h5py.Dataset:
    """The ``(N, 4)`` events dataset of ``camera``, checked for shape and dtype."""
    if camera not in CAMERAS:
        raise ValueError(f"camera must be one of {CAMERAS}, got {camera!r}")
    key = f"davis/{camera}/events"
    if key not in h5:
        raise FormatError(h5.filename, None, f"has no dataset /{key}: not an MVSEC *_data.hdf5 file")
    ds = h5[key]
    if ds.ndim != 2 or ds.shape[1] < 4 or ds.dtype.kind not in "fiu":
        raise FormatError(h5.filename, None, f"/{key} has shape {ds.shape} and dtype {ds.dtype}; expected (N, 4) "
                                             "numbers (x, y, t, p)")
    return ds


def event_count(file, camera: str) -> int:
    with _File(file, "data") as f:
        return int(events_dataset(f.h5, camera).shape[0])


def event_time_range(file, camera: str) -> tuple[float, float] | None:
    """(first, last) event time in seconds (file order), None for a camera without events."""
    with _File(file, "data") as f:
        ds = events_dataset(f.h5, camera)
        if ds.shape[0] == 0:
            return None
        return float(_read(f.path, ds, (0, 2))), float(_read(f.path, ds, (ds.shape[0] - 1, 2)))


def sequence_origin(file) -> float:
    """The time origin of a sequence (s): the whole second at or before its first event (either camera)."""
    with _File(file, "data") as f:
        firsts = [r[0] for r in (event_time_range(f.h5, cam) for cam in CAMERAS) if r is not None]
    if not firsts:
        raise FormatError(f.path, None, "holds no events in /davis/left/events nor /davis/right/events")
    return float(math.floor(min(firsts)))


def to_us(t_s, origin_s: float) -> np.ndarray:
    """Seconds (ROS epoch, float64) -> int64 µs relative to ``origin_s``."""
    return np.rint((np.asarray(t_s, dtype=np.float64) - origin_s) * 1e6).astype(np.int64)


def search_time(ds: h5py.Dataset, t_s: float, side: str = "left", *, chunk: int = DEFAULT_CHUNK,
                lo: int = 0, hi: int | None = None, hint: int | None = None) -> int:
    """``np.searchsorted(ds[:, 2], t_s, side)`` without reading the column: bisection with single-row probes until
    at most ``min(chunk, SEARCH_BLOCK)`` rows are left, then one read of those rows. ``ds[lo:hi, 2]`` must be
    sorted; ``lo`` / ``hi`` narrow the search. ``hint`` (an index near the answer, e.g. the previous window's)
    starts a galloping search there: windows that move forward in time cost one or two probes."""
    if side not in ("left", "right"):
        raise ValueError(f"side must be 'left' or 'right', got {side!r}")
    path = ds.file.filename
    hi = ds.shape[0] if hi is None else hi
    block = max(1, min(int(chunk), SEARCH_BLOCK))

    def before(i: int) -> bool:  # is row i before the answer?
        v = float(_read(path, ds, (i, 2)))
        return v < t_s or (side == "right" and v == t_s)

    if hint is not None and lo <= hint < hi and hi - lo > block:
        if before(hint):
            lo, step = hint + 1, block
            while lo + step < hi:
                if before(lo + step):
                    lo, step = lo + step + 1, 2 * step
                else:
                    hi = lo + step
                    break
        else:
            hi = hint
    while hi - lo > block:
        mid = (lo + hi) // 2
        if before(mid):
            lo = mid + 1
        else:
            hi = mid
    if hi <= lo:
        return lo
    values = _read(path, ds, (slice(lo, hi), 2))
    return lo + int(np.searchsorted(values, t_s, side=side))


def _to_events(path, key: str, rows: np.ndarray, first_row: int, origin_s: float, size) -> np.ndarray:
    """(n, 4) float rows -> EVENT_DTYPE, coordinates checked against the sensor size (H, W)."""
    H, W = size
    x, y = rows[:, 0], rows[:, 1]
    bad = ~((x >= 0) & (x < W) & (y >= 0) & (y < H))
    if bad.any():
        i = int(np.flatnonzero(bad)[0])
        raise FormatError(path, None, f"/{key} row {first_row + i}: pixel ({x[i]}, {y[i]}) is outside the "
                                      f"{W} x {H} sensor")
    ev = np.empty(len(rows), dtype=EVENT_DTYPE)
    ev["x"] = x
    ev["y"] = y
    ev["t"] = to_us(rows[:, 2], origin_s)
    ev["p"] = rows[:, 3] > 0
    return ev


def iter_event_chunks(file, camera: str, t0_us: int | None = None, t1_us: int | None = None, *,
                      origin_s: float | None = None, chunk: int = DEFAULT_CHUNK,
                      size: tuple[int, int] = SENSOR_SIZE, hint: int | None = None,
                      bounds: list | None = None) -> Iterator[np.ndarray]:
    """Yield the events of ``camera`` with ``t0_us <= t < t1_us`` (µs relative to ``origin_s``, default
    :func:`sequence_origin`; None = unbounded) in blocks of at most ``chunk`` rows (EVENT_DTYPE arrays).

    The window is located by :func:`search_time` (galloping from ``hint``, a row index near ``t0_us``, when
    given); no read ever covers more than ``chunk`` rows. ``bounds``, a list, receives the row range read."""
    with _File(file, "data") as f:
        ds = events_dataset(f.h5, camera)
        origin = sequence_origin(f.h5) if origin_s is None else float(origin_s)
        n = ds.shape[0]
        # one µs of margin: the exact bounds are applied on the integer µs below
        i0 = 0 if t0_us is None else search_time(ds, origin + (int(t0_us) - 1) * 1e-6, "left", chunk=chunk,
                                                 hint=hint)
        i1 = n if t1_us is None else search_time(ds, origin + (int(t1_us) + 1) * 1e-6, "left", chunk=chunk, lo=i0,
                                                 hint=i0)
        if bounds is not None:
            bounds[:] = [i0, i1]
        key = ds.name.lstrip("/")
        for a in range(i0, i1, chunk):
            b = min(a + chunk, i1)
            rows = np.asarray(_read(f.path, ds, slice(a, b)), dtype=np.float64)
            ev = _to_events(f.path, key, rows, a, origin, size)
            if t0_us is not None or t1_us is not None:
                keep = np.ones(len(ev), dtype=bool)
                if t0_us is not None:
                    keep &= ev["t"] >= t0_us
                if t1_us is not None:
                    keep &= ev["t"] < t1_us
                if not keep.all():
                    ev = ev[keep]
            if len(ev):
                yield ev


def read_events_window(file, camera: str, t0_us: int | None = None, t1_us: int | None = None, *,
                       origin_s: float | None = None, chunk: int = DEFAULT_CHUNK,
                       size: tuple[int, int] = SENSOR_SIZE, hint: int | None = None,
                       bounds: list | None = None) -> np.ndarray:
    """The events of ``camera`` with ``t0_us <= t < t1_us`` as one EVENT_DTYPE array sorted by ``t`` (streamed
    with :func:`iter_event_chunks`; a window that is not sorted in the file is sorted, stably)."""
    parts = list(iter_event_chunks(file, camera, t0_us, t1_us, origin_s=origin_s, chunk=chunk, size=size,
                                   hint=hint, bounds=bounds))
    ev = np.concatenate(parts) if parts else np.empty(0, dtype=EVENT_DTYPE)
    t = ev["t"]
    if len(t) > 1 and np.any(t[1:] < t[:-1]):
        log.warning("events of %s in [%s, %s) us are not sorted by time; sorting them", camera, t0_us, t1_us)
        ev = ev[np.argsort(t, kind="stable")]
    return ev


def _ts_dataset(h5: h5py.File, key: str) -> np.ndarray:
    if key not in h5:
        raise FormatError(h5.filename, None, f"has no dataset /{key}")
    return np.asarray(_read(h5.filename, h5[key], (), whole=True), dtype=np.float64)


def read_depth_timestamps(file, camera: str = "left", kind: str = "rect") -> np.ndarray:
    """Depth map timestamps (s, ROS epoch) of ``camera``; ``kind`` ``"rect"`` or ``"raw"``."""
    if kind not in DEPTH_KINDS:
        raise ValueError(f"depth kind must be one of {DEPTH_KINDS}, got {kind!r}")
    with _File(file, "gt") as f:
        return _ts_dataset(f.h5, f"davis/{camera}/depth_image_{kind}_ts")


def read_depth(file, index, camera: str = "left", kind: str = "rect") -> np.ndarray:
    """Depth map(s) ``index`` (an int, a slice or sorted indices) of ``camera``: float32 metres, NaN = no depth."""
    if kind not in DEPTH_KINDS:
        raise ValueError(f"depth kind must be one of {DEPTH_KINDS}, got {kind!r}")
    with _File(file, "gt") as f:
        key = f"davis/{camera}/depth_image_{kind}"
        if key not in f.h5:
            raise FormatError(f.path, None, f"has no dataset /{key}")
        return np.asarray(_read(f.path, f.h5[key], index), dtype=np.float32)


def read_image_timestamps(file, camera: str = "left") -> tuple[np.ndarray, np.ndarray | None]:
    """(image_raw_ts [s], image_raw_event_inds or None) of ``camera``."""
    with _File(file, "data") as f:
        ts = _ts_dataset(f.h5, f"davis/{camera}/image_raw_ts")
        key = f"davis/{camera}/image_raw_event_inds"
        inds = np.asarray(_read(f.path, f.h5[key], (), whole=True), dtype=np.int64) if key in f.h5 else None
        return ts, inds


def sensor_size(data=None, gt=None) -> tuple[int, int]:
    """(H, W) of a sequence, from its depth maps or images (the DAVIS346 default when neither is stored)."""
    for file, keys in ((gt, ("davis/left/depth_image_rect", "davis/left/depth_image_raw")),
                       (data, ("davis/left/image_raw",))):
        if file is None:
            continue
        with _File(file, "gt" if file is gt else "data") as f:
            for key in keys:
                if key in f.h5 and f.h5[key].ndim == 3:
                    return tuple(int(v) for v in f.h5[key].shape[1:])
    return SENSOR_SIZE


def check_gt_overlap(data, gt, camera: str = "left") -> None:
    """FormatError naming the gt file when none of its depth timestamps fall within the data file's events."""
    with _File(data, "data") as fd, _File(gt, "gt") as fg:
        rng = event_time_range(fd.h5, camera)
        ts = read_depth_timestamps(fg.h5, camera, "rect")
        if rng is None or ts.size == 0:
            raise FormatError(fg.path if ts.size == 0 else fd.path, None,
                              "has no depth timestamps" if ts.size == 0 else f"has no {camera} events")
        e0, e1 = rng
        if not np.any((ts >= e0) & (ts <= e1)):
            raise FormatError(fg.path, None, f"depth timestamps {ts.min():.3f}..{ts.max():.3f} s do not overlap the "
                                             f"{camera} events of {fd.path} ({e0:.3f}..{e1:.3f} s): the data and gt "
                                             "files belong to different sequences")


class MVSECSequence:
    """One sequence: its ``_data.hdf5`` (and ``_gt.hdf5``) opened once, sharing one time origin.

    ``events(camera, t0_us, t1_us)`` streams a window; ``depth_ts_us()`` / ``depth(i)`` read the ground truth;
    every time is µs relative to ``origin_s``. Opening checks that the gt timestamps overlap the events."""

    def __init__(self, data_path: str | os.PathLike, gt_path: str | os.PathLike | None = None, *,
                 chunk: int = DEFAULT_CHUNK, check_overlap: bool = True):
        self.data_path, self.gt_path = Path(data_path), (Path(gt_path) if gt_path is not None else None)
        self.chunk = chunk
        self._cursor: dict[str, int] = {}
        self.data = open_hdf5(self.data_path, "data")
        self.gt = None
        try:
            self.gt = open_hdf5(self.gt_path, "gt") if self.gt_path is not None else None
            self.origin_s = sequence_origin(self.data)
            self.size = sensor_size(self.data, self.gt)
            if self.gt is not None and check_overlap:
                check_gt_overlap(self.data, self.gt)
        except BaseException:
            self.close()
            raise

    @classmethod
    def from_root(cls, root: str | os.PathLike, sequence: str, **kw) -> "MVSECSequence":
        return cls(*sequence_files(root, sequence), **kw)

    def close(self) -> None:
        for h5 in (self.data, self.gt):
            if h5 is not None:
                h5.close()

    def __enter__(self) -> "MVSECSequence":
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def n_events(self, camera: str) -> int:
        return event_count(self.data, camera)

    def events(self, camera: str, t0_us: int | None = None, t1_us: int | None = None) -> np.ndarray:
        """Events of ``camera`` in ``[t0_us, t1_us)``; the search starts at the previous window of the camera
        (windows read in time order cost a probe or two each)."""
        bounds: list = []
        ev = read_events_window(self.data, camera, t0_us, t1_us, origin_s=self.origin_s, chunk=self.chunk,
                                size=self.size, hint=self._cursor.get(camera), bounds=bounds)
        if bounds:
            self._cursor[camera] = bounds[0]
        return ev

    def iter_events(self, camera: str, t0_us: int | None = None, t1_us: int | None = None,
                    chunk: int | None = None) -> Iterator[np.ndarray]:
        return iter_event_chunks(self.data, camera, t0_us, t1_us, origin_s=self.origin_s,
                                 chunk=chunk or self.chunk, size=self.size)

    def depth_ts_us(self, camera: str = "left", kind: str = "rect") -> np.ndarray:
        return to_us(read_depth_timestamps(self._gt(), camera, kind), self.origin_s)

    def depth(self, index, camera: str = "left", kind: str = "rect") -> np.ndarray:
        return read_depth(self._gt(), index, camera, kind)

    def image_ts_us(self, camera: str = "left") -> np.ndarray:
        return to_us(read_image_timestamps(self.data, camera)[0], self.origin_s)

    def _gt(self) -> h5py.File:
        if self.gt is None:
            raise DataMissingError(f"{self.data_path} was opened without its _gt.hdf5 file")
        return self.gt


# ---------------------------------------------------------------------------------------- time matching
def depth_event_windows(depth_ts_us, window_us: int) -> np.ndarray:
    """``(D, 2)`` int64 event windows ``[t_depth - window_us, t_depth)`` of the depth timestamps (µs)."""
    window_us = int(window_us)
    if window_us < 1:
        raise ValueError(f"window_us must be >= 1, got {window_us}")
    t = np.asarray(depth_ts_us, dtype=np.int64).reshape(-1)
    return np.stack([t - window_us, t], axis=1)


def match_event_windows(event_t_us, depth_ts_us, window_us: int) -> tuple[np.ndarray, np.ndarray]:
    """Index ranges ``[i0[d], i1[d])`` of the events (sorted ``t``, µs) in the window ``[t_d - window_us, t_d)``
    of each depth timestamp -- by time, never by the image index (depth ~20 Hz, images ~31 Hz)."""
    t = np.asarray(event_t_us)
    win = depth_event_windows(depth_ts_us, window_us)
    return (np.searchsorted(t, win[:, 0], side="left").astype(np.int64),
            np.searchsorted(t, win[:, 1], side="left").astype(np.int64))


def match_nearest(reference_ts, query_ts) -> np.ndarray:
    """For each query time the index of the nearest reference time (both sorted; ties go to the earlier one),
    e.g. the image closest to each depth map."""
    ref = np.asarray(reference_ts, dtype=np.float64)
    q = np.asarray(query_ts, dtype=np.float64)
    if ref.size == 0:
        raise ValueError("no reference timestamps")
    j = np.clip(np.searchsorted(ref, q, side="left"), 1, ref.size - 1) if ref.size > 1 else np.zeros(q.size, int)
    if ref.size == 1:
        return j.astype(np.int64)
    earlier = (q - ref[j - 1]) <= (ref[j] - q)
    return np.where(earlier, j - 1, j).astype(np.int64)


# ------------------------------------------------------------------------------------------- calibration
@dataclass(frozen=True)
class CameraCalibration:
    """One camera of a Kalibr camchain (MVSEC's ``camchain-imucam-{scene}.yaml``)."""

    name: str
    intrinsics: np.ndarray            # fx, fy, cx, cy (raw camera)
    distortion_model: str
    distortion_coeffs: np.ndarray
    rectification_matrix: np.ndarray  # 3 x 3: rectified <- raw
    projection_matrix: np.ndarray     # 3 x 4 of the rectified camera
    resolution: tuple[int, int]       # (W, H)

    @property
    def K(self) -> np.ndarray:
        fx, fy, cx, cy = self.intrinsics
        return np.array([[fx, 0.0, cx], [0.0, fy, cy], [0.0, 0.0, 1.0]])


@dataclass
class StereoCalibration:
    """Left/right calibration of a scene and (when loaded) the rectification maps, each (H, W) float32."""

    scene: str
    path: Path
    left: CameraCalibration
    right: CameraCalibration
    maps: dict[str, tuple[np.ndarray, np.ndarray]] = field(default_factory=dict)
    map_paths: dict[str, tuple[Path, Path]] = field(default_factory=dict)

    @property
    def fB(self) -> float:
        """focal length x baseline (px·m) = |cam1.projection_matrix[0][3]|; disparity = fB / depth."""
        return abs(float(self.right.projection_matrix[0, 3]))

    @property
    def focal(self) -> float:
        return float(self.left.projection_matrix[0, 0])

    @property
    def baseline(self) -> float:
        return self.fB / self.focal

    @property
    def resolution(self) -> tuple[int, int]:
        return self.left.resolution

    def camera(self, camera: str) -> CameraCalibration:
        return self.left if camera == "left" else self.right


def _matrix(path, cam: str, entry: dict, key: str, shape) -> np.ndarray:
    if key not in entry:
        raise FormatError(path, None, f"{cam}.{key} is missing")
    try:
        arr = np.asarray(entry[key], dtype=np.float64)
    except (TypeError, ValueError):
        raise FormatError(path, None, f"{cam}.{key} is not numeric: {entry[key]!r}") from None
    if shape is not None and arr.shape != shape:
        raise FormatError(path, None, f"{cam}.{key} has shape {arr.shape}, expected {shape}")
    return arr


def read_camchain(path: str | os.PathLike) -> dict[str, CameraCalibration]:
    """``{"left": cam0, "right": cam1}`` of a camchain yaml; FormatError naming the file and key otherwise."""
    import yaml

    path = Path(path)
    if not path.is_file():
        raise DataMissingError(missing_file_message(path.name, path.parent, reason=f"{path} does not exist"))
    try:
        doc = yaml.safe_load(path.read_text())
    except (yaml.YAMLError, UnicodeDecodeError) as exc:
        raise FormatError(path, None, f"is not readable YAML ({exc})") from None
    if not isinstance(doc, dict):
        raise FormatError(path, None, "is not a Kalibr camchain (a mapping with cam0, cam1)")
    cams = {}
    for camera, key in CAMCHAIN_KEYS.items():
        entry = doc.get(key)
        if not isinstance(entry, dict):
            raise FormatError(path, None, f"has no {key} entry ({camera} DAVIS camera)")
        res = _matrix(path, key, entry, "resolution", (2,))
        coeffs = _matrix(path, key, entry, "distortion_coeffs", None).reshape(-1)
        cams[camera] = CameraCalibration(
            name=key, intrinsics=_matrix(path, key, entry, "intrinsics", (4,)),
            distortion_model=str(entry.get("distortion_model", "equidistant")), distortion_coeffs=coeffs,
            rectification_matrix=_matrix(path, key, entry, "rectification_matrix", (3, 3)),
            projection_matrix=_matrix(path, key, entry, "projection_matrix", (3, 4)),
            resolution=(int(res[0]), int(res[1])))
    return cams


def read_rectification_map(path: str | os.PathLike, shape: tuple[int, int] | None = None) -> np.ndarray:
    """One ``{scene}_{camera}_{x,y}_map.txt`` as an (H, W) float32 array (whitespace text, one row per line);
    ``shape`` (H, W) is checked when given."""
    path = Path(path)
    if not path.is_file():
        raise DataMissingError(missing_file_message(path.name, path.parent, reason=f"{path} does not exist"))
    lines = [ln for ln in path.read_text().splitlines() if ln.strip()]
    if not lines:
        raise FormatError(path, None, "is empty, expected a rectification map (rows of floats)")
    cols = len(lines[0].split())
    try:
        values = np.array(" ".join(lines).split(), dtype=np.float32)
    except ValueError as exc:
        raise FormatError(path, None, f"holds a value that is not a number ({exc})") from None
    if values.size != cols * len(lines):
        bad = next(i for i, ln in enumerate(lines) if len(ln.split()) != cols)
        raise FormatError(path, None, f"line {bad + 1} has {len(lines[bad].split())} values, the first line {cols}: "
                                      "truncated or corrupt map")
    arr = values.reshape(len(lines), cols)
    if shape is not None and arr.shape != tuple(shape):
        raise FormatError(path, None, f"is {arr.shape[0]} rows x {arr.shape[1]} columns but the sequence's sensor is "
                                      f"{shape[0]} x {shape[1]}: calibration of another camera")
    return arr


def find_calibration(root: str | os.PathLike, scene: str, *, extract_to: str | os.PathLike | None = None) -> Path:
    """The folder holding ``camchain-imucam-{scene}.yaml`` (and the maps) under ``root``: ``root`` itself,
    ``root/{scene}_calib``, ``root/{scene}``, ``root/{scene}/{scene}_calib`` or, failing those, any folder below
    ``root``. A ``{scene}_calib.zip`` found there instead is extracted (safely) into ``extract_to`` (default: next
    to the zip). DataMissingError (what to download, from where, where to put it) when nothing is found."""
    root = Path(root)
    name = f"camchain-imucam-{scene}.yaml"
    cands = [root, root / f"{scene}_calib", root / scene, root / scene / f"{scene}_calib"]
    for c in cands:
        if (c / name).is_file():
            return c
    if root.is_dir():
        hits = sorted(root.rglob(name))
        if hits:
            return hits[0].parent
        zips = sorted(root.rglob(f"{scene}_calib.zip"))
        if zips:
            from evsnn.download import safe_extract

            dest = Path(extract_to) if extract_to is not None else zips[0].parent / f"{scene}_calib"
            safe_extract(zips[0], dest, progress=False)
            hits = sorted(dest.rglob(name))
            if hits:
                return hits[0].parent
            raise FormatError(zips[0], None, f"does not contain {name}")
    raise DataMissingError(missing_file_message(
        f"{scene}_calib.zip", root, reason=f"no {name} (nor {scene}_calib.zip) under {root}; the zip holds {name} "
                                           f"and the four {scene}_{{left,right}}_{{x,y}}_map.txt files"))


def check_calibration(calib: StereoCalibration, size: tuple[int, int], data_path=None) -> None:
    """FormatError naming the calibration file when its resolution or its maps do not match the sensor (H, W)."""
    H, W = size
    where = f" of {data_path}" if data_path is not None else ""
    for camera in CAMERAS:
        cam = calib.camera(camera)
        if cam.resolution != (W, H):
            raise FormatError(calib.path, None, f"{cam.name}.resolution is {list(cam.resolution)} but the sensor"
                                                f"{where} is {W} x {H} (W x H): calibration of another camera")
        for m, p in zip(calib.maps.get(camera, ()), calib.map_paths.get(camera, ())):
            if m.shape != (H, W):
                raise FormatError(p, None, f"is {m.shape[0]} rows x {m.shape[1]} columns but the sensor{where} is "
                                           f"{H} x {W}: calibration of another camera")


def load_calibration(calib_dir: str | os.PathLike, scene: str, *, size: tuple[int, int] | None = None,
                     maps: bool = True, data_path=None) -> StereoCalibration:
    """The camchain and (``maps``) the four rectification maps of ``scene`` from ``calib_dir`` (see
    :func:`find_calibration`); ``size`` (H, W), the sequence's sensor size, is checked against both."""
    calib_dir = Path(calib_dir)
    path = calib_dir / f"camchain-imucam-{scene}.yaml"
    cams = read_camchain(path)
    calib = StereoCalibration(scene, path, cams["left"], cams["right"])
    if maps:
        for camera in CAMERAS:
            paths = tuple(calib_dir / f"{scene}_{camera}_{ax}_map.txt" for ax in "xy")
            calib.map_paths[camera] = paths
            calib.maps[camera] = tuple(read_rectification_map(p) for p in paths)
    check_calibration(calib, size if size is not None else calib.resolution[::-1], data_path)
    return calib


def rectify_events(events: np.ndarray, x_map: np.ndarray, y_map: np.ndarray) -> np.ndarray:
    """Distorted -> rectified pixel coordinates: ``x_rect = x_map[y, x]``, ``y_rect = y_map[y, x]``, rounded to
    the nearest pixel; events whose rectified pixel falls outside the (H, W) = ``x_map.shape`` frame (or whose
    raw pixel lies outside the maps, or maps to NaN) are dropped. Returns a new array of the same dtype."""
    x_map = np.asarray(x_map)
    y_map = np.asarray(y_map)
    if x_map.shape != y_map.shape or x_map.ndim != 2:
        raise ValueError(f"x_map and y_map must be 2-D of one shape, got {x_map.shape} and {y_map.shape}")
    H, W = x_map.shape
    x = events["x"].astype(np.intp)
    y = events["y"].astype(np.intp)
    inside = (x >= 0) & (x < W) & (y >= 0) & (y < H)
    xs, ys = np.where(inside, x, 0), np.where(inside, y, 0)
    with np.errstate(invalid="ignore"):
        xr = np.rint(x_map[ys, xs])
        yr = np.rint(y_map[ys, xs])
        keep = inside & (xr >= 0) & (xr <= W - 1) & (yr >= 0) & (yr <= H - 1)  # NaN compares False
    out = events[keep].copy()
    out["x"] = xr[keep]
    out["y"] = yr[keep]
    return out


# --------------------------------------------------------------------------- evsnn.io format registration
def read_mvsec(path: str | os.PathLike) -> tuple[np.ndarray, dict]:
    """Every event of both cameras of a ``_data.hdf5`` (``CAMERA_EVENT_DTYPE``, c = 0 left / 1 right, merged by
    time), for ``evsnn.io.read_events`` / ``info``; streaming consumers use :func:`iter_event_chunks`."""
    from evsnn.events import CAMERA_EVENT_DTYPE

    with MVSECSequence(path) as seq:
        parts = []
        for c, cam in enumerate(CAMERAS):
            for ev in seq.iter_events(cam):
                out = np.empty(len(ev), dtype=CAMERA_EVENT_DTYPE)
                for k in EVENT_DTYPE.names:
                    out[k] = ev[k]
                out["c"] = c
                parts.append(out)
        ev = np.concatenate(parts) if parts else np.empty(0, dtype=CAMERA_EVENT_DTYPE)
        ev = ev[np.argsort(ev["t"], kind="stable")]
        header = {"origin_s": seq.origin_s, "resolution": [seq.size[1], seq.size[0]],
                  "camera_events": {cam: seq.n_events(cam) for cam in CAMERAS}}
    return ev, header


def _sniff_mvsec(head: bytes) -> bool:
    return head.startswith(b"\x89HDF\r\n\x1a\n")


def _describe(events: np.ndarray, header: dict) -> dict:
    return {"format": "MVSEC HDF5", "camera_layout": "DAVIS346 stereo (MVSEC, left/right)",
            "resolution": header["resolution"], "cameras": header["camera_events"], "origin_s": header["origin_s"]}


def _register() -> None:
    from evsnn.io import EventFormat, register_format

    register_format(EventFormat("MVSEC HDF5", _sniff_mvsec, lambda p: read_mvsec(p), _describe), first=True)


_register()
