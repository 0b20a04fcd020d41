"""Which environment-dependent tests must run here instead of skipping: ``EVSNN_REQUIRE``.

Some tests need something a machine may lack: headless Chromium (test_report), a SLURM cluster and root
(test_slurm), Lava / lava-dl (test_lava_*, test_hostile), numba (the numba backends of the kernels), spikingjelly
(the comparisons with its own code). On a laptop they skip with the reason; where they must run (CI: ``.ci/run``
sets ``EVSNN_REQUIRE=all``) a skip is a failure, so a failed install cannot turn the check silently off.

``EVSNN_REQUIRE``: a comma-separated list of ``chromium``, ``slurm``, ``lava``, ``numba``, ``spikingjelly``, or
``all`` (every skip fails, whatever its reason). A named requirement fails the skips whose reason names it.
``EVSNN_REQUIRE_SLURM=1`` (older switch) is the same as ``EVSNN_REQUIRE=slurm``.

The hooks below (imported into tests/conftest.py) apply this to every skip: ``pytest.skip``, ``importorskip`` at
module level (a collection skip), ``skipif`` marks and parametrised cases marked so.
"""
from __future__ import annotations

import os

import pytest

NAMES = ("chromium", "slurm", "lava", "numba", "spikingjelly")


def required(environ=None) -> set[str]:
    env = os.environ if environ is None else environ
    names = {n.strip().lower() for n in env.get("EVSNN_REQUIRE", "").split(",") if n.strip()}
    unknown = names - set(NAMES) - {"all"}
    if unknown:
        raise pytest.UsageError(f"EVSNN_REQUIRE: unknown name(s) {sorted(unknown)}; use 'all' or some of {NAMES}")
    if env.get("EVSNN_REQUIRE_SLURM") == "1":
        names.add("slurm")
    return names


def must_run(reason: str, need: str | None = None, environ=None) -> bool:
    """True when a test skipped for ``reason`` (needing ``need``, if known) must fail instead."""
    req = required(environ)
    if "all" in req or (need is not None and need in req):
        return True
    return any(name in reason.lower() for name in req)


def skip(reason: str, need: str | None = None):
    """``pytest.skip(reason)``, or ``pytest.fail`` where ``EVSNN_REQUIRE`` says the test must run."""
    if must_run(reason, need):
        pytest.fail(f"{reason} (EVSNN_REQUIRE={os.environ.get('EVSNN_REQUIRE', '')!r}, "
                    f"EVSNN_REQUIRE_SLURM={os.environ.get('EVSNN_REQUIRE_SLURM', '')!r}: this test must run here)")
    pytest.skip(reason)


def _reason(longrepr) -> str:
    if isinstance(longrepr, tuple) and len(longrepr) == 3:
        return str(longrepr[2])
    return str(longrepr)


def _fail(report, what: str) -> None:
    reason = _reason(report.longrepr)
    report.outcome = "failed"
    report.longrepr = (f"{what} skipped but EVSNN_REQUIRE={os.environ.get('EVSNN_REQUIRE', '')!r} "
                       f"(EVSNN_REQUIRE_SLURM={os.environ.get('EVSNN_REQUIRE_SLURM', '')!r}) requires it to run "
                       f"here: {reason}")


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item, call):
    outcome = yield
    report = outcome.get_result()
    if report.skipped and not hasattr(report, "wasxfail") and must_run(_reason(report.longrepr)):
        _fail(report, f"test {item.nodeid}")


@pytest.hookimpl(hookwrapper=True)
def pytest_make_collect_report(collector):
    outcome = yield
    report = outcome.get_result()
    if report.skipped and must_run(_reason(report.longrepr)):
        _fail(report, f"module {collector.nodeid}")
        # a collection error would otherwise stop the whole session before the other tests ran
        collector.config.option.continue_on_collection_errors = True
