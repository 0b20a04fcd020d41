"""DHP19 official preprocessing: constant-count frames of the 4 cameras and their mean Vicon labels.

This reproduces the MATLAB reference of SensorsINI/DHP19 (``generate_DHP19/Generate_DHP19.m`` calling
``ExtractEventsToFramesAndMeanLabels.m``, which calls ``extract_from_aedat.m``, ``HotPixelFilter.m``,
``BackgroundFilter.m``, ``maskRegionFilter.m`` and ``normalizeImage3Sigma.m``; reference/FORMATS.md section 2.6),
without per-event Python loops. Backends (:mod:`evsnn._accel`; identical results, frames, labels and counts):
``numba`` runs steps 2-6 below in one fused kernel (two passes over the events: hot-pixel histogram, then the
filters with the background filter's time map) and accumulates and normalises frames in a second kernel (10-19
M events/s on one core with every filter on, see benchmarks/bench_dhp19_preprocess.py); ``numpy`` uses the
modular vectorised filters of this module (the background filter through sorted binary searches) and one
``bincount`` per chunk of frames (0.7-1 M events/s).

Pipeline of :func:`preprocess_events` (the order of ``extract_from_aedat.m``):

1. window: the events between start and stop (:func:`evsnn.io.dhp19.select_window`, start/stop from
   :func:`evsnn.io.dhp19.recording_window`);
2. out-of-range addresses dropped (x > 345, y > 259, camera > 3);
3. coordinates of the combined 1384 x 260 image, MATLAB 1-based: ``X = (sx - x) + cam*sx`` (1..1384),
   ``Y = sy - y_raw`` (1..260), so every camera image is flipped left-right and up-down;
4. hot-pixel filter (:func:`hot_pixel_filter`): every event of a combined-image pixel with >= 1e4 events;
5. background-activity filter, dt = 70,000 µs (:func:`background_activity_filter`; ``ba_filter="current"``: the
   official filter since SensorsINI/DHP19 commit 3395890, which refreshes only the 8 neighbours of an event;
   ``"2019"``: the first release's filter, which refreshed the event's own pixel too);
6. the two IR-light masks (:func:`ir_mask_filter`);
7. a frame is closed every ``events_per_frame * 4`` = 30,000 filtered events counted over all cameras; each
   camera's 346 x 260 count image is normalised by :func:`normalize_3sigma`;
8. label of a frame: joint-wise nanmean of the Vicon samples ``last_k .. k`` (1-based, inclusive), ``k`` from the
   time of the event that closes the frame (:func:`label_index`); generation stops at the first frame whose
   ``k`` exceeds the number of Vicon samples.

Index mapping (MATLAB 1-based -> numpy 0-based). MATLAB accumulates ``img(X, Y)`` in a (1384, 260) array and saves
``IMovie(cam+1, :, :, n) = img(cam*346 + (1:346), :)`` as a [4 346 260 N] dataset, which h5py reads as
(N, 260, 346, 4). Hence, for a raw event (x, y_raw, cam)::

    DVS[n, Y - 1, X - 1 - cam*346, cam] = DVS[n, 259 - y_raw, 345 - x, cam]

(row = ``Y - 1``, column = ``sx - x - 1``, channel = the aedat camera index; ``CHANNEL_TO_CAMERA`` maps it to the
P-matrix number). Labels ``XYZ[n, c, j]`` = ``pose(j, c)`` (MATLAB [13 3 N] -> h5py (N, 3, 13)).

Where the MATLAB code has integer semantics, they are reproduced: timestamps are uint32 in
``extract_from_aedat.m`` (``timeStamp = uint32(events(...))``) and start/stop are cast with ``uint32(...)``, so
``(timeStamp - startTime)*0.0001`` is uint32 arithmetic that saturates at 0 and ROUNDS to the nearest integer
(ties away from zero) -- ``floor`` then does nothing: ``k = round((t - start)/1e4) + 1``. ``k_rounding="floor"``
gives the documented intent ``floor((t - start)/1e4) + 1`` instead (FORMATS 2.4).
"""
from __future__ import annotations

import functools
import math
import os
import warnings
from typing import Any

import numpy as np

from evsnn._accel import import_numba, resolve_backend
from evsnn.events import CAMERA_EVENT_DTYPE
from evsnn.io.dhp19 import N_JOINTS, US_PER_VICON_SAMPLE, recording_window, select_window
from evsnn.util import atomic_path

__all__ = [
    "SX", "SY", "NBCAM", "COMBINED_WIDTH", "EVENTS_PER_FRAME", "HOT_PIXEL_THRESHOLD", "BA_DT_US", "IR_MASKS",
    "SIGMA_FLOOR", "BA_FILTERS", "numba_available",
    "combined_coordinates", "frame_pixel", "hot_pixel_filter", "background_activity_filter", "ir_mask_filter",
    "normalize_3sigma", "label_index", "frame_labels", "accumulate_frames",
    "preprocess_events", "preprocess_recording", "write_dhp19_h5", "read_dhp19_h5", "output_names",
    "project", "heatmaps", "camera_frame_events", "stacked_histograms",
]

# constants of Generate_DHP19.m
SX, SY, NBCAM = 346, 260, 4
COMBINED_WIDTH = SX * NBCAM  # 1384
EVENTS_PER_FRAME = 7500  # "Average num of events per camera": a frame closes every 7500 * 4 events
HOT_PIXEL_THRESHOLD = 10_000  # thrEventHotPixel = 1*10^4
BA_DT_US = 70_000  # dt = 70000
#: IR-light masks (xmin, xmax, ymin, ymax) in the combined image (1-based), strict inequalities
IR_MASKS = ((780, 810, 115, 145), (346 * 3 + 214, 346 * 3 + 221, 136, 144))
SIGMA_FLOOR = 0.1 / 255  # normalizeImage3Sigma.m: if sig_img < 0.1/255, sig_img = 0.1/255
#: background-activity filter variants: "current" = BackgroundFilter.m since SensorsINI/DHP19 @3395890 (2019-10-04,
#: "don't write to self": the 8 neighbours only), "2019" = the first release (@28f85c9: the pixel itself as well)
BA_FILTERS = ("current", "2019")

K_ROUNDING = ("matlab", "floor")
_PIXELS = SY * SX * NBCAM  # one frame, flattened in (row, column, camera) order
_CHUNK_FRAMES = 8  # frames per bincount chunk of the numpy backend


# --------------------------------------------------------------------------------------------------
# numba kernels (optional, compiled lazily; see evsnn._accel)
# --------------------------------------------------------------------------------------------------
@functools.lru_cache(maxsize=1)
def _numba_kernels():
    numba = import_numba()
    if numba is None:
        return None

    @numba.njit(cache=True, nogil=True)
    def ba_filter(xc, yc, t, dt, xdim, ydim, self_write, keep):  # pragma: no cover - compiled
        """BackgroundFilter.m: one pass with the lastTimesMap (initialised to 0), 0-based combined coordinates;
        ``self_write`` refreshes the event's own pixel too (the 2019 variant)."""
        last = np.zeros(xdim * ydim, dtype=np.int64)
        for i in range(t.size):
            xs = np.int64(xc[i])
            ys = np.int64(yc[i])
            ts = np.int64(t[i])
            q = xs * ydim + ys
            keep[i] = not (ts - last[q] > dt)  # uint32 - double saturates at 0 in MATLAB: same test
            if xs != 0 and xs != xdim - 1 and ys != 0 and ys != ydim - 1:
                for dq in (-ydim - 1, -ydim, -ydim + 1, -1, 0, 1, ydim - 1, ydim, ydim + 1):
                    if dq != 0 or self_write:
                        last[q + dq] = ts

    @numba.njit(cache=True, nogil=True)
    def frames(pix, n_frames, per_frame, sigma_floor, out):  # pragma: no cover - compiled
        """Count each frame's events into a (row, column, camera) image, then normalizeImage3Sigma per camera.

        Only the touched pixels are visited, so a frame costs O(events), not O(pixels); ``out`` must be zeroed.
        """
        counts = np.zeros(out.shape[1], dtype=np.int64)
        touched = np.empty(per_frame, dtype=np.int64)
        for f in range(n_frames):
            nt = 0
            for i in range(f * per_frame, (f + 1) * per_frame):
                q = pix[i]
                if counts[q] == 0:
                    touched[nt] = q
                    nt += 1
                counts[q] += 1
            n = np.zeros(4, dtype=np.int64)
            s1 = np.zeros(4, dtype=np.int64)
            s2 = np.zeros(4, dtype=np.int64)
            for a in range(nt):
                q = touched[a]
                c = q % 4
                v = counts[q]
                n[c] += 1
                s1[c] += v
                s2[c] += v * v
            scale = np.empty(4, dtype=np.float64)
            for c in range(4):  # _sigma_py, inlined (a jitted helper in the closure would defeat numba's cache)
                sig = 0.0
                if n[c] >= 2:
                    sig = math.sqrt(float(n[c] * s2[c] - s1[c] * s1[c]) / float(n[c] * (n[c] - 1)))
                if sig < sigma_floor:
                    sig = sigma_floor
                scale[c] = 3.0 * sig
            o = out[f]
            for a in range(nt):
                q = touched[a]
                val = (counts[q] * 255.0) / scale[q % 4]
                if val > 255.0:
                    val = 255.0
                o[q] = np.uint8(math.floor(val))
                counts[q] = 0

    @numba.njit(cache=True, nogil=True)
    def filter_events(ev, i0, i1, thr, dt, self_write, masks, out_pix, out_t):  # pragma: no cover - compiled
        """Steps 2-6 fused, two passes over ev[i0:i1]: range check and hot-pixel histogram, then hot-pixel,
        background and mask filters; the kept events' frame pixel and time go to out_pix/out_t (compacted).
        ``thr <= 0`` / ``dt < 0`` switch a filter off; ``self_write``: the 2019 background filter. Returns the
        kept count and the per-stage counts."""
        xdim = 1384
        ydim = 260
        counts = np.zeros(xdim * ydim, dtype=np.int32)
        n_range = 0
        n_hot_pixels = 0
        if thr > 0:
            for i in range(i0, i1):
                r = ev[i]
                x = np.int64(r.x)
                y = np.int64(r.y)
                c = np.int64(r.c)
                if x < 346 and y < 260 and c < 4:
                    q = ((345 - x) + c * 346) * ydim + (259 - y)
                    counts[q] += 1
                    if counts[q] == thr:
                        n_hot_pixels += 1
        last = np.zeros(xdim * ydim, dtype=np.int64)
        n_hot = 0
        n_ba = 0
        n_mask = 0
        n = 0
        n_masks = masks.shape[0]
        for i in range(i0, i1):
            r = ev[i]
            x = np.int64(r.x)
            y = np.int64(r.y)
            c = np.int64(r.c)
            if not (x < 346 and y < 260 and c < 4):
                n_range += 1
                continue
            xs = (345 - x) + c * 346  # X - 1
            ys = 259 - y  # Y - 1
            q = xs * ydim + ys
            if thr > 0 and counts[q] >= thr:
                n_hot += 1
                continue
            ts = np.int64(r.t)
            if dt >= 0:
                ok = not (ts - last[q] > dt)
                if xs != 0 and xs != xdim - 1 and ys != 0 and ys != ydim - 1:
                    for dq in (-ydim - 1, -ydim, -ydim + 1, -1, 0, 1, ydim - 1, ydim, ydim + 1):
                        if dq != 0 or self_write:
                            last[q + dq] = ts
                if not ok:
                    n_ba += 1
                    continue
            masked = False
            for m in range(n_masks):
                if masks[m, 0] < xs + 1 < masks[m, 1] and masks[m, 2] < ys + 1 < masks[m, 3]:
                    masked = True
            if masked:
                n_mask += 1
                continue
            out_pix[n] = (ys * 346 + (345 - x)) * 4 + c
            out_t[n] = ts
            n += 1
        return n, n_range, n_hot_pixels, n_hot, n_ba, n_mask

    return {"ba_filter": ba_filter, "frames": frames, "filter_events": filter_events}


def _sigma_py(n, s1, s2, sigma_floor):
    """MATLAB ``sqrt(var(v))`` (N-1 normalisation) of ``n`` positive counts with sum ``s1`` and square sum ``s2``,
    floored at ``sigma_floor``; ``var`` of one value is 0. The variance is ``(n*s2 - s1**2) / (n*(n-1))``: an exact
    integer numerator and one rounding, so it does not depend on summation order."""
    if n < 2:
        sig = 0.0
    else:
        sig = math.sqrt(float(n * s2 - s1 * s1) / float(n * (n - 1)))
    if sig < sigma_floor:
        sig = sigma_floor
    return sig


def numba_available() -> bool:
    """True when the numba kernels can be used (numba importable and not disabled by ``EVSNN_DISABLE_NUMBA``)."""
    return _numba_kernels() is not None


# --------------------------------------------------------------------------------------------------
# coordinates and filters
# --------------------------------------------------------------------------------------------------
def combined_coordinates(x, y, cam) -> tuple[np.ndarray, np.ndarray]:
    """MATLAB 1-based combined-image coordinates ``X = (346 - x) + cam*346`` (1..1384), ``Y = 260 - y`` (1..260)."""
    x = np.asarray(x, dtype=np.int32)
    y = np.asarray(y, dtype=np.int32)
    cam = np.asarray(cam, dtype=np.int32)
    return (SX - x) + cam * SX, SY - y


def frame_pixel(x, y, cam) -> np.ndarray:
    """Flat index of a raw event in one ``(260, 346, 4)`` output frame: ``((259 - y)*346 + (345 - x))*4 + cam``."""
    x = np.asarray(x, dtype=np.int64)
    y = np.asarray(y, dtype=np.int64)
    cam = np.asarray(cam, dtype=np.int64)
    return ((SY - 1 - y) * SX + (SX - 1 - x)) * NBCAM + cam


def hot_pixel_filter(X, Y, threshold: float = HOT_PIXEL_THRESHOLD, *, xdim: int = COMBINED_WIDTH,
                     ydim: int = SY) -> np.ndarray:
    """Keep-mask of ``HotPixelFilter.m``: drop every event of a pixel with ``>= threshold`` events.

    ``X, Y``: 1-based combined-image coordinates (:func:`combined_coordinates`); counts are over all the events
    given (the recording's window).
    """
    X = np.asarray(X, dtype=np.int64)
    Y = np.asarray(Y, dtype=np.int64)
    if X.size == 0:
        return np.ones(0, dtype=bool)
    lin = (X - 1) * ydim + (Y - 1)
    counts = np.bincount(lin, minlength=xdim * ydim)
    hot = counts >= threshold
    if not hot.any():
        return np.ones(X.size, dtype=bool)
    return ~hot[lin]


def _check_ba_filter(variant: str) -> bool:
    """True when ``variant`` writes the event's own pixel (the 2019 filter); ValueError for an unknown variant."""
    if variant not in BA_FILTERS:
        raise ValueError(f"background filter variant must be one of {', '.join(map(repr, BA_FILTERS))}, "
                         f"not {variant!r}")
    return variant == "2019"


def background_activity_filter(X, Y, t, dt: int = BA_DT_US, *, xdim: int = COMBINED_WIDTH, ydim: int = SY,
                               variant: str = "current", backend: str = "auto") -> np.ndarray:
    """Keep-mask of the official background-activity filter (SensorsINI/DHP19 ``generate_DHP19/BackgroundFilter.m``).

    ``variant="current"`` (default) follows the file as it stands since commit 3395890 (2019-10-04, "bug fixed in BG
    filter, don't write to self"; SensorsINI/DHP19@12a3fe6 ``generate_DHP19/BackgroundFilter.m:8-28``): a time map
    of the combined image starts at 0; for every event, in file order, the event is dropped when its time minus the
    map's value at its own pixel exceeds ``dt`` (strictly greater; MATLAB's uint32 minus double saturates at 0, so an
    older map value never drops it), and then, unless the event lies on the border of the combined image (first or
    last column or row), the map of its 8 neighbours -- not its own pixel -- is set to its time (lines 18-27).

    So an event passes when, within ``dt`` µs before it, an event (dropped or not; hot pixels are already gone)
    occurred at one of its 8 neighbours that is not itself on the combined image's border; an event at the same
    pixel does not count. The map starts at 0, so events with ``t <= dt`` always pass; and since the border is that
    of the 1384-wide combined image, neighbourhoods run across the seams between cameras (column 346 of one camera
    touches column 1 of the next). ``X, Y`` are 1-based (:func:`combined_coordinates`); ``t`` in µs.

    ``variant="2019"`` is the filter of the first release (SensorsINI/DHP19@28f85c9), which also wrote the
    event's own pixel, so a second event at the same pixel within ``dt`` passed as well.

    Backends: ``numba`` runs the loop above; ``numpy`` finds, for every event and each neighbour offset, the
    latest earlier "writer" (a non-border event) at that pixel by a binary search in the writers sorted by
    (pixel, index), and takes the latest of them -- the value the map holds when the event is read.
    """
    X = np.asarray(X)
    Y = np.asarray(Y)
    t = np.asarray(t, dtype=np.int64)
    n = t.size
    if not (X.size == Y.size == n):
        raise ValueError(f"X, Y, t have different lengths: {X.size}, {Y.size}, {n}")
    if n == 0:
        return np.ones(0, dtype=bool)
    xc = X.astype(np.int32) - 1
    yc = Y.astype(np.int32) - 1
    if xc.min() < 0 or xc.max() >= xdim or yc.min() < 0 or yc.max() >= ydim:
        raise ValueError(f"combined coordinates outside 1..{xdim} x 1..{ydim}")
    self_write = _check_ba_filter(variant)
    backend = resolve_backend(backend, numba_available)
    if backend == "numba":
        keep = np.empty(n, dtype=np.bool_)
        _numba_kernels()["ba_filter"](xc, yc, t, np.int64(dt), xdim, ydim, self_write, keep)
        return keep
    return _ba_filter_numpy(xc.astype(np.int64), yc.astype(np.int64), t, int(dt), xdim, ydim, self_write)


def _ba_filter_numpy(xc, yc, t, dt, xdim, ydim, self_write=False) -> np.ndarray:
    n = t.size
    lin = xc * ydim + yc
    writer = (xc != 0) & (xc != xdim - 1) & (yc != 0) & (yc != ydim - 1)
    idx = np.arange(n, dtype=np.int64)
    keys = lin * n + idx  # unique; sorted = by (pixel, event index)
    order = np.argsort(keys, kind="stable")
    skeys = keys[order]
    is_w = writer[order]
    if not is_w.any():  # nobody refreshes the map: it stays 0
        return ~(t > dt)
    wkeys = skeys[is_w]
    wpix = lin[order][is_w]  # pixel and event index of each writer key (no division needed later)
    widx = order[is_w]
    lin_o = lin[order]
    best = np.full(n, -1, dtype=np.int64)  # latest earlier writer in the neighbourhood, in sorted order
    offsets = (-ydim - 1, -ydim, -ydim + 1, -1, 1, ydim - 1, ydim, ydim + 1) + ((0,) if self_write else ())
    for d in offsets:
        # (lin + d, index) keeps the order of (lin, index): the queries are sorted, so the search walks forward
        q = lin_o + d
        pos = np.searchsorted(wkeys, q * n + order, side="left") - 1
        np.maximum(pos, 0, out=pos)
        hit = (wpix[pos] == q) & (widx[pos] < order)
        np.maximum(best, np.where(hit, widx[pos], -1), out=best)
    last = np.zeros(n, dtype=np.int64)
    found = best >= 0
    last[order[found]] = t[best[found]]
    return ~(t - last > dt)


def ir_mask_filter(X, Y, masks=IR_MASKS) -> np.ndarray:
    """Keep-mask of ``maskRegionFilter.m`` applied for each mask: drop ``xmin < X < xmax & ymin < Y < ymax``.

    Default masks (Generate_DHP19.m), 1-based combined-image coordinates: X in (780, 810), Y in (115, 145) (camera
    index 2) and X in (1252, 1259), Y in (136, 144) (camera index 3).
    """
    X = np.asarray(X)
    Y = np.asarray(Y)
    keep = np.ones(X.size, dtype=bool)
    for xmin, xmax, ymin, ymax in masks:
        keep &= ~((X > xmin) & (X < xmax) & (Y > ymin) & (Y < ymax))
    return keep


def normalize_3sigma(img) -> np.ndarray:
    """``normalizeImage3Sigma.m`` (rectified polarity) of one count image, as uint8.

    ``sig = sqrt(var(img(img > 0)))`` with MATLAB's N-1 variance (0 for a single non-zero pixel), floored at
    0.1/255; non-zero pixels become ``floor(min(v*255/(3*sig), 255))``, zero pixels stay 0. The mean of the
    non-zero pixels is computed by the MATLAB code but not used. (Python ports that use ``np.var`` -- N
    normalisation -- give slightly different frames.)
    """
    a = np.asarray(img)
    if a.size and np.any(a < 0):
        raise ValueError("normalize_3sigma expects non-negative counts")
    v = a[a > 0].astype(np.int64) if np.issubdtype(a.dtype, np.integer) else a[a > 0]
    out = np.zeros(a.shape, dtype=np.uint8)
    if v.size == 0:
        return out
    if np.issubdtype(v.dtype, np.integer):
        sig = _sigma_py(int(v.size), int(v.sum()), int((v * v).sum()), SIGMA_FLOOR)
    else:
        sig = float(np.sqrt(np.var(v, ddof=1))) if v.size > 1 else 0.0
        sig = max(sig, SIGMA_FLOOR)
    val = np.minimum(np.floor((a[a > 0] * 255.0) / (3.0 * sig)), 255.0)
    out[a > 0] = val.astype(np.uint8)
    return out


# --------------------------------------------------------------------------------------------------
# labels
# --------------------------------------------------------------------------------------------------
def label_index(t, start: int, k_rounding: str = "matlab") -> np.ndarray:
    """1-based Vicon sample index ``k`` of frames closed at times ``t`` (µs) for a recording starting at ``start``.

    ``"matlab"`` (default): what ``ExtractEventsToFramesAndMeanLabels.m`` computes with its uint32 operands,
    ``k = round_half_away(max(t - start, 0) * 0.0001) + 1``; ``"floor"``: ``floor(max(t - start, 0) / 1e4) + 1``.
    ``start`` is clipped to uint32 first, as the MATLAB code does.
    """
    if k_rounding not in K_ROUNDING:
        raise ValueError(f"k_rounding must be one of {K_ROUNDING}, got {k_rounding!r}")
    start = min(max(int(start), 0), 0xFFFFFFFF)
    d = np.maximum(np.asarray(t, dtype=np.int64) - start, 0)
    if k_rounding == "floor":
        return d // US_PER_VICON_SAMPLE + 1
    # MATLAB: integer * double is computed in double and rounded to nearest, ties away from zero (d >= 0 here).
    # d*0.0001 lies within 1e-12 of a tie only for d = 5000 mod 10000, where it is above the tie; floor(x + 0.5)
    # is exact for the other d.
    return np.floor(d * 0.0001 + 0.5).astype(np.int64) + 1


def frame_labels(k, vicon) -> np.ndarray:
    """Labels ``(F, 3, 13)`` of frames with 1-based sample indices ``k`` (non-decreasing, each <= #samples).

    Frame ``f`` gets the joint-wise nanmean of samples ``last_k .. k[f]`` (inclusive, 1-based) with ``last_k = 1``
    for the first frame and ``k[f-1]`` afterwards (consecutive windows share a sample, as in the MATLAB loop);
    an all-NaN or empty window gives NaN. ``vicon``: ``(N, 3, 13)`` from :func:`evsnn.io.dhp19.read_vicon`.
    """
    k = np.asarray(k, dtype=np.int64)
    vicon = np.asarray(vicon, dtype=np.float64)
    out = np.empty((k.size, 3, vicon.shape[2] if vicon.ndim == 3 else N_JOINTS), dtype=np.float64)
    last_k = 1
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)  # mean of empty slice / all-NaN
        for f, kf in enumerate(k.tolist()):
            out[f] = np.nanmean(vicon[last_k - 1:kf], axis=0)
            last_k = kf
    return out


# --------------------------------------------------------------------------------------------------
# frames
# --------------------------------------------------------------------------------------------------
def accumulate_frames(pix, n_frames: int, per_frame: int, *, backend: str = "auto") -> np.ndarray:
    """Constant-count frames: frame ``f`` counts events ``[f*per_frame, (f+1)*per_frame)`` at their flat frame
    pixel (:func:`frame_pixel`) and normalises each camera image with :func:`normalize_3sigma`.

    Returns ``(n_frames, 260, 346, 4)`` uint8.
    """
    pix = np.asarray(pix, dtype=np.int64)
    if n_frames * per_frame > pix.size:
        raise ValueError(f"{n_frames} frames of {per_frame} events need {n_frames * per_frame} events, got {pix.size}")
    out = np.zeros((n_frames, _PIXELS), dtype=np.uint8)
    if n_frames == 0:
        return out.reshape(0, SY, SX, NBCAM)
    if pix.min() < 0 or pix.max() >= _PIXELS:
        raise ValueError(f"frame pixel index outside 0..{_PIXELS - 1}")
    backend = resolve_backend(backend, numba_available)
    if backend == "numba":
        _numba_kernels()["frames"](pix, n_frames, per_frame, SIGMA_FLOOR, out)
    else:
        _frames_numpy(pix, n_frames, per_frame, out)
    return out.reshape(n_frames, SY, SX, NBCAM)


def _frames_numpy(pix, n_frames, per_frame, out):
    """numpy backend of :func:`accumulate_frames`: per chunk of frames one bincount, then only the touched pixels."""
    flat = out.reshape(-1)
    for f0 in range(0, n_frames, _CHUNK_FRAMES):
        f1 = min(f0 + _CHUNK_FRAMES, n_frames)
        nf = f1 - f0
        seg = pix[f0 * per_frame:f1 * per_frame]
        fidx = np.repeat(np.arange(nf, dtype=np.int64) * _PIXELS, per_frame)
        counts = np.bincount(fidx + seg, minlength=nf * _PIXELS)
        nz = np.flatnonzero(counts)
        vals = counts[nz]
        group = (nz // _PIXELS) * NBCAM + nz % NBCAM  # (frame, camera)
        n = np.bincount(group, minlength=nf * NBCAM)
        s1 = np.bincount(group, weights=vals, minlength=nf * NBCAM).astype(np.int64)  # exact: sums < 2**53
        s2 = np.bincount(group, weights=vals * vals, minlength=nf * NBCAM).astype(np.int64)
        sig = np.zeros(nf * NBCAM)
        many = n >= 2
        sig[many] = np.sqrt((n[many] * s2[many] - s1[many] * s1[many]).astype(np.float64)
                            / (n[many] * (n[many] - 1)).astype(np.float64))
        sig = np.maximum(sig, SIGMA_FLOOR)  # the same operations as _sigma_py and the numba kernel
        val = np.minimum(np.floor((vals * 255.0) / (3.0 * sig[group])), 255.0)
        flat[f0 * _PIXELS + nz] = val.astype(np.uint8)


def _mask_array(masks) -> np.ndarray:
    m = np.asarray(list(masks) if masks else [], dtype=np.int64).reshape(-1, 4)
    return np.ascontiguousarray(m)


def _filter_numba(events, sl, hot_pixel_threshold, ba_dt, masks, stats, ba_filter="current"):
    """Steps 2-6 in the fused numba kernel; returns (frame pixel, t) of the kept events and fills ``stats``."""
    thr = 0 if hot_pixel_threshold is None else max(1, int(math.ceil(hot_pixel_threshold)))
    if ba_dt is not None and ba_dt < 0:
        raise ValueError(f"ba_dt must be >= 0 or None, got {ba_dt}")
    dt = -1 if ba_dt is None else int(ba_dt)
    ev = events if events.dtype == CAMERA_EVENT_DTYPE else _native(events)
    n = sl.stop - sl.start
    pix = np.empty(n, dtype=np.int64)
    t = np.empty(n, dtype=np.int64)
    k, n_range, n_hot_pixels, n_hot, n_ba, n_mask = _numba_kernels()["filter_events"](
        ev, sl.start, sl.stop, np.int64(thr), np.int64(dt), _check_ba_filter(ba_filter), _mask_array(masks), pix, t)
    stats.update(out_of_range=int(n_range), hot_pixels=int(n_hot_pixels), hot_pixel_removed=int(n_hot),
                 background_removed=int(n_ba), mask_removed=int(n_mask))
    return pix[:k], t[:k]


def _native(events):
    """The events as a packed CAMERA_EVENT_DTYPE array (what the fused kernel is compiled for)."""
    out = np.empty(len(events), dtype=CAMERA_EVENT_DTYPE)
    for name in ("x", "y", "t", "p", "c"):
        out[name] = events[name]
    return out


def _filter_numpy(ev, hot_pixel_threshold, ba_dt, masks, stats, backend, ba_filter="current"):
    """Steps 2-6 with the modular (vectorised) filters; returns (frame pixel, t) and fills ``stats``."""
    x = ev["x"].astype(np.int32)
    y = ev["y"].astype(np.int32)
    c = ev["c"].astype(np.int32)
    t = ev["t"].astype(np.int64)
    ok = (x < SX) & (y < SY) & (c < NBCAM)
    if not ok.all():
        x, y, c, t = x[ok], y[ok], c[ok], t[ok]
    stats["out_of_range"] = int((~ok).sum())
    X, Y = combined_coordinates(x, y, c)
    n0 = int(t.size)
    stats["hot_pixels"] = 0
    if hot_pixel_threshold is not None and n0:
        keep = hot_pixel_filter(X, Y, hot_pixel_threshold)
        stats["hot_pixels"] = int(np.unique((X[~keep].astype(np.int64) - 1) * SY + (Y[~keep] - 1)).size)
        X, Y, t, x, y, c = X[keep], Y[keep], t[keep], x[keep], y[keep], c[keep]
    stats["hot_pixel_removed"] = n0 - int(t.size)
    n1 = int(t.size)
    if ba_dt is not None and n1:
        if ba_dt < 0:
            raise ValueError(f"ba_dt must be >= 0 or None, got {ba_dt}")
        keep = background_activity_filter(X, Y, t, ba_dt, variant=ba_filter, backend=backend)
        X, Y, t, x, y, c = X[keep], Y[keep], t[keep], x[keep], y[keep], c[keep]
    stats["background_removed"] = n1 - int(t.size)
    n2 = int(t.size)
    if masks:
        keep = ir_mask_filter(X, Y, masks)
        t, x, y, c = t[keep], x[keep], y[keep], c[keep]
    stats["mask_removed"] = n2 - int(t.size)
    return frame_pixel(x, y, c), t


def preprocess_events(events: np.ndarray, start: int, stop: int, vicon, *, events_per_frame: int = EVENTS_PER_FRAME,
                      hot_pixel_threshold: float = HOT_PIXEL_THRESHOLD, ba_dt: int | None = BA_DT_US,
                      masks=IR_MASKS, k_rounding: str = "matlab", matlab_break_frame: bool = False,
                      path: str | os.PathLike = "<recording>", backend: str = "auto", ba_filter: str = "current",
                      frame_spans: bool = False):
    """The official preprocessing of one recording's events (see the module docstring for the steps).

    Parameters
    ----------
    events: raw DHP19 events (``x, y, t, p, c``: :data:`evsnn.events.CAMERA_EVENT_DTYPE`), file order.
    start, stop: from :func:`evsnn.io.dhp19.recording_window`.
    vicon: ``(N, 3, 13)`` Vicon samples (:func:`evsnn.io.dhp19.read_vicon`).
    events_per_frame: per camera on average; a frame closes every ``events_per_frame * 4`` events.
    hot_pixel_threshold, ba_dt, masks: filter settings (``None``/``()`` switches a filter off).
    ba_filter: ``"current"`` (the official BackgroundFilter.m since 2019-10: 8 neighbours) or ``"2019"`` (the first
        release: the event's own pixel too), see :func:`background_activity_filter`.
    k_rounding: ``"matlab"`` or ``"floor"`` (:func:`label_index`).
    matlab_break_frame: the MATLAB loop increments the frame counter BEFORE the ``k > #samples`` test that ends it,
        and then saves ``IMovie(:,:,:,1:nbFrame)``, so its output ends with one all-zero frame (uint8 of the NaN
        preallocation) with NaN labels whenever generation stops on the labels. ``True`` reproduces that frame;
        the default leaves it out.
    backend: ``"auto"``, ``"numba"`` or ``"numpy"`` (identical results).
    frame_spans: also return, as ``stats["frame_spans_us"]``, the (F, 2) times of the first and the last event of
        each frame (``python -m evsnn predict`` prints them on its clip; the caches do not keep them).

    Returns
    -------
    ``(dvs, xyz, stats)``: ``dvs`` (F, 260, 346, 4) uint8, ``xyz`` (F, 3, 13) float64, ``stats`` a dict of counts
    (events per stage, hot pixels, frames, whether the labels ended generation).
    """
    if events_per_frame < 1:
        raise ValueError(f"events_per_frame must be >= 1, got {events_per_frame}")
    _check_ba_filter(ba_filter)
    vicon = np.asarray(vicon, dtype=np.float64)
    n_vicon = int(vicon.shape[0])
    backend = resolve_backend(backend, numba_available)
    sl = select_window(events["t"], start, stop, path)
    stats: dict[str, Any] = {"events_total": int(len(events)), "window_events": int(sl.stop - sl.start),
                             "start_us": int(start), "stop_us": int(stop), "vicon_samples": n_vicon}
    if backend == "numba":
        pix, t = _filter_numba(events, sl, hot_pixel_threshold, ba_dt, masks, stats, ba_filter)
    else:
        pix, t = _filter_numpy(events[sl], hot_pixel_threshold, ba_dt, masks, stats, backend, ba_filter)
    stats["events_used"] = int(t.size)

    per_frame = int(events_per_frame) * NBCAM
    n_full = int(t.size) // per_frame
    close_t = t[per_frame - 1::per_frame][:n_full]
    k = label_index(close_t, start, k_rounding)
    over = np.flatnonzero(k > n_vicon)
    n_frames = int(over[0]) if over.size else n_full
    stats["stopped_by_labels"] = bool(over.size)
    dvs = accumulate_frames(pix, n_frames, per_frame, backend=backend)
    xyz = frame_labels(k[:n_frames], vicon)
    if matlab_break_frame and over.size:
        dvs = np.concatenate([dvs, np.zeros((1,) + dvs.shape[1:], dtype=np.uint8)])
        xyz = np.concatenate([xyz, np.full((1,) + xyz.shape[1:], np.nan)])
    stats["frames"] = int(dvs.shape[0])
    stats["events_per_full_frame"] = per_frame
    if frame_spans:   # frame f holds the kept events f * per_frame .. (f + 1) * per_frame - 1
        stats["frame_spans_us"] = np.stack([t[0:n_frames * per_frame:per_frame],
                                            t[per_frame - 1:n_frames * per_frame:per_frame]], axis=1).astype(np.int64)
    return dvs, xyz, stats


def preprocess_recording(aedat: str | os.PathLike, vicon: str | os.PathLike, *,
                         events_per_frame: int = EVENTS_PER_FRAME, hot_pixel_threshold: float = HOT_PIXEL_THRESHOLD,
                         ba_dt: int | None = BA_DT_US, masks=IR_MASKS, k_rounding: str = "matlab",
                         matlab_break_frame: bool = False, backend: str = "auto", ba_filter: str = "current"):
    """Read one DHP19 recording (``.aedat`` + Vicon ``.mat``) and preprocess it as ``Generate_DHP19.m`` does.

    Returns ``(dvs (F, 260, 346, 4) uint8, xyz (F, 3, 13) float64, stats)``; ``stats`` also carries the
    start/stop ``rule`` and the number of special events. Raises
    :class:`~evsnn.io.dhp19.CorruptRecordingError` for a recording with more than 5 special events (the caller
    logs and skips it, as the official script does), :class:`~evsnn.errors.FormatError` for unreadable files.
    See :func:`preprocess_events` for the keyword arguments.
    """
    from evsnn.io.aedat2 import read_aedat2
    from evsnn.io.dhp19 import read_vicon

    xyz_all = read_vicon(vicon)
    events, header = read_aedat2(aedat, layout="davis346", dhp19=True)
    specials = header["special_timestamps"]
    start, stop, rule = recording_window(specials, events["t"], xyz_all.shape[0], aedat)
    dvs, xyz, stats = preprocess_events(events, start, stop, xyz_all, events_per_frame=events_per_frame,
                                        hot_pixel_threshold=hot_pixel_threshold, ba_dt=ba_dt, masks=masks,
                                        k_rounding=k_rounding, matlab_break_frame=matlab_break_frame, path=aedat,
                                        backend=backend, ba_filter=ba_filter)
    stats.update(rule=rule, special_events=int(len(specials)), aedat=os.fspath(aedat), vicon=os.fspath(vicon),
                 dropped_records=header.get("dropped", {}))
    return dvs, xyz, stats


def output_names(subject: int, session: int, movement: int,
                 events_per_frame: int = EVENTS_PER_FRAME) -> tuple[str, str]:
    """File names of the official outputs: ``S{s}_session{k}_mov{m}_{E}events.h5`` and ``..._label.h5``."""
    stem = f"S{subject}_session{session}_mov{movement}_{events_per_frame}events"
    return f"{stem}.h5", f"{stem}_label.h5"


def write_dhp19_h5(dvs_path: str | os.PathLike, label_path: str | os.PathLike | None, dvs, xyz=None, *,
                   compression: str | None = None) -> None:
    """Write the official layout, each file atomically: ``/DVS`` (N, 260, 346, 4) uint8 and ``/XYZ`` (N, 3, 13).

    (MATLAB writes ``/DVS`` with ``h5create``'s default datatype, double, holding uint8 values; uint8 here.)
    """
    import h5py

    dvs = np.asarray(dvs)
    if dvs.ndim != 4 or dvs.shape[1:] != (SY, SX, NBCAM):
        raise ValueError(f"dvs must have shape (N, {SY}, {SX}, {NBCAM}), got {dvs.shape}")
    with atomic_path(dvs_path, suffix=".h5") as tmp:
        with h5py.File(tmp, "w") as f:
            f.create_dataset("DVS", data=dvs.astype(np.uint8, copy=False), compression=compression)
    if label_path is not None:
        xyz = np.asarray(xyz, dtype=np.float64)
        if xyz.shape != (dvs.shape[0], 3, N_JOINTS):
            raise ValueError(f"xyz must have shape ({dvs.shape[0]}, 3, {N_JOINTS}), got {xyz.shape}")
        with atomic_path(label_path, suffix=".h5") as tmp:
            with h5py.File(tmp, "w") as f:
                f.create_dataset("XYZ", data=xyz, compression=compression)


def read_dhp19_h5(dvs_path: str | os.PathLike, label_path: str | os.PathLike | None = None):
    """Read ``/DVS`` (and ``/XYZ`` when ``label_path`` is given) of the official h5 files."""
    import h5py

    from evsnn.errors import FormatError

    def _read(p, name):
        try:
            with h5py.File(p, "r") as f:
                if name not in f:
                    raise FormatError(p, None, f"no dataset /{name} (datasets: {sorted(f.keys())})")
                return f[name][()]
        except OSError as exc:
            raise FormatError(p, None, f"not a readable HDF5 file ({exc})") from None

    dvs = _read(os.fspath(dvs_path), "DVS")
    if label_path is None:
        return dvs
    return dvs, _read(os.fspath(label_path), "XYZ")


# --------------------------------------------------------------------------------------------------
# 2D projection, heatmaps, stacked histograms
# --------------------------------------------------------------------------------------------------
def project(P, xyz, H: int = SY, W: int = 344) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Project 3D joints (mm) to pixels as the official notebooks do.

    ``uvw = P @ [X, Y, Z, 1]``; ``u = uvw0/uvw2``; ``v = H - uvw1/uvw2`` (v flipped "to match the image
    direction"); ``mask`` is False for NaN joints and for ``u <= 0``, ``u > W``, ``v <= 0``, ``v > H``.
    ``W = 344`` as in Eval_2D_triangulation_and_3D_tutorial.ipynb (the CNN input is cropped to 344 columns;
    heatmap_generation_example.ipynb uses 346). Heatmaps put a joint at row ``int(v)``, column ``int(u)``.

    ``xyz``: ``(..., 3, J)`` (one ``/XYZ`` sample is (3, 13)). Returns ``u, v`` float64 ``(..., J)`` and ``mask``
    bool ``(..., J)``.
    """
    P = np.asarray(P, dtype=np.float64)
    if P.shape != (3, 4):
        raise ValueError(f"P must be 3 x 4, got {P.shape}")
    xyz = np.asarray(xyz, dtype=np.float64)
    if xyz.ndim < 2 or xyz.shape[-2] != 3:
        raise ValueError(f"xyz must have shape (..., 3, J), got {xyz.shape}")
    uvw = np.einsum("ij,...jk->...ik", P[:, :3], xyz) + P[:, 3][:, None]
    with np.errstate(invalid="ignore", divide="ignore"):
        u = uvw[..., 0, :] / uvw[..., 2, :]
        v = H - uvw[..., 1, :] / uvw[..., 2, :]
        mask = np.isfinite(u) & np.isfinite(v) & (u > 0) & (u <= W) & (v > 0) & (v <= H)
    return u, v, mask


def heatmaps(u, v, mask, H: int = SY, W: int = 344, sigma: float = 4.0, dtype=np.float32) -> np.ndarray:
    """Gaussian joint heatmaps ``(..., J, H, W)``: one-hot at ``[int(v), int(u)]``, blurred, divided by the max.

    The official target (heatmap_generation_example.ipynb) is ``cv2.GaussianBlur(hm, (0, 0), sigma)`` then
    ``hm /= hm.max()``, sigma = 4 (lifting_events uses 10). Here the blur is
    ``scipy.ndimage.gaussian_filter1d`` along each axis with ``truncate=4.0`` and ``mode="mirror"``: OpenCV derives
    the kernel size ``2*round(4*sigma)+1`` for float images (radius 4 sigma, as ``truncate=4``) and pads with
    BORDER_REFLECT_101 (= scipy "mirror"), so the kernels agree (up to rounding of the radius for non-integer
    4*sigma and float rounding; cv2 computes float32 images in float32). A separable Gaussian of a one-hot image is
    the outer product of the two 1-D blurred one-hots, which is how it is computed. Joints with ``mask`` False, or
    whose index falls outside the array (``v == H`` passes the official mask), get an all-zero map.
    """
    from scipy.ndimage import gaussian_filter1d

    u = np.asarray(u, dtype=np.float64)
    v = np.asarray(v, dtype=np.float64)
    mask = np.asarray(mask, dtype=bool)
    if not (u.shape == v.shape == mask.shape):
        raise ValueError(f"u, v, mask have different shapes: {u.shape}, {v.shape}, {mask.shape}")
    shape = u.shape
    uf, vf, mf = u.reshape(-1), v.reshape(-1), mask.reshape(-1)
    with np.errstate(invalid="ignore"):
        iu = np.where(mf, np.trunc(np.where(mf, uf, 0)), -1).astype(np.int64)
        iv = np.where(mf, np.trunc(np.where(mf, vf, 0)), -1).astype(np.int64)
    valid = mf & (iu >= 0) & (iu < W) & (iv >= 0) & (iv < H)
    m = uf.size
    ex = np.zeros((m, W))
    ey = np.zeros((m, H))
    idx = np.flatnonzero(valid)
    ex[idx, iu[idx]] = 1.0
    ey[idx, iv[idx]] = 1.0
    gx = gaussian_filter1d(ex, sigma, axis=1, mode="mirror", truncate=4.0)
    gy = gaussian_filter1d(ey, sigma, axis=1, mode="mirror", truncate=4.0)
    hm = gy[:, :, None] * gx[:, None, :]
    peak = hm.reshape(m, -1).max(axis=1)
    peak[peak == 0] = 1.0
    hm /= peak[:, None, None]
    return hm.reshape(shape + (H, W)).astype(dtype, copy=False)


def camera_frame_events(events: np.ndarray, channel: int) -> np.ndarray:
    """The events of one aedat channel in the orientation of the official frames: ``x' = 345 - x``,
    ``y' = 259 - y`` (so that ``frame[y', x']`` is ``DVS[:, y', x', channel]``), as EVENT_DTYPE."""
    from evsnn.events import EVENT_DTYPE

    sel = events[events["c"] == channel]
    out = np.empty(len(sel), dtype=EVENT_DTYPE)
    out["x"] = SX - 1 - sel["x"].astype(np.int64)
    out["y"] = SY - 1 - sel["y"].astype(np.int64)
    out["t"] = sel["t"]
    out["p"] = sel["p"]
    return out


def stacked_histograms(events, t_end: int, n_bins: int = 10, bin_us: int = 10_000, H: int = SY, W: int = SX,
                       dtype=np.float32, backend: str = "auto") -> np.ndarray:
    """Stacked event histograms of the hybrid ANN-SNN paper (Aydin et al. CVPRW 2024): ``n_bins`` bins of
    ``bin_us`` (10 ms) ending at ``t_end`` -- bin ``b`` counts ``t_end - (n_bins - b)*bin_us <= t < ...`` -- per
    polarity. Returns ``(n_bins, 2, H, W)`` (channel 0 OFF, 1 ON), via :func:`evsnn.frames.integrate_by_time_bins`.
    ``events``: one camera's events (e.g. :func:`camera_frame_events`), sorted by ``t``.
    """
    from evsnn.frames import integrate_by_time_bins

    return integrate_by_time_bins(events, bin_us, H, W, n_bins=n_bins, t_start=int(t_end) - n_bins * bin_us,
                                  dtype=dtype, backend=backend)
