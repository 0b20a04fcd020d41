"""AEDAT 3.1 (iniVation cAER / DV) reader and writer, as used by the DVS128 Gesture ``.aedat`` files.

Format sources (see reference/FORMATS.md section 1.5):

- header: ASCII lines starting with ``#`` and ending in CRLF; first line ``#!AER-DAT3.1``, then ``#Format: RAW``,
  ``#Source <id>: <description>`` (superseded sources kept as ``#-Source ...``), ``#Start-Time: ...``; the last
  header line is ``#!END-HEADER`` and the binary body starts right after it
  [docs.inivation.com file-formats/aedat-3.1; spikingjelly ``load_aedat_v3``]. AEDAT 3.0 has no END-HEADER line:
  its header ends at the first line that does not start with ``#``.
- body: a sequence of packets. Every packet starts with a 28-byte little-endian header ``<hhiiiiii`` = eventType,
  eventSource, eventSize, eventTSOffset, eventTSOverflow, eventCapacity, eventNumber, eventValid
  [libcaer ``events/common.h``]; the payload is ``eventCapacity * eventSize`` bytes, of which only the first
  ``eventNumber`` events are filled.
- polarity event (eventType 1, eventSize 8): ``uint32 data, int32 timestamp``; data bit 0 = valid mark, bit 1 =
  polarity (1 = ON), bits 2-16 = y, bits 17-31 = x; the 64-bit time is ``(eventTSOverflow << 31) | timestamp``
  [libcaer ``events/polarity.h``, ``TS_OVERFLOW_SHIFT = 31``]. AEDAT 3.1 puts the origin at the top-left.

The reader memory-maps the file, walks the packet headers (a file has thousands of packets, not millions of
events) and decodes the polarity payloads, with one of two backends that give identical results:

- ``numba`` (used when numba is importable, see :mod:`evsnn._accel`): a compiled packet walk (a malformed file is
  re-walked in Python for the detailed error), then one compiled pass over the payloads that reads each 8-byte
  record once, writes x, y, t (overflow included), p straight into the preallocated output array and drops invalid
  events on the way (the output index advances by the valid bit). Memory-bandwidth bound: ~0.05 s for 20M events
  on one core of a 2-CPU VM, ~0.1 s for the whole ``read_aedat3`` (mapping and output page faults included).
- ``numpy`` (fallback; ``EVSNN_DISABLE_NUMBA=1`` or ``backend="numpy"``): the packet walk in Python, then chunks of
  ~65k events: the payload byte ranges of a group of packets are concatenated into one small reusable buffer (or,
  for many tiny packets, gathered with one fancy-indexing operation) and the bit fields are extracted with
  whole-array operations on typed views of it into the output array; invalid events are dropped afterwards with one
  boolean mask. ~3x slower.

Nothing is done per event in Python and no file-sized temporary is allocated. benchmarks/bench_aedat.py compares
both backends with spikingjelly and tonic.
"""
from __future__ import annotations

import contextlib
import functools
import mmap
import os
import struct
from pathlib import Path

import numpy as np

from evsnn._accel import BACKENDS, import_numba, resolve_backend
from evsnn.errors import FormatError
from evsnn.events import EVENT_DTYPE

__all__ = [
    "PACKET_HEADER",
    "EVENT_TYPES",
    "SPECIAL_EVENT_TYPES",
    "read_aedat3",
    "read_aedat3_header",
    "write_aedat3",
    "sensor_resolution",
    "decode_packets",
    "BACKENDS",
    "numba_available",
]

#: the 28-byte packet header [libcaer events/common.h]
PACKET_HEADER = struct.Struct("<hhiiiiii")
_HEADER_SIZE = PACKET_HEADER.size  # 28

#: eventType codes [libcaer events/common.h, enum caer_default_event_types]
EVENT_TYPES = {
    0: "SPECIAL", 1: "POLARITY", 2: "FRAME", 3: "IMU6", 4: "IMU9", 5: "SAMPLE", 6: "EAR", 7: "CONFIG",
    8: "POINT1D", 9: "POINT2D", 10: "POINT3D", 11: "POINT4D", 12: "SPIKE", 13: "MATRIX4x4",
}
POLARITY_EVENT = 1
SPECIAL_EVENT = 0

#: special event sub-types stored in bits 1-7 of a SPECIAL event's data word [libcaer events/special.h]
SPECIAL_EVENT_TYPES = {"TIMESTAMP_WRAP": 0, "TIMESTAMP_RESET": 1, "EXTERNAL_INPUT_RISING_EDGE": 2,
                       "EXTERNAL_INPUT_FALLING_EDGE": 3, "EXTERNAL_INPUT_PULSE": 4}

_TS_OVERFLOW_SHIFT = 31
_MAX_HEADER_BYTES = 1 << 20  # a header is a few hundred bytes; anything beyond 1 MiB is not a header

#: sensor resolution (width, height) by a substring of the ``#Source`` description
_KNOWN_SENSORS = (
    ("DVS128", (128, 128)),
    ("DAVIS128", (128, 128)),
    ("DAVIS240", (240, 180)),
    ("DAVIS346", (346, 260)),
    ("DVXPLORER LITE", (320, 240)),
    ("DVXPLORER", (640, 480)),
)

# Above this many polarity packets per million events the payloads are gathered with one fancy-indexing operation
# instead of concatenating one slice per packet (many tiny packets make the per-slice overhead dominate).
_GATHER_PACKETS_PER_MEVENT = 20_000
_CHUNK = 1 << 16  # events decoded per step: the scratch buffers (~0.8 MB) stay in cache


# --------------------------------------------------------------------------------------------------
# numba kernel (optional, compiled lazily on first use, cached on disk; see evsnn._accel)
# --------------------------------------------------------------------------------------------------
@functools.lru_cache(maxsize=1)
def _numba_kernels():
    """Compile (or load from numba's on-disk cache) the kernels; ``None`` when numba is unusable.

    ``(walk_packets, decode_polarity)``; see their docstrings. Payloads are read as uint32 words through a view of a
    byte slice: the file header has any length, so payloads are unaligned, which x86-64 and ARM64 load fine.
    """
    numba = import_numba()  # None when not importable or disabled by EVSNN_DISABLE_NUMBA
    if numba is None:
        return None

    @numba.njit(cache=True, nogil=True)
    def walk_packets(buf, body, source, any_source, table, skipped):  # pragma: no cover - compiled
        """The packet walk of :func:`_walk_packets`, compiled; called twice: to count (``table`` with 0 rows) and to
        fill ``table`` (rows ``(payload offset, eventNumber, eventTSOverflow)`` of the polarity packets to decode)
        and ``skipped`` (the eventType of every skipped packet). Returns ``(status, polarity packets, skipped
        packets, packets)``; ``status`` is 0, or 1 when the file is malformed (the caller re-walks in Python, which
        raises the detailed error). Two passes over the headers (not growing arrays): fast, and quick to compile."""
        fill = table.shape[0] > 0 or skipped.size > 0
        end = buf.size
        last_header = end - 28
        m = 0
        s = 0
        n_packets = 0
        off = body
        while off <= last_header:
            h = buf[off:off + 28].view(np.int32)
            etype = h[0] & 0xFFFF
            if etype >= 0x8000:
                etype -= 0x10000
            esrc = h[0] >> 16
            esize = np.int64(h[1])
            ets_off = h[2]
            eovf = np.int64(h[3])
            ecap = np.int64(h[4])
            enum = np.int64(h[5])
            evalid = h[6]
            nxt = off + 28 + ecap * esize
            if (etype == 1 and esize == 8 and ets_off == 4 and 0 <= evalid and evalid <= enum and enum <= ecap
                    and eovf >= 0 and nxt <= end):
                if enum > 0 and (any_source or esrc == source):
                    if fill:
                        table[m, 0] = off + 28
                        table[m, 1] = enum
                        table[m, 2] = eovf
                    m += 1
            else:
                if (esize <= 0 or ecap < 0 or enum < 0 or enum > ecap or evalid < 0 or evalid > enum or eovf < 0
                        or nxt > end or etype == 1):
                    return 1, m, s, n_packets
                if fill:
                    skipped[s] = etype
                s += 1
            n_packets += 1
            off = nxt
        if off < end:
            return 1, m, s, n_packets
        return 0, m, s, n_packets

    @numba.njit(cache=True, nogil=True)
    def decode_polarity(buf, table, out):  # pragma: no cover - compiled
        """Decode the polarity packets of ``table`` (rows: payload byte offset, eventNumber, eventTSOverflow) of the
        byte buffer ``buf`` into ``out`` (EVENT_DTYPE, at least ``sum(eventNumber)`` long), keeping only the events
        with the valid mark; returns the number of events written.

        Every record is written to ``out[j]`` and ``j`` advances by its valid bit: no branch per event.
        """
        j = 0
        for k in range(table.shape[0]):
            o = table[k, 0]
            n = table[k, 1]
            words = buf[o:o + 8 * n].view(np.uint32)
            hi = table[k, 2] << 31
            for i in range(n):
                w = words[2 * i]
                r = out[j]
                r.x = np.uint16(w >> 17)
                r.y = np.uint16((w >> 2) & 0x7FFF)
                r.t = np.int64(words[2 * i + 1]) | hi
                r.p = np.int8((w >> 1) & 1)
                j += w & 1
        return j

    return walk_packets, decode_polarity


def numba_available() -> bool:
    """True when the numba decoder can be used (numba importable and not disabled by ``EVSNN_DISABLE_NUMBA``)."""
    return _numba_kernels() is not None


def sensor_resolution(description: str) -> tuple[int, int] | None:
    """(width, height) of a known sensor named in a ``#Source`` description, else None."""
    d = description.upper()
    for key, res in _KNOWN_SENSORS:
        if key in d:
            return res
    return None


@contextlib.contextmanager
def _mapped(path: str):
    """Read-only memory map of the whole file (pages come straight from the page cache, no copy)."""
    with open(path, "rb") as fh:
        size = os.fstat(fh.fileno()).st_size
        if size == 0:
            raise FormatError(path, 0, "empty file")
        flags = mmap.MAP_SHARED | getattr(mmap, "MAP_POPULATE", 0)
        mm = mmap.mmap(fh.fileno(), 0, flags=flags, prot=mmap.PROT_READ)
    try:
        yield mm
    finally:
        try:
            mm.close()
        except BufferError:  # an array still views the map (only while an exception unwinds): the GC unmaps it
            pass


def read_aedat3_header(data: bytes, path: str | os.PathLike = "<bytes>") -> tuple[dict, int]:
    """Parse the ASCII header at the start of ``data``.

    Returns ``(header, body_offset)``; ``header`` has ``version``, ``format``, ``sources`` (list of
    ``{"id", "description"}``), ``start_time`` (when present), ``header_lines`` and ``header_bytes``.
    Raises :class:`FormatError` for a wrong magic line or a header that does not end (truncated file).
    """
    path = os.fspath(path)
    if not data.startswith(b"#!AER-DAT3."):
        first = data[:24].split(b"\n", 1)[0]
        raise FormatError(path, 0, f"not an AEDAT 3.x file: first line starts with {first!r}, expected b'#!AER-DAT3.1'")
    pos = 0
    lines: list[str] = []
    version = None
    body = None
    while True:
        nl = data.find(b"\n", pos, pos + _MAX_HEADER_BYTES)
        if nl < 0:
            raise FormatError(path, pos, "AEDAT 3 header is not terminated by '#!END-HEADER' "
                                         "(file truncated inside the header?)")
        raw = data[pos:nl + 1]
        if not raw.startswith(b"#"):
            if version is not None and version.startswith("3.0"):
                body = pos  # AEDAT 3.0: no END-HEADER line, the header ends at the first non-'#' line
                break
            raise FormatError(path, pos, "header line does not start with '#' before '#!END-HEADER'")
        try:
            line = raw.decode("ascii").rstrip("\r\n")
        except UnicodeDecodeError:
            raise FormatError(path, pos, "non-ASCII byte in the AEDAT 3 header") from None
        if version is None:
            version = line[len("#!AER-DAT"):].strip()
        if line == "#!END-HEADER":
            body = nl + 1
            break
        lines.append(line)
        pos = nl + 1
    header: dict = {"version": version, "format": None, "sources": [], "header_lines": lines, "header_bytes": body}
    for line in lines[1:]:
        text = line[1:]
        if text.startswith("Format:"):
            header["format"] = text.split(":", 1)[1].strip()
        elif text.startswith("Source ") and ":" in text:
            sid, desc = text[len("Source "):].split(":", 1)
            try:
                header["sources"].append({"id": int(sid), "description": desc.strip()})
            except ValueError:
                raise FormatError(path, None, f"bad header line {line!r}: source id is not an integer") from None
        elif text.startswith("Start-Time:"):
            header["start_time"] = text.split(":", 1)[1].strip()
    if header["format"] not in (None, "RAW"):
        raise FormatError(path, None, f"unsupported AEDAT 3 body format {header['format']!r} (only RAW is supported)")
    header["format"] = "RAW"
    # pixel origin: top-left since AEDAT 3.1, bottom-left in 3.0 [docs.inivation.com aedat-3.0]; y is not flipped
    header["origin"] = "bottom-left" if version.startswith("3.0") else "top-left"
    return header, body


def _walk_packets(data, body: int, path: str, source: int | None):
    """Walk the packet headers from ``body`` to the end of ``data`` (a buffer: mmap, bytes, uint8 array).

    Returns ``(polarity, n_packets, skipped_by_type)``; ``polarity`` lists ``(payload offset, eventNumber,
    eventTSOverflow)`` of the polarity packets to decode. The loop is the only per-packet Python code of the reader;
    a well-formed polarity packet takes the first branch, everything else goes through the checks below it.
    """
    unpack = PACKET_HEADER.unpack_from
    hs = _HEADER_SIZE
    end_of_file = len(data)
    last_header = end_of_file - hs
    polarity: list[tuple[int, int, int]] = []
    append = polarity.append
    skipped: dict[str, int] = {}
    n_packets = 0
    off = body
    while off <= last_header:
        etype, esrc, esize, ets_off, eovf, ecap, enum, evalid = unpack(data, off)
        nxt = off + hs + ecap * esize
        if (etype == 1 and esize == 8 and ets_off == 4 and 0 <= evalid <= enum <= ecap and eovf >= 0
                and nxt <= end_of_file):
            if enum and (source is None or esrc == source):
                append((off + hs, enum, eovf))
        else:
            if esize <= 0 or ecap < 0 or enum < 0 or enum > ecap or evalid < 0 or evalid > enum or eovf < 0:
                raise FormatError(path, off, f"corrupt packet header (eventType={etype}, eventSize={esize}, "
                                             f"eventCapacity={ecap}, eventNumber={enum}, eventValid={evalid}, "
                                             f"eventTSOverflow={eovf})")
            if nxt > end_of_file:
                raise FormatError(path, off, f"truncated packet: eventType {etype} payload needs {ecap * esize} "
                                             f"bytes ({ecap} x {esize}), only {end_of_file - off - hs} left")
            if etype == POLARITY_EVENT:
                raise FormatError(path, off, f"polarity packet with eventSize {esize} and eventTSOffset {ets_off} "
                                             "(expected 8 and 4)")
            name = EVENT_TYPES.get(etype, str(etype))
            skipped[name] = skipped.get(name, 0) + 1
        n_packets += 1
        off = nxt
    if off < end_of_file:
        raise FormatError(path, off, f"truncated packet header: {end_of_file - off} of {hs} bytes left")
    return polarity, n_packets, skipped


def _decode_chunk(records: np.ndarray, out: np.ndarray, scratch32: np.ndarray, scratch8: np.ndarray) -> int:
    """Decode ``len(out)`` contiguous 8-byte polarity records (uint8 buffer) into ``out``; returns the valid count.

    Fields [libcaer polarity.h]: x = bits 17-31 (the high half-word >> 1), y = (word >> 2) & 0x7FFF, p = bit 1,
    valid mark = bit 0, t = the int32 timestamp (the overflow is added by the caller).
    """
    k = len(out)
    words = records.view("<u4").reshape(k, 2)
    half = records.view("<u2").reshape(k, 4)
    np.right_shift(half[:, 1], 1, out=out["x"])
    s32 = scratch32[:k]
    np.right_shift(words[:, 0], 2, out=s32)
    np.bitwise_and(s32, 0x7FFF, out=out["y"], casting="unsafe")
    np.copyto(out["t"], words[:, 1], casting="unsafe")
    s8 = scratch8[:k]
    np.bitwise_and(records.reshape(k, 8)[:, 0], 3, out=s8)
    np.right_shift(s8, 1, out=out["p"], casting="unsafe")
    np.bitwise_and(s8, 1, out=s8)
    return int(np.count_nonzero(s8))


def decode_packets(data, packets) -> tuple[np.ndarray, np.ndarray | None]:
    """Decode polarity payloads of the buffer ``data``; ``packets`` lists (byte offset, eventNumber, eventTSOverflow).

    This is the pure-numpy backend of :func:`read_aedat3` (the numba backend decodes and drops invalid events in one
    compiled pass instead). Works chunk by chunk (about 65k events): the payloads of a group of packets are copied
    into one small reusable buffer (one ``np.concatenate`` per group, or one fancy-indexing gather when the packets
    are tiny) and decoded with whole-array operations, so no file-sized temporary is ever allocated. Each packet's
    overflow is ORed in as ``overflow << 31`` with one slice operation per run of packets that share it. Returns
    ``(events, valid)``: ``valid`` is None when every event carries the valid mark, else the boolean mask of valid
    events (the caller drops the others).
    """
    u8 = np.frombuffer(data, dtype=np.uint8)
    table = np.array(packets, dtype=np.int64).reshape(-1, 3)
    starts_a, numbers_a, ovf = table[:, 0], table[:, 1], table[:, 2]
    starts, numbers = starts_a.tolist(), numbers_a.tolist()
    total = int(numbers_a.sum()) if len(numbers_a) else 0
    events = np.empty(total, dtype=EVENT_DTYPE)
    if total == 0:
        return events, None
    first = np.cumsum(numbers_a) - numbers_a  # output index of each packet's first event
    # group consecutive packets into chunks of about _CHUNK events
    bounds = np.searchsorted(first, np.arange(0, total, _CHUNK), side="right") - 1
    bounds = np.unique(np.concatenate([bounds, [len(numbers_a)]]))
    biggest = int(max(first[b1 - 1] + numbers_a[b1 - 1] - first[b0] for b0, b1 in zip(bounds[:-1], bounds[1:])))
    scratch = np.empty(8 * biggest, dtype=np.uint8)
    scratch32 = np.empty(biggest, dtype=np.uint32)
    scratch8 = np.empty(biggest, dtype=np.uint8)
    valid = None
    every_byte = np.ndarray(shape=(max(len(u8) - 7, 0),), dtype="<u8", buffer=data, strides=(1,))
    for b0, b1 in zip(bounds[:-1].tolist(), bounds[1:].tolist()):
        e0 = int(first[b0])
        k = int(first[b1 - 1] + numbers_a[b1 - 1]) - e0
        rec = scratch[:8 * k]
        if (b1 - b0) * 1_000_000 <= _GATHER_PACKETS_PER_MEVENT * k:
            np.concatenate([u8[s:s + 8 * n] for s, n in zip(starts[b0:b1], numbers[b0:b1])], out=rec)
        else:  # many tiny packets: one gather from an overlapping 8-byte view that starts at every byte
            index = np.repeat(starts_a[b0:b1] - 8 * (first[b0:b1] - e0), numbers_a[b0:b1])
            index += np.arange(0, 8 * k, 8, dtype=np.int64)
            rec.view("<u8")[:] = every_byte[index]
        if _decode_chunk(rec, events[e0:e0 + k], scratch32, scratch8) != k:
            if valid is None:
                valid = np.ones(total, dtype=bool)
            valid[e0:e0 + k] = scratch8[:k].view(bool)
    del every_byte, u8
    if ovf.any():
        # one slice operation per run of consecutive packets that share a non-zero overflow
        change = np.flatnonzero(np.diff(ovf)) + 1
        run_starts = np.concatenate([[0], change])
        run_ends = np.concatenate([change, [len(ovf)]])
        t = events["t"]
        for r0, r1 in zip(run_starts.tolist(), run_ends.tolist()):
            if ovf[r0]:
                seg = t[int(first[r0]):int(first[r1 - 1] + numbers_a[r1 - 1])]
                np.bitwise_or(seg, int(ovf[r0]) << _TS_OVERFLOW_SHIFT, out=seg)
    return events, valid


def _read_body_numba(data, body: int, path: str, source: int | None) -> tuple[np.ndarray, int, int, dict, int]:
    """The numba backend of :func:`read_aedat3`: walk the packets and decode the polarity payloads of ``data``.

    Returns ``(valid events, n_packets, polarity packets, skipped_by_type, number of invalid events dropped)``.
    """
    walk_packets, decode_polarity = _numba_kernels()
    buf = np.frombuffer(data, dtype=np.uint8)
    try:
        src = (0 if source is None else int(source), source is None)
        status, m, s, n_packets = walk_packets(buf, body, *src, np.empty((0, 3), np.int64), np.empty(0, np.int64))
        if status != 0:  # malformed: the Python walk raises the detailed FormatError
            _walk_packets(data, body, path, source)
            raise AssertionError("the compiled packet walk rejected a file the Python walk accepts")  # pragma: no cover
        table = np.empty((m, 3), dtype=np.int64)
        skipped_types = np.empty(s, dtype=np.int64)
        if m or s:
            walk_packets(buf, body, *src, table, skipped_types)
        total = int(table[:, 1].sum())
        events = np.empty(total, dtype=EVENT_DTYPE)
        n_valid = int(decode_polarity(buf, table, events)) if total else 0
    finally:
        del buf
    if n_valid != total:
        # shrink in place (realloc): the array was created here and nothing else refers to it
        events.resize((n_valid,), refcheck=False)
    skipped: dict[str, int] = {}
    if len(skipped_types):
        types, first, counts = np.unique(skipped_types, return_index=True, return_counts=True)
        for i in np.argsort(first, kind="stable"):  # in order of first appearance, like _walk_packets
            skipped[EVENT_TYPES.get(int(types[i]), str(int(types[i])))] = int(counts[i])
    return events, n_packets, len(table), skipped, total - n_valid


def read_aedat3(path: str | os.PathLike, *, source: int | None = None,
                backend: str = "auto") -> tuple[np.ndarray, dict]:
    """Read the polarity events of an AEDAT 3.1 file.

    Parameters
    ----------
    path: the ``.aedat`` file.
    source: keep only polarity packets whose eventSource equals this ``#Source`` id (default: all).
    backend: ``"auto"`` (the numba decoder when numba is importable and ``EVSNN_DISABLE_NUMBA`` is not set),
        ``"numba"`` or ``"numpy"``; identical results.

    Returns
    -------
    events: :data:`evsnn.events.EVENT_DTYPE` array in file order (invalid events and the unused
        ``capacity - number`` slots of each packet dropped; non-polarity packets skipped).
    header: ``version``, ``format``, ``sources`` (``[{"id", "description"}]``), ``start_time`` (if present),
        ``header_bytes``, ``header_lines``, ``resolution`` (width, height): from a known sensor named in a
        ``#Source`` line (``DVS128`` -> 128 x 128) else ``max(x) + 1, max(y) + 1``; ``packets`` (all packets),
        ``polarity_packets``, ``skipped_packets`` (count by event type name), ``invalid_events``.

    Raises :class:`FormatError` naming the file and the byte offset for a wrong magic line, an unterminated header,
    a truncated packet header or payload, or a polarity packet whose eventSize is not 8.
    """
    path = os.fspath(path)
    backend = resolve_backend(backend, numba_available)
    valid = None
    with _mapped(path) as mm:
        header, body = read_aedat3_header(mm[:_MAX_HEADER_BYTES], path)
        if backend == "numba":
            events, n_packets, n_polarity, skipped, n_invalid = _read_body_numba(mm, body, path, source)
        else:
            packets, n_packets, skipped = _walk_packets(mm, body, path, source)
            n_polarity = len(packets)
            events, valid = decode_packets(mm, packets)
            n_invalid = 0
    if valid is not None:
        n_invalid = len(events) - int(np.count_nonzero(valid))
        # through an opaque-record view: numpy copies packed structured records field by field, ~5x slower
        events = events.view(np.dtype((np.void, EVENT_DTYPE.itemsize)))[valid].view(EVENT_DTYPE)

    resolution = None
    for src in header["sources"]:
        resolution = sensor_resolution(src["description"])
        if resolution is not None:
            break
    if resolution is None:
        resolution = (int(events["x"].max()) + 1, int(events["y"].max()) + 1) if len(events) else (0, 0)
    header.update(resolution=resolution, packets=n_packets, polarity_packets=n_polarity,
                  skipped_packets=skipped, invalid_events=n_invalid)
    return events, header


def _packet(etype: int, source_id: int, overflow: int, number: int, capacity: int, payload: bytes) -> bytes:
    return PACKET_HEADER.pack(etype, source_id, 8, 4, overflow, capacity, number, number) + payload


def _special_payload(kind: int, ts: int, capacity: int) -> bytes:
    rec = np.zeros((capacity, 2), dtype="<u4")
    rec[0] = ((kind & 0x7F) << 1) | 1, ts & 0x7FFFFFFF
    return rec.tobytes()


def write_aedat3(path: str | os.PathLike, events: np.ndarray, *, source: str = "DVS128", source_id: int = 1,
                 start_time: str = "2017-01-01 12:00:00 (TZ+0000)", packet_size: int = 4096,
                 special_packet: bool = True, capacity_slack: int = 0) -> Path:
    """Write ``events`` (fields x, y, t [µs, >= 0], p) as an AEDAT 3.1 file the way cAER records a DVS128.

    The header is ``#!AER-DAT3.1``, ``#Format: RAW``, ``#Source <source_id>: <source>``, ``#Start-Time: ...``,
    ``#!END-HEADER`` (CRLF line ends). Events go into polarity packets of at most ``packet_size`` events, a new
    packet starting wherever ``t >> 31`` changes so that every packet has one eventTSOverflow; a SPECIAL packet
    holding one ``TIMESTAMP_WRAP`` event precedes the first packet of each new overflow epoch (as libcaer emits it).
    ``special_packet`` inserts one SPECIAL packet (an ``EXTERNAL_INPUT_RISING_EDGE`` event) after the first polarity
    packet so that readers must skip foreign packets. ``capacity_slack`` > 0 leaves that many unused zero-filled
    slots at the end of every polarity packet (eventCapacity > eventNumber). The file is written to a temporary name
    and renamed, so a killed writer never leaves a complete-looking file.
    """
    path = Path(path)
    if packet_size < 1:
        raise ValueError("packet_size must be >= 1")
    n = len(events)
    t = np.asarray(events["t"], dtype=np.int64)
    x = np.asarray(events["x"], dtype=np.int64)
    y = np.asarray(events["y"], dtype=np.int64)
    p = np.asarray(events["p"], dtype=np.int64)
    if n:
        if t.min() < 0:
            raise ValueError("AEDAT 3.1 timestamps must be >= 0")
        if x.min() < 0 or y.min() < 0 or x.max() > 0x7FFF or y.max() > 0x7FFF:
            raise ValueError("x and y must fit in 15 bits")
    rec = np.empty((n, 2), dtype="<u4")
    rec[:, 0] = (x << 17) | (y << 2) | ((p != 0).astype(np.int64) << 1) | 1
    rec[:, 1] = t & 0x7FFFFFFF
    ovf = t >> _TS_OVERFLOW_SHIFT

    # packet boundaries: every change of the overflow epoch, and every packet_size events inside an epoch
    epoch_starts = np.concatenate([[0], np.flatnonzero(np.diff(ovf)) + 1]) if n else np.zeros(0, np.int64)
    epoch_ends = np.concatenate([epoch_starts[1:], [n]]) if n else np.zeros(0, np.int64)

    header = (f"#!AER-DAT3.1\r\n#Format: RAW\r\n#Source {source_id}: {source}\r\n"
              f"#Start-Time: {start_time}\r\n#!END-HEADER\r\n").encode("ascii")
    slack = np.zeros((capacity_slack, 2), dtype="<u4").tobytes()
    tmp = path.with_name(path.name + ".tmp")
    path.parent.mkdir(parents=True, exist_ok=True)
    first_packet_done = False
    with open(tmp, "wb") as fh:
        fh.write(header)
        for e0, e1 in zip(epoch_starts.tolist(), epoch_ends.tolist()):
            epoch = int(ovf[e0])
            if e0 > 0:
                fh.write(_packet(SPECIAL_EVENT, source_id, epoch, 1, 1,
                                 _special_payload(SPECIAL_EVENT_TYPES["TIMESTAMP_WRAP"], 0, 1)))
            for a in range(e0, e1, packet_size):
                b = min(a + packet_size, e1)
                fh.write(_packet(POLARITY_EVENT, source_id, epoch, b - a, b - a + capacity_slack,
                                 rec[a:b].tobytes() + slack))
                if special_packet and not first_packet_done:
                    fh.write(_packet(SPECIAL_EVENT, source_id, epoch, 1, 2,
                                     _special_payload(SPECIAL_EVENT_TYPES["EXTERNAL_INPUT_RISING_EDGE"],
                                                      int(rec[b - 1, 1]), 2)))
                first_packet_done = True
    os.replace(tmp, path)
    return path
