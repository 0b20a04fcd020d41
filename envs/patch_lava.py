"""Source fixes that make lava-nc 0.10 / lava-dl 0.6 import on CPython 3.11 (idempotent).

1. lava/magma/compiler/var_model.py uses a mutable dataclass default (``ByteEncoder()``), which
   Python 3.11 rejects at import; it becomes ``field(default_factory=ByteEncoder)``.
2. lava/lib/dl/slayer/__init__.py imports ``object_detection`` (cv2 + torchvision) unconditionally;
   the import is made optional so that slayer and netx import without them.
3. Both wheels install a top-level ``tests`` package into site-packages, which shadows the project's
   own ``tests``; it is removed.
"""
import importlib.util
import pathlib
import re
import shutil
import sys


def site_dir() -> pathlib.Path:
    spec = importlib.util.find_spec("lava")
    if spec is None or not spec.submodule_search_locations:
        sys.exit("patch_lava: lava-nc is not installed in this environment")
    return pathlib.Path(list(spec.submodule_search_locations)[0]).parent


def patch_var_model(site: pathlib.Path) -> None:
    path = site / "lava/magma/compiler/var_model.py"
    src = path.read_text()
    new = re.sub(r"(\w+): ByteEncoder = ByteEncoder\(\)", r"\1: ByteEncoder = field(default_factory=ByteEncoder)", src)
    new = new.replace("from dataclasses import dataclass, InitVar\n", "from dataclasses import dataclass, InitVar, field\n")
    if new != src:
        path.write_text(new)
        print(f"patched {path}")


def patch_slayer_init(site: pathlib.Path) -> None:
    path = site / "lava/lib/dl/slayer/__init__.py"
    src = path.read_text()
    old = "\nfrom . import object_detection as obd\n"  # at the start of a line: not inside our try block
    if "patched by evsnn" not in src and old in src:
        src = src.replace(old, "\ntry:  # needs cv2 + torchvision (patched by evsnn)\n    from . import object_detection as obd\n"
                               "except Exception:  # noqa: BLE001\n    obd = None\n")
        path.write_text(src)
        print(f"patched {path}")


def remove_stray_tests(site: pathlib.Path) -> None:
    stray = site / "tests"
    if stray.is_dir():
        shutil.rmtree(stray)
        print(f"removed stray package {stray}")


if __name__ == "__main__":
    site = site_dir()
    patch_var_model(site)
    patch_slayer_init(site)
    remove_stray_tests(site)
