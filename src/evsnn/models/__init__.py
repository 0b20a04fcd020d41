"""Model registry: architectures are discovered from the task modules of this package.

Each task module (``evsnn.models.gesture``, later ``pose``, ``depth``) defines ``ARCHS = {name: builder}``
and ``TASK``. Nothing here needs editing when a model is added, so the workflow can fingerprint only the
module that defines an architecture: changing a pose model does not retrain the gesture model.
"""
from __future__ import annotations

import importlib
import inspect
import pkgutil
from pathlib import Path
from typing import Callable

import torch.nn as nn

from evsnn.errors import ConfigError

_PKG = Path(__file__).resolve().parent


def _task_modules():
    for info in pkgutil.iter_modules([str(_PKG)]):
        if info.name.startswith("_"):
            continue
        mod = importlib.import_module(f"evsnn.models.{info.name}")
        if hasattr(mod, "ARCHS") and hasattr(mod, "TASK"):
            yield mod


def registry() -> dict[str, tuple[str, Callable[..., nn.Module], str]]:
    """arch name -> (task, builder, source file)."""
    out = {}
    for mod in _task_modules():
        for name, builder in mod.ARCHS.items():
            out[name] = (mod.TASK, builder, mod.__file__)
    return out


def available_archs(task: str | None = None) -> list[str]:
    return sorted(n for n, (t, _, _) in registry().items() if task is None or t == task)


def arch_source(arch: str) -> str:
    """The source file that defines ``arch`` (fingerprinted by the workflow)."""
    return registry()[arch][2]


def check_net_kwargs(arch: str, kwargs: dict) -> str | None:
    """None when ``kwargs`` fit the builder's signature, else a sentence naming the bad key and the allowed ones."""
    builder = registry()[arch][1]
    params = inspect.signature(builder).parameters
    allowed = [p for p, par in params.items()
               if p not in ("in_shape", "n_classes", "self") and par.kind not in (par.VAR_KEYWORD, par.VAR_POSITIONAL)]
    for key in kwargs:
        if key not in allowed:
            return f"unknown argument '{key}' of architecture '{arch}'; allowed: {', '.join(allowed)}"
    return None


def build_model(arch: str, net: dict, **data_kwargs) -> nn.Module:
    """Build ``arch`` with config kwargs ``net`` and data-derived kwargs (input shape, number of classes)."""
    reg = registry()
    if arch not in reg:
        raise ConfigError(f"unknown architecture {arch!r}; available: {', '.join(sorted(reg))}")
    problem = check_net_kwargs(arch, net)
    if problem:
        raise ConfigError(problem)
    return reg[arch][1](**data_kwargs, **net)


def count_parameters(model: nn.Module, trainable_only: bool = True) -> int:
    return sum(p.numel() for p in model.parameters() if p.requires_grad or not trainable_only)
