"""Benchmarks that print "equals" or "met" exit non-zero when it is not so (benchmarks/_common.exit_status)."""
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "benchmarks"))

from _common import exit_status, problems  # noqa: E402


def test_problems_are_evsnn_rows_that_differ_and_missed_targets():
    rows = [
        {"implementation": "evsnn read_aedat3 (numba)", "equals_written_events": "yes", "target_met": True},
        {"implementation": "tonic building blocks", "equals_written_events": "no: t differ"},   # a reference
        {"implementation": "evsnn.frames (numpy)", "case": "split_by=time", "agrees_with_spikingjelly": "yes"},
        {"implementation": "spikingjelly", "agrees_with_spikingjelly": "reference"},
    ]
    assert problems(rows) == [] and exit_status(rows) == 0
    bad = rows + [{"implementation": "evsnn (numba)", "events": "200,000 (subset)",
                   "identical_to_straightforward": "no (3 pixels differ)"},
                  {"implementation": "evsnn read_aedat3 (numba)", "target": ">= 5x", "target_met": False},
                  {"implementation": "evsnn read_aedat3 (numpy fallback)", "equals_written_events": ""}]
    assert len(problems(bad)) == 3 and exit_status(bad) == 1
    assert exit_status(1) == 1 and exit_status(0) == 0      # bench_noop's int status passes through


def test_run_all_driver_fails_a_benchmark_whose_rows_say_no(tmp_path):
    import run_all

    shutil.copy(ROOT / "benchmarks" / "_common.py", tmp_path / "_common.py")
    for name, value in (("bench_good.py", "yes"), ("bench_bad.py", "no: x differ")):
        (tmp_path / name).write_text(
            f"def main():\n    print('| table |')\n    return [{{'implementation': 'evsnn x', "
            f"'equals_written_events': {value!r}}}]\n")
    status = {}
    for name in ("bench_good.py", "bench_bad.py"):
        proc = subprocess.run([sys.executable, "-c", run_all._DRIVER, str(tmp_path / name), str(tmp_path / "o.json")],
                              capture_output=True, text=True, timeout=60)
        status[name] = (proc.returncode, proc.stderr)
    assert status["bench_good.py"][0] == 0, status
    assert status["bench_bad.py"][0] == 1 and "FAILED: evsnn x" in status["bench_bad.py"][1], status


def test_bench_frames_exits_zero_when_it_equals_spikingjelly():
    proc = subprocess.run([sys.executable, str(ROOT / "benchmarks" / "bench_frames.py"), "--events", "20000",
                           "--repeats", "1"], capture_output=True, text=True, timeout=300, cwd=ROOT)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    assert "| yes |" in proc.stdout


def test_bench_lava_event_compares_every_layer_and_states_its_target(tmp_path):
    """bench_lava_event on a small FORMATS 2.11 network: every event-driven row says its outputs equal the dense
    synapse's, the default (auto) row carries the 3x target, and a row that differed would fail the run."""
    pytest.importorskip("lava.lib.dl.netx")
    import numpy as np
    from test_lava_netx import _zero_thresholds, write_dhp19_like

    import bench_lava_event

    net = write_dhp19_like(tmp_path / "small.net", H=8, W=12, edit=_zero_thresholds)
    x = (np.random.default_rng(0).random((1, 1, 8, 12, 4)) < 0.2).astype(np.float64)
    rows = bench_lava_event.run_case("small", net, x, "test", 1)
    assert [r["implementation"].split(" (")[0] for r in rows] == [
        "Lava dense synapse", "evsnn event-driven synapse", "evsnn event-driven synapse"]
    assert [r.get("identical_to_straightforward") for r in rows[1:]] == ["yes", "yes"]
    assert isinstance(rows[1]["target_met"], bool) and rows[1]["synapses_s_per_step"] > 0
    assert 0 < rows[0]["input_nonzero_fraction"] < 1
    assert [p for p in problems(rows) if "target" not in p] == []
    rows[2]["identical_to_straightforward"] = "no: layers [3] differ"
    assert any("layers [3] differ" in p for p in problems(rows))
