"""Dataset manifests: what the ``dataset`` rule found, written so that a copied project reads its own data and a
changed raw file is noticed.

- Paths inside the project (the working directory of the workflow) are stored relative to it, so a copied or
  moved checkout reads its own ``resources/``; paths outside it (``source: local, path: /data/...``) stay as they
  are.
- ``raw_files`` lists every raw file the frame caches are built from. :func:`raw_signature` states them (size and
  modification time, no hashing: a dry run of a real dataset stays fast) and the ``frames`` rule takes it as a
  param, so truncating, replacing or touching a raw file makes exactly the caches built from it, and what follows,
  stale; an unchanged tree stays "Nothing to be done".
"""
from __future__ import annotations

import hashlib
import json
import os
from pathlib import Path
from typing import Any

from evsnn.util import write_json


def _inside(path: Path, base: Path) -> bool:
    try:
        path.relative_to(base)
        return True
    except ValueError:
        return False


def portable(obj: Any, base: str | os.PathLike | None = None) -> Any:
    """``obj`` with every absolute path string inside ``base`` (default: the working directory, the project)
    made relative to it; other values unchanged."""
    base = Path(base or os.getcwd()).resolve()
    if isinstance(obj, dict):
        return {k: portable(v, base) for k, v in obj.items()}
    if isinstance(obj, list):
        return [portable(v, base) for v in obj]
    if isinstance(obj, str) and os.path.isabs(obj) and _inside(Path(obj), base):
        return os.path.relpath(obj, base)
    return obj


def write_manifest(path: str | os.PathLike, manifest: dict, raw_files=()) -> dict:
    """Write a dataset manifest with portable paths and the list of raw files its caches are built from."""
    out = dict(manifest)
    out["raw_files"] = sorted({os.fspath(Path(f).resolve()) for f in raw_files})
    out = portable(out)
    write_json(path, out)
    return out


def raw_signature(manifest_path: str | os.PathLike) -> str:
    """A digest of the size and modification time of every raw file a manifest lists (a missing file counts
    too); ``"pending"`` while the manifest does not exist yet."""
    try:
        with open(manifest_path) as fh:
            manifest = json.load(fh)
    except FileNotFoundError:
        return "pending"
    except (OSError, ValueError):
        return "unreadable"
    h = hashlib.sha256()
    for f in manifest.get("raw_files", []):
        try:
            st = os.stat(f)
            h.update(f"{f}\0{st.st_size}\0{st.st_mtime_ns}\n".encode())
        except OSError:
            h.update(f"{f}\0missing\n".encode())
    return h.hexdigest()[:16]
