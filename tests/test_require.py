"""EVSNN_REQUIRE (tests/_require.py): environment skips become failures where the tests must run (CI)."""
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

TESTS = Path(__file__).resolve().parent

PROBE = '''
import pytest

def test_lava():
    pytest.skip("lava-dl is not installed")

@pytest.mark.parametrize("backend", ["numpy", pytest.param("numba", marks=pytest.mark.skipif(
    True, reason="numba not importable"))])
def test_backend(backend):
    pass

def test_slurm():
    import _require
    _require.skip("needs root: starts munged", need="slurm")

@pytest.mark.xfail(reason="expected")
def test_xfail():
    assert False
'''


def _run(tmp_path, env_extra):
    (tmp_path / "conftest.py").write_text("from _require import pytest_make_collect_report, "
                                          "pytest_runtest_makereport  # noqa: F401\n")
    (tmp_path / "test_probe.py").write_text(PROBE)
    (tmp_path / "test_module_skip.py").write_text(
        "import pytest\npytest.importorskip('spikingjelly_not_there')\n\ndef test_x():\n    pass\n")
    env = {k: v for k, v in os.environ.items() if not k.startswith("EVSNN_REQUIRE")}
    env.update(env_extra, PYTHONPATH=str(TESTS) + os.pathsep + env.get("PYTHONPATH", ""))
    proc = subprocess.run([sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "-rfEs", str(tmp_path)],
                          cwd=tmp_path, env=env, capture_output=True, text=True, timeout=120)
    counts = {m.group(2): int(m.group(1)) for m in re.finditer(r"(\d+) (passed|failed|skipped|xfailed|error)",
                                                                proc.stdout.splitlines()[-1])}
    # a skip at setup (skipif) or collection (module-level importorskip) turned red is reported as an error
    red = counts.pop("failed", 0) + counts.pop("error", 0)
    if red:
        counts["red"] = red
    return counts, proc.stdout


def test_without_require_environment_skips_skip(tmp_path):
    counts, out = _run(tmp_path, {})
    assert counts == {"passed": 1, "skipped": 4, "xfailed": 1}, out


def test_require_all_turns_every_skip_into_a_failure(tmp_path):
    counts, out = _run(tmp_path, {"EVSNN_REQUIRE": "all"})
    # the three skipped tests and the module that skipped at import
    assert counts == {"passed": 1, "red": 4, "xfailed": 1}, out
    assert re.search(r"requires it to run here: (Skipped: )?lava-dl is not installed", out), out
    assert "this test must run here" in out  # _require.skip in the SLURM test
    assert "spikingjelly_not_there" in out


def test_require_names_one_piece(tmp_path):
    counts, out = _run(tmp_path, {"EVSNN_REQUIRE": "numba"})
    assert counts == {"passed": 1, "red": 1, "skipped": 3, "xfailed": 1}, out
    assert "ERROR test_probe.py::test_backend[numba]" in out


def test_require_slurm_old_switch_still_works(tmp_path):
    counts, out = _run(tmp_path, {"EVSNN_REQUIRE_SLURM": "1"})
    assert counts == {"passed": 1, "red": 1, "skipped": 3, "xfailed": 1}, out
    assert "FAILED test_probe.py::test_slurm" in out


def test_unknown_name_is_refused(tmp_path):
    _, out = _run(tmp_path, {"EVSNN_REQUIRE": "chromum"})
    assert "unknown name(s) ['chromum']" in out


def test_numba_cases_are_recorded_not_dropped_without_numba():
    """With numba disabled the numba cases of the backend matrices are still collected (and then skipped)."""
    env = dict(os.environ, EVSNN_DISABLE_NUMBA="1")
    env.pop("EVSNN_REQUIRE", None)
    proc = subprocess.run([sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "-rs",
                           str(TESTS / "test_frames.py"), "-k", "numba"],
                          cwd=TESTS.parent, env=env, capture_output=True, text=True, timeout=300)
    assert re.search(r"\d+ skipped", proc.stdout) and "numba not importable or disabled" in proc.stdout, proc.stdout
    assert " failed" not in proc.stdout.splitlines()[-1], proc.stdout
