"""Model registry: architectures are discovered from the task packages' model modules.

Each task package names its model module in its face (``evsnn.tasks.gesture.models`` ...); that module defines
``ARCHS = {name: builder}`` at top level. Nothing here needs editing when a model is added. The registry is read
from the sources (``ast``) so that validating a config does not import torch. This package also holds the
building blocks the task models share (``_neurons``, ``_slayer``, ``_layout``).
"""
from __future__ import annotations

import ast
import functools
import importlib
from pathlib import Path
from typing import TYPE_CHECKING, Callable

if TYPE_CHECKING:  # torch is imported only when a model is built
    import torch.nn as nn

from evsnn.errors import ConfigError



def _literal_assign(tree: ast.Module, name: str):
    for node in tree.body:
        if isinstance(node, ast.Assign) and any(isinstance(t, ast.Name) and t.id == name for t in node.targets):
            return node.value
    return None


def _module_source(module: str) -> Path | None:
    """The source file of an ``evsnn``-style absolute module name, found without importing it."""
    import importlib.util

    try:
        spec = importlib.util.find_spec(module)
    except (ImportError, ValueError):
        return None
    return Path(spec.origin) if spec is not None and spec.origin and spec.origin.endswith(".py") else None


def _definition(tree: ast.Module, name: str, depth: int = 0):
    """The top-level class or function ``name`` of ``tree``, following ``from module import name`` (a model module
    may list builders it imports from a sibling module); None when not found."""
    for node in tree.body:
        if isinstance(node, (ast.ClassDef, ast.FunctionDef)) and node.name == name:
            return node
    if depth > 4:
        return None
    for node in tree.body:
        if isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            for alias in node.names:
                if (alias.asname or alias.name) == name:
                    source = _module_source(node.module)
                    if source is not None:
                        sub = ast.parse(source.read_text(), filename=str(source))
                        return _definition(sub, alias.name, depth + 1)
    return None


def _keyword_args(tree: ast.Module, builder: str) -> list[str]:
    """Names of the config arguments of ``builder`` (a class's __init__ or a function), minus the data ones."""
    node = _definition(tree, builder)
    fn = None
    if isinstance(node, ast.ClassDef):
        fn = next((b for b in node.body if isinstance(b, ast.FunctionDef) and b.name == "__init__"), None)
    elif isinstance(node, ast.FunctionDef):
        fn = node
    if fn is not None:
        args = [a.arg for a in fn.args.args + fn.args.kwonlyargs]
        return [a for a in args if a not in ("self", "in_shape", "n_classes")]
    raise ValueError(f"architecture builder {builder!r} is not defined at the top level of its module "
                     "(or imported there by name from another module)")


def static_registry() -> dict[str, tuple[str, str, tuple[str, ...], str]]:
    """arch name -> (task, source file, config argument names, module), read from the sources of every registered
    task package's model module without importing them.

    Config validation uses this, so checking a config (every ``snakemake`` call, dry runs included) does not
    pay for importing torch and spikingjelly.
    """
    from evsnn.tasks import module_file, registry

    return _static_registry(tuple((t.name, t.models, str(module_file(t.models))) for t in registry().values()))


@functools.lru_cache(maxsize=None)
def _static_registry(models: tuple[tuple[str, str, str], ...]) -> dict[str, tuple[str, str, tuple[str, ...], str]]:
    out = {}
    for task, module, source in models:
        path = Path(source)
        tree = ast.parse(path.read_text(), filename=str(path))
        archs = _literal_assign(tree, "ARCHS")
        if not isinstance(archs, ast.Dict):
            raise ValueError(f"{path}: the model module of task {task!r} defines no ARCHS = {{name: builder}}")
        for key, value in zip(archs.keys, archs.values):
            if not (isinstance(key, ast.Constant) and isinstance(value, ast.Name)):
                raise ValueError(f"{path}: ARCHS must map string names to top-level classes or functions")
            if key.value in out:
                raise ValueError(f"{path}: architecture {key.value!r} is also defined in {out[key.value][1]}")
            out[key.value] = (task, str(path), tuple(_keyword_args(tree, value.id)), module)
    return out


@functools.lru_cache(maxsize=None)
def _class_literals(items) -> dict[str, dict[str, object]]:
    """arch -> {attribute: literal value} of the class-level literal assignments of its builder class, read from
    the sources with ``ast`` (each source parsed once); the flags below (LAVA_DL, NIR_WHEN, is_spiking) read it."""
    trees: dict[str, ast.Module] = {}
    out: dict[str, dict[str, object]] = {}
    for arch, (_, source, _, _) in items:
        tree = trees.get(source) or trees.setdefault(source, ast.parse(Path(source).read_text(), filename=source))
        builder = _literal_assign(tree, "ARCHS")
        name = next(v.id for k, v in zip(builder.keys, builder.values) if k.value == arch)
        node = _definition(tree, name)
        values = {}
        if isinstance(node, ast.ClassDef):
            for stmt in node.body:
                if isinstance(stmt, ast.Assign) and len(stmt.targets) == 1 and isinstance(stmt.targets[0], ast.Name):
                    try:
                        values[stmt.targets[0].id] = ast.literal_eval(stmt.value)
                    except ValueError:
                        pass
        out[arch] = values
    return out


def class_literal(name: str) -> dict[str, object]:
    """arch -> the literal class-level value ``name`` of its builder class, for the archs that set it."""
    lits = _class_literals(tuple(sorted(static_registry().items())))
    return {arch: v[name] for arch, v in lits.items() if name in v}


def lava_dl_archs() -> frozenset[str]:
    """Architectures built from lava-dl slayer blocks (exported to netx and run in Lava by the workflow): those
    whose builder class sets ``LAVA_DL = True`` at class level (read with ``ast``, no import)."""
    return frozenset(a for a, v in class_literal("LAVA_DL").items() if v is True)


def nir_conditions() -> dict[str, dict]:
    """Architectures the workflow exports to NIR: arch -> the net config values that make it expressible, from the
    builder class's ``NIR_WHEN`` literal (``{}``: always; read with ``ast``, no import). Architectures without one
    are not exported (the workflow's ``nir_check`` names the layer that NIR cannot express)."""
    return class_literal("NIR_WHEN")


def spiking_archs() -> frozenset[str]:
    """Architectures whose builder class sets ``is_spiking = True`` at class level (read with ``ast``)."""
    return frozenset(a for a, v in class_literal("is_spiking").items() if v is True)


def nir_exportable(arch: str, net: dict) -> bool:
    """Whether the workflow exports a model of ``arch`` with net config ``net`` to NIR (see :func:`nir_conditions`)."""
    cond = nir_conditions().get(arch)
    return cond is not None and all(net.get(k) == v for k, v in cond.items())


def init_stages(arch: str) -> tuple[dict[str, str], tuple[str, ...]]:
    """The trained stages an architecture starts from (``train.init_from``): (role -> the architecture that role
    must name, the roles it cannot do without), read with ``ast`` from the builder class's ``INIT_FROM`` and
    ``INIT_REQUIRED`` literals; ({}, ()) for an architecture trained from scratch."""
    return _init_stages(arch, static_registry()[arch][1])


@functools.lru_cache(maxsize=None)
def _init_stages(arch: str, source: str):
    tree = ast.parse(Path(source).read_text(), filename=source)
    archs = _literal_assign(tree, "ARCHS")
    name = next(v.id for k, v in zip(archs.keys, archs.values) if k.value == arch)
    node = _definition(tree, name)
    roles, required = {}, ()
    if isinstance(node, ast.ClassDef):
        value = _literal_assign(node, "INIT_FROM")
        if value is not None:
            roles = ast.literal_eval(value)
        value = _literal_assign(node, "INIT_REQUIRED")
        if value is not None:
            required = tuple(ast.literal_eval(value))
    return roles, required


def _builder(arch: str) -> Callable[..., "nn.Module"]:
    mod = importlib.import_module(static_registry()[arch][3])
    return mod.ARCHS[arch]


def available_archs(task: str | None = None) -> list[str]:
    return sorted(n for n, (t, *_) in static_registry().items() if task is None or t == task)


def arch_source(arch: str) -> str:
    """The source file that defines ``arch`` (fingerprinted by the workflow)."""
    return static_registry()[arch][1]


def check_net_kwargs(arch: str, kwargs: dict) -> str | None:
    """None when ``kwargs`` fit the builder's signature, else a sentence naming the bad key and the allowed ones."""
    allowed = static_registry()[arch][2]
    for key in kwargs:
        if key not in allowed:
            return f"unknown argument '{key}' of architecture '{arch}'; allowed: {', '.join(allowed)}"
    return None


def build_model(arch: str, net: dict, **data_kwargs) -> "nn.Module":
    """Build ``arch`` with config kwargs ``net`` and data-derived kwargs (input shape, number of classes)."""
    if arch not in static_registry():
        raise ConfigError(f"unknown architecture {arch!r}; available: {', '.join(available_archs())}")
    problem = check_net_kwargs(arch, net)
    if problem:
        raise ConfigError(problem)
    return _builder(arch)(**data_kwargs, **net)


def count_parameters(model: "nn.Module", trainable_only: bool = True) -> int:
    return sum(p.numel() for p in model.parameters() if p.requires_grad or not trainable_only)
