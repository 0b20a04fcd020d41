"""The one event representation shared by every reader.

Events are numpy structured arrays with fields ``x``, ``y`` (pixel, uint16), ``t`` (microseconds, int64)
and ``p`` (polarity, int8: 1 = ON, 0 = OFF), the field names tonic uses, so the arrays can be passed to
tonic transforms unchanged. Multi-camera recordings (DHP19, MVSEC stereo) add ``c`` (camera, uint8).
"""
from __future__ import annotations

import numpy as np

EVENT_DTYPE = np.dtype([("x", "<u2"), ("y", "<u2"), ("t", "<i8"), ("p", "i1")])
CAMERA_EVENT_DTYPE = np.dtype([("x", "<u2"), ("y", "<u2"), ("t", "<i8"), ("p", "i1"), ("c", "u1")])


def make_events(x, y, t, p, c=None) -> np.ndarray:
    """Pack coordinate arrays into an event array (``c`` given -> the camera dtype)."""
    n = len(t)
    ev = np.empty(n, dtype=EVENT_DTYPE if c is None else CAMERA_EVENT_DTYPE)
    ev["x"] = x
    ev["y"] = y
    ev["t"] = t
    ev["p"] = p
    if c is not None:
        ev["c"] = c
    return ev


def empty_events(with_camera: bool = False) -> np.ndarray:
    return np.empty(0, dtype=CAMERA_EVENT_DTYPE if with_camera else EVENT_DTYPE)


def slice_time(events: np.ndarray, start: int, end: int) -> np.ndarray:
    """Events with ``start <= t < end`` (the DvsGesture convention); ``events`` must be sorted by ``t``."""
    t = events["t"]
    i0 = np.searchsorted(t, start, side="left")
    i1 = np.searchsorted(t, end, side="left")
    return events[i0:i1]
