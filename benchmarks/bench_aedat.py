"""AEDAT 3.1 decoding speed: evsnn vs spikingjelly ``load_aedat_v3`` vs tonic, on the same file, in one process.

    python benchmarks/bench_aedat.py                      # 20M events, packets of 4096 events
    python benchmarks/bench_aedat.py --events 2000000 --packet-size 512 --repeat 5

A DVS128-like file (random pixels/polarities, increasing timestamps that cross the 31-bit overflow, a SPECIAL
packet to skip) is written into a temporary directory with :func:`evsnn.io.aedat3.write_aedat3`; every reader
decodes it, the page cache is warm for all of them, and each reader's output is checked against ours.

How the references are loaded (neither can be imported the normal way in this environment):

- spikingjelly 2.0: ``import spikingjelly.datasets`` imports torchvision, which is not installable here. Only for
  this benchmark, minimal stub modules ``torchvision`` / ``torchvision.transforms`` are put into ``sys.modules`` and
  ``spikingjelly/datasets/utils.py`` is loaded on its own (with an empty stand-in for the ``spikingjelly.datasets``
  package so that its ``__init__`` with the dataset classes does not run). ``load_aedat_v3`` is unchanged.
- tonic 1.7: ``import tonic`` fails (``tonic.datasets`` needs importRosbag and other optional packages), so
  ``tonic/io.py`` (which needs only numpy) is loaded directly from its file. Its AEDAT readers (``read_dvs_ibm`` is
  the DVS Gesture one) unpack ``read_aedat_header_from_file``'s three return values into two and raise ValueError;
  the table reports that error. For a number anyway, a second row runs tonic's own building blocks with the
  unpacking fixed (``read_aedat_header_from_file`` + ``get_aer_events_from_file`` + ``read_dvs_ibm``'s bit
  decoding). That path reads ``eventCapacity`` events of every packet whatever its type (SPECIAL events come out
  as polarity events), ignores eventNumber, the valid mark and eventTSOverflow, so its output differs from ours.
"""
from __future__ import annotations

import argparse
import gc
import importlib.util
import os
import sys
import tempfile
import time
import types
from pathlib import Path

import numpy as np

from evsnn.events import make_events
from evsnn.io.aedat3 import read_aedat3, write_aedat3


def load_spikingjelly_load_aedat_v3():
    """spikingjelly's ``load_aedat_v3`` without torchvision (stub modules, benchmark only)."""
    if "torchvision" not in sys.modules:
        tv = types.ModuleType("torchvision")
        tv.transforms = types.ModuleType("torchvision.transforms")
        sys.modules["torchvision"] = tv
        sys.modules["torchvision.transforms"] = tv.transforms
    import spikingjelly

    pkg_dir = Path(spikingjelly.__file__).parent / "datasets"
    if "spikingjelly.datasets" not in sys.modules:
        stand_in = types.ModuleType("spikingjelly.datasets")
        stand_in.__path__ = [str(pkg_dir)]
        sys.modules["spikingjelly.datasets"] = stand_in
    spec = importlib.util.spec_from_file_location("spikingjelly.datasets.utils", pkg_dir / "utils.py")
    mod = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = mod
    spec.loader.exec_module(mod)
    return mod.load_aedat_v3


def load_tonic_io():
    """``tonic/io.py`` loaded from its file (``import tonic`` needs optional packages that are not installed)."""
    spec = importlib.util.find_spec("tonic")
    if spec is None or not spec.submodule_search_locations:
        raise ImportError("tonic is not installed")
    path = Path(list(spec.submodule_search_locations)[0]) / "io.py"
    io_spec = importlib.util.spec_from_file_location("tonic_io_standalone", path)
    mod = importlib.util.module_from_spec(io_spec)
    io_spec.loader.exec_module(mod)
    return mod


def make_file(path: Path, n: int, packet_size: int, seed: int = 0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    t = np.cumsum(rng.integers(0, 12, n, dtype=np.int64)) + (1 << 31) - 6 * n // 2  # crosses 2**31 midway
    ev = make_events(rng.integers(0, 128, n), rng.integers(0, 128, n), t, rng.integers(0, 2, n))
    write_aedat3(path, ev, packet_size=packet_size)
    return ev


def timed(fn, repeat):
    best, out = float("inf"), None
    for _ in range(repeat):
        out = None
        gc.collect()
        t0 = time.perf_counter()
        out = fn()
        best = min(best, time.perf_counter() - t0)
    return best, out


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--events", type=int, default=20_000_000)
    ap.add_argument("--packet-size", type=int, default=4096)
    ap.add_argument("--repeat", type=int, default=3, help="runs per fast reader (best time is reported)")
    ap.add_argument("--sj-repeat", type=int, default=1, help="runs of spikingjelly's per-event Python loop")
    ap.add_argument("--skip-spikingjelly", action="store_true")
    ap.add_argument("--dir", default=None, help="where to write the file (default: a temporary directory)")
    args = ap.parse_args(argv)

    with tempfile.TemporaryDirectory(dir=args.dir) as tmp:
        path = Path(tmp) / "bench.aedat"
        t0 = time.perf_counter()
        truth = make_file(path, args.events, args.packet_size)
        size = path.stat().st_size
        print(f"file: {path.name}, {args.events:,} events, packets of {args.packet_size}, {size / 1e6:.1f} MB "
              f"(written in {time.perf_counter() - t0:.1f} s); numpy {np.__version__}, {os.cpu_count()} CPUs")
        path.read_bytes()  # warm the page cache for everybody

        rows = []  # (name, seconds or None, events, note)

        sec, (ev, _hdr) = timed(lambda: read_aedat3(path), args.repeat)
        ok = np.array_equal(ev, truth)
        rows.append(("evsnn read_aedat3", sec, len(ev), "matches the written events" if ok else "MISMATCH"))
        del ev

        if not args.skip_spikingjelly:
            try:
                load_aedat_v3 = load_spikingjelly_load_aedat_v3()
                sec, d = timed(lambda: load_aedat_v3(str(path)), args.sj_repeat)
                same = (len(d["t"]) == len(truth) and np.array_equal(d["x"], truth["x"])
                        and np.array_equal(d["y"], truth["y"]) and np.array_equal(d["p"], truth["p"])
                        and np.array_equal(d["t"], truth["t"]))
                rows.append(("spikingjelly load_aedat_v3", sec, len(d["t"]), "same events" if same else "DIFFERENT"))
                del d
            except Exception as exc:  # report, don't hide
                rows.append(("spikingjelly load_aedat_v3", None, None, f"{type(exc).__name__}: {exc}"))

        try:
            tio = load_tonic_io()
        except Exception as exc:
            tio = None
            rows.append(("tonic io", None, None, f"cannot load: {type(exc).__name__}: {exc}"))
        if tio is not None:
            try:
                sec, (_shape, xytp) = timed(lambda: tio.read_dvs_ibm(str(path)), 1)
                rows.append(("tonic io.read_dvs_ibm", sec, len(xytp), ""))
            except Exception as exc:
                rows.append(("tonic io.read_dvs_ibm", None, None,
                             f"fails on a valid file: {type(exc).__name__}: {exc}"))

            def tonic_fixed():
                version, start, _creation = tio.read_aedat_header_from_file(str(path))
                raw = tio.get_aer_events_from_file(str(path), version, start)
                a = raw["address"]
                x = (a >> 17) & 0x00001FFF
                y = (a >> 2) & 0x00001FFF
                p = (a >> 1) & 0x00000001
                return tio.make_structured_array(x, y, raw["timeStamp"], p)

            try:
                sec, xytp = timed(tonic_fixed, args.repeat)
                same_t = len(xytp) == len(truth) and np.array_equal(xytp["t"], truth["t"])
                note = ("header unpacking fixed; " + ("same events" if same_t else
                        f"differs: SPECIAL events decoded as polarity, no overflow ({len(xytp) - len(truth):+d} "
                        "events)"))
                rows.append(("tonic building blocks (bug bypassed)", sec, len(xytp), note))
                del xytp
            except Exception as exc:
                rows.append(("tonic building blocks (bug bypassed)", None, None, f"{type(exc).__name__}: {exc}"))

    print()
    print(f"{'reader':<40} {'seconds':>9} {'Mevents/s':>10}  notes")
    for name, sec, n, note in rows:
        if sec is None:
            print(f"{name:<40} {'-':>9} {'-':>10}  {note}")
        else:
            print(f"{name:<40} {sec:9.3f} {n / sec / 1e6:10.2f}  {note}")
    ours = rows[0][1]
    refs = [r for r in rows[1:] if r[1] is not None and "bug bypassed" not in r[0]]
    print()
    if refs:
        fastest = min(refs, key=lambda r: r[1])
        print(f"ours / fastest working reference reader ({fastest[0]}): {fastest[1] / ours:.1f}x (target >= 5x)")
    bypass = [r for r in rows if r[1] is not None and "bug bypassed" in r[0]]
    if bypass:
        print(f"ours / tonic building blocks with the bug bypassed: {bypass[0][1] / ours:.1f}x")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
