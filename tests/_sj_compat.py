"""Load spikingjelly's frame-integration reference without torchvision (TEST / BENCHMARK USE ONLY).

``spikingjelly.datasets`` imports torchvision (its dataset base classes), which is not part of this
project's environment. The functions we compare against (``integrate_events_by_fixed_frames_number``,
``cal_fixed_frames_number_segment_index``, ...) live in ``spikingjelly/datasets/utils.py`` and only use
``torchvision.transforms`` as an unused import, so this helper executes that one file with stub
``torchvision`` / ``torchvision.transforms`` modules put into ``sys.modules`` for the duration of the
import (and removed again), without running ``spikingjelly/datasets/__init__.py``.

Production code must never import this: it exists so that tests and benchmarks can check evsnn.frames
against the exact code the published spikingjelly numbers were obtained with.
"""
from __future__ import annotations

import functools
import importlib.util
import sys
import types
from pathlib import Path


@functools.lru_cache(maxsize=1)
def load_sj_dataset_utils() -> types.ModuleType:
    """Return spikingjelly's ``datasets/utils.py`` as a module (imported once, with a torchvision stub).

    Raises ImportError when spikingjelly itself is not installed.
    """
    import spikingjelly  # noqa: F401  (ImportError here means spikingjelly is missing)

    path = Path(spikingjelly.__file__).parent / "datasets" / "utils.py"
    stubs = {}
    try:
        import torchvision.transforms  # noqa: F401
    except ImportError:
        tv = types.ModuleType("torchvision")
        tv.__path__ = []  # a package, so that "from torchvision import transforms" resolves
        tvt = types.ModuleType("torchvision.transforms")
        tv.transforms = tvt
        stubs = {"torchvision": tv, "torchvision.transforms": tvt}
    saved = {name: sys.modules.get(name) for name in stubs}
    sys.modules.update(stubs)
    try:
        # The module name gives it the package "spikingjelly.datasets", so its relative import
        # "from .. import configure" resolves to spikingjelly.configure without importing the
        # datasets package (whose __init__ needs the real torchvision).
        spec = importlib.util.spec_from_file_location("spikingjelly.datasets.utils", path)
        module = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(module)
    finally:
        for name, old in saved.items():
            if old is None:
                sys.modules.pop(name, None)
            else:
                sys.modules[name] = old
    return module


def sj_events(events) -> dict:
    """spikingjelly's event dict (keys t, x, y, p; contiguous arrays) from a structured event array."""
    import numpy as np

    return {k: np.ascontiguousarray(events[k]) for k in ("t", "x", "y", "p")}


@functools.lru_cache(maxsize=1)
def load_sj_gesture_split():
    """spikingjelly's own ``_split_aedat_files_to_np`` (datasets/dvs128_gesture.py): reads one recording with its
    ``load_aedat_v3``, its label CSV with ``np.loadtxt(..., skiprows=1)``, and writes one ``.npz`` of the events
    ``t_start <= t < t_end`` per CSV row to ``output_dir/<label - 1>/<fname>_<n>.npz``.

    The function's source is compiled from the installed file as it is (``ast``), with the module's globals
    (``utils``: :func:`load_sj_dataset_utils`, ``np``, ``logger``), because importing
    ``spikingjelly.datasets.dvs128_gesture`` needs torchvision.
    """
    import ast

    import numpy as np
    import spikingjelly
    from spikingjelly.logger import logger

    path = Path(spikingjelly.__file__).parent / "datasets" / "dvs128_gesture.py"
    tree = ast.parse(path.read_text())
    node = next(n for n in tree.body if isinstance(n, ast.FunctionDef) and n.name == "_split_aedat_files_to_np")
    namespace = {"np": np, "utils": load_sj_dataset_utils(), "logger": logger, "Path": Path, "os": __import__("os")}
    exec(compile(ast.Module(body=[node], type_ignores=[]), str(path), "exec"), namespace)
    return namespace["_split_aedat_files_to_np"]
