"""Optional numba acceleration, shared by the modules that ship compiled kernels (frames, io.aedat2/3).

numba is optional: every module with kernels keeps a pure-numpy path that gives identical results. The pattern,
used by :mod:`evsnn.frames`, :mod:`evsnn.io.aedat3` and :mod:`evsnn.io.aedat2`:

- the kernels are defined inside a function decorated with ``functools.lru_cache(maxsize=1)`` that calls
  :func:`import_numba` and returns ``None`` when it gets ``None``; so numba is imported (and the kernels compiled,
  or loaded from numba's on-disk cache thanks to ``cache=True``) lazily, on the first use, once per process;
- ``numba_available()`` of the module is ``kernels() is not None``;
- ``backend="auto"`` picks numba when available, ``"numpy"`` forces the fallback (:func:`resolve_backend`).

Setting the environment variable ``EVSNN_DISABLE_NUMBA`` to anything but ``""``/``"0"`` makes :func:`import_numba`
return ``None``, i.e. forces every ``"auto"`` backend onto numpy. It is read when a module first builds its
kernels (the result is cached for the rest of the process).
"""
from __future__ import annotations

import os
from collections.abc import Callable
from types import ModuleType

__all__ = ["DISABLE_ENV", "BACKENDS", "numba_disabled", "import_numba", "resolve_backend"]

DISABLE_ENV = "EVSNN_DISABLE_NUMBA"
BACKENDS = ("auto", "numba", "numpy")


def numba_disabled() -> bool:
    """True when ``EVSNN_DISABLE_NUMBA`` is set to something other than ``""`` or ``"0"``."""
    return os.environ.get(DISABLE_ENV, "").strip() not in ("", "0")


def import_numba() -> ModuleType | None:
    """The ``numba`` module, or ``None`` when it is not importable or disabled by ``EVSNN_DISABLE_NUMBA``."""
    if numba_disabled():
        return None
    try:
        import numba
    except ImportError:
        return None
    return numba


def resolve_backend(backend: str, available: Callable[[], bool]) -> str:
    """``"numba"`` or ``"numpy"`` for a ``backend`` argument; ``available()`` says whether the caller's kernels load
    (only called for ``"auto"`` and ``"numba"``, so ``"numpy"`` never imports numba)."""
    if backend not in BACKENDS:
        raise ValueError(f"backend must be one of {BACKENDS}, got {backend!r}")
    if backend == "auto":
        return "numba" if available() else "numpy"
    if backend == "numba" and not available():
        raise ValueError(
            "backend='numba' was requested but numba is not importable (or EVSNN_DISABLE_NUMBA is set); "
            "install numba or use backend='numpy'"
        )
    return backend
