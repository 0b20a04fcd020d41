"""AEDAT 3.1 and AEDAT 2.0 readers against hand-built byte fixtures (struct.pack, independent of our writers),
round trips through the writers, and truncated/corrupt files."""
from __future__ import annotations

import struct

import numpy as np
import pytest

from evsnn.errors import FormatError
from evsnn.events import CAMERA_EVENT_DTYPE, EVENT_DTYPE, make_events
from evsnn.io import read_events
from evsnn.io.aedat2 import read_aedat2, write_aedat2
from evsnn.io.aedat3 import read_aedat3, write_aedat3

# ----------------------------------------------------------------------------------------------- AEDAT 3.1 fixtures
HEADER3 = (b"#!AER-DAT3.1\r\n#Format: RAW\r\n#Source 1: DVS128\r\n"
           b"#Start-Time: 2017-03-01 10:00:00 (TZ+0100)\r\n#!END-HEADER\r\n")


def pol(x, y, p, valid=1):
    """libcaer polarity data word: x bits 17-31, y bits 2-16, polarity bit 1, valid mark bit 0."""
    return (x << 17) | (y << 2) | (p << 1) | valid


def packet(etype, events, *, ovf=0, capacity=None, valid=None, size=8, tsoff=4, source=1, slack_fill=b"\x00"):
    """One packet: 28-byte '<hhiiiiii' header + payload of capacity*size bytes (unused slots filled)."""
    number = len(events)
    capacity = number if capacity is None else capacity
    valid = number if valid is None else valid
    head = struct.pack("<hhiiiiii", etype, source, size, tsoff, ovf, capacity, number, valid)
    if size == 8:
        payload = b"".join(struct.pack("<Ii", d, ts) for d, ts in events)
    else:
        payload = b"".join(e for e in events)
    payload += slack_fill * ((capacity - number) * size // len(slack_fill))
    return head + payload


P1 = packet(1, [(pol(1, 2, 1), 100), (pol(3, 4, 0, valid=0), 150), (pol(127, 127, 1), 200)],
            capacity=5, valid=2, slack_fill=struct.pack("<Ii", pol(9, 9, 1), 300))  # slack looks valid: ignored
P2 = packet(0, [((2 << 1) | 1, 210), ((0 << 1) | 1, 220)])  # SPECIAL packet, 2 events
P3 = packet(1, [(pol(5, 6, 0), 10), (pol(7, 8, 1), 20)], ovf=1)  # second overflow epoch
P4 = packet(3, [bytes(36)], size=36, tsoff=32)  # IMU6 packet, one 36-byte event
BODY3 = P1 + P2 + P3 + P4
EXPECTED3 = [(1, 2, 100, 1), (127, 127, 200, 1), (5, 6, (1 << 31) | 10, 0), (7, 8, (1 << 31) | 20, 1)]


@pytest.fixture
def aedat3_file(tmp_path):
    f = tmp_path / "hand_built.aedat"
    f.write_bytes(HEADER3 + BODY3)
    return f


def test_aedat3_hand_built(aedat3_file):
    ev, hdr = read_aedat3(aedat3_file)
    assert ev.dtype == EVENT_DTYPE
    assert [tuple(int(v) for v in e) for e in ev] == EXPECTED3
    assert hdr["version"] == "3.1"
    assert hdr["format"] == "RAW"
    assert hdr["sources"] == [{"id": 1, "description": "DVS128"}]
    assert hdr["start_time"] == "2017-03-01 10:00:00 (TZ+0100)"
    assert hdr["header_bytes"] == len(HEADER3)
    assert tuple(hdr["resolution"]) == (128, 128)
    assert hdr["packets"] == 4 and hdr["polarity_packets"] == 2
    assert hdr["skipped_packets"] == {"SPECIAL": 1, "IMU6": 1}
    assert hdr["invalid_events"] == 1


def test_aedat3_source_filter_and_unknown_resolution(tmp_path):
    header = HEADER3.replace(b"DVS128", b"MyCamera")
    body = packet(1, [(pol(10, 20, 1), 5)], source=1) + packet(1, [(pol(300, 40, 0), 6)], source=2)
    f = tmp_path / "two_sources.aedat"
    f.write_bytes(header + body)
    ev, hdr = read_aedat3(f)
    assert len(ev) == 2 and tuple(hdr["resolution"]) == (301, 41)  # derived from max x / max y
    ev1, _ = read_aedat3(f, source=1)
    assert ev1["x"].tolist() == [10]


def test_aedat3_many_tiny_packets_gather_path(tmp_path):
    # 400 one- or two-event packets: the reader switches to its fancy-indexing gather; same result either way
    rng = np.random.default_rng(3)
    pk, expected = [], []
    for i in range(400):
        k = 1 + i % 2
        evs = [(int(rng.integers(0, 128)), int(rng.integers(0, 128)), int(rng.integers(0, 2))) for _ in range(k)]
        pk.append(packet(1, [(pol(x, y, p), 1000 * i + j) for j, (x, y, p) in enumerate(evs)], ovf=i // 300))
        expected += [(x, y, ((i // 300) << 31) | (1000 * i + j), p) for j, (x, y, p) in enumerate(evs)]
    f = tmp_path / "tiny.aedat"
    f.write_bytes(HEADER3 + b"".join(pk))
    ev, _ = read_aedat3(f)
    assert [(int(e["x"]), int(e["y"]), int(e["t"]), int(e["p"])) for e in ev] == expected


def test_aedat3_header_only_is_an_empty_recording(tmp_path):
    f = tmp_path / "empty.aedat"
    f.write_bytes(HEADER3)
    ev, hdr = read_aedat3(f)
    assert len(ev) == 0 and hdr["packets"] == 0


@pytest.mark.parametrize(
    "cut, offset, words",
    [
        (30, 28, "header is not terminated"),  # inside the header (after "#Format: RAW\r\n")
        (len(HEADER3) + 10, len(HEADER3), "truncated packet header"),  # inside the first packet header
        (len(HEADER3) + 28 + 13, len(HEADER3), "truncated packet"),  # inside the first payload
        (len(HEADER3) + len(P1) + len(P2) + 40, len(HEADER3) + len(P1) + len(P2), "truncated packet"),
        (len(HEADER3) + len(BODY3) - 1, len(HEADER3) + len(P1) + len(P2) + len(P3), "truncated packet"),
    ],
)
def test_aedat3_truncated(tmp_path, cut, offset, words):
    f = tmp_path / "cut_file.aedat"
    f.write_bytes((HEADER3 + BODY3)[:cut])
    with pytest.raises(FormatError) as exc:
        read_aedat3(f)
    msg = str(exc.value)
    assert "cut_file.aedat" in msg and f"byte offset {offset}" in msg and words in msg
    assert exc.value.offset == offset


def test_aedat3_wrong_magic_and_bad_event_size(tmp_path):
    f = tmp_path / "magic.aedat"
    f.write_bytes(b"#!AER-DAT4.0\r\n" + BODY3)
    with pytest.raises(FormatError, match=r"magic\.aedat at byte offset 0: not an AEDAT 3"):
        read_aedat3(f)
    g = tmp_path / "size.aedat"
    g.write_bytes(HEADER3 + P2 + packet(1, [b"\x01" * 12], size=12))
    with pytest.raises(FormatError) as exc:
        read_aedat3(g)
    assert exc.value.offset == len(HEADER3) + len(P2) and "eventSize 12" in str(exc.value)
    h = tmp_path / "neg.aedat"
    h.write_bytes(HEADER3 + struct.pack("<hhiiiiii", 1, 1, 8, 4, 0, 2, 3, 3))  # number > capacity
    with pytest.raises(FormatError, match="corrupt packet header"):
        read_aedat3(h)


def test_aedat3_writer_round_trip(tmp_path):
    rng = np.random.default_rng(0)
    n = 10_000
    t = np.sort(rng.integers((1 << 31) - 50_000, (1 << 31) + 50_000, n))  # crosses the 31-bit overflow
    ev = make_events(rng.integers(0, 128, n), rng.integers(0, 128, n), t, rng.integers(0, 2, n))
    f = write_aedat3(tmp_path / "rt.aedat", ev, packet_size=1000, capacity_slack=3)
    back, hdr = read_aedat3(f)
    np.testing.assert_array_equal(back, ev)
    assert hdr["polarity_packets"] >= 11  # split at the overflow change as well as every 1000 events
    assert hdr["skipped_packets"]["SPECIAL"] == 2  # the inserted special packet + one TIMESTAMP_WRAP
    assert f.read_bytes().startswith(b"#!AER-DAT3.1\r\n#Format: RAW\r\n#Source 1: DVS128\r\n#Start-Time: ")
    ev2, _ = read_events(f)
    np.testing.assert_array_equal(ev2, ev)


# ----------------------------------------------------------------------------------------------- AEDAT 2.0 fixtures
HEADER2_DVS = (b"#!AER-DAT2.0\r\n# This is a raw AE data file - do not edit\r\n"
               b"# Data format is int32 address, int32 timestamp (8 bytes total), repeated for each event\r\n"
               b"# AEChip: ch.unizh.ini.jaer.chip.retina.DVS128\r\n")
HEADER2_DAVIS = (b"#!AER-DAT2.0\r\n# This is a raw AE data file - do not edit\r\n"
                 b"# AEChip: eu.seebetter.ini.chips.davis.Davis346blue\r\n")


def rec(addr, ts):
    return struct.pack(">II", addr, ts)


def dvs128_addr(raw_x, y, bit0):
    """jAER DVS128 raw address: x field bits 1-7, y bits 8-14, bit 0 = 1 for OFF."""
    return (y << 8) | (raw_x << 1) | bit0


def davis_addr(x, y, p, cam):
    return (y << 22) | (x << 12) | (p << 11) | cam


def test_aedat2_dvs128_hand_built(tmp_path):
    body = rec(dvs128_addr(10, 20, 0), 1000) + rec(0x8000, 1500) + rec(dvs128_addr(0, 127, 1), 2000)
    f = tmp_path / "dvs.aedat"
    f.write_bytes(HEADER2_DVS + body)
    ev, hdr = read_aedat2(f)
    assert ev.dtype == EVENT_DTYPE
    # jAER DVS128.Extractor: x = 127 - raw x (mirrored), y = raw y, ON when raw bit 0 == 0
    assert [tuple(int(v) for v in e) for e in ev] == [(117, 20, 1000, 1), (127, 127, 2000, 0)]
    assert hdr["layout"] == "dvs128" and hdr["chip"] == "ch.unizh.ini.jaer.chip.retina.DVS128"
    assert hdr["special_timestamps"].tolist() == [1500]
    assert hdr["header_bytes"] == len(HEADER2_DVS) and hdr["records"] == 3
    assert tuple(hdr["resolution"]) == (128, 128)


def test_aedat2_davis346_dhp19_hand_built(tmp_path):
    body = (
        rec(davis_addr(140, 140, 1, 2), 10)  # first record starts with the byte '#' (0x23): must not be header
        + rec(0x400, 15)  # special (trigger) event
        + rec(davis_addr(345, 259, 0, 3), 20)
        + rec(0x80000000 | davis_addr(1, 1, 1, 0), 25)  # APS/IMU sample: dropped
        + rec(davis_addr(10, 306, 1, 1), 30)  # y out of range (DHP19 issue #8): dropped
        + rec(davis_addr(346, 10, 1, 1), 35)  # x out of range: dropped
        + rec(davis_addr(5, 6, 1, 5), 40)  # camera out of range: dropped
        + rec(davis_addr(0, 0, 1, 0), 50)
        + rec(0x400, 60)
    )
    assert body[:1] == b"#"
    f = tmp_path / "S1_1_1.aedat"
    f.write_bytes(HEADER2_DAVIS + body)
    ev, hdr = read_aedat2(f)
    assert ev.dtype == CAMERA_EVENT_DTYPE
    assert [tuple(int(v) for v in e) for e in ev] == [(140, 140, 10, 1, 2), (345, 259, 20, 0, 3), (0, 0, 50, 1, 0)]
    assert hdr["layout"] == "davis346" and hdr["camera_layout"] == "DAVIS346 (DHP19, 4 cameras)"
    assert hdr["special_timestamps"].tolist() == [15, 60]
    assert hdr["dropped"] == {"aps_imu": 1, "out_of_range": 3}
    assert hdr["cameras"] == [0, 2, 3] and tuple(hdr["resolution"]) == (346, 260)
    # explicit layout gives the same; auto without an AEChip line falls back on the address range
    g = tmp_path / "nochip.aedat"
    g.write_bytes(b"#!AER-DAT2.0\r\n" + body)
    ev2, hdr2 = read_aedat2(g)
    assert hdr2["layout"] == "davis346"
    np.testing.assert_array_equal(ev2, ev)
    h = tmp_path / "nochip_dvs.aedat"
    h.write_bytes(b"#!AER-DAT2.0\r\n" + rec(dvs128_addr(1, 2, 0), 7))
    assert read_aedat2(h)[1]["layout"] == "dvs128"


def test_aedat2_truncated_and_bad_magic(tmp_path):
    body = rec(dvs128_addr(1, 2, 0), 1) + rec(dvs128_addr(3, 4, 1), 2)
    f = tmp_path / "cut2.aedat"
    f.write_bytes(HEADER2_DVS + body[:13])
    with pytest.raises(FormatError) as exc:
        read_aedat2(f)
    assert "cut2.aedat" in str(exc.value) and exc.value.offset == len(HEADER2_DVS) + 8
    assert f"byte offset {len(HEADER2_DVS) + 8}" in str(exc.value) and "truncated record" in str(exc.value)
    g = tmp_path / "hdr_cut.aedat"
    g.write_bytes(HEADER2_DVS[:40])
    with pytest.raises(FormatError, match="header line is not terminated"):
        read_aedat2(g)
    h = tmp_path / "magic2.aedat"
    h.write_bytes(b"#!AER-DAT3.1\r\n" + body)
    with pytest.raises(FormatError, match="byte offset 0: not an AEDAT 2.0"):
        read_aedat2(h)


@pytest.mark.parametrize("layout", ["dvs128", "davis346"])
def test_aedat2_writer_round_trip(tmp_path, layout):
    rng = np.random.default_rng(1)
    n = 5000
    t = np.sort(rng.integers(0, 10_000_000, n))
    if layout == "dvs128":
        ev = make_events(rng.integers(0, 128, n), rng.integers(0, 128, n), t, rng.integers(0, 2, n))
    else:
        ev = make_events(rng.integers(0, 346, n), rng.integers(0, 260, n), t, rng.integers(0, 2, n),
                         c=rng.integers(0, 4, n))
    specials = [int(t[0]), int(t[-1])]
    f = write_aedat2(tmp_path / f"{layout}.aedat", ev, layout=layout, special_timestamps=specials)
    back, hdr = read_aedat2(f)  # auto: from the AEChip line the writer puts in
    assert hdr["layout"] == layout
    np.testing.assert_array_equal(back, ev)
    assert hdr["special_timestamps"].tolist() == specials


# ----------------------------------------------------------------------------------------- numba vs numpy backends
def _numba_or_skip(module):
    pytest.importorskip("numba")
    if not module.numba_available():
        pytest.skip("numba backend disabled (EVSNN_DISABLE_NUMBA)")


def random_aedat3_body(rng, n_packets=60):
    """Polarity packets of random sizes (incl. empty and tiny ones) with ~10% invalid events, capacity slack filled
    with valid-looking garbage, eventTSOverflow growing to 3, plus SPECIAL and IMU6 packets to skip."""
    chunks, expected = [], []
    for i in range(n_packets):
        ovf = i * 4 // n_packets
        k = int(rng.choice([0, 1, 2, 7, 300, 1000]))
        x, y = rng.integers(0, 0x8000, k), rng.integers(0, 0x8000, k)
        p, valid = rng.integers(0, 2, k), (rng.random(k) > 0.1).astype(np.int64)
        ts = rng.integers(0, 1 << 31, k)
        rec = np.empty((k + 3, 2), dtype="<u4")
        rec[:k, 0] = (x << 17) | (y << 2) | (p << 1) | valid
        rec[:k, 1] = ts
        rec[k:] = rng.integers(1, 1 << 31, (3, 2)) | 1  # unused capacity slots that look valid: ignored
        chunks.append(struct.pack("<hhiiiiii", 1, 1, 8, 4, ovf, k + 3, k, int(valid.sum())) + rec.tobytes())
        keep = valid == 1
        expected.append(make_events(x[keep], y[keep], (ovf << 31) | ts[keep], p[keep]))
        if i % 17 == 3:
            chunks.append(packet(0, [((2 << 1) | 1, 5)], ovf=ovf))
        if i % 23 == 5:
            chunks.append(packet(3, [bytes(range(36))] * 2, size=36, tsoff=32, ovf=ovf))
    return b"".join(chunks), np.concatenate(expected)


@pytest.mark.parametrize("pad", [0, 1, 2, 3])  # header lengths of every residue mod 4: unaligned payloads
def test_aedat3_numba_and_numpy_backends_identical(tmp_path, pad):
    from evsnn.io import aedat3

    _numba_or_skip(aedat3)
    body, expected = random_aedat3_body(np.random.default_rng(pad))
    header = HEADER3.replace(b"#!END-HEADER", b"#-Source 0: " + b"x" * pad + b"\r\n#!END-HEADER")
    f = tmp_path / "backends.aedat"
    f.write_bytes(header + body)
    ev_nb, hdr_nb = read_aedat3(f, backend="numba")
    ev_np, hdr_np = read_aedat3(f, backend="numpy")
    assert ev_nb.dtype == ev_np.dtype == EVENT_DTYPE
    np.testing.assert_array_equal(ev_nb, expected)
    np.testing.assert_array_equal(ev_np, expected)
    assert hdr_nb == hdr_np
    assert hdr_nb["invalid_events"] > 0 and hdr_nb["skipped_packets"] == {"SPECIAL": 4, "IMU6": 3}
    assert int(ev_nb["t"].max()) >> 31 == 3  # tsOverflow > 0 reached the output
    # the hand-built fixture, the source filter, the many-tiny-packets case and an empty body agree as well
    g = tmp_path / "hand.aedat"
    g.write_bytes(HEADER3 + BODY3 + packet(1, [(pol(1, 1, 1, valid=0), 7)]))  # a packet of invalid events only
    for kwargs in ({}, {"source": 1}, {"source": 2}):
        a, ha = read_aedat3(g, backend="numba", **kwargs)
        b, hb = read_aedat3(g, backend="numpy", **kwargs)
        np.testing.assert_array_equal(a, b)
        assert ha == hb
    tiny = b"".join(packet(1, [(pol(i % 128, 5, i % 2), i)], ovf=i // 200) for i in range(400))
    g.write_bytes(HEADER3 + tiny)
    np.testing.assert_array_equal(read_aedat3(g, backend="numba")[0], read_aedat3(g, backend="numpy")[0])
    g.write_bytes(HEADER3)
    assert len(read_aedat3(g, backend="numba")[0]) == 0


@pytest.mark.parametrize("cut", [len(HEADER3) + 10, len(HEADER3) + 41, len(HEADER3) + len(BODY3) - 1])
def test_aedat3_numba_backend_reports_the_same_errors(tmp_path, cut):
    from evsnn.io import aedat3

    _numba_or_skip(aedat3)
    f = tmp_path / "cut.aedat"
    f.write_bytes((HEADER3 + BODY3)[:cut])
    errors = []
    for backend in ("numba", "numpy"):
        with pytest.raises(FormatError) as exc:
            read_aedat3(f, backend=backend)
        errors.append((str(exc.value), exc.value.offset))
    assert errors[0] == errors[1]


@pytest.mark.parametrize("layout", ["dvs128", "davis346"])
@pytest.mark.parametrize("pad", [0, 1, 3])
def test_aedat2_numba_and_numpy_backends_identical(tmp_path, monkeypatch, layout, pad):
    from evsnn.io import aedat2

    _numba_or_skip(aedat2)
    monkeypatch.setattr(aedat2, "_NUMBA_CHUNK", 777)  # several kernel calls, specials in more than one of them
    rng = np.random.default_rng(pad)
    n = 20_000
    addr = rng.integers(0, 1 << 32, n, dtype=np.uint64)  # every bit pattern: APS, special, out-of-range, ...
    if layout == "dvs128":
        addr[: n // 2] &= 0xFFFF  # plenty of plain DVS128 events too
        addr[: n // 4] &= 0x7FFF
        header = HEADER2_DVS
    else:
        m = n // 2  # half in-range DHP19 events
        addr[:m] = [davis_addr(x, y, q, c) for x, y, q, c in zip(rng.integers(0, 346, m), rng.integers(0, 260, m),
                                                                   rng.integers(0, 2, m), rng.integers(0, 4, m))]
        header = HEADER2_DAVIS
    ts = np.sort(rng.integers(0, 1 << 32, n, dtype=np.uint64))
    rec = np.empty((n, 2), dtype=">u4")
    rec[:, 0], rec[:, 1] = addr, ts
    f = tmp_path / f"{layout}.aedat"
    f.write_bytes(header.replace(b"\r\n", b"  " + b"y" * pad + b"\r\n", 1) + rec.tobytes())
    ev_nb, hdr_nb = read_aedat2(f, backend="numba")
    ev_np, hdr_np = read_aedat2(f, backend="numpy")
    assert ev_nb.dtype == ev_np.dtype and len(ev_nb) > n // 8
    np.testing.assert_array_equal(ev_nb, ev_np)
    np.testing.assert_array_equal(hdr_nb.pop("special_timestamps"), hdr_np.pop("special_timestamps"))
    assert hdr_nb == hdr_np
    if layout == "davis346":
        assert hdr_nb["dropped"]["aps_imu"] > 0 and hdr_nb["dropped"]["out_of_range"] > 0


def test_backend_argument_is_checked(aedat3_file):
    with pytest.raises(ValueError, match="backend must be one of"):
        read_aedat3(aedat3_file, backend="cuda")


# --- camera layouts named right (issue 11 item 10) ------------------------------------------------------------
PLAIN_DAVIS_HEADER = (b"#!AER-DAT2.0\r\n# This is a raw AE data file - do not edit\r\n"
                      b"# Data format is int32 address, int32 timestamp (8 bytes total), repeated for each event\r\n"
                      b"# Timestamps tick is 1 us\r\n# created Tue Mar 12 10:31:07 CET 2019\r\n"
                      b"# AEChip: eu.seebetter.ini.chips.davis.Davis346blue\r\n")


def plain_davis_body():
    # a single-camera DAVIS346: the camera bits of every DVS event are 0; an APS sample and a trigger in between
    return (rec(davis_addr(10, 20, 1, 0), 100) + rec(0x80000000 | (5 << 22) | (6 << 12), 110)
            + rec(0x400, 120) + rec(davis_addr(345, 259, 0, 0), 130) + rec(davis_addr(0, 0, 1, 0), 140))


def test_single_camera_davis346_is_not_called_dhp19(tmp_path):
    from evsnn.io import info

    f = tmp_path / "davis346_recording.aedat"
    f.write_bytes(PLAIN_DAVIS_HEADER + plain_davis_body())
    ev, hdr = read_aedat2(f)
    assert hdr["layout"] == "davis346" and hdr["camera_layout"] == "DAVIS346" and hdr["multiplexed"] is False
    assert hdr["created"] == "Tue Mar 12 10:31:07 CET 2019"
    assert [(int(e["x"]), int(e["y"]), int(e["t"])) for e in ev] == [(10, 20, 100), (345, 259, 130), (0, 0, 140)]
    out = info(f)
    assert out["camera_layout"] == "DAVIS346" and out["events"] == 3 and out["resolution"] == [346, 260]
    assert out["start_time"] == "Tue Mar 12 10:31:07 CET 2019"  # as AEDAT 3.1's Start-Time
    assert "cameras" not in out
    # the same file read as part of a DHP19 tree (explicitly, or by its place in one) is a DHP19 recording
    assert read_aedat2(f, dhp19=True)[1]["camera_layout"] == "DAVIS346 (DHP19, 4 cameras)"
    tree_file = tmp_path / "DHP19" / "DVS_movies" / "S1" / "session1" / "mov1.aedat"
    tree_file.parent.mkdir(parents=True)
    tree_file.write_bytes(f.read_bytes())
    assert info(tree_file)["camera_layout"] == "DAVIS346 (DHP19, 4 cameras)"
    assert info(tree_file)["cameras"] == {"0": 3}


def test_dhp19_multiplexed_bits_or_multicamera_chip_make_dhp19(tmp_path):
    from evsnn.io import info

    cams = tmp_path / "cams.aedat"  # one event of camera 1: DHP19's multiplexed camera bits
    cams.write_bytes(PLAIN_DAVIS_HEADER + plain_davis_body() + rec(davis_addr(3, 4, 1, 1), 150))
    out = info(cams)
    assert out["camera_layout"] == "DAVIS346 (DHP19, 4 cameras)" and out["cameras"] == {"0": 3, "1": 1}
    multi = tmp_path / "multi.aedat"  # jAER's multi-camera chip class, even if only camera 0 fired
    multi.write_bytes(PLAIN_DAVIS_HEADER.replace(b"eu.seebetter.ini.chips.davis.Davis346blue",
                                                 b"ch.unizh.ini.jaer.chip.multicamera.MultiDAVIS346BCameraChip")
                      + plain_davis_body())
    assert read_aedat2(multi)[1]["camera_layout"] == "DAVIS346 (DHP19, 4 cameras)"
    nocreated = tmp_path / "nocreated.aedat"
    nocreated.write_bytes(HEADER2_DAVIS + plain_davis_body())
    assert "start_time" not in info(nocreated) and "created" not in read_aedat2(nocreated)[1]
