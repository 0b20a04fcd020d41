"""jAER AEDAT 2.0 reader and writer: DVS128 and DAVIS346 (DHP19, 4 multiplexed cameras) address layouts.

Format sources (reference/FORMATS.md section 2.2):

- header: ASCII lines starting with ``#``, the first one ``#!AER-DAT2.0``; jAER writes comment lines such as
  ``# This is a raw AE data file - do not edit`` and ``# AEChip: <java class>``. The header ends at the first line
  that does not start with ``#`` [docs.inivation.com file-formats/aedat-2.0; DHP19 ``ImportAedatHeaders.m``].
  Because a binary record can itself start with the byte ``#`` (0x23), a header line must also be printable ASCII
  up to its newline; the first line that is not (or does not start with ``#``) starts the body.
- body: 8-byte big-endian records ``>u4 address, >u4 timestamp`` (µs); the record count is
  ``(file size - header bytes) // 8`` and a remainder means a truncated file.
- DVS128 address layout, jAER ``ch.unizh.ini.jaer.chip.retina.DVS128.Extractor`` (SensorsINI/jaer,
  ``src/ch/unizh/ini/jaer/chip/retina/DVS128.java``): ``XMASK = 0xfe, XSHIFT = 1, YMASK = 0x7f00, YSHIFT = 8``,
  ``x = (sizeX - 1) - ((addr & XMASK) >>> XSHIFT)`` (x is mirrored), ``y = (addr & YMASK) >>> YSHIFT``,
  ``type = (1 - addr) & 1`` (raw bit 0 = 1 is an OFF event), and an address with the sync bit 0x8000 or the special
  bit 0x80000000 set is a special (sync) event. The same masks appear in spikingjelly's CIFAR10-DVS loader
  (``_load_origin_data``: x_mask 0xFE, y_mask 0x7F00, polarity 1 - bit 0, there with an extra transpose specific to
  that dataset) and in the jAER-derived python loaders ("x = retina_size - 1 - ((addr & xmask) >> xshift)").
  tonic 1.7 ``read_dvs_128`` instead returns ``x = (addr >> 8) & 0x7F, y = (addr >> 1) & 0x7F, p = addr & 1``
  (aermanager's convention: transposed, not mirrored, OFF = 1); we follow jAER, the format's reference software.
- DAVIS346 / DHP19 layout ([DHP19] ``ImportAedatDataVersion1or2.m``, its Python port in uzh-rpg/hybrid_ann_snn):
  bit 31 = APS/IMU sample (dropped), bits 30-22 = y, 21-12 = x, bit 11 = polarity (1 = ON), bit 10 = special
  (trigger) event whose timestamp alone is used, bits 3-0 = camera index (DHP19 multiplexes 4 cameras in one file).
  Out-of-range addresses (x > 345, y > 259, camera > 3; e.g. y = 306 in S11/session4/mov5) are dropped as in
  [DHP19] ``extract_from_aedat.m``. Coordinates are returned as raw addresses (DHP19's frame code flips them later).
  A single-camera DAVIS346 (jAER ``Davis346*`` chips) writes the same address without camera bits (they are 0): a
  file is reported as DHP19's multiplexed layout only when its events carry camera indices other than 0, its
  ``# AEChip:`` is a jAER multi-camera chip (``...multicamera.MultiDAVIS346BCameraChip``), or the caller reads it
  as part of a DHP19 tree (``dhp19=True``); otherwise it is a plain "DAVIS346".
- jAER writes the recording's creation time as a header line ``# created <date>``; it is returned as ``created``.

Decoding backends (identical results, see :mod:`evsnn._accel`): ``numba`` (default when importable) decodes every
record in one compiled pass straight into the output array; ``numpy`` (``EVSNN_DISABLE_NUMBA=1`` or
``backend="numpy"``) byte-swaps and decodes cache-sized chunks with whole-array operations.
"""
from __future__ import annotations

import functools
import mmap
import os
from datetime import datetime, timezone
from pathlib import Path

import numpy as np

from evsnn._accel import import_numba, resolve_backend
from evsnn.errors import FormatError
from evsnn.events import CAMERA_EVENT_DTYPE, EVENT_DTYPE

__all__ = ["LAYOUTS", "read_aedat2", "read_aedat2_header", "decode_addresses", "write_aedat2",
           "DVS128_CHIP", "DAVIS346_CHIP", "numba_available"]

LAYOUTS = ("dvs128", "davis346")
DVS128_CHIP = "ch.unizh.ini.jaer.chip.retina.DVS128"
DAVIS346_CHIP = "eu.seebetter.ini.chips.davis.Davis346blue"

# DVS128 (jAER DVS128.Extractor)
_DVS128_SPECIAL = 0x80008000  # SPECIAL_EVENT_BIT_MASK | SYNC_EVENT_BITMASK
# DAVIS346 / DHP19
_DAVIS_APS = 0x80000000
_DAVIS_SPECIAL = 0x400
DAVIS346_SIZE = (346, 260)
DHP19_CAMERAS = 4

_MAX_HEADER_BYTES = 1 << 22  # jAER headers embed XML preferences (tens of kB); 4 MiB is a safe bound
_CHUNK = 1 << 16  # records decoded per step
_NUMBA_CHUNK = 1 << 20  # records per call of the numba kernel (8 MiB of special-timestamp scratch at most)


_PRINTABLE = bytes(range(32, 127)) + b"\t"


# --------------------------------------------------------------------------------------------------
# numba kernels (optional, compiled lazily on first use, cached on disk; see evsnn._accel)
# --------------------------------------------------------------------------------------------------
@functools.lru_cache(maxsize=1)
def _numba_kernels():
    """Compile (or load from numba's on-disk cache) the decoders; ``None`` when numba is unusable.

    ``{"dvs128": kernel, "davis346": kernel}``; a kernel takes ``(buf, body, i0, i1, out, j, special, per_camera)``:
    the file as a uint8 array, the body offset, the range of records to decode, the output array, the output index
    to start at, a scratch array for special timestamps (at least ``i1 - i0`` long) and per-camera event counts
    (davis346; incremented). It writes the kept events to ``out[j:]`` in file order, the special events' timestamps
    to ``special[:s]``, and returns ``(j after the last kept event, s, APS/IMU records, out-of-range records)``.
    Records are read as uint32 words of a view of the body (unaligned when the header length is not a multiple of 4,
    which x86-64 and ARM64 load fine) and byte-swapped.
    """
    numba = import_numba()  # None when not importable or disabled by EVSNN_DISABLE_NUMBA
    if numba is None:
        return None

    @numba.njit(cache=True, nogil=True, inline="always")
    def bswap32(v):  # pragma: no cover - compiled
        return (((v & 0xFF) << 24) | ((v & 0xFF00) << 8) | ((v >> 8) & 0xFF00) | (v >> 24)) & 0xFFFFFFFF

    @numba.njit(cache=True, nogil=True)
    def decode_dvs128(buf, body, i0, i1, out, j, special, per_camera):  # pragma: no cover - compiled
        words = buf[body + 8 * i0:body + 8 * i1].view(np.uint32)
        s = 0
        for i in range(i1 - i0):
            a = bswap32(np.int64(words[2 * i]))
            ts = bswap32(np.int64(words[2 * i + 1]))
            if a & 0x80008000:  # jAER special / sync event
                special[s] = ts
                s += 1
                continue
            r = out[j]
            r.x = np.uint16(127 - ((a >> 1) & 0x7F))
            r.y = np.uint16((a >> 8) & 0x7F)
            r.t = ts
            r.p = np.int8(1 - (a & 1))
            j += 1
        return j, s, 0, 0

    @numba.njit(cache=True, nogil=True)
    def decode_davis346(buf, body, i0, i1, out, j, special, per_camera):  # pragma: no cover - compiled
        words = buf[body + 8 * i0:body + 8 * i1].view(np.uint32)
        s = 0
        n_aps = 0
        n_out = 0
        for i in range(i1 - i0):
            a = bswap32(np.int64(words[2 * i]))
            ts = bswap32(np.int64(words[2 * i + 1]))
            if a & 0x80000000:  # APS / IMU sample
                n_aps += 1
                continue
            if a & 0x400:  # special (trigger) event
                special[s] = ts
                s += 1
                continue
            y = (a >> 22) & 0x1FF
            x = (a >> 12) & 0x3FF
            cam = a & 0xF
            if x < 346 and y < 260 and cam < 4:
                r = out[j]
                r.x = np.uint16(x)
                r.y = np.uint16(y)
                r.t = ts
                r.p = np.int8((a >> 11) & 1)
                r.c = np.uint8(cam)
                per_camera[cam] += 1
                j += 1
            else:
                n_out += 1
        return j, s, n_aps, n_out

    return {"dvs128": decode_dvs128, "davis346": decode_davis346}


def numba_available() -> bool:
    """True when the numba decoders can be used (numba importable and not disabled by ``EVSNN_DISABLE_NUMBA``)."""
    return _numba_kernels() is not None


def _is_header_line(line: bytes) -> bool:
    """A header line starts with '#' and is printable ASCII (tab allowed) up to its CR/LF."""
    return line.startswith(b"#") and not line.rstrip(b"\r\n").translate(None, _PRINTABLE)


def read_aedat2_header(data: bytes, path: str | os.PathLike = "<bytes>") -> tuple[dict, int]:
    """Parse the jAER header at the start of ``data``; returns ``(header, body_offset)``.

    ``header``: ``version`` ("2.0"), ``chip`` (the ``# AEChip:`` class or None), ``header_lines``, ``header_bytes``,
    and ``created`` (the text of jAER's ``# created ...`` line) when present.
    """
    path = os.fspath(path)
    if not data.startswith(b"#!AER-DAT2."):
        first = data[:24].split(b"\n", 1)[0]
        raise FormatError(path, 0, f"not an AEDAT 2.0 file: first line starts with {first!r}, expected b'#!AER-DAT2.0'")
    pos = 0
    lines: list[str] = []
    limit = min(len(data), _MAX_HEADER_BYTES)
    while pos < len(data):
        nl = data.find(b"\n", pos, limit)
        line = data[pos:nl + 1] if nl >= 0 else data[pos:limit]
        if not _is_header_line(line):
            break
        if nl < 0:  # a header line without its newline: the file ends (or the header runs on) inside the header
            raise FormatError(path, pos, "AEDAT 2.0 header line is not terminated (file truncated in the header?)")
        lines.append(line.decode("ascii").rstrip("\r\n"))
        pos = nl + 1
    version = lines[0][len("#!AER-DAT"):].strip()
    chip = created = None
    for line in lines[1:]:
        text = line.lstrip("#").strip()
        if text.startswith("AEChip:"):
            chip = text.split(":", 1)[1].strip()
        elif created is None and text.lower().startswith("created "):
            created = text[len("created "):].strip()
    out = {"version": version, "chip": chip, "header_lines": lines, "header_bytes": pos}
    if created:
        out["created"] = created
    return out, pos


def _layout_from_chip(chip: str | None) -> str | None:
    if not chip:
        return None
    c = chip.lower()
    if "davis346" in c:
        return "davis346"
    if "dvs128" in c or "tmpdiff128" in c:
        return "dvs128"
    return None


def _is_multicamera_chip(chip: str | None) -> bool:
    """jAER's multi-camera chips (``ch.unizh.ini.jaer.chip.multicamera.MultiDAVIS346BCameraChip``, ...)."""
    return bool(chip) and "multi" in chip.lower()


def decode_addresses(addr: np.ndarray, ts: np.ndarray, layout: str,
                     out: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray, dict]:
    """Decode jAER 32-bit addresses (native uint32) and timestamps (int64 µs) of one layout.

    Returns ``(events, special_timestamps, counts)``; ``events`` is EVENT_DTYPE for ``dvs128`` and
    CAMERA_EVENT_DTYPE for ``davis346``, written into the start of ``out`` when given (a view of it is returned);
    ``counts`` reports dropped records (``aps_imu``, ``out_of_range``).
    """
    if layout == "dvs128":
        special = (addr & _DVS128_SPECIAL) != 0
        a, t = addr, ts
        if special.any():
            keep = ~special
            a, t = addr[keep], ts[keep]
        ev = np.empty(len(a), dtype=EVENT_DTYPE) if out is None else out[:len(a)]
        ev["x"] = 127 - ((a >> 1) & 0x7F)
        ev["y"] = (a >> 8) & 0x7F
        ev["p"] = 1 - (a & 1)
        ev["t"] = t
        return ev, ts[special], {"aps_imu": 0, "out_of_range": 0}
    if layout == "davis346":
        aps = (addr & _DAVIS_APS) != 0
        special = ~aps & ((addr & _DAVIS_SPECIAL) != 0)
        dvs = ~(aps | special)
        y = (addr >> 22) & 0x1FF
        x = (addr >> 12) & 0x3FF
        cam = addr & 0xF
        in_range = (x < DAVIS346_SIZE[0]) & (y < DAVIS346_SIZE[1]) & (cam < DHP19_CAMERAS)
        keep = dvs & in_range
        n_keep = int(np.count_nonzero(keep))
        a, t = addr, ts
        if n_keep != len(addr):
            a, t, x, y, cam = addr[keep], ts[keep], x[keep], y[keep], cam[keep]
        ev = np.empty(n_keep, dtype=CAMERA_EVENT_DTYPE) if out is None else out[:n_keep]
        ev["x"] = x
        ev["y"] = y
        ev["p"] = (a >> 11) & 1
        ev["c"] = cam
        ev["t"] = t
        counts = {"aps_imu": int(np.count_nonzero(aps)), "out_of_range": int(np.count_nonzero(dvs & ~in_range))}
        return ev, ts[special], counts
    raise ValueError(f"unknown AEDAT 2.0 address layout {layout!r}; use one of {LAYOUTS}")


def _void(a: np.ndarray) -> np.ndarray:
    """Opaque-record view: numpy copies packed structured records field by field, ~5x slower than raw records."""
    return a.view(np.dtype((np.void, a.dtype.itemsize)))


def _decode_chunked(raw: np.ndarray, layout: str) -> tuple[np.ndarray, np.ndarray, dict]:
    """Decode an (n, 2) big-endian record view chunk by chunk (cache-sized temporaries) straight into the output."""
    n = len(raw)
    out = np.empty(n, dtype=EVENT_DTYPE if layout == "dvs128" else CAMERA_EVENT_DTYPE)
    pos = 0
    specials = []
    dropped = {"aps_imu": 0, "out_of_range": 0}
    addr = np.empty(min(n, _CHUNK), dtype=np.uint32)
    ts = np.empty(min(n, _CHUNK), dtype=np.int64)
    for c0 in range(0, n, _CHUNK):
        k = min(n - c0, _CHUNK)
        np.copyto(addr[:k], raw[c0:c0 + k, 0])  # byte swap
        np.copyto(ts[:k], raw[c0:c0 + k, 1], casting="unsafe")
        ev, sp, cnt = decode_addresses(addr[:k], ts[:k], layout, out=out[pos:pos + k])
        pos += len(ev)
        specials.append(sp)
        for key, v in cnt.items():
            dropped[key] += v
    if pos != n:
        out = out[:pos]  # a view: only the dropped records' bytes stay allocated
    special_ts = np.concatenate(specials) if specials else np.empty(0, dtype=np.int64)
    return out, special_ts, dropped


def _decode_numba(data, body: int, n: int, layout: str) -> tuple[np.ndarray, np.ndarray, dict, np.ndarray]:
    """The numba backend of :func:`_decode_chunked`: the same results, every record decoded once by compiled code,
    plus the number of events per camera (davis346; ``np.bincount(events["c"], minlength=4)``).

    The kernel runs over slices of ``_NUMBA_CHUNK`` records (one call each) so that special timestamps need only a
    chunk-sized scratch array.
    """
    if layout not in LAYOUTS:
        raise ValueError(f"unknown AEDAT 2.0 address layout {layout!r}; use one of {LAYOUTS}")
    kernel = _numba_kernels()[layout]
    out = np.empty(n, dtype=EVENT_DTYPE if layout == "dvs128" else CAMERA_EVENT_DTYPE)
    scratch = np.empty(min(n, _NUMBA_CHUNK), dtype=np.int64)
    specials = []
    per_camera = np.zeros(DHP19_CAMERAS, dtype=np.int64)
    n_aps = n_out = kept = 0
    buf = np.frombuffer(data, dtype=np.uint8)
    try:
        for i0 in range(0, n, _NUMBA_CHUNK):
            kept, s, aps, oor = kernel(buf, body, i0, min(i0 + _NUMBA_CHUNK, n), out, kept, scratch, per_camera)
            n_aps += aps
            n_out += oor
            if s:
                specials.append(scratch[:s].copy())
    finally:
        del buf
    if kept != n:
        # shrink in place (realloc): the array was created here and nothing else refers to it
        out.resize((int(kept),), refcheck=False)
    special_ts = np.concatenate(specials) if specials else np.empty(0, dtype=np.int64)
    return out, special_ts, {"aps_imu": int(n_aps), "out_of_range": int(n_out)}, per_camera


def read_aedat2(path: str | os.PathLike, layout: str = "auto", *, backend: str = "auto",
                dhp19: bool | None = None) -> tuple[np.ndarray, dict]:
    """Read a jAER AEDAT 2.0 file.

    Parameters
    ----------
    path: the ``.aedat`` file.
    layout: ``"dvs128"``, ``"davis346"`` (the DHP19 multiplexed layout) or ``"auto"``: the layout named by the
        ``# AEChip:`` header line (DVS128/Tmpdiff128 -> dvs128, Davis346* -> davis346); without a known chip,
        ``dvs128`` when every address (special bits aside) fits the 16-bit DVS128 layout, else ``davis346``.
    backend: ``"auto"`` (numba when importable and ``EVSNN_DISABLE_NUMBA`` is not set), ``"numba"`` or ``"numpy"``;
        identical results.
    dhp19: for the davis346 layout, whether the file is a DHP19 recording with multiplexed cameras: ``None``
        decides from the file (camera bits other than 0 in the events, or a jAER multi-camera ``# AEChip:``),
        ``True`` when the caller reads it as part of a DHP19 tree, ``False`` for a plain DAVIS346.

    Returns
    -------
    events: EVENT_DTYPE (dvs128) or CAMERA_EVENT_DTYPE with camera field ``c`` (davis346), in file order.
    header: ``version``, ``chip``, ``created`` (when the header has it), ``layout``, ``camera_layout``
        ("DVS128", "DAVIS346" or "DAVIS346 (DHP19, 4 cameras)"), ``multiplexed`` (davis346), ``header_lines``,
        ``header_bytes``, ``records`` (all 8-byte records), ``resolution`` (width, height), ``special_timestamps``
        (int64 array of the special/trigger event times), ``dropped`` (APS/IMU and out-of-range record counts),
        ``cameras`` and ``camera_events`` (davis346: camera indices present, events per camera).

    Raises :class:`FormatError` (file and byte offset) for a wrong magic line or a body whose length is not a
    multiple of 8 (the offset of the partial record).
    """
    path = os.fspath(path)
    if layout != "auto" and layout not in LAYOUTS:
        raise ValueError(f"unknown AEDAT 2.0 address layout {layout!r}; use 'auto' or one of {LAYOUTS}")
    backend = resolve_backend(backend, numba_available)
    with open(path, "rb") as fh:
        size = os.fstat(fh.fileno()).st_size
        if size == 0:
            raise FormatError(path, 0, "empty file")
        mm = mmap.mmap(fh.fileno(), 0, flags=mmap.MAP_SHARED | getattr(mmap, "MAP_POPULATE", 0),
                       prot=mmap.PROT_READ)
    try:
        header, body = read_aedat2_header(mm[:_MAX_HEADER_BYTES], path)
        n_bytes = size - body
        n = n_bytes // 8
        if n_bytes % 8:
            raise FormatError(path, body + 8 * n, f"truncated record: {n_bytes % 8} trailing bytes after {n} "
                                                  "complete 8-byte (address, timestamp) records")
        raw = np.frombuffer(mm, dtype=">u4", count=2 * n, offset=body).reshape(n, 2)
        if layout == "auto":
            chosen = _layout_from_chip(header["chip"])
            if chosen is None:
                plain_max = max((int(np.max(raw[c:c + _CHUNK, 0] & (~_DVS128_SPECIAL & 0xFFFFFFFF)))
                                 for c in range(0, n, _CHUNK)), default=0)
                chosen = "dvs128" if plain_max <= 0xFFFF else "davis346"
                header["layout_reason"] = "address range (no known # AEChip line)"
            else:
                header["layout_reason"] = f"# AEChip: {header['chip']}"
        else:
            chosen = layout
            header["layout_reason"] = "requested"
        del raw
        if backend == "numba":
            events, special_ts, dropped, per_camera = _decode_numba(mm, body, n, chosen)
        else:
            raw = np.frombuffer(mm, dtype=">u4", count=2 * n, offset=body).reshape(n, 2)
            events, special_ts, dropped = _decode_chunked(raw, chosen)
            per_camera = None
            del raw
    finally:
        try:
            mm.close()
        except BufferError:  # an array still views the map (only while an exception unwinds): the GC unmaps it
            pass

    header.update(layout=chosen, records=n, special_timestamps=special_ts, dropped=dropped)
    if chosen == "dvs128":
        header.update(resolution=(128, 128), camera_layout="DVS128")
    else:
        if per_camera is None:
            per_camera = np.bincount(events["c"], minlength=DHP19_CAMERAS)
        if dhp19 is None:
            dhp19 = bool(np.any(per_camera[1:])) or _is_multicamera_chip(header["chip"])
        header.update(resolution=DAVIS346_SIZE, cameras=[int(c) for c in np.flatnonzero(per_camera)],
                      camera_events={int(c): int(k) for c, k in enumerate(per_camera) if k}, multiplexed=bool(dhp19),
                      camera_layout=f"DAVIS346 (DHP19, {DHP19_CAMERAS} cameras)" if dhp19 else "DAVIS346")
    return events, header


def write_aedat2(path: str | os.PathLike, events: np.ndarray, *, layout: str = "dvs128", chip: str | None = None,
                 special_timestamps=None, created: str | None = None) -> Path:
    """Write events as a jAER AEDAT 2.0 file (fixtures, synthetic DHP19 recordings).

    ``layout="dvs128"`` encodes the jAER DVS128 address (x mirrored, bit 0 = 1 for OFF; special events get the sync
    bit 0x8000); ``layout="davis346"`` encodes the DHP19 address ``(y << 22) | (x << 12) | (p << 11) | camera`` (the
    camera comes from field ``c``, 0 when absent) and special events as ``0x400``. ``special_timestamps`` are merged
    into the record stream by time (stable: a special event goes after polarity events with the same timestamp).
    ``chip`` defaults to the jAER class of the layout (DVS128 / Davis346blue). Timestamps must fit uint32.
    The file is written under a temporary name and renamed.
    """
    path = Path(path)
    if layout not in LAYOUTS:
        raise ValueError(f"unknown AEDAT 2.0 address layout {layout!r}; use one of {LAYOUTS}")
    chip = chip or (DVS128_CHIP if layout == "dvs128" else DAVIS346_CHIP)
    x = np.asarray(events["x"], dtype=np.int64)
    y = np.asarray(events["y"], dtype=np.int64)
    p = (np.asarray(events["p"]) != 0).astype(np.int64)
    t = np.asarray(events["t"], dtype=np.int64)
    if layout == "dvs128":
        if len(x) and (x.max() > 127 or y.max() > 127 or x.min() < 0 or y.min() < 0):
            raise ValueError("DVS128 coordinates must be in 0..127")
        addr = ((127 - x) << 1) | (y << 8) | (1 - p)
        special_addr = 0x8000
    else:
        c = np.asarray(events["c"], dtype=np.int64) if "c" in (events.dtype.names or ()) else np.zeros_like(x)
        if len(x) and (x.max() > 0x3FF or y.max() > 0x1FF or c.max() > 0xF or min(x.min(), y.min(), c.min()) < 0):
            raise ValueError("DAVIS346 addresses need x < 1024, y < 512, camera < 16")
        addr = (y << 22) | (x << 12) | (p << 11) | c
        special_addr = _DAVIS_SPECIAL
    if special_timestamps is not None and len(special_timestamps):
        st = np.asarray(special_timestamps, dtype=np.int64)
        all_t = np.concatenate([t, st])
        all_a = np.concatenate([addr, np.full(len(st), special_addr, dtype=np.int64)])
        order = np.argsort(all_t, kind="stable")
        t, addr = all_t[order], all_a[order]
    if len(t) and (t.min() < 0 or t.max() > 0xFFFFFFFF):
        raise ValueError("AEDAT 2.0 timestamps must fit in uint32 µs")
    rec = np.empty((len(t), 2), dtype=">u4")
    rec[:, 0] = addr
    rec[:, 1] = t
    created = created or datetime.now(timezone.utc).strftime("%a %b %d %H:%M:%S UTC %Y")
    header = ("#!AER-DAT2.0\r\n"
              "# This is a raw AE data file - do not edit\r\n"
              "# Data format is int32 address, int32 timestamp (8 bytes total), repeated for each event\r\n"
              "# Timestamps tick is 1 us\r\n"
              f"# created {created}\r\n"
              f"# AEChip: {chip}\r\n").encode("ascii")
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".tmp")
    with open(tmp, "wb") as fh:
        fh.write(header)
        fh.write(rec.tobytes())
    os.replace(tmp, path)
    return path
