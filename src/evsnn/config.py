"""Configuration loading and validation.

The schema (workflow/schemas/config.schema.yaml) defines keys, types, allowed values and defaults;
``validate_config`` fills the defaults and turns the first problem into one sentence that names the key
and what is allowed. Cross references (a model's frames, a frame cache's dataset, a model's architecture)
are checked here too, so a bad config stops before any job runs.
"""
from __future__ import annotations

import copy
import os
import difflib
import re
from pathlib import Path
from typing import Any

import jsonschema
import yaml

from evsnn.errors import ConfigError

SCHEMA_PATH = Path(__file__).resolve().parents[2] / "workflow" / "schemas" / "config.schema.yaml"


def _extend_with_defaults(validator_class):
    validate_properties = validator_class.VALIDATORS["properties"]

    def set_defaults(validator, properties, instance, schema):
        if isinstance(instance, dict):
            for name, sub in properties.items():
                if "default" in sub and name not in instance:
                    instance[name] = copy.deepcopy(sub["default"])
        yield from validate_properties(validator, properties, instance, schema)

    return jsonschema.validators.extend(validator_class, {"properties": set_defaults})


_DefaultFilling = _extend_with_defaults(jsonschema.Draft7Validator)


def task_schema_fragments(tasks) -> list[tuple[object, dict]]:
    """(task, fragment) for every task package that ships a ``schema.yaml`` (its config keys)."""
    out = []
    for task in tasks:
        if not task.schema:
            continue
        path = task.path(task.schema)
        if path.is_file():
            with open(path) as fh:
                out.append((task, yaml.safe_load(fh) or {}))
    return out


def _merge_fragments(schema: dict, fragments) -> None:
    """Add the task packages' keys to the schema: dataset keys, per-kind dataset rules, frames blocks, train keys."""
    defs = schema.setdefault("definitions", {})
    for _task, frag in fragments:
        defs["dataset"]["properties"].update(frag.get("dataset_properties", {}))
        for kind, then in frag.get("dataset_kinds", {}).items():
            defs["dataset"].setdefault("allOf", []).append({"if": {"properties": {"kind": {"const": kind}}},
                                                            "then": then})
        defs["frames"]["properties"].update(frag.get("frames_properties", {}))
        defs["train"]["properties"].update(frag.get("train_properties", {}))


def load_schema(path: str | Path | None = None, tasks=None) -> dict:
    """The schema with the task packages' keys merged in (``tasks``: the task faces, default every registered
    one) and its local ``#/definitions/...`` references inlined (so defaults fill everywhere)."""
    from evsnn.tasks import registry

    with open(path or SCHEMA_PATH) as fh:
        schema = yaml.safe_load(fh)
    _merge_fragments(schema, task_schema_fragments(registry().values() if tasks is None else tasks))
    defs = schema.get("definitions", {})

    def inline(node):
        if isinstance(node, dict):
            ref = node.get("$ref", "")
            if ref.startswith("#/definitions/"):
                merged = {**inline(defs[ref.rsplit("/", 1)[1]]), **{k: v for k, v in node.items() if k != "$ref"}}
                return merged
            return {k: inline(v) for k, v in node.items()}
        if isinstance(node, list):
            return [inline(v) for v in node]
        return node

    out = inline({k: v for k, v in schema.items() if k != "definitions"})
    return out


def _key(path) -> str:
    return ".".join(str(p) for p in path) or "<top level>"


def _allowed_keys(schema: dict, error: jsonschema.ValidationError) -> list[str]:
    sub = error.schema
    return sorted(sub.get("properties", {}))


def _message(error: jsonschema.ValidationError) -> str:
    key = _key(error.absolute_path)
    v = error.validator
    if v == "additionalProperties" and error.validator_value is False:
        allowed = sorted(error.schema.get("properties", {}))
        extra = sorted(set(error.instance) - set(allowed))
        bad = extra[0] if extra else "?"
        full = f"{key}.{bad}" if error.absolute_path else bad
        hint = difflib.get_close_matches(bad, allowed, n=1)
        did = f" (did you mean '{hint[0]}'?)" if hint else ""
        return f"unknown config key '{full}'{did}; allowed keys here: {', '.join(allowed)}"
    if v == "enum":
        return f"config key '{key}' is {error.instance!r}; allowed values: {', '.join(map(repr, error.validator_value))}"
    if v == "required":
        return f"config key '{key}' is missing a required entry: {error.message.split(' ')[0]}"
    if v == "type":
        want = error.validator_value
        want = " or ".join(want) if isinstance(want, list) else want
        return f"config key '{key}' is {error.instance!r}; it must be of type {want}"
    if v in ("minimum", "maximum", "exclusiveMinimum", "exclusiveMaximum"):
        return f"config key '{key}' is {error.instance!r}; {error.message.split(' is ', 1)[-1]}"
    if v == "pattern" or v == "propertyNames":
        return f"config key '{key}': name {error.instance!r} may use only letters, digits and '_'"
    return f"config key '{key}': {error.message}"


_INT = re.compile(r"[+-]?\d+")
_FLOAT = re.compile(r"[+-]?(\d+\.?\d*|\.\d+)([eE][+-]?\d+)?")  # finite decimals only (no nan / inf)
_BOOL = {"true": True, "false": False, "yes": True, "no": False, "on": True, "off": False}
_NULL = ("null", "~", "none", "")


def _schema_types(schema: dict) -> set[str]:
    """The JSON types a (sub)schema allows, its anyOf / oneOf branches included."""
    t = schema.get("type")
    types = set([t] if isinstance(t, str) else t or [])
    for key in ("anyOf", "oneOf"):
        for branch in schema.get(key, []):
            types |= _schema_types(branch)
    return types


def _coerce_scalar(value: str, types: set[str]):
    """``value`` as the number / boolean / null the schema asks for, or unchanged when it is no such thing."""
    if "string" in types or not types:
        return value
    text = value.strip()
    if types & {"integer", "number"} and _INT.fullmatch(text):
        return int(text)
    if "number" in types and _FLOAT.fullmatch(text):
        return float(text)
    if "integer" in types and _FLOAT.fullmatch(text):
        f = float(text)
        if f.is_integer():
            return int(f)
    if "boolean" in types and text.lower() in _BOOL:
        return _BOOL[text.lower()]
    if "null" in types and text.lower() in _NULL:
        return None
    return value


def coerce_config(schema: dict, instance):
    """Numbers, booleans and nulls written as strings, where the schema asks for one, become that value.

    PyYAML reads ``lr: 1e-3`` as the string '1e-3' (YAML 1.1 floats need a dot), and Snakemake's
    ``--config 'lava={samples: 4}'`` passes every nested scalar as a string; both mean what they say. The walk
    follows ``properties``, ``additionalProperties``, ``items``, ``allOf`` and ``if``/``then``/``else`` of the
    schema; strings stay strings wherever the schema allows a string.
    """
    if not isinstance(schema, dict):
        return instance
    if isinstance(instance, str):
        return _coerce_scalar(instance, _schema_types(schema))
    if isinstance(instance, dict):
        out = dict(instance)
        props = schema.get("properties", {})
        extra = schema.get("additionalProperties")
        for key, value in out.items():
            if key in props:
                out[key] = coerce_config(props[key], value)
            elif isinstance(extra, dict):
                out[key] = coerce_config(extra, value)
    elif isinstance(instance, list):
        items = schema.get("items")
        out = [coerce_config(items, v) for v in instance] if isinstance(items, dict) else list(instance)
    else:
        return instance
    for branch in schema.get("allOf", []):
        out = coerce_config(branch, out)
    if "if" in schema:
        cond = jsonschema.Draft7Validator(schema["if"]).is_valid(out)
        out = coerce_config(schema.get("then" if cond else "else", {}), out)
    return out


def validate_config(config: dict, schema_path: str | Path | None = None) -> dict:
    """Validate ``config`` against the schema, fill defaults, check cross references; returns a new dict.

    Values written as strings where the schema asks for a number, boolean or null are read first
    (:func:`coerce_config`).
    """
    from evsnn.tasks import register_packages

    packages = config.get("task_packages") or []
    if not isinstance(packages, list) or not all(isinstance(p, str) for p in packages):
        raise ConfigError(f"config key 'task_packages' is {packages!r}; it must be a list of importable package names")
    register_packages(packages)
    schema = load_schema(schema_path)
    cfg = coerce_config(schema, copy.deepcopy(dict(config)))
    validator = _DefaultFilling(schema)
    errors = sorted(validator.iter_errors(cfg), key=lambda e: (len(e.absolute_path), list(map(str, e.absolute_path))))
    if errors:
        # the deepest error under the first offending key is the most specific one
        raise ConfigError(_message(_most_specific(errors)))
    if any("seeds" in m or "sweep" in m or "run" not in m for m in cfg["models"].values()):
        cfg["models"] = expand_runs(cfg["models"], schema)
        errors = sorted(validator.iter_errors(cfg), key=lambda e: (len(e.absolute_path), list(map(str, e.absolute_path))))
        if errors:  # a swept value the schema refuses
            raise ConfigError(_message(_most_specific(errors)))
    _check_references(cfg)
    return cfg


def _most_specific(errors: list[jsonschema.ValidationError]) -> jsonschema.ValidationError:
    best = errors[0]
    for e in errors:
        if list(e.absolute_path)[: len(best.absolute_path)] == list(best.absolute_path) and len(e.absolute_path) > len(best.absolute_path):
            best = e
    # an error inside a oneOf/anyOf has context; prefer its deepest child
    while best.context:
        best = max(best.context, key=lambda e: len(e.absolute_path))
    return best


def _check_references(cfg: dict) -> None:
    from evsnn.models import available_archs, check_net_kwargs
    from evsnn.tasks import get_task, registry, task_of_kind

    datasets, frames, models = cfg["datasets"], cfg["frames"], cfg["models"]
    for name, ds in datasets.items():
        try:
            task_of_kind(ds["kind"])
        except ConfigError as exc:
            raise ConfigError(f"config key 'datasets.{name}.kind': {exc}") from None
        if ds["source"] == "local" and not ds.get("path"):
            raise ConfigError(f"config key 'datasets.{name}.path' is required when source is 'local' (the folder holding the extracted data)")
        if ds.get("md5") and not ds.get("urls"):
            raise ConfigError(f"config key 'datasets.{name}.md5' overrides the published checksum and is allowed only together with 'urls'")
    for name, fr in frames.items():
        if fr["dataset"] not in datasets:
            raise ConfigError(f"config key 'frames.{name}.dataset' names {fr['dataset']!r}, which is not a dataset of this config; defined datasets: {', '.join(sorted(datasets))}")
    # a frames block of a task package (dhp19, mvsec, ...) applies only to frames of that package's dataset kinds
    block_kinds = {block: task.dataset_kinds for task, frag in task_schema_fragments(registry().values())
                   for block in frag.get("frames_properties", {})}
    for name, fr in frames.items():
        kind = datasets[fr["dataset"]]["kind"]
        for block, kinds in block_kinds.items():
            if fr.get(block) is not None and kind not in kinds:
                raise ConfigError(f"config key 'frames.{name}.{block}' applies only to frames of a "
                                  f"{' or '.join(kinds)} dataset; {fr['dataset']!r} is a {kind} dataset")
    for run_name, m in models.items():
        name = (m.get("run") or {}).get("base", run_name)  # messages name the entry the user wrote
        try:
            task = get_task(m["task"])
        except ConfigError as exc:
            raise ConfigError(f"config key 'models.{name}.task': {exc}") from None
        if m["frames"] not in frames:
            raise ConfigError(f"config key 'models.{name}.frames' names {m['frames']!r}, which is not a frames entry of this config; defined frames: {', '.join(sorted(frames))}")
        kind = datasets[frames[m["frames"]]["dataset"]]["kind"]
        if kind not in task.dataset_kinds:
            raise ConfigError(f"config key 'models.{name}.task' is {m['task']!r}, which needs frames of a "
                              f"{' or '.join(task.dataset_kinds)} dataset; frames {m['frames']!r} come from a {kind} "
                              f"dataset")
        archs = available_archs(m["task"])
        if m["arch"] not in archs:
            raise ConfigError(f"config key 'models.{name}.arch' is {m['arch']!r}; architectures of task {m['task']!r}: {', '.join(sorted(archs))}")
        problem = check_net_kwargs(m["arch"], m.get("net", {}))
        if problem:
            raise ConfigError(f"config key 'models.{name}.net': {problem}")
        tr = m["train"]
        if tr["epochs"] == 0 and not tr.get("init"):
            raise ConfigError(f"config key 'models.{name}.train.epochs' is 0, which evaluates starting weights as "
                              f"they are; set 'models.{name}.train.init' to a model.pt or train for 1 epoch or more")
        if tr.get("val_split") == "per_class_tail" and tr["val_fraction"] <= 0:
            raise ConfigError(f"config key 'models.{name}.train.val_split' is 'per_class_tail' with val_fraction "
                              f"{tr['val_fraction']}, which leaves every class without a validation sample; set "
                              "val_fraction above 0 (the PLIF paper: 0.15)")
        if m.get("compare_with"):
            from evsnn.published import published_models

            names = published_models(task)
            if m["compare_with"] not in names:
                raise ConfigError(f"config key 'models.{name}.compare_with' is {m['compare_with']!r}, which is not a "
                                  f"published result of task {m['task']!r}; published: {', '.join(names) or 'none'}")
        _check_init_from(name, m, models)
        _check_init(run_name, name, m, models)
        allowed = task.losses
        if m["train"].get("loss") is None:
            m["train"]["loss"] = allowed[0]
        elif m["train"]["loss"] not in allowed:
            raise ConfigError(f"config key 'models.{name}.train.loss' is {m['train']['loss']!r}; losses of task "
                              f"{m['task']!r}: {', '.join(allowed)}")


def init_model(init: str | None, models) -> str | None:
    """The model of this config that ``train.init`` names (PATH_OR_MODEL), or None when it is a file path."""
    return init if init and init in models else None


def _check_init(run_name: str, name: str, m: dict, models: dict) -> None:
    """``train.init`` naming another model of the config: not the model itself, the same architecture, and no
    chain of inits that leads back to it (the train jobs would wait on each other)."""
    other = init_model(m["train"].get("init"), models)
    if other is None:
        return
    if other == run_name:
        raise ConfigError(f"config key 'models.{name}.train.init' names the model itself; name another model of this "
                          f"config or a model.pt file")
    if models[other]["arch"] != m["arch"]:
        raise ConfigError(f"config key 'models.{name}.train.init' names model {other!r}, a {models[other]['arch']} "
                          f"model; this model's arch is {m['arch']} (weights load only into the same architecture)")
    seen = [run_name, other]
    while (nxt := init_model(models[seen[-1]]["train"].get("init"), models)) is not None:
        if nxt in seen:
            raise ConfigError(f"config key 'models.{name}.train.init' makes a cycle of starting weights: "
                              f"{' -> '.join(seen + [nxt])}")
        seen.append(nxt)


def _check_init_from(name: str, m: dict, models: dict) -> None:
    """``train.init_from`` (staged training): every role one the architecture takes, naming another model of the
    config with the architecture that role needs; the roles the architecture cannot do without present."""
    from evsnn.models import init_stages

    roles, required = init_stages(m["arch"])
    init = m["train"].get("init_from") or {}
    for role, other in init.items():
        if role not in roles:
            takes = f"it takes {', '.join(sorted(roles))}" if roles else "it starts from no trained stage"
            raise ConfigError(f"config key 'models.{name}.train.init_from.{role}': architecture {m['arch']!r} has no "
                              f"'{role}' stage; {takes}")
        if other == name or other not in models:
            raise ConfigError(f"config key 'models.{name}.train.init_from.{role}' names {other!r}, which is not "
                              f"another model of this config; defined models: {', '.join(sorted(models))}")
        if models[other]["arch"] != roles[role]:
            raise ConfigError(f"config key 'models.{name}.train.init_from.{role}' names model {other!r}, a "
                              f"{models[other]['arch']} model; the {role} stage of {m['arch']} must be a "
                              f"{roles[role]} model")
    missing = [r for r in required if r not in init]
    if missing:
        raise ConfigError(f"config key 'models.{name}.train.init_from' has no '{missing[0]}' entry: {m['arch']} is "
                          f"trained from a trained {roles[missing[0]]} model (add init_from: {{{missing[0]}: <the name "
                          f"of a {roles[missing[0]]} model of this config>}})")


def load_config(path: str | Path, overrides: dict | None = None, schema_path: str | Path | None = None) -> dict:
    """Read a YAML config file (plus overrides) and validate it."""
    try:
        with open(path) as fh:
            cfg = yaml.safe_load(fh) or {}
    except FileNotFoundError:
        raise ConfigError(f"config file {path} does not exist") from None
    except yaml.YAMLError as exc:
        raise ConfigError(f"config file {path} is not valid YAML: {exc}") from None
    if overrides:
        cfg = deep_update(cfg, overrides)
    return validate_config(cfg, schema_path)


def deep_update(base: dict, other: dict) -> dict:
    out = copy.deepcopy(base)
    for k, v in other.items():
        if isinstance(v, dict) and isinstance(out.get(k), dict):
            out[k] = deep_update(out[k], v)
        else:
            out[k] = copy.deepcopy(v)
    return out


def jsonable(obj: Any) -> Any:
    """A canonical, JSON-serialisable copy (for params and fingerprints)."""
    if isinstance(obj, dict):
        return {str(k): jsonable(obj[k]) for k in sorted(obj)}
    if isinstance(obj, (list, tuple)):
        return [jsonable(v) for v in obj]
    return obj


#: training settings that cannot change a trained model: how many data-loader workers and CPU threads it used
RUNTIME_TRAIN_KEYS = ("num_workers", "threads")


def gpu_visible() -> bool:
    """Whether this machine shows an NVIDIA GPU (checked without importing torch)."""
    return os.path.exists("/dev/nvidiactl") or os.path.exists("/proc/driver/nvidia/version")


def result_train_settings(train: dict) -> dict:
    """The training settings a trained model depends on: ``train`` without the runtime keys (num_workers,
    threads), and ``device: auto`` spelled as the device it resolves to (``cpu`` where no GPU is visible), so that
    changing only how a run is executed neither retrains it nor invalidates its checkpoint."""
    out = {k: v for k, v in train.items() if k not in RUNTIME_TRAIN_KEYS}
    if out.get("device") == "auto":
        out["device"] = "cuda" if gpu_visible() else "cpu"
    return out


def _slug(value) -> str:
    """A value as a piece of a run name (letters, digits, '_'): 0.001 -> 0p001, -1 -> m1, [16, 32] -> 16x32."""
    if isinstance(value, (list, tuple)):
        return "x".join(_slug(v) for v in value)
    text = repr(value) if isinstance(value, float) else str(value)
    text = text.replace(".", "p").replace("-", "m").replace("+", "")
    return "".join(c if c.isalnum() else "_" for c in text)


def _set_path(entry: dict, key: str, value) -> None:
    if key == "frames":
        entry["frames"] = value
        return
    section, _, name = key.partition(".")
    entry.setdefault(section, {})[name] = copy.deepcopy(value)


def expand_runs(models: dict, schema: dict | None = None) -> dict:
    """Models with ``seeds`` and ``sweep`` expanded into one entry per run, each with ``run: {base, seed, sweep}``.

    One seed keeps the entry's name (and sets ``train.seed``); several seeds give ``<model>_s<seed>``; a sweep gives
    ``<model>__<key><value>_...`` per combination (key = the last part of the swept key). An entry that is already
    expanded (it has ``run``) stays as it is. Refused, naming the model and the key: duplicate seeds, a sweep over
    a key that is not 'frames', 'train.<key>' or 'net.<key>' (or that the schema does not know), an empty value
    list, and two runs with the same name.
    """
    import itertools

    train_keys = set(((schema or {}).get("properties", {}).get("models", {}).get("additionalProperties", {})
                      .get("properties", {}).get("train", {}).get("properties", {})))
    out: dict = {}
    origin: dict = {}
    for name, m in models.items():
        m = copy.deepcopy(m)
        if "run" in m and "seeds" not in m and "sweep" not in m:
            runs = [(name, m)]
        else:
            seeds = m.pop("seeds", None)
            sweep = m.pop("sweep", None) or {}
            if seeds is not None and len(set(seeds)) != len(seeds):
                dup = sorted({s for s in seeds if seeds.count(s) > 1})
                raise ConfigError(f"config key 'models.{name}.seeds' lists seed {dup[0]} twice; each seed is one run")
            for key, values in sweep.items():
                section, _, sub = key.partition(".")
                ok = key == "frames" or (section in ("train", "net") and sub)
                if ok and section == "train" and train_keys and sub not in train_keys:
                    ok = False
                if not ok:
                    raise ConfigError(f"config key 'models.{name}.sweep' sweeps over {key!r}, which is not a key of a "
                                      f"model entry; sweepable: 'frames', 'train.<key>' ({', '.join(sorted(train_keys))})"
                                      f", 'net.<architecture argument>'")
                if not isinstance(values, list) or not values:
                    raise ConfigError(f"config key 'models.{name}.sweep.{key}' needs a non-empty list of values")
            keys = list(sweep)
            combos = list(itertools.product(*(sweep[k] for k in keys))) if keys else [()]
            base_seed = m.get("train", {}).get("seed", 0)
            runs = []
            for combo in combos:
                values = dict(zip(keys, combo))
                slug = "_".join(f"{k.rpartition('.')[2]}{_slug(v)}" for k, v in values.items())
                stem = f"{name}__{slug}" if slug else name
                for seed in (seeds if seeds else [base_seed]):
                    entry = copy.deepcopy(m)
                    for k, v in values.items():
                        _set_path(entry, k, v)
                    entry.setdefault("train", {})["seed"] = seed
                    run_name = f"{stem}_s{seed}" if seeds and len(seeds) > 1 else stem
                    entry["run"] = {"base": name, "seed": seed, "sweep": copy.deepcopy(values)}
                    runs.append((run_name, entry))
        for run_name, entry in runs:
            if run_name in out:
                raise ConfigError(f"config key 'models.{name}' expands to run {run_name!r}, which "
                                  f"{'models.' + origin[run_name] + ' also produces' if origin[run_name] != name else 'two of its sweep combinations produce'}; "
                                  f"rename the entry or change its seeds or sweep")
            out[run_name] = entry
            origin[run_name] = name
    return out
