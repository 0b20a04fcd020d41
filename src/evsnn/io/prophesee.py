"""Prophesee EVT 2.0 / 3.0 (``.raw``) and DAT (``.dat``) through faery's Rust decoders.

Both formats start with ASCII header lines beginning with ``%``:

- EVT (Metavision RAW): ``% evt 3.0``, ``% format EVT3;height=720;width=1280``, ``% geometry 1280x720``, ...,
  optionally ``% end``; then a stream of 16-bit (EVT 3.0) or 32-bit (EVT 2.0) words. EVT 2.1 (64-bit words) is
  refused with a FormatError: faery 0.7.1 does not implement it yet (it panics), and no other maintained decoder
  was checked against it.
- DAT: ``% Data file containing CD events.``, ``% Version 2``, ``% Width 304``, ``% Height 240``; then two bytes
  (event type, event size) and 8-byte records.

The words are decoded by faery (neuromorphicsystems/faery, LGPL-3.0, numpy only). A colleague compared the
maintained decoders: they agree on EVT 2.0; on EVT 3.0 expelliarmus' timestamps drifted by +4096 us per time-high
period where faery and evlib agreed, so tests/test_io_formats.py checks the EVT 3.0 times against events written
with known times over more than one 2**24 us period. evsnn sniffs the format from the header (not the extension),
copies the events into :data:`~evsnn.events.EVENT_DTYPE` (``t`` in microseconds as the file stores it), counts
trigger events (reported by ``events info``, not mixed into events), and checks that every event lies inside the
sensor the header names.
"""
from __future__ import annotations

import os
import re
from pathlib import Path

import numpy as np

from evsnn.errors import FormatError
from evsnn.events import EVENT_DTYPE

__all__ = ["read_header", "sniff_evt", "sniff_dat", "read_evt", "read_dat", "write_evt", "write_dat"]

HEADER_MAX = 1 << 16
_WORD_BYTES = {"evt2": 4, "evt2.1": 8, "evt3": 2}
_EVT_NAMES = {"evt2": "EVT 2.0", "evt2.1": "EVT 2.1", "evt3": "EVT 3.0"}


def _faery():
    try:
        from faery.extension import dat, evt
    except ImportError as exc:  # pragma: no cover - faery is pinned in envs/requirements.txt
        raise ImportError("reading or writing Prophesee EVT / DAT needs the 'faery' package (pinned in "
                          "envs/requirements.txt; bash envs/install.sh installs it)") from exc
    return evt, dat


def _header_lines(head: bytes) -> list[str]:
    lines = []
    for raw in head.split(b"\n"):
        if not raw.startswith(b"%"):
            break
        lines.append(raw[1:].strip().decode("latin-1"))
    return lines


def sniff_evt(head: bytes) -> bool:
    """A Metavision RAW (EVT) file: ``%`` header lines, one of them ``evt <version>`` or ``format EVT...``."""
    if not head.startswith(b"%"):
        return False
    return any(re.match(r"(evt\s+\d|format\s+evt)", ln, re.I) for ln in _header_lines(head))


def sniff_dat(head: bytes) -> bool:
    """A Prophesee DAT file: ``%`` header lines with ``Version`` / ``Data file`` / ``Width``, no EVT line."""
    if not head.startswith(b"%") or sniff_evt(head):
        return False
    return any(re.match(r"(version\s+\d|data file|width\s+\d|height\s+\d)", ln, re.I) for ln in _header_lines(head))


def read_header(path: str | os.PathLike) -> tuple[dict[str, str], int]:
    """``({key: value}, header length in bytes)`` of the ``%`` lines (``% end`` ends the header too)."""
    with open(path, "rb") as fh:
        head = fh.read(HEADER_MAX)
    keys: dict[str, str] = {}
    pos = 0
    while pos < len(head) and head[pos:pos + 1] == b"%":
        nl = head.find(b"\n", pos)
        if nl < 0:
            break
        line = head[pos + 1:nl].strip().decode("latin-1")
        pos = nl + 1
        if line.lower() == "end":
            break
        key, _, value = line.partition(" ")
        keys.setdefault(key.lower(), value.strip())
    return keys, pos


def _size_words(header: dict[str, str]) -> str:
    for key in ("format", "geometry", "width", "height"):
        if key in header:
            return f"'% {key} {header[key]}'"
    return "its header"


def _check_inside(path: str, events: np.ndarray, dims: tuple[int, int], what: str, header: dict) -> None:
    W, H = dims
    if len(events) and (int(events["x"].max()) >= W or int(events["y"].max()) >= H):
        bad = int(np.flatnonzero((events["x"] >= W) | (events["y"] >= H))[0])
        raise FormatError(path, None, f"the {what} header names a {W}x{H} sensor ({_size_words(header)}) but event "
                                      f"{bad} lies at x={int(events['x'][bad])}, y={int(events['y'][bad])}: the "
                                      "header and the events disagree on the sensor size")


def _to_events(parts: list[np.ndarray], pol: str) -> np.ndarray:
    n = sum(len(p) for p in parts)
    out = np.empty(n, dtype=EVENT_DTYPE)
    x, y, t, p = out["x"], out["y"], out["t"], out["p"]
    i = 0
    for pk in parts:
        j = i + len(pk)
        x[i:j] = pk["x"]
        y[i:j] = pk["y"]
        t[i:j] = pk["t"]
        p[i:j] = pk[pol] != 0
        i = j
    return out


def read_evt(path: str | os.PathLike) -> tuple[np.ndarray, dict]:
    """Read a Prophesee EVT 2.0 / 3.0 RAW file: ``(events, header)`` with ``version`` ("EVT 3.0", ...),
    ``resolution`` [W, H], ``triggers`` (count), ``header`` (the ``%`` lines as a dict).

    A header whose sensor size the events exceed, a file without size or version in its header, and a file that
    ends inside a word raise :class:`FormatError` naming the file."""
    evt, _ = _faery()
    path = os.fspath(path)
    keys, hlen = read_header(path)
    fmt = keys.get("format", "").split(";")[0].strip().upper()
    if keys.get("evt", "").strip() == "2.1" or fmt in ("EVT21", "EVT2.1"):
        raise FormatError(path, 0, "Prophesee EVT 2.1 is not supported (faery 0.7.1 does not decode it; supported: "
                                   "EVT 2.0, EVT 3.0)")
    try:
        decoder = evt.Decoder(path, None, None)
    except Exception as exc:  # noqa: BLE001
        raise FormatError(path, 0, f"the Prophesee EVT header cannot be used by faery ({exc})") from None
    parts: list[np.ndarray] = []
    triggers = 0
    with decoder:
        version, dims = decoder.version, tuple(decoder.dimensions)
        name = _EVT_NAMES.get(version, version)
        try:
            for packet in decoder:
                ev = packet.get("events")
                if ev is not None and len(ev):
                    parts.append(ev)
                tr = packet.get("triggers")
                if tr is not None:
                    triggers += len(tr)
        except Exception as exc:  # noqa: BLE001
            msg = str(exc)
            m = re.match(r"([xy]) overflow \(\1=(\d+) must be strictly smaller than (width|height)=(\d+)\)", msg)
            if m:
                raise FormatError(path, None, f"the {name} header names a {dims[0]}x{dims[1]} sensor "
                                              f"({_size_words(keys)}) but an event lies at {m.group(1)}={m.group(2)}: "
                                              "the header and the events disagree on the sensor size") from None
            raise FormatError(path, None, f"the {name} stream cannot be decoded by faery ({msg})") from None
    events = _to_events(parts, "on")
    _check_inside(path, events, dims, name, keys)
    body = os.path.getsize(path) - hlen
    word = _WORD_BYTES.get(version)
    if word and body % word:
        end = os.path.getsize(path)
        raise FormatError(path, end - body % word, f"the {name} file is truncated: it ends {body % word} byte(s) "
                                                   f"into a {word}-byte word")
    header = {"version": name, "resolution": [int(dims[0]), int(dims[1])], "triggers": triggers,
              "header": keys, "header_bytes": hlen}
    return events, header


def read_dat(path: str | os.PathLike) -> tuple[np.ndarray, dict]:
    """Read a Prophesee DAT file of CD (polarity) events: ``(events, header)`` with ``version`` ("DAT 2"),
    ``resolution`` [W, H] (faery's fallback for a header without size: none, the file is refused)."""
    _, dat = _faery()
    path = os.fspath(path)
    keys, hlen = read_header(path)
    try:
        decoder = dat.Decoder(path, None, None)
    except Exception as exc:  # noqa: BLE001
        raise FormatError(path, 0, f"the Prophesee DAT header cannot be used by faery ({exc})") from None
    parts: list[np.ndarray] = []
    with decoder:
        version, kind, dims = decoder.version, decoder.event_type, decoder.dimensions
        if kind != "cd":
            raise FormatError(path, hlen, f"the DAT file holds {kind!r} events, not CD (polarity) events")
        try:
            for packet in decoder:
                if len(packet):
                    parts.append(packet)
        except Exception as exc:  # noqa: BLE001
            raise FormatError(path, None, f"the DAT stream cannot be decoded by faery ({exc})") from None
    name = f"DAT {version[-1]}" if version else "DAT"
    if dims is None:
        raise FormatError(path, 0, "the DAT header has no Width / Height lines")
    events = _to_events(parts, "payload")
    _check_inside(path, events, tuple(dims), name, keys)
    body = os.path.getsize(path) - hlen - 2
    if body % 8:
        raise FormatError(path, os.path.getsize(path) - body % 8,
                          f"the {name} file is truncated: it ends {body % 8} byte(s) into an 8-byte event")
    header = {"version": name, "resolution": [int(dims[0]), int(dims[1])], "header": keys, "header_bytes": hlen}
    return events, header


def _faery_events(events: np.ndarray) -> np.ndarray:
    out = np.empty(len(events), dtype=[("t", "<u8"), ("x", "<u2"), ("y", "<u2"), ("on", "?")])
    out["t"], out["x"], out["y"], out["on"] = events["t"], events["x"], events["y"], events["p"] != 0
    return out


def write_evt(path: str | os.PathLike, events: np.ndarray, resolution: tuple[int, int], version: str = "evt3",
              packet_size: int = 10000) -> Path:
    """Write events (sorted by ``t``) as EVT 2.0 / 3.0 (``version`` "evt2" / "evt3") with faery's encoder; ``resolution`` (W, H) goes into the header."""
    evt, _ = _faery()
    if version not in ("evt2", "evt3"):
        raise ValueError(f"version must be 'evt2' or 'evt3', got {version!r}")
    path = Path(path)
    fev = _faery_events(events)
    with evt.Encoder(path, version, False, tuple(int(v) for v in resolution), True) as enc:
        for a in range(0, len(fev), packet_size):
            enc.write({"events": fev[a:a + packet_size]})
    return path


def write_dat(path: str | os.PathLike, events: np.ndarray, resolution: tuple[int, int]) -> Path:
    """Write events (sorted by ``t``) as a DAT 2 file of CD events with faery's encoder."""
    _, dat = _faery()
    path = Path(path)
    fev = _faery_events(events).astype([("t", "<u8"), ("x", "<u2"), ("y", "<u2"), ("payload", "u1")],
                                       casting="unsafe")
    with dat.Encoder(path, "dat2", "cd", False, tuple(int(v) for v in resolution)) as enc:
        enc.write(fev)
    return path
