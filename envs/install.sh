#!/usr/bin/env bash
# One install script for the whole stack: a Python 3.11 venv at .venv (or $EVSNN_VENV) with
# torch 2.13 CPU, numpy<2, snakemake, spikingjelly 2.0, lava-nc 0.10 / lava-dl 0.6 (without their
# stale declared dependencies, plus two source fixes for Python 3.11), and evsnn itself (editable).
# Idempotent: a stamp keyed on the env files makes a second run a no-op.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/.." && pwd)
venv=${EVSNN_VENV:-$root/.venv}
py=${PYTHON:-python3.11}
command -v "$py" >/dev/null 2>&1 || py=python3

stamp="$venv/.evsnn-env-stamp"
want=$(cat "$here/requirements.txt" "$here/constraints.txt" "$here/requirements-nodeps.txt" "$here/patch_lava.py" "$here/install.sh" "$root/pyproject.toml" | sha256sum | cut -d' ' -f1)
if [ -f "$stamp" ] && [ "$(cat "$stamp")" = "$want" ]; then
  echo "evsnn environment up to date: $venv"
  exit 0
fi

ver=$("$py" -c 'import sys; print("%d.%d" % sys.version_info[:2])')
[ "$ver" = "3.11" ] || echo "warning: evsnn is tested on CPython 3.11, found $ver" >&2

[ -x "$venv/bin/python" ] || "$py" -m venv "$venv"
pip=("$venv/bin/python" -m pip --disable-pip-version-check -q)
"${pip[@]}" install -c "$here/constraints.txt" -r "$here/requirements.txt"
# Packages whose metadata pins an old torch / Python: installed without their declared deps.
"${pip[@]}" install -c "$here/constraints.txt" --no-deps --ignore-requires-python -r "$here/requirements-nodeps.txt"
"$venv/bin/python" "$here/patch_lava.py"
"${pip[@]}" install --no-deps -e "$root"
echo "$want" > "$stamp"
echo "evsnn environment ready: $venv"
