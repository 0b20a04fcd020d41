"""Run every ``benchmarks/bench_*.py`` in turn and collect their result rows.

Convention for a benchmark module: a ``main()`` (callable without arguments; a main that parses the
command line gets none, so it runs with its defaults) that prints a markdown table and returns a list
of dict rows (a main that returns an int exit status instead is accepted: its status is checked and it
contributes no rows). A benchmark fails (non-zero status) when one of evsnn's rows does not equal its reference or
a row misses its target (``_common.exit_status``), as each benchmark run on its own does. Each benchmark runs in its own Python process (so one cannot
perturb the next through memory, imports or CPU pinning); its printed table passes straight through,
and all rows are written as JSON to ``benchmarks/out/results.json`` (git-ignored).

Usage::

    python benchmarks/run_all.py               # all benchmarks
    python benchmarks/run_all.py -k frames     # only those whose file name contains "frames"
    python benchmarks/run_all.py --json out.json
"""
from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent

# Executed in the child process: import the benchmark file by path, call main(), dump its rows.
_DRIVER = """
import importlib.util, json, sys
path, out = sys.argv[1], sys.argv[2]
spec = importlib.util.spec_from_file_location("bench_module", path)
module = importlib.util.module_from_spec(spec)
sys.modules["bench_module"] = module
spec.loader.exec_module(module)
sys.argv = [path]  # a main() that parses the command line sees no arguments: its defaults
result = module.main()
rows = result if isinstance(result, list) else []
with open(out, "w") as fh:
    json.dump(rows, fh, default=str)
sys.path.insert(0, str(__import__("pathlib").Path(path).resolve().parent))
from _common import exit_status  # an evsnn row that is not equal, or a missed target: non-zero
sys.exit(exit_status(result))
"""


def discover(pattern: str | None = None) -> list[Path]:
    files = sorted(HERE.glob("bench_*.py"))
    return [f for f in files if pattern is None or pattern in f.name]


def run_one(path: Path) -> tuple[list[dict], float, int]:
    """Run one benchmark in a child process; returns (rows, seconds, exit status)."""
    with tempfile.TemporaryDirectory() as tmp:
        out = Path(tmp) / "rows.json"
        t0 = time.perf_counter()
        cmd = [sys.executable, "-c", _DRIVER, str(path), str(out)]
        proc = subprocess.run(cmd, cwd=HERE.parent, env=os.environ.copy())
        seconds = time.perf_counter() - t0
        rows = json.loads(out.read_text()) if out.exists() else []   # kept when a check failed too
    for row in rows:
        row.setdefault("benchmark", path.stem.removeprefix("bench_"))
    return rows, seconds, proc.returncode


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="Run every benchmarks/bench_*.py in turn.")
    parser.add_argument("-k", dest="pattern", help="only benchmark files whose name contains this")
    parser.add_argument("--json", type=Path, default=HERE / "out" / "results.json", help="where to write all rows")
    args = parser.parse_args(argv)

    files = discover(args.pattern)
    if not files:
        print(f"no benchmarks/bench_*.py matches {args.pattern!r}", file=sys.stderr)
        return 2
    all_rows: list[dict] = []
    failed = []
    for path in files:
        print(f"\n## {path.name}", flush=True)
        rows, seconds, status = run_one(path)
        if status != 0:
            failed.append(path.name)
            print(f"{path.name} FAILED with exit status {status}", file=sys.stderr, flush=True)
        print(f"\n({path.name}: {seconds:.1f} s)", flush=True)
        all_rows.extend(rows)
    args.json.parent.mkdir(parents=True, exist_ok=True)
    tmp = args.json.with_name(args.json.name + ".tmp")
    tmp.write_text(json.dumps(all_rows, indent=1, default=str))
    tmp.replace(args.json)
    print(f"\n{len(all_rows)} rows from {len(files)} benchmark(s) written to {args.json}")
    if failed:
        print(f"failed: {', '.join(failed)}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
