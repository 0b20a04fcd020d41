"""Task packages: one package per task, one small face per package.

Everything that belongs to one task (reading its dataset into frame caches, its models, loss and metrics, its
evaluation and figures, its table columns and the published numbers it is compared with) lives in one package,
``evsnn.tasks.<name>``. What tasks share stays outside: raw formats (``evsnn.io``), event-to-frame integration
(``evsnn.frames``), frame caches (``evsnn.data``), the training loop (``evsnn.train``), cost counting
(``evsnn.energy``), Lava (``evsnn.lava``), downloads, tables and the report.

A task package declares itself with a module-level ``TASK = Task(...)`` in its ``__init__.py``. The face holds
only names (``"module:function"`` strings) so that reading it imports nothing heavy: validating a config, which
every ``snakemake`` call does, stays free of torch. The workflow reaches a task only through this face:

========================  ======================================================================================
``prepare``               ``(name, dataset_cfg, data_root, manifest_out) -> manifest`` (rule ``dataset``)
``prepare_inputs``        optional ``(dataset_cfg) -> [paths]``: local files the manifest is made from (a labels
                          CSV and what it names), inputs of rule ``dataset`` so that editing them re-makes it
``build_frames``          ``(manifest, frames_cfg, out_train, out_test)`` (rule ``frames``)
``adapter``               ``(train_cfg, train_ds, test_ds) -> loss/metrics adapter`` (``evsnn.train``)
``evaluate``              ``(EvalJob) -> metrics dict`` writes ``metrics.json`` and the declared outputs
``table``                 ``(runs) -> TableSpec`` (rule ``table``)
``models``                the module whose top-level ``ARCHS = {name: builder}`` defines the architectures
``figures``               extra per-model figures made from ``metrics.json`` (``Figure``)
``lava``                  ``(lava_out, torch_out, ds, sel, labels, extra) -> metrics`` for lava-dl models
========================  ======================================================================================

Built-in tasks are found by scanning this folder; more come from importable packages named in the config
(``task_packages: [mypackage]``), so a new dataset needs no new rule.
"""
from __future__ import annotations

import functools
import importlib
import importlib.util
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable

from evsnn.errors import ConfigError

_HERE = Path(__file__).resolve().parent


@dataclass(frozen=True)
class Output:
    """A per-model file the task's ``evaluate`` writes into ``results/eval/<model>/``."""

    key: str                    #: name the evaluate function finds the path under (``job.outputs[key]``)
    filename: str               #: file name inside the model's eval folder
    caption: str | None = None  #: reST caption file (relative to the task package) for the Snakemake report


@dataclass(frozen=True)
class Figure:
    """An extra per-model figure drawn from the model's ``metrics.json`` (a rule of its own, ``<task>_<name>``),
    for the models whose architecture is in ``archs`` (all models when empty)."""

    name: str
    filename: str
    func: str                   #: ``"module:function"`` called as ``func(metrics, out_path, title=...)``
    caption: str | None = None
    archs: tuple[str, ...] = ()


@dataclass(frozen=True)
class Task:
    """The face of one task package (see the module docstring for the signature of each entry point)."""

    name: str
    title: str
    dataset_kinds: tuple[str, ...]
    losses: tuple[str, ...]                 #: the losses a model of this task may use; the first is the default
    prepare: str
    build_frames: str
    adapter: str
    models: str
    evaluate: str
    table: str
    outputs: tuple[Output, ...] = ()
    #: what evaluate reads besides the model and the test cache: "train" (the training cache), "manifest"
    evaluate_inputs: tuple[str, ...] = ()
    figures: tuple[Figure, ...] = ()
    lava: str | None = None
    #: ``"module:function"`` ``(dataset_cfg) -> [paths]``: the local files a dataset's manifest is made from
    #: (inputs of rule ``dataset``); None: the manifest depends on the config only
    prepare_inputs: str | None = None
    #: JSON-schema fragments merged into the config schema (file name inside the package, or None)
    schema: str | None = "schema.yaml"
    published: str | None = "published.yaml"
    package: str = ""                       #: filled in by the registry
    package_dir: str = ""

    def load(self, entry: str) -> Callable[..., Any]:
        """The callable behind one of the face's ``"module:function"`` entries (by field name)."""
        return load_entry(getattr(self, entry))

    def call(self, entry: str, *args, **kwargs):
        return self.load(entry)(*args, **kwargs)

    def path(self, name: str) -> Path:
        return Path(self.package_dir) / name

    def entry_modules(self, *entries: str) -> list[str]:
        """The modules behind the named entries (for the rules' code fingerprints)."""
        mods = []
        for e in entries:
            value = getattr(self, e)
            if isinstance(value, str) and value:
                mods.append(value.split(":", 1)[0])
        return mods


def load_entry(spec: str) -> Callable[..., Any]:
    module, _, attr = spec.partition(":")
    obj = importlib.import_module(module)
    return getattr(obj, attr) if attr else obj


BUILTIN_PACKAGES = tuple(f"evsnn.tasks.{p.name}" for p in sorted(_HERE.iterdir())
                         if p.is_dir() and (p / "__init__.py").is_file() and not p.name.startswith("_"))

_EXTRA: list[str] = []


def register_packages(packages) -> None:
    """Make the task packages ``packages`` (importable module names, the config's ``task_packages``) known to
    this process."""
    changed = False
    for p in packages or ():
        if p not in _EXTRA and p not in BUILTIN_PACKAGES:
            _face(p)  # refuses a package that cannot be imported or has no face, before it is registered
            _EXTRA.append(p)
            changed = True
    if changed:
        _registry.cache_clear()


def _face(package: str) -> Task:
    try:
        mod = importlib.import_module(package)
    except ImportError as exc:
        raise ConfigError(f"task package {package!r} cannot be imported ({exc}); put it on PYTHONPATH or remove it "
                          f"from task_packages") from None
    task = getattr(mod, "TASK", None)
    if not isinstance(task, Task):
        raise ConfigError(f"task package {package!r} defines no TASK = evsnn.tasks.Task(...) in its __init__.py")
    pkg_dir = str(Path(mod.__file__).resolve().parent)
    object.__setattr__(task, "package", package)
    object.__setattr__(task, "package_dir", pkg_dir)
    return task


@functools.lru_cache(maxsize=None)
def _registry(extra: tuple[str, ...]) -> dict[str, Task]:
    out: dict[str, Task] = {}
    for package in BUILTIN_PACKAGES + extra:
        task = _face(package)
        if task.name in out:
            raise ConfigError(f"task {task.name!r} is defined twice: by {out[task.name].package} and {package}")
        out[task.name] = task
    return out


def registry() -> dict[str, Task]:
    """Task name -> face, for the built-in packages and the registered ones."""
    return _registry(tuple(_EXTRA))


def available_tasks() -> list[str]:
    return sorted(registry())


def get_task(name: str) -> Task:
    reg = registry()
    if name not in reg:
        raise ConfigError(f"no task package provides task {name!r}; tasks that exist: {', '.join(sorted(reg))} "
                          f"(a task of your own: a package with TASK = evsnn.tasks.Task(...), named in the config's "
                          f"task_packages)")
    return reg[name]


def task_of_kind(kind: str) -> Task:
    """The task whose package reads datasets of ``kind``."""
    for task in registry().values():
        if kind in task.dataset_kinds:
            return task
    kinds = sorted(k for t in registry().values() for k in t.dataset_kinds)
    raise ConfigError(f"no task package reads datasets of kind {kind!r}; kinds that exist: {', '.join(kinds)}")


def module_file(module: str) -> Path:
    """The source file of ``module`` without importing it (its parent packages are imported by find_spec)."""
    spec = importlib.util.find_spec(module)
    if spec is None or not spec.origin:
        raise ConfigError(f"module {module!r} cannot be found")
    return Path(spec.origin)


def make_task(task: str, train_cfg: dict, train_ds, test_ds):
    """The loss / metric adapter of ``task`` for the shared training loop."""
    return get_task(task).call("adapter", train_cfg, train_ds, test_ds)


@dataclass
class EvalJob:
    """What a task's ``evaluate`` gets: the trained model, its caches, the output paths by key and a title."""

    model: str
    test: str
    metrics_csv: str
    summary: str
    out_metrics: str
    outputs: dict[str, str]
    title: str
    model_cfg: dict = field(default_factory=dict)
    train: str | None = None
    manifest: dict | None = None
    threads: int = 1


@dataclass
class TableSpec:
    """A task's results table: the rows, the title and notes, and the metric-against-energy figure's columns."""

    df: Any
    title: str
    notes: list[str]
    energy_col: str
    metric_col: str
    ylabel: str
    lower_is_better: bool = False
    group_col: str | None = None
    energy_title: str = ""
    #: the metric columns that get a standard deviation and a 95 % interval over seeds (default: metric_col)
    stat_cols: tuple[str, ...] = ()
    #: the report's results summary: (column, label) of the headline metrics (default: metric_col and ylabel)
    headline: tuple[tuple[str, str], ...] = ()
    #: the columns of the compact table view (default: model, seeds, headline metrics and their spread, energy,
    #: parameters, Lava, published); the full table stays one click away
    compact: tuple[str, ...] = ()
    #: the energy model behind energy_col (evsnn.energy.ENERGY_MODELS; default: from evsnn.tables.TABLE_ENERGY)
    energy_model: str = ""
    #: show the task's published numbers (published.yaml) as reference rows; False for a table of runs on data the
    #: published numbers are not about (the gesture task on a lab's own recordings)
    published: bool = True
