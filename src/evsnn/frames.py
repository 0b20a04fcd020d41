"""Event -> frame integration: fixed frame counts (spikingjelly's rule), fixed time bins, voxel grids.

All functions take events as a structured array with fields ``x``, ``y``, ``p`` (and ``t`` where time
matters), e.g. :data:`evsnn.events.EVENT_DTYPE`, or as a mapping of equal-length arrays with those keys
(the ``dict`` spikingjelly uses). Frames have shape ``(T, 2, H, W)``: channel 0 counts OFF events
(``p == 0``), channel 1 counts ON events (``p != 0``, exactly spikingjelly's ``p != 0`` test), and
``frame[c, y, x]`` is the number of events at that pixel.

:func:`integrate_fixed_frames` reproduces spikingjelly's
``integrate_events_by_fixed_frames_number`` (the frames the DVS128 Gesture PLIF numbers were
obtained with; see reference/FORMATS.md section 1.6) bit for bit, and is several times faster:

- ``split_by="number"``: frame ``j`` holds events ``[floor(N/T)*j, floor(N/T)*(j+1))``, the last frame
  runs to ``N`` (it also takes the ``N % T`` remainder);
- ``split_by="time"``: with ``dt = (t[N-1] - t[0]) // T``, frame ``j`` holds the events with
  ``t[0] + dt*j <= t < t[0] + dt*(j+1)``, the last frame runs to ``N`` (it also takes every event at or
  after ``t[0] + dt*T``, in particular the last event).

Counting is one pass over the events: a compiled kernel when numba is importable (about 3 ns per event,
~300 M events/s on one core; the time split checks that ``t`` is sorted in the same pass), otherwise a
pure-numpy path that processes cache-sized chunks with one ``np.bincount`` per chunk (~100 M events/s).
Both give identical results; ``backend=`` picks one explicitly and the environment variable
``EVSNN_DISABLE_NUMBA=1`` makes ``"auto"`` use numpy. numba is imported lazily, on the first count.
See benchmarks/bench_frames.py for the comparison with spikingjelly and tonic.
"""
from __future__ import annotations

import bisect
import functools
from collections.abc import Mapping
from typing import Any

import numpy as np

from evsnn._accel import BACKENDS, import_numba, resolve_backend

__all__ = [
    "SPLIT_BY",
    "BACKENDS",
    "numba_available",
    "frame_segments",
    "time_bin_segments",
    "integrate_segments",
    "integrate_fixed_frames",
    "integrate_by_time_bins",
    "voxel_grid",
]

SPLIT_BY = ("number", "time")

# Events per chunk of the numpy path: the chunk's index buffers (and bincount's table for a
# 128x128 sensor) stay in L2 cache; measured optimum between 2**15 and 2**18.
_CHUNK = 1 << 16


# --------------------------------------------------------------------------------------------------
# numba kernels (optional, compiled lazily on first use, cached on disk)
# --------------------------------------------------------------------------------------------------
@functools.lru_cache(maxsize=1)
def _numba_kernels():
    """Compile (or load from numba's on-disk cache) the kernels; ``None`` when numba is unusable.

    The kernels take the events as one structured array and read each record once (faster than three
    strided field views). They return a status instead of raising: ``(0, -1)`` when all went well,
    ``(1, i)`` when event ``i`` lies outside the frame, ``(2, i)`` when ``t[i] < t[i-1]``.
    """
    numba = import_numba()  # None when not importable or disabled by EVSNN_DISABLE_NUMBA
    if numba is None:
        return None

    @numba.njit(cache=True, nogil=True)
    def count_segments(ev, j_l, j_r, H, W, out):  # pragma: no cover - compiled
        """out[f, (p != 0)*H*W + y*W + x] += 1 for the events ev[j_l[f]:j_r[f]]."""
        HW = H * W
        for f in range(j_l.size):
            o = out[f]
            for i in range(j_l[f], j_r[f]):
                r = ev[i]
                xi = np.int64(r.x)
                yi = np.int64(r.y)
                if xi < 0 or xi >= W or yi < 0 or yi >= H:
                    return 1, i
                o[(HW if r.p != 0 else 0) + yi * W + xi] += 1
        return 0, -1

    @numba.njit(cache=True, nogil=True)
    def count_time(ev, edges, open_end, H, W, out):  # pragma: no cover - compiled
        """Count event i into frame f where edges[f] <= t[i] < edges[f+1] (the last frame without an upper
        edge when open_end), checking on the way that t is sorted; events outside all frames are skipped."""
        HW = H * W
        n = ev.size
        nf = edges.size - 1
        i = 0
        prev = ev[0].t if n > 0 else edges[0]
        lo = edges[0]
        while i < n:  # events before the first frame: only the order is checked
            ti = ev[i].t
            if ti < prev:
                return 2, i
            prev = ti
            if ti >= lo:
                break
            i += 1
        for f in range(nf):
            o = out[f]
            hi = edges[f + 1]
            bounded = not (open_end and f == nf - 1)
            while i < n:
                r = ev[i]
                ti = r.t
                if ti < prev:
                    return 2, i
                prev = ti
                if bounded and ti >= hi:
                    break
                xi = np.int64(r.x)
                yi = np.int64(r.y)
                if xi < 0 or xi >= W or yi < 0 or yi >= H:
                    return 1, i
                o[(HW if r.p != 0 else 0) + yi * W + xi] += 1
                i += 1
        while i < n:  # events after the last frame: only the order is checked
            if ev[i].t < prev:
                return 2, i
            prev = ev[i].t
            i += 1
        return 0, -1

    @numba.njit(cache=True, nogil=True)
    def first_unsorted(t):  # pragma: no cover - compiled
        """Index i of the first t[i] < t[i-1], or -1 when t is non-decreasing."""
        for i in range(1, t.size):
            if t[i] < t[i - 1]:
                return i
        return -1

    @numba.njit(cache=True, nogil=True)
    def voxel(ev, B, H, W, acc_lo, acc_hi):  # pragma: no cover - compiled
        """The numpy voxel_grid's arithmetic event by event: acc_lo[lo, y, x] += pol - w_hi and
        acc_hi[hi, y, x] += w_hi, each summed in event order like np.bincount (so lo + hi is bit-identical)."""
        n = ev.size
        HW = H * W
        t0 = ev[0].t
        span = np.float64(ev[n - 1].t - t0)
        scale = (B - 1) / span if span > 0 else 0.0
        top = np.float64(B - 1)
        prev = t0
        for i in range(n):
            r = ev[i]
            ti = r.t
            if ti < prev:
                return 2, i
            prev = ti
            xi = np.int64(r.x)
            yi = np.int64(r.y)
            if xi < 0 or xi >= W or yi < 0 or yi >= H:
                return 1, i
            ts = np.float64(ti - t0) * scale
            tb = np.floor(ts)
            if tb < 0.0:
                tb = 0.0
            elif tb > top:
                tb = top
            frac = ts - tb
            pol = 1.0 if r.p != 0 else -1.0
            lo = np.int64(tb)
            w_hi = pol * frac
            if lo + 1 >= B:
                w_hi = 0.0
            hi = lo + 1 if lo + 1 < B else B - 1
            pix = yi * W + xi
            acc_lo[lo * HW + pix] += pol - w_hi
            acc_hi[hi * HW + pix] += w_hi
        return 0, -1

    return count_segments, count_time, first_unsorted, voxel


def numba_available() -> bool:
    """True when the numba backend can be used (numba importable and not disabled by the environment)."""
    return _numba_kernels() is not None


def _resolve_backend(backend: str) -> str:
    return resolve_backend(backend, numba_available)


# --------------------------------------------------------------------------------------------------
# argument handling
# --------------------------------------------------------------------------------------------------
def _field(events: Any, name: str) -> np.ndarray:
    """``events[name]`` as a 1-D numpy array (structured array field or mapping value)."""
    if isinstance(events, np.ndarray):
        if events.dtype.names is None or name not in events.dtype.names:
            raise ValueError(
                f"events must have a field {name!r}; got dtype {events.dtype} "
                "(use evsnn.events.make_events to build an event array)"
            )
        arr = events[name]
    elif isinstance(events, Mapping):
        if name not in events:
            raise ValueError(f"events must have a key {name!r}; got keys {sorted(events)}")
        arr = np.asarray(events[name])
    else:
        raise TypeError(
            f"events must be a structured numpy array or a mapping of arrays, got {type(events).__name__}"
        )
    if arr.ndim != 1:
        raise ValueError(f"events[{name!r}] must be one-dimensional, got shape {arr.shape}")
    if not arr.dtype.isnative:  # e.g. a big-endian view of a raw buffer: the kernels need native order
        arr = arr.astype(arr.dtype.newbyteorder("="))
    return arr


def _xyp(events: Any) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    x, y, p = (_field(events, k) for k in ("x", "y", "p"))
    if not (x.size == y.size == p.size):
        raise ValueError(f"events x, y, p have different lengths: {x.size}, {y.size}, {p.size}")
    for name, arr in (("x", x), ("y", y)):
        if not np.issubdtype(arr.dtype, np.integer):
            raise TypeError(f"events[{name!r}] must be integers, got dtype {arr.dtype}")
    if not (np.issubdtype(p.dtype, np.integer) or p.dtype == np.bool_):
        raise TypeError(f"events['p'] must be integers or booleans, got dtype {p.dtype}")
    return x, y, p


def _positive_int(value: Any, name: str) -> int:
    if isinstance(value, (bool, np.bool_)) or not isinstance(value, (int, np.integer)):
        raise TypeError(f"{name} must be an integer, got {value!r}")
    if value < 1:
        raise ValueError(f"{name} must be >= 1, got {value}")
    return int(value)


def _frame_geometry(H: Any, W: Any, downsample: Any) -> tuple[int, int, int]:
    H = _positive_int(H, "H")
    W = _positive_int(W, "W")
    k = _positive_int(downsample, "downsample")
    if H % k or W % k:
        raise ValueError(f"downsample={k} must divide the frame size H={H}, W={W}")
    return H, W, k


def _check_dtype(dtype: Any) -> np.dtype:
    dt = np.dtype(dtype)
    if not (np.issubdtype(dt, np.integer) or np.issubdtype(dt, np.floating)):
        raise TypeError(f"dtype must be an integer or floating dtype, got {dt}")
    return dt


def _raise_out_of_frame(x: np.ndarray, y: np.ndarray, H: int, W: int) -> None:
    """Raise the error that names the offending coordinate range (called once a bad event was seen)."""
    for name, arr, size, dim in (("x", x, W, "width W"), ("y", y, H, "height H")):
        lo, hi = int(arr.min()), int(arr.max())
        if hi >= size or lo < 0:
            bad = hi if hi >= size else lo
            raise ValueError(
                f"event {name} coordinate {bad} is outside the frame ({dim}={size}, valid 0..{size - 1}); "
                f"events span {name} = {lo}..{hi}: pass the sensor's true size"
            )
    raise AssertionError("an event was reported outside the frame but none was found")  # pragma: no cover


def _first_unsorted_numpy(t: np.ndarray) -> int:
    n = t.size
    for a in range(1, n, 4 * _CHUNK):
        b = min(a + 4 * _CHUNK, n)
        bad = np.flatnonzero(t[a:b] < t[a - 1 : b - 1])
        if bad.size:
            return a + int(bad[0])
    return -1


def _check_sorted(t: np.ndarray, backend: str) -> None:
    if t.size < 2:
        return
    if backend == "numba":
        i = _numba_kernels()[2](t)
    else:
        i = _first_unsorted_numpy(t)
    if i >= 0:
        raise ValueError(
            f"event timestamps must be sorted (non-decreasing): t[{i - 1}]={t[i - 1]} > t[{i}]={t[i]}; "
            "sort the events by t first (np.sort(events, order='t', kind='stable'))"
        )


def _searchsorted_left(t: np.ndarray, values: np.ndarray) -> np.ndarray:
    """``np.searchsorted(t, values, 'left')`` without copying a non-contiguous ``t``.

    ``np.searchsorted`` copies a strided array (a structured-array field) to a contiguous one first,
    which costs more than the search for few values; a bisection on the strided view touches only
    ``len(values) * log2(len(t))`` elements.
    """
    values = np.asarray(values)
    n = t.size
    if t.flags.c_contiguous or values.size * max(1, n.bit_length()) * 64 > n:
        return np.searchsorted(t, values, side="left").astype(np.int64)
    return np.fromiter(
        (bisect.bisect_left(t, v) for v in values.tolist()), dtype=np.int64, count=values.size
    )


# --------------------------------------------------------------------------------------------------
# segments
# --------------------------------------------------------------------------------------------------
def frame_segments(
    n_events: int, T: int, split_by: str, t: np.ndarray | None = None
) -> tuple[np.ndarray, np.ndarray]:
    """Event index ranges ``[j_l[j], j_r[j])`` of the ``T`` frames, spikingjelly's rule.

    Matches ``spikingjelly.datasets.utils.cal_fixed_frames_number_segment_index``:

    - ``"number"``: ``j_l = floor(N/T) * j``, ``j_r = floor(N/T) * (j + 1)``, except ``j_r[T-1] = N``.
      With ``N < T`` every frame but the last is empty.
    - ``"time"``: ``dt = (t[N-1] - t[0]) // T``; ``j_l[j]`` is the first event with
      ``t >= t[0] + dt*j``, ``j_r[j]`` one past the last event with ``t < t[0] + dt*(j+1)``, and
      ``j_r[T-1] = N``. ``t`` must be sorted.

    Where spikingjelly raises ``IndexError`` (a time window without events, which includes every
    window when ``t[N-1] - t[0] < T``, or ``N == 0``), this returns an empty segment
    (``j_l == j_r``) instead; all other segments are identical.

    Args:
        n_events: number of events ``N``.
        T: number of frames (>= 1).
        split_by: ``"number"`` or ``"time"``.
        t: the timestamps (sorted, length ``N``); required for ``"time"``.

    Returns:
        ``(j_l, j_r)``, two int64 arrays of length ``T``.
    """
    T = _positive_int(T, "T")
    if split_by not in SPLIT_BY:
        raise ValueError(f"split_by must be one of {SPLIT_BY}, got {split_by!r}")
    if isinstance(n_events, (bool, np.bool_)) or not isinstance(n_events, (int, np.integer)) or n_events < 0:
        raise ValueError(f"n_events must be a non-negative integer, got {n_events!r}")
    n = int(n_events)
    if split_by == "number":
        di = n // T
        j_l = np.arange(T, dtype=np.int64) * di
        j_r = j_l + di
        j_r[-1] = n
        return j_l, j_r
    if t is None:
        raise ValueError("split_by='time' needs the timestamps t")
    t = np.asarray(t)
    if t.ndim != 1 or t.size != n:
        raise ValueError(f"t must be one-dimensional with n_events={n} entries, got shape {t.shape}")
    if n == 0:
        z = np.zeros(T, dtype=np.int64)
        return z, z.copy()
    t0 = t[0]
    dt = (t[-1] - t0) // T
    edges = t0 + dt * np.arange(T + 1, dtype=np.asarray(dt).dtype)
    idx = _searchsorted_left(t, edges)
    j_l = idx[:-1].copy()
    j_r = idx[1:].copy()
    j_r[-1] = n
    return j_l, j_r


def time_bin_segments(
    t: np.ndarray, bin_us: int, n_bins: int | None = None, t_start: int | None = None
) -> tuple[np.ndarray, np.ndarray]:
    """Event index ranges of fixed-duration bins: bin ``b`` holds ``t_start + b*bin_us <= t < t_start + (b+1)*bin_us``.

    Args:
        t: sorted timestamps (µs).
        bin_us: bin duration (µs, >= 1).
        n_bins: number of bins; default: just enough to hold the last event,
            ``(t[-1] - t_start) // bin_us + 1`` (0 for no events).
        t_start: start of bin 0; default ``t[0]``. Events before ``t_start`` or after the last bin are
            in no bin.

    Returns:
        ``(j_l, j_r)``, two int64 arrays of length ``n_bins``.
    """
    bin_us = _positive_int(bin_us, "bin_us")
    t = np.asarray(t)
    if t.ndim != 1:
        raise ValueError(f"t must be one-dimensional, got shape {t.shape}")
    if t_start is None:
        if t.size == 0:
            if n_bins is None:
                z = np.zeros(0, dtype=np.int64)
                return z, z.copy()
            t_start = 0
        else:
            t_start = int(t[0])
    if n_bins is None:
        n_bins = 0 if t.size == 0 or t[-1] < t_start else (int(t[-1]) - int(t_start)) // bin_us + 1
        if n_bins == 0:
            z = np.zeros(0, dtype=np.int64)
            return z, z.copy()
    n_bins = _positive_int(n_bins, "n_bins")
    edges = int(t_start) + bin_us * np.arange(n_bins + 1, dtype=np.int64)
    idx = _searchsorted_left(t, edges) if t.size else np.zeros(n_bins + 1, dtype=np.int64)
    return idx[:-1].copy(), idx[1:].copy()


# --------------------------------------------------------------------------------------------------
# counting
# --------------------------------------------------------------------------------------------------
def _count_numpy(x, y, p, j_l, j_r, H, W, acc) -> int:
    """Numpy path of the count kernel: per segment, per chunk of ``_CHUNK`` events, one bincount.

    Every operation reads its strided input once into a small contiguous buffer (cheap casts), the
    arithmetic runs on those buffers in cache, and bincount gets an intp index. Returns -1 or the index of
    an event outside the frame (like the numba kernel; the caller raises).
    """
    HW = H * W
    nbin = 2 * HW
    small = x.dtype.kind == "u" and y.dtype.kind == "u" and x.dtype.itemsize <= 2 and y.dtype.itemsize <= 2
    signed = not small and (x.dtype.kind == "i" or y.dtype.kind == "i")
    if small:
        bt = np.uint16 if nbin <= 1 << 16 else np.uint32
    else:
        bt = np.int64
        # Wider unsigned inputs (uint32/uint64) are compared in their own dtype first, so that a huge
        # value is never wrapped into range by the cast.
    C = min(_CHUNK, max(1, int((j_r - j_l).max(initial=1))))
    ibuf = np.empty(C, dtype=bt)
    xbuf = np.empty(C, dtype=bt)
    pbuf = np.empty(C, dtype=np.bool_)
    cbuf = np.empty(C, dtype=np.intp) if bt != np.intp else ibuf
    for f in range(j_l.size):
        row = acc[f]
        for a in range(int(j_l[f]), int(j_r[f]), C):
            b = min(a + C, int(j_r[f]))
            n = b - a
            xs, ys = x[a:b], y[a:b]
            if not small:
                if signed and (xs.min() < 0 or ys.min() < 0):
                    return a
                if xs.max() >= W or ys.max() >= H:
                    return a
            ib, xb, pb, cb = ibuf[:n], xbuf[:n], pbuf[:n], cbuf[:n]
            np.copyto(ib, ys, casting="unsafe")
            np.copyto(xb, xs, casting="unsafe")
            if small and (ib.max() >= H or xb.max() >= W):
                return a
            ib *= W
            ib += xb
            np.not_equal(p[a:b], 0, out=pb)
            np.copyto(xb, pb, casting="unsafe")
            xb *= HW
            ib += xb
            if cb is not ib:
                np.copyto(cb, ib, casting="unsafe")
            row += np.bincount(cb, minlength=nbin)
    return -1


def _records(events: Any, names: tuple[str, ...]) -> np.ndarray:
    """The events as one structured array with native-order fields ``names`` (for the numba kernels).

    A structured array whose fields are already native is returned as is (no copy); a mapping of arrays
    (spikingjelly's dict) is packed into a new structured array, keeping each field's dtype.
    """
    if isinstance(events, np.ndarray) and all(events.dtype.fields[k][0].isnative for k in names):
        return events
    cols = {k: _field(events, k) for k in names}
    rec = np.empty(cols[names[0]].size, dtype=[(k, cols[k].dtype) for k in names])
    for k in names:
        rec[k] = cols[k]
    return rec


def _finish(acc: np.ndarray, H: int, W: int, k: int, dt: np.dtype) -> np.ndarray:
    """``(F, 2*H*W)`` counts -> ``(F, 2, H//k, W//k)`` frames of dtype ``dt`` (overflow-checked)."""
    nf = acc.shape[0]
    frames = acc.reshape(nf, 2, H, W)
    if k > 1:
        frames = frames.reshape(nf, 2, H // k, k, W // k, k).sum(axis=(3, 5))
    if np.issubdtype(dt, np.integer):
        top = int(frames.max(initial=0))
        if top > np.iinfo(dt).max:
            raise ValueError(
                f"a pixel counts {top} events, more than dtype {dt} holds ({np.iinfo(dt).max}); "
                "use a wider dtype"
            )
    return frames.astype(dt, copy=False)


def _accumulator(nf: int, H: int, W: int, n_events: int) -> np.ndarray:
    return np.zeros((nf, 2 * H * W), dtype=np.int32 if n_events < 2**31 else np.int64)


def _count_by_time_numba(events, x, y, edges, open_end, H, W):
    """Run the fused time kernel (sortedness check + frame assignment + counting) and raise on errors."""
    t = _field(events, "t")
    if t.size != x.size:
        raise ValueError(f"events t has {t.size} entries, x has {x.size}")
    rec = _records(events, ("x", "y", "p", "t"))
    edges = np.asarray(edges)
    acc = _accumulator(edges.size - 1, H, W, x.size)
    code, i = _numba_kernels()[1](rec, edges, open_end, H, W, acc)
    if code == 1:
        _raise_out_of_frame(x, y, H, W)
    if code == 2:
        _check_sorted(t, "numba")
    return acc


def integrate_segments(
    events: Any,
    j_l: np.ndarray,
    j_r: np.ndarray,
    H: int,
    W: int,
    downsample: int = 1,
    dtype: Any = np.float32,
    backend: str = "auto",
) -> np.ndarray:
    """Count the events of each index range ``[j_l[f], j_r[f])`` into a two-channel frame.

    This is spikingjelly's ``integrate_events_segment_to_frame`` applied to every segment (segments may
    be empty, and may overlap or leave gaps; each is counted on its own).

    Args:
        events: structured array or mapping with ``x``, ``y``, ``p``.
        j_l, j_r: segment bounds (``0 <= j_l <= j_r <= N``), as from :func:`frame_segments`.
        H, W: frame size before downsampling; every counted event must satisfy ``x < W``, ``y < H``.
        downsample: ``k`` sums ``k x k`` pixel blocks (same as counting ``(x // k, y // k)``);
            must divide ``H`` and ``W``.
        dtype: output dtype (integer dtypes are checked for overflow).
        backend: ``"auto"``, ``"numba"`` or ``"numpy"`` (identical results).

    Returns:
        ``(len(j_l), 2, H // k, W // k)`` array; channel 0 = OFF (``p == 0``), 1 = ON (``p != 0``).
    """
    H, W, k = _frame_geometry(H, W, downsample)
    dt = _check_dtype(dtype)
    backend = _resolve_backend(backend)
    x, y, p = _xyp(events)
    n = x.size
    j_l = np.asarray(j_l, dtype=np.int64).reshape(-1)
    j_r = np.asarray(j_r, dtype=np.int64).reshape(-1)
    if j_l.shape != j_r.shape:
        raise ValueError(f"j_l and j_r have different lengths: {j_l.size}, {j_r.size}")
    if j_l.size and (j_l.min() < 0 or j_r.max() > n or np.any(j_l > j_r)):
        raise ValueError(f"segments must satisfy 0 <= j_l <= j_r <= N={n}")
    nf = j_l.size
    total = int((j_r - j_l).sum())
    if total == 0:
        return np.zeros((nf, 2, H // k, W // k), dtype=dt)
    if backend == "numba":
        acc = _accumulator(nf, H, W, total)
        bad, _ = _numba_kernels()[0](_records(events, ("x", "y", "p")), j_l, j_r, H, W, acc)
    else:
        acc = np.zeros((nf, 2 * H * W), dtype=np.int64)
        bad = _count_numpy(x, y, p, j_l, j_r, H, W, acc) >= 0
    if bad:
        _raise_out_of_frame(x, y, H, W)
    return _finish(acc, H, W, k, dt)


def integrate_fixed_frames(
    events: Any,
    T: int,
    split_by: str = "number",
    H: int = 128,
    W: int = 128,
    downsample: int = 1,
    dtype: Any = np.float32,
    backend: str = "auto",
) -> np.ndarray:
    """Integrate events into ``T`` frames, identical to spikingjelly's ``integrate_events_by_fixed_frames_number``.

    Frame ``j`` counts the events of :func:`frame_segments` ``(N, T, split_by, t)`` segment ``j``:
    ``frame[j, c, y, x]`` = number of those events at ``(x, y)`` with polarity channel ``c``
    (0 = OFF ``p == 0``, 1 = ON ``p != 0``). With ``downsample=1`` and ``dtype=np.float64`` the result
    equals spikingjelly's exactly (it returns float64); for event sets where spikingjelly raises
    (an empty time window), empty windows give zero frames here.

    Args:
        events: structured array (``evsnn.events.EVENT_DTYPE``) or mapping with ``x``, ``y``, ``p``
            (and ``t``, sorted, for ``split_by="time"``).
        T: number of frames (>= 1).
        split_by: ``"number"`` (equal event counts) or ``"time"`` (equal durations).
        H, W: sensor size; every event must lie inside it.
        downsample: ``k`` sums ``k x k`` blocks (must divide ``H`` and ``W``), output ``H//k x W//k``.
        dtype: output dtype; integer dtypes are checked for overflow.
        backend: ``"auto"`` (numba when importable), ``"numba"`` or ``"numpy"``.

    Returns:
        ``(T, 2, H // k, W // k)`` array. No events -> zero frames.

    Raises:
        ValueError: bad ``split_by``/``T``/size, coordinates outside ``H x W`` (the message names the
            largest coordinate), unsorted timestamps with ``split_by="time"``.
    """
    T = _positive_int(T, "T")
    if split_by not in SPLIT_BY:
        raise ValueError(f"split_by must be one of {SPLIT_BY}, got {split_by!r}")
    H, W, k = _frame_geometry(H, W, downsample)
    dt = _check_dtype(dtype)
    backend = _resolve_backend(backend)
    x, y, _ = _xyp(events)
    n = x.size
    if n == 0:
        return np.zeros((T, 2, H // k, W // k), dtype=dt)
    if split_by == "number":
        j_l, j_r = frame_segments(n, T, "number")
        return integrate_segments(events, j_l, j_r, H, W, downsample=k, dtype=dt, backend=backend)
    t = _field(events, "t")
    if t.size != n:
        raise ValueError(f"events t has {t.size} entries, x has {n}")
    if backend == "numba":
        # One pass: frame f holds t[0] + dt*f <= t < t[0] + dt*(f+1), the last frame everything after
        # its start -- the same frames as frame_segments(..., "time") on sorted t.
        step = (t[-1] - t[0]) // T
        edges = t[0] + step * np.arange(T + 1, dtype=np.asarray(step).dtype)
        acc = _count_by_time_numba(events, x, y, edges, True, H, W)
        return _finish(acc, H, W, k, dt)
    _check_sorted(t, backend)
    j_l, j_r = frame_segments(n, T, "time", t)
    return integrate_segments(events, j_l, j_r, H, W, downsample=k, dtype=dt, backend=backend)


def integrate_by_time_bins(
    events: Any,
    bin_us: int,
    H: int,
    W: int,
    n_bins: int | None = None,
    t_start: int | None = None,
    downsample: int = 1,
    dtype: Any = np.float32,
    backend: str = "auto",
) -> np.ndarray:
    """Count events into fixed-duration bins (e.g. DHP19's stacked 10 ms histograms).

    Bin ``b`` counts the events with ``t_start + b*bin_us <= t < t_start + (b+1)*bin_us``. Defaults:
    ``t_start = t[0]`` and ``n_bins`` just large enough for the last event; events outside the bins
    (before ``t_start`` or after the last bin) are not counted. For a window that ends at ``t_end``
    (such as "the 100 ms before this label"), pass ``t_start = t_end - n_bins * bin_us``.

    Differs from spikingjelly's ``integrate_events_by_fixed_duration``, which uses
    ``ceil((t[-1] - t[0]) / duration)`` frames and folds events at exactly the last frame's end into
    the last frame: the bins here are strictly half-open.

    Args:
        events: structured array or mapping with ``x``, ``y``, ``t`` (sorted, µs), ``p``.
        bin_us: bin duration in µs (>= 1).
        H, W: sensor size; counted events must lie inside it.
        n_bins, t_start: see above.
        downsample, dtype, backend: as in :func:`integrate_fixed_frames`.

    Returns:
        ``(n_bins, 2, H // k, W // k)`` array (channel 0 = OFF, 1 = ON).
    """
    H, W, k = _frame_geometry(H, W, downsample)
    dt = _check_dtype(dtype)
    backend = _resolve_backend(backend)
    bin_us = _positive_int(bin_us, "bin_us")
    x, y, _ = _xyp(events)
    t = _field(events, "t")
    if t.size != x.size:
        raise ValueError(f"events t has {t.size} entries, x has {x.size}")
    if backend == "numba" and t.size:
        t0 = int(t[0]) if t_start is None else int(t_start)
        if n_bins is None:
            nb = max(0, (int(t[-1]) - t0) // bin_us + 1)
            if nb == 0:  # every event is before t_start
                return np.zeros((0, 2, H // k, W // k), dtype=dt)
        else:
            nb = _positive_int(n_bins, "n_bins")
        edges = t0 + bin_us * np.arange(nb + 1, dtype=np.int64)
        acc = _count_by_time_numba(events, x, y, edges, False, H, W)
        return _finish(acc, H, W, k, dt)
    _check_sorted(t, backend)
    j_l, j_r = time_bin_segments(t, bin_us, n_bins=n_bins, t_start=t_start)
    return integrate_segments(events, j_l, j_r, H, W, downsample=k, dtype=dt, backend=backend)


def voxel_grid(events: Any, n_bins: int, H: int, W: int, dtype: Any = np.float32,
               backend: str = "auto") -> np.ndarray:
    """The event voxel grid of Zhu et al. (CVPR 2019), bilinear in time, signed polarity.

    With ``t* = (n_bins - 1) * (t - t[0]) / (t[-1] - t[0])`` (``t* = 0`` for all events when
    ``t[-1] == t[0]``) and polarity ``+1`` for ON (``p != 0``), ``-1`` for OFF::

        V[b, y, x] = sum_i p_i * max(0, 1 - |b - t*_i|)

    so every event splits its polarity between the two bins around ``t*``, and summing over bins gives the
    signed event count of each pixel.

    Conventions differ between libraries, and this one is deliberate:

    - evsnn (here) = rpg_e2vid's ``events_to_voxel_grid``: time scaled by ``B - 1``, so the first event sits on bin
      0 and the last on bin ``B - 1``;
    - tonic's ``to_voxel_grid`` scales by ``B`` (``t* = B (t - t[0]) / (t[-1] - t[0])``): the last event falls past
      the last bin centre, and the grids differ from e2vid's;
    - evlib's ``create_voxel_grid`` (0.13) also scales by ``B``: of events at 0, 250 and 1000 us, the second
      lands at 1.25 and the last at 5.0, past the last bin, and is dropped (checked with B = 5); it returns
      sparse (x, y, bin, contribution) rows, not a dense grid.

    ``backend``: ``"numba"`` (the default when numba is importable) runs one compiled pass that checks the order
    and the frame on the way and accumulates in float64 in event order, so its result is bit-identical to the
    ``"numpy"`` path (two weighted ``np.bincount``); benchmarks/bench_frames.py has both beside evlib.

    Args:
        events: structured array or mapping with ``x``, ``y``, ``t`` (sorted), ``p``.
        n_bins: number of time bins ``B`` (>= 1).
        H, W: sensor size; every event must lie inside it.
        dtype: floating output dtype (accumulation is in float64).

    Returns:
        ``(n_bins, H, W)`` array.
    """
    B = _positive_int(n_bins, "n_bins")
    H, W, _ = _frame_geometry(H, W, 1)
    dt = np.dtype(dtype)
    if not np.issubdtype(dt, np.floating):
        raise TypeError(f"voxel_grid dtype must be floating, got {dt}")
    x, y, p = _xyp(events)
    t = _field(events, "t")
    n = x.size
    if t.size != n:
        raise ValueError(f"events t has {t.size} entries, x has {n}")
    if n == 0:
        return np.zeros((B, H, W), dtype=dt)
    backend = _resolve_backend(backend)
    if backend == "numba":
        size = B * H * W
        acc_lo, acc_hi = np.zeros(size), np.zeros(size)
        code, _ = _numba_kernels()[3](_records(events, ("x", "y", "p", "t")), B, H, W, acc_lo, acc_hi)
        if code == 0:
            acc_lo += acc_hi
            return acc_lo.reshape(B, H, W).astype(dt, copy=False)
        # an event outside the frame or out of order: the numpy checks below raise the same error as the numpy path
    xi = x.astype(np.int64)
    yi = y.astype(np.int64)
    if xi.min() < 0 or xi.max() >= W or yi.min() < 0 or yi.max() >= H:
        _raise_out_of_frame(x, y, H, W)
    _check_sorted(t, "numba" if numba_available() else "numpy")
    span = float(t[-1] - t[0])
    ts = (t - t[0]).astype(np.float64)
    ts *= (B - 1) / span if span > 0 else 0.0
    tb = np.floor(ts)
    np.clip(tb, 0, B - 1, out=tb)
    frac = ts - tb  # weight of the upper bin
    pol = np.where(p != 0, 1.0, -1.0)
    pix = yi * W + xi
    lo = tb.astype(np.int64)
    hi = np.minimum(lo + 1, B - 1)
    w_hi = pol * frac
    w_hi[lo + 1 >= B] = 0.0  # the last bin has no upper neighbour (frac is 0 there up to rounding)
    size = B * H * W
    vox = np.bincount(lo * (H * W) + pix, weights=pol - w_hi, minlength=size)
    vox += np.bincount(hi * (H * W) + pix, weights=w_hi, minlength=size)
    return vox.reshape(B, H, W).astype(dt, copy=False)
