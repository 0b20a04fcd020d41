"""Small shared helpers: atomic outputs, seeding, logging to a rule's log file, fingerprints."""
from __future__ import annotations

import contextlib
import hashlib
import json
import logging
import os
import random
import sys
import tempfile
from pathlib import Path
from typing import Iterator

import numpy as np


def current_umask() -> int:
    """The process umask (read without changing it where /proc tells it, else set and restored at once)."""
    try:
        with open("/proc/self/status") as fh:
            for line in fh:
                if line.startswith("Umask:"):
                    return int(line.split()[1], 8)
    except (OSError, ValueError):
        pass
    mask = os.umask(0o022)
    os.umask(mask)
    return mask


def honour_umask(path: str | os.PathLike, directory: bool = False) -> None:
    """Give ``path`` the mode a normally created file (0666) or directory (0777) gets under the umask.

    ``tempfile.mkstemp`` / ``mkdtemp`` create 0600 / 0700 entries; renamed into place they would leave results that
    the group cannot read.
    """
    os.chmod(path, (0o777 if directory else 0o666) & ~current_umask())


@contextlib.contextmanager
def atomic_path(path: str | os.PathLike, suffix: str | None = None) -> Iterator[Path]:
    """Yield a temporary path next to ``path``; rename it onto ``path`` only if the block succeeds.

    A killed or failing job therefore never leaves a file that looks complete. The file gets the mode of a normally
    written one (0666 less the umask), not mkstemp's 0600.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=suffix or ".tmp", dir=path.parent)
    os.close(fd)
    honour_umask(tmp)
    tmp = Path(tmp)
    try:
        yield tmp
        os.replace(tmp, path)
    finally:
        if tmp.exists():
            tmp.unlink()


def fresh_dir(path: str | os.PathLike) -> Path:
    """Remove ``path`` if it exists (a generated tree is rewritten from scratch: no stale files of other
    settings survive) and return it as a Path."""
    import shutil

    path = Path(path)
    if path.exists():
        shutil.rmtree(path)
    return path


def write_json(path: str | os.PathLike, obj) -> None:
    with atomic_path(path) as tmp:
        tmp.write_text(json.dumps(obj, indent=2, sort_keys=True, default=_json_default) + "\n")


def _json_default(o):
    if isinstance(o, (np.integer,)):
        return int(o)
    if isinstance(o, (np.floating,)):
        return float(o)
    if isinstance(o, np.ndarray):
        return o.tolist()
    if isinstance(o, Path):
        return str(o)
    raise TypeError(f"not JSON serialisable: {type(o)}")


def seed_everything(seed: int) -> None:
    import torch

    random.seed(seed)
    np.random.seed(seed % 2**32)
    torch.manual_seed(seed)


def file_digest(paths, algo: str = "sha256") -> str:
    """Digest over the contents of ``paths`` (sorted), for fingerprinting source modules."""
    h = hashlib.new(algo)
    for p in sorted(map(str, paths)):
        h.update(Path(p).name.encode())
        h.update(Path(p).read_bytes())
    return h.hexdigest()[:16]


def params_digest(obj) -> str:
    return hashlib.sha256(json.dumps(obj, sort_keys=True, default=str).encode()).hexdigest()[:16]


def setup_logging(log_file: str | os.PathLike | None, redirect_std: bool = True) -> logging.Logger:
    """Log to ``log_file`` (a rule's ``log:``); optionally send stdout/stderr (tqdm) there too."""
    logger = logging.getLogger("evsnn")
    logger.setLevel(logging.INFO)
    for h in list(logger.handlers):
        logger.removeHandler(h)
    fmt = logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s")
    if log_file:
        Path(log_file).parent.mkdir(parents=True, exist_ok=True)
        fh = open(log_file, "a", buffering=1)
        handler = logging.StreamHandler(fh)
        if redirect_std:
            sys.stdout = fh
            sys.stderr = fh
    else:
        handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(fmt)
    logger.addHandler(handler)
    _install_excepthook(logger)
    return logger


def _install_excepthook(logger: logging.Logger) -> None:
    """evsnn's own errors (bad data, missing files, NaN loss) end a rule script with one sentence on the
    console and in the log, not a traceback; anything else keeps its traceback (in the log)."""
    from evsnn.errors import EvsnnError

    console = sys.__stderr__
    previous = sys.excepthook

    def hook(exc_type, exc, tb):
        if issubclass(exc_type, EvsnnError):
            logger.error("%s", exc)
            print(f"evsnn error: {exc}", file=console, flush=True)
            sys.exit(1)
        logger.error("unexpected error", exc_info=(exc_type, exc, tb))
        previous(exc_type, exc, tb)

    sys.excepthook = hook
