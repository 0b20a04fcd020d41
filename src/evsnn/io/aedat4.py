"""AEDAT 4.0 (iniVation DV) through a maintained decoder: faery's Rust AEDAT 4 codec.

AEDAT 4.0 is ``#!AER-DAT4.0\\r\\n``, a little-endian int32 size and a FlatBuffers ``IOHeader`` (compression, an XML
description of the streams: ``outInfo/<id>`` with ``typeIdentifier`` EVTS / IMUS / TRIG / FRME and ``info/sizeX``,
``sizeY``, ``source``), then packets ``int32 stream id, int32 size, FlatBuffers payload`` (LZ4 or ZSTD compressed
when the header says so) and a file data table at the end. evsnn does not decode any of this by hand: faery
(neuromorphicsystems/faery, LGPL-3.0, Rust + Python, depends on numpy only) decodes the packets, including both compressions;
evsnn only

- copies the polarity events of every event stream into :data:`~evsnn.events.EVENT_DTYPE` (``t`` in microseconds
  as the file stores it, i.e. Unix time for DV recordings; ``p`` 1 = ON), with ``c`` = the index of the event
  stream when a file holds several (stereo rigs; :data:`~evsnn.events.CAMERA_EVENT_DTYPE`);
- counts IMU samples, trigger events and frames (they are reported by ``events info``, never mixed into events);
- turns the decoder's errors into a :class:`~evsnn.errors.FormatError` that names the file, the packet and its byte
  offset (a truncated file, a packet that does not decompress).

The cost over faery's own decode is one copy of each field (benchmarks/bench_aedat.py: "AEDAT 4.0" rows).
"""
from __future__ import annotations

import os
import struct
from pathlib import Path

import numpy as np

from evsnn.errors import FormatError
from evsnn.events import CAMERA_EVENT_DTYPE, EVENT_DTYPE

__all__ = ["MAGIC", "read_aedat4", "write_aedat4", "packet_offsets", "IMU_DTYPE", "TRIGGER_DTYPE"]

MAGIC = b"#!AER-DAT4.0\r\n"
IMU_DTYPE = np.dtype([("t", "<u8"), ("temperature", "<f4")]
                     + [(f"{a}_{c}", "<f4") for a in ("accelerometer", "gyroscope", "magnetometer") for c in "xyz"])
TRIGGER_DTYPE = np.dtype([("t", "<u8"), ("source", "u1")])
_TYPE_IDS = {"events": "EVTS", "imus": "IMUS", "triggers": "TRIG", "frame": "FRME"}


def _faery_aedat():
    try:
        from faery.extension import aedat
    except ImportError as exc:  # pragma: no cover - faery is pinned in envs/requirements.txt
        raise ImportError("reading or writing AEDAT 4.0 needs the 'faery' package (pinned in "
                          "envs/requirements.txt; bash envs/install.sh installs it)") from exc
    return aedat


def packet_offsets(path: str | os.PathLike) -> tuple[list[tuple[int, int, int]], tuple[int, int, int] | None]:
    """Walk the packet headers (no payload is read): ``([(byte offset, stream id, payload size), ...], cut)``
    where ``cut`` is ``(offset, stream id, declared size)`` of a packet the file ends inside (``stream id`` -1 when
    even its 8-byte header is cut), else ``None``. Used to name the packet and offset of a decoding error."""
    size = os.path.getsize(path)
    packets: list[tuple[int, int, int]] = []
    with open(path, "rb") as fh:
        fh.seek(len(MAGIC))
        raw = fh.read(4)
        if len(raw) < 4:
            return packets, (len(MAGIC), -1, 4)
        hsize = struct.unpack("<i", raw)[0]
        pos = len(MAGIC) + 4 + hsize
        if hsize < 0 or pos > size:
            return packets, (len(MAGIC), -1, max(hsize, 0) + 4)
        end = _data_table_position(fh.read(hsize)) or size
        end = end if 0 < end <= size else size
        while pos < end:
            fh.seek(pos)
            raw = fh.read(8)
            if len(raw) < 8:
                return packets, (pos, -1, 8)
            sid, psize = struct.unpack("<ii", raw)
            if psize < 0 or pos + 8 + psize > size:
                return packets, (pos, sid, psize)
            packets.append((pos, sid, psize))
            pos += 8 + psize
    return packets, None


def _data_table_position(io_header: bytes) -> int | None:
    """``dataTablePosition`` (FlatBuffers field 1, int64) of the ``IOHeader`` table; None when absent / unreadable.
    The file data table follows the last packet; the packet walk stops there."""
    try:
        table = struct.unpack_from("<I", io_header, 0)[0]
        vtable = table - struct.unpack_from("<i", io_header, table)[0]
        vsize = struct.unpack_from("<H", io_header, vtable)[0]
        if vsize < 4 + 2 * 2:
            return None
        field = struct.unpack_from("<H", io_header, vtable + 4 + 2)[0]
        return struct.unpack_from("<q", io_header, table + field)[0] if field else None
    except struct.error:
        return None


def _stream_info(description) -> dict[int, dict]:
    """``{stream id: {"type": EVTS..., "compression": ..., "source": ..., "size": (W, H)}}`` from the XML tree."""
    out: dict[int, dict] = {}

    def attrs(node):
        return {k: v.value for k, v in node.attributes.items()}

    for top in description:
        if top.name != "outInfo":
            continue
        for stream in top.nodes:
            try:
                sid = int(stream.name)
            except ValueError:
                continue
            a = attrs(stream)
            info = next((attrs(n) for n in stream.nodes if n.name == "info"), {})
            out[sid] = {"type": a.get("typeIdentifier"), "compression": a.get("compression"),
                        "name": a.get("originalOutputName"), "source": info.get("source")}
            if "sizeX" in info and "sizeY" in info:
                out[sid]["size"] = (int(info["sizeX"]), int(info["sizeY"]))
    return out


def _decode_error(path: str, k: int, exc: Exception, streams: dict[int, dict]) -> FormatError:
    """The FormatError for an exception raised by the decoder while reading packet ``k`` (0-based)."""
    packets, cut = packet_offsets(path)
    detail = str(exc).strip() or type(exc).__name__
    if cut is not None and k >= len(packets):
        offset, sid, need = cut
        size = os.path.getsize(path)
        if sid < 0:
            return FormatError(path, offset, f"the AEDAT 4.0 file is truncated: it ends at byte {size} inside the "
                                             f"header of packet {len(packets)} (the file was cut short)")
        return FormatError(path, offset, f"the AEDAT 4.0 file is truncated: packet {len(packets)} (stream {sid}) "
                                         f"declares {need} bytes but the file ends at byte {size}")
    if 0 <= k < len(packets):
        offset, sid, psize = packets[k]
        comp = (streams.get(sid) or {}).get("compression") or "unknown"
        return FormatError(path, offset, f"AEDAT 4.0 packet {k} (stream {sid}, {psize} bytes, compression {comp}) "
                                         f"cannot be decoded by faery ({detail}); the stream is corrupt or uses a "
                                         "compression faery does not support")
    return FormatError(path, None, f"AEDAT 4.0 decoding failed after {k} packets ({detail})")


def read_aedat4(path: str | os.PathLike) -> tuple[np.ndarray, dict]:
    """Read the polarity events of an AEDAT 4.0 file.

    Returns ``(events, header)``: :data:`EVENT_DTYPE` for one event stream, :data:`CAMERA_EVENT_DTYPE` (``c`` =
    0, 1, ... in stream order) for several; ``header`` has ``version`` "4.0", ``resolution`` [W, H] (the first
    event stream's), ``streams`` (id, type, source, size, compression, elements), ``packets``, and the counts
    ``imu_samples``, ``triggers``, ``frames`` (these are not events and are not returned). A truncated file or a
    packet that does not decode raises :class:`FormatError` naming the packet and its byte offset.
    """
    aedat = _faery_aedat()
    path = os.fspath(path)
    with open(path, "rb") as fh:
        head = fh.read(len(MAGIC))
    if head != MAGIC:
        raise FormatError(path, 0, f"not an AEDAT 4.0 file (it starts with {head!r}, expected {MAGIC!r})")
    try:
        decoder = aedat.Decoder(path)
    except Exception as exc:  # noqa: BLE001 - faery raises RuntimeError / OSError for every kind of damage
        packets, cut = packet_offsets(path)
        if cut is not None and not packets:
            raise FormatError(path, cut[0], f"the AEDAT 4.0 file is truncated: it ends at byte "
                                            f"{os.path.getsize(path)}, inside its header") from None
        raise FormatError(path, len(MAGIC), f"the AEDAT 4.0 header cannot be decoded by faery ({exc})") from None
    with decoder:
        try:
            streams = _stream_info(decoder.description())
        except Exception:  # noqa: BLE001 - the description only names things; decoding goes on without it
            streams = {}
        tracks = decoder.tracks()
        event_ids = [t.id for t in tracks if t.data_type == "events"]
        cam_of = {sid: i for i, sid in enumerate(event_ids)}
        parts: list[tuple[int, np.ndarray]] = []
        elements = {t.id: 0 for t in tracks}
        imu = trig = frames = 0
        k = 0
        it = iter(decoder)
        while True:
            try:
                track, packet = next(it)
            except StopIteration:
                break
            except Exception as exc:  # noqa: BLE001
                raise _decode_error(path, k, exc, streams) from None
            k += 1
            kind = track.data_type
            if kind == "events":
                if len(packet):
                    parts.append((cam_of[track.id], packet))
                elements[track.id] += len(packet)
            elif kind == "imus":
                imu += len(packet)
                elements[track.id] += len(packet)
            elif kind == "triggers":
                trig += len(packet)
                elements[track.id] += len(packet)
            else:  # "frame": one faery Frame per packet
                frames += 1
                elements[track.id] += 1
    n = sum(len(p) for _, p in parts)
    multi = len(event_ids) > 1
    events = np.empty(n, dtype=CAMERA_EVENT_DTYPE if multi else EVENT_DTYPE)
    x, y, t, p = events["x"], events["y"], events["t"], events["p"]
    i = 0
    for cam, pk in parts:
        j = i + len(pk)
        x[i:j] = pk["x"]
        y[i:j] = pk["y"]
        t[i:j] = pk["t"]
        p[i:j] = pk["on"]
        if multi:
            events["c"][i:j] = cam
        i = j
    if multi and n:
        events = events[np.argsort(events["t"], kind="stable")]
    dims = {t.id: t.dimensions for t in tracks}
    res = list(dims[event_ids[0]]) if event_ids and dims[event_ids[0]] else None
    header = {
        "version": "4.0",
        "resolution": res,
        "streams": [{"id": tr.id, "type": tr.data_type, "source": (streams.get(tr.id) or {}).get("source"),
                     "size": list(tr.dimensions) if tr.dimensions else None,
                     "compression": (streams.get(tr.id) or {}).get("compression"),
                     "elements": elements[tr.id]} for tr in tracks],
        "packets": k,
        "imu_samples": imu,
        "triggers": trig,
        "frames": frames,
    }
    if multi:
        header["camera_events"] = {str(cam_of[s]): elements[s] for s in event_ids}
    return events, header


def _node(aedat, name, path, attrs, nodes=()):
    return aedat.DescriptionNode(name=name, path=path, attributes=attrs, nodes=list(nodes))


def write_aedat4(path: str | os.PathLike, events: np.ndarray, resolution: tuple[int, int], *,
                 imu: np.ndarray | None = None, triggers: np.ndarray | None = None,
                 compression: str | None = "lz4", packet_size: int = 5000, source: str = "evsnn") -> Path:
    """Write events (and optional IMU samples / triggers in :data:`IMU_DTYPE` / :data:`TRIGGER_DTYPE`) as AEDAT
    4.0 with faery's encoder: stream 0 events (``resolution`` = (W, H)), 1 IMU, 2 triggers, packets of
    ``packet_size`` events interleaved by time; ``compression`` "lz4", "zstd" or None. ``t`` must be sorted."""
    aedat = _faery_aedat()
    path = Path(path)
    comp = {None: None, "lz4": aedat.LZ4_DEFAULT, "zstd": aedat.ZSTD_DEFAULT}[compression]
    comp_name = {None: "NONE", "lz4": "LZ4", "zstd": "ZSTD"}[compression]

    def s(v):
        return aedat.DescriptionAttribute(attribute_type="string", value=v)

    def i(v):
        return aedat.DescriptionAttribute(attribute_type="int", value=int(v))

    outs = [(0, "EVTS", "events", {"sizeX": i(resolution[0]), "sizeY": i(resolution[1]), "source": s(source)})]
    if imu is not None:
        outs.append((1, "IMUS", "imu", {"source": s(source)}))
    if triggers is not None:
        outs.append((2, "TRIG", "triggers", {"source": s(source)}))
    root = "/mainloop/Recorder/outInfo/"
    desc = [_node(aedat, "outInfo", root, {}, [
        _node(aedat, str(sid), f"{root}{sid}/",
              {"compression": s(comp_name), "originalOutputName": s(name), "typeIdentifier": s(typ)},
              [_node(aedat, "info", f"{root}{sid}/info/", info)])
        for sid, typ, name, info in outs])]
    fev = np.empty(len(events), dtype=[("t", "<u8"), ("x", "<u2"), ("y", "<u2"), ("on", "?")])
    fev["t"], fev["x"], fev["y"], fev["on"] = events["t"], events["x"], events["y"], events["p"] != 0
    chunks: list[tuple[int, int, np.ndarray]] = [
        (int(fev["t"][a]), 0, fev[a:a + packet_size]) for a in range(0, len(fev), packet_size)]
    for sid, extra in ((1, imu), (2, triggers)):
        if extra is not None and len(extra):
            for a in range(0, len(extra), 64):
                chunks.append((int(extra["t"][a]), sid, np.ascontiguousarray(extra[a:a + 64])))
    chunks.sort(key=lambda c: (c[0], c[1]))
    with aedat.Encoder(path, desc, comp) as enc:
        for _, sid, pk in chunks:
            enc.write(sid, pk)
    return path
