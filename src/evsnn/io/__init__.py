"""Readers and writers of raw event-camera formats.

``read_events(path)`` and ``info(path)`` sniff the format from the first bytes of the file (never from its
extension) and dispatch to the format's reader: AEDAT 2.0 (``#!AER-DAT2.``, :mod:`evsnn.io.aedat2`), AEDAT 3.1
(``#!AER-DAT3.``, :mod:`evsnn.io.aedat3`), AEDAT 4.0 (``#!AER-DAT4.``, :mod:`evsnn.io.aedat4`, decoded by faery),
Prophesee EVT 2.0 / 3.0 RAW and DAT (``%`` header lines, :mod:`evsnn.io.prophesee`, decoded by faery) and
MVSEC HDF5 (the HDF5 signature, :mod:`evsnn.io.mvsec`). Other formats plug in with :func:`register_format`.
:func:`supported_formats` lists them all; the "not supported" error names every one of them.
"""
from __future__ import annotations

import os
import re
from dataclasses import dataclass
from typing import Callable

import numpy as np

from evsnn.errors import FormatError

__all__ = ["EventFormat", "register_format", "sniff", "read_events", "info", "supported_formats", "SNIFF_BYTES"]

# the Prophesee header lines (date, serial, plugin, ...) come before the format line: sniff a few KiB
SNIFF_BYTES = 4096
HDF5_SIGNATURE = b"\x89HDF\r\n\x1a\n"


@dataclass(frozen=True)
class EventFormat:
    """One sniffable file format.

    ``sniff(head: bytes) -> bool`` looks at the first :data:`SNIFF_BYTES` bytes; ``read(path) -> (events, header)``;
    ``describe(events, header) -> dict`` adds format-specific JSON-able keys to :func:`info` (``camera_layout``,
    ``resolution``, ``sources``/``cameras``, ...).
    """

    name: str
    sniff: Callable[[bytes], bool]
    read: Callable[[str], tuple[np.ndarray, dict]]
    describe: Callable[[np.ndarray, dict], dict]


_FORMATS: list[EventFormat] = []


def register_format(fmt: EventFormat, *, first: bool = False) -> None:
    """Add a format to the sniffer (``first=True`` to take precedence over the built-in ones)."""
    global _FORMATS
    _FORMATS = [f for f in _FORMATS if f.name != fmt.name]
    if first:
        _FORMATS.insert(0, fmt)
    else:
        _FORMATS.append(fmt)


def _read_aedat3(path: str):
    from evsnn.io.aedat3 import read_aedat3

    return read_aedat3(path)


def _describe_aedat3(events: np.ndarray, header: dict) -> dict:
    sources = header.get("sources", [])
    out = {
        "format": f"AEDAT {header['version']}",
        "camera_layout": ", ".join(s["description"] for s in sources) or "unknown",
        "resolution": list(header["resolution"]),
        "sources": sources,
        "packets": header.get("packets"),
        "skipped_packets": header.get("skipped_packets", {}),
        "invalid_events": header.get("invalid_events", 0),
    }
    if "start_time" in header:
        out["start_time"] = header["start_time"]
    return out


_DHP19_TREE = re.compile(r"(^|/)DVS_movies/S\d+/session\d+/mov\d+\.aedat$")


def _read_aedat2(path: str):
    from evsnn.io.aedat2 import read_aedat2

    # a file inside a DHP19 tree is a DHP19 recording; elsewhere read_aedat2 decides from the file itself
    in_tree = bool(_DHP19_TREE.search(os.path.abspath(path).replace(os.sep, "/")))
    return read_aedat2(path, dhp19=True if in_tree else None)


def _describe_aedat2(events: np.ndarray, header: dict) -> dict:
    out = {
        "camera_layout": header["camera_layout"],
        "chip": header.get("chip"),
        "resolution": list(header["resolution"]),
        "special_events": int(len(header.get("special_timestamps", ()))),
        "dropped_records": header.get("dropped", {}),
    }
    if header.get("multiplexed") and "camera_events" in header:
        out["cameras"] = {str(c): n for c, n in header["camera_events"].items()}
    if header.get("created"):
        out["start_time"] = header["created"]  # jAER's "# created ..." line, as AEDAT 3.1's #Start-Time
    return out


def _read_aedat4(path: str):
    from evsnn.io.aedat4 import read_aedat4

    return read_aedat4(path)


def _describe_aedat4(events: np.ndarray, header: dict) -> dict:
    sources = sorted({s["source"] for s in header["streams"] if s.get("source")})
    out = {
        "format": "AEDAT 4.0",
        "camera_layout": ", ".join(sources) or "unknown",
        "resolution": header["resolution"],
        "streams": header["streams"],
        "packets": header["packets"],
        "imu_samples": header["imu_samples"],
        "triggers": header["triggers"],
        "frames": header["frames"],
    }
    if "camera_events" in header:
        out["cameras"] = header["camera_events"]
    return out


def _read_evt(path: str):
    from evsnn.io.prophesee import read_evt

    return read_evt(path)


def _read_dat(path: str):
    from evsnn.io.prophesee import read_dat

    return read_dat(path)


def _describe_prophesee(events: np.ndarray, header: dict) -> dict:
    h = header.get("header", {})
    layout = " ".join(v for v in (h.get("camera_integrator_name"), h.get("plugin_name") or h.get("sensor_name"))
                      if v) or "Prophesee sensor"
    out = {"format": f"Prophesee {header['version']}", "camera_layout": layout, "resolution": header["resolution"]}
    if "triggers" in header:
        out["triggers"] = header["triggers"]
    return out


def _sniff_evt(head: bytes) -> bool:
    from evsnn.io.prophesee import sniff_evt

    return sniff_evt(head)


def _sniff_dat(head: bytes) -> bool:
    from evsnn.io.prophesee import sniff_dat

    return sniff_dat(head)


def _read_hdf5(path: str):
    from evsnn.io.mvsec import read_mvsec  # a foreign HDF5 file gets mvsec's "has no dataset /davis/..." error

    return read_mvsec(path)


def _describe_hdf5(events: np.ndarray, header: dict) -> dict:
    from evsnn.io.mvsec import _describe

    return _describe(events, header)


register_format(EventFormat("AEDAT 2.0", lambda h: h.startswith(b"#!AER-DAT2."), _read_aedat2, _describe_aedat2))
register_format(EventFormat("AEDAT 3.1", lambda h: h.startswith(b"#!AER-DAT3."), _read_aedat3, _describe_aedat3))
register_format(EventFormat("AEDAT 4.0", lambda h: h.startswith(b"#!AER-DAT4."), _read_aedat4, _describe_aedat4))
register_format(EventFormat("Prophesee EVT 2.0/3.0", _sniff_evt, _read_evt, _describe_prophesee))
register_format(EventFormat("Prophesee DAT", _sniff_dat, _read_dat, _describe_prophesee))
# evsnn.io.mvsec registers the same name again (first=True) when imported; the entry is the same reader
register_format(EventFormat("MVSEC HDF5", lambda h: h.startswith(HDF5_SIGNATURE), _read_hdf5, _describe_hdf5))


def supported_formats() -> list[str]:
    """Names of every format :func:`read_events` / :func:`info` read, in sniffing order."""
    return [f.name for f in _FORMATS]


def sniff(path: str | os.PathLike) -> EventFormat:
    """The registered format of ``path`` from its first bytes; FormatError (offset 0) when none matches."""
    path = os.fspath(path)
    if os.path.isdir(path):
        raise FormatError(path, None, "is a directory, not an event file (name one recording file)")
    with open(path, "rb") as fh:
        head = fh.read(SNIFF_BYTES)
    for fmt in _FORMATS:
        if fmt.sniff(head):
            return fmt
    if head.startswith(b"#!AER-DAT"):
        version = head[len(b"#!AER-DAT"):].split(b"\r", 1)[0].split(b"\n", 1)[0].decode("ascii", "replace")
        aedat = ", ".join(n for n in supported_formats() if n.startswith("AEDAT"))
        raise FormatError(path, 0, f"AEDAT version {version} is not supported (supported: {aedat})")
    if not head:
        raise FormatError(path, 0, "empty file, not an event file")
    names = ", ".join(supported_formats())
    raise FormatError(path, 0, f"not a supported event file (supported: {names}); it starts with {head[:16]!r}")


def read_events(path: str | os.PathLike) -> tuple[np.ndarray, dict]:
    """Read any supported event file: ``(events, header)`` from the reader of the sniffed format."""
    path = os.fspath(path)
    fmt = sniff(path)
    events, header = fmt.read(path)
    header.setdefault("format_name", fmt.name)
    return events, header


def info(path: str | os.PathLike) -> dict:
    """JSON-able summary of an event file: format, camera layout, event count, resolution, time span.

    Keys: ``file``, ``format`` ("AEDAT 3.1", "AEDAT 2.0", "AEDAT 4.0", "Prophesee EVT 3.0", ...), ``camera_layout`` ("DVS128",
    "DAVIS346 (DHP19, 4 cameras)", ...), ``events``, ``resolution`` [W, H], ``t_start_us``, ``t_end_us`` (first and
    last event, file order), ``duration_s``, ``timestamps_monotonic``, plus ``sources`` (AEDAT 3.1) or ``cameras``
    (events per camera, DHP19), ``start_time`` (AEDAT 3.1 ``#Start-Time``, AEDAT 2.0 ``# created``) and a few
    format-specific counts (AEDAT 4.0: ``imu_samples``, ``triggers``, ``frames``, ``streams``; EVT: ``triggers``).
    """
    path = os.fspath(path)
    fmt = sniff(path)
    events, header = fmt.read(path)
    t = events["t"]
    n = int(len(events))
    out = {
        "file": path,
        "format": fmt.name,
        "events": n,
        "t_start_us": int(t[0]) if n else None,
        "t_end_us": int(t[-1]) if n else None,
        "duration_s": float(t[-1] - t[0]) * 1e-6 if n else 0.0,
        "timestamps_monotonic": bool(np.all(t[1:] >= t[:-1])) if n else True,
    }
    extra = fmt.describe(events, header)
    out["format"] = extra.pop("format", fmt.name)
    out["camera_layout"] = extra.pop("camera_layout", None)
    out["resolution"] = extra.pop("resolution", None)
    order = ["file", "format", "camera_layout", "events", "resolution", "t_start_us", "t_end_us", "duration_s",
             "timestamps_monotonic"]
    result = {k: out[k] for k in order}
    result.update(extra)
    return result
