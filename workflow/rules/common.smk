# Shared helpers of the rules: result paths, config lookups, the task packages and code fingerprints.
import json
import re
from pathlib import Path

from evsnn.config import jsonable, result_train_settings
from evsnn.fingerprint import code_digest
from evsnn.manifest import raw_signature
from evsnn.tasks import get_task, task_of_kind

RES = config["results"]

DATASETS = sorted(config["datasets"])
FRAMES = sorted(config["frames"])
MODELS = sorted(config["models"])
# the packages whose modules are fingerprinted: evsnn and the config's own task packages (top-level names)
ROOTS = ("evsnn", *sorted({p.split(".")[0] for p in config["task_packages"]}))


wildcard_constraints:
    dataset="|".join(DATASETS),
    frames="|".join(FRAMES),
    model="|".join(MODELS),


def code(*modules):
    """Fingerprint of the code of a stage: the modules ``modules`` and all they import (evsnn.fingerprint).

    Given to the rule as a param, so editing a module makes exactly the outputs of the rules that run it stale.
    """
    return code_digest(modules, ROOTS)


def dataset_cfg(name):
    return config["datasets"][name]


def frames_cfg(name):
    return config["frames"][name]


def model_cfg(name):
    return config["models"][name]


def model_record(name):
    """A model's config as the stages after training see it: the runtime settings of its training (threads,
    data-loader workers) left out, since they cannot change the trained model."""
    cfg = dict(model_cfg(name))
    cfg["train"] = result_train_settings(cfg["train"])
    return jsonable(cfg)


def model_frames(name):
    return model_cfg(name)["frames"]


def model_task(name):
    """The face of the task package a model belongs to."""
    return get_task(model_cfg(name)["task"])


def dataset_task(name):
    """The face of the task package that reads the dataset ``name``'s kind."""
    return task_of_kind(dataset_cfg(name)["kind"])


def dataset_inputs(w):
    """The local files a dataset's manifest is made from, by its task's ``prepare_inputs`` (a recordings folder: the
    labels CSV and the recordings it names), so that editing one re-makes the manifest; none for the other kinds."""
    task = dataset_task(w.dataset)
    return task.call("prepare_inputs", dataset_cfg(w.dataset)) if task.prepare_inputs else []


def model_code(model, *modules, entries=()):
    """Fingerprint of a per-model stage: ``modules``, the task's ``entries`` and the model module of its task."""
    task = model_task(model)
    return code(*modules, *task.entry_modules(*entries), task.models)


def manifest_path(dataset):
    return f"{RES}/data/{dataset}/manifest.json"


def frames_paths(frames):
    return {"train": f"{RES}/frames/{frames}/train.h5", "test": f"{RES}/frames/{frames}/test.h5"}


def init_path(model):
    """The starting weights of a model (train.init: a model.pt, or another model of the config whose trained
    model.pt the train job then depends on), or None."""
    init = model_cfg(model)["train"].get("init")
    if init and init in config["models"]:
        return f"{RES}/models/{init}/model.pt"
    return init or None


def train_inputs(model):
    """The frame caches of a model, plus its starting weights (train.init) when it has them."""
    init = init_path(model)
    return {**frames_paths(model_frames(model)), **({"init": init} if init else {})}


def model_manifest(model):
    return manifest_path(frames_cfg(model_frames(model))["dataset"])


#: the tasks of this config's models, in a stable order
TASKS = sorted({model_cfg(m)["task"] for m in MODELS})


def models_of_task(task):
    return [m for m in MODELS if model_cfg(m)["task"] == task]


def lava_models(task=None):
    """The configured lava-dl models (exported to netx and run in Lava when ``lava.run`` is on)."""
    from evsnn.models import lava_dl_archs

    if not config["lava"]["run"]:
        return []
    return [m for m in MODELS if model_cfg(m)["arch"] in lava_dl_archs() and task in (None, model_cfg(m)["task"])]


def nir_models(task=None):
    """The configured spiking models NIR can express (their architecture's NIR_WHEN holds for their net config):
    exported to NIR and run in other frameworks when ``nir.run`` is on."""
    from evsnn.models import nir_exportable

    if not config["nir"]["run"]:
        return []
    return [m for m in MODELS if task in (None, model_cfg(m)["task"])
            and nir_exportable(model_cfg(m)["arch"], model_cfg(m).get("net") or {})]


def nir_check_models(task=None):
    """The other spiking models: the table says which layer keeps them out of NIR (rule nir_check)."""
    from evsnn.models import spiking_archs

    if not config["nir"]["run"]:
        return []
    chosen = set(nir_models())
    return [m for m in MODELS if task in (None, model_cfg(m)["task"]) and m not in chosen
            and model_cfg(m)["arch"] in spiking_archs()]


def figure_models(task, figure):
    """The models of ``task`` a declared extra figure applies to."""
    return [m for m in models_of_task(task) if not figure.archs or model_cfg(m)["arch"] in figure.archs]


def table_inputs(task):
    """The per-model files a task's results table reads."""
    models = models_of_task(task)
    return {
        "summaries": expand(f"{RES}/models/{{model}}/summary.json", model=models),
        "metrics": expand(f"{RES}/eval/{{model}}/metrics.json", model=models),
        "costs": expand(f"{RES}/eval/{{model}}/cost.json", model=models),
        "lava": expand(f"{RES}/lava/{{model}}/metrics.json", model=lava_models(task)),
        "nir": expand(f"{RES}/nir/{{model}}/metrics.json", model=nir_models(task) + nir_check_models(task)),
    }


def regex_of(names):
    """A wildcard constraint matching exactly ``names`` (nothing when empty)."""
    return "|".join(names) if names else "(?!x)x"


def task_caption(task, relpath):
    """A report caption file of a task package (absolute path), or None."""
    return str(task.path(relpath)) if relpath else None


def table_caption(task):
    """The task package's caption of its results table (report/table.rst), for the shared table caption."""
    path = get_task(task).path("report/table.rst")
    return path.read_text().strip() if path.is_file() else ""


def final_outputs():
    out = []
    for name in TASKS:
        task = get_task(name)
        for m in models_of_task(name):
            out += [f"{RES}/eval/{m}/metrics.json"] + [f"{RES}/eval/{m}/{o.filename}" for o in task.outputs]
        for fig in task.figures:
            out += [f"{RES}/eval/{m}/{fig.filename}" for m in figure_models(name, fig)]
        out += [f"{RES}/tables/{name}.{ext}" for ext in ("csv", "md", "html")]
        out += [f"{RES}/tables/{name}_{kind}" for kind in ("energy.png", "seeds.png", "runs.csv", "headline.json")]
    out += [f"{RES}/eval/{m}/cost.json" for m in MODELS]
    for m in lava_models():
        out += [f"{RES}/lava/{m}/{f}" for f in ("network.net", "metrics.json", "parity.json")]
    for m in nir_models():
        out += [f"{RES}/nir/{m}/{f}" for f in ("model.nir", "metrics.json")]
    out += [f"{RES}/nir/{m}/metrics.json" for m in nir_check_models()]
    out += [f"{RES}/report/config.yaml", f"{RES}/report/config.html", f"{RES}/report/environment.html"]
    out += [f"{RES}/report/summary.html", f"{RES}/report/summary_body.html"]
    return out


def _known(names):
    """A wildcard pattern for a path component that is none of ``names`` (followed by '/')."""
    return f"(?!(?:{'|'.join(map(re.escape, names))})/)[^/]+" if names else "[^/]+"


def _unknown_name(w):
    kinds = {"models": ("model", MODELS), "eval": ("model", MODELS), "lava": ("model", MODELS), "nir": ("model", MODELS),
             "frames": ("frames entry", FRAMES), "data": ("dataset", DATASETS)}
    what, names = kinds[w.stage]
    raise WorkflowError(f"{RES}/{w.stage}/{w.name}/{w.file}: '{w.name}' is not a {what} of this config; "
                        f"{what}s: {', '.join(names)}")


def init_inputs(model):
    """The model.pt of every earlier stage a model starts from (train.init_from: role -> model name)."""
    init = model_cfg(model)["train"].get("init_from") or {}
    return {f"init_{role}": f"{RES}/models/{other}/model.pt" for role, other in sorted(init.items())}


def evaluate_inputs(task):
    def inputs(w):
        frames = frames_paths(model_frames(w.model))
        out = {
            "model": f"{RES}/models/{w.model}/model.pt",
            "metrics_csv": f"{RES}/models/{w.model}/metrics.csv",
            "summary": f"{RES}/models/{w.model}/summary.json",
            "test": frames["test"],
        }
        if "train" in task.evaluate_inputs:
            out["train"] = frames["train"]
        if "manifest" in task.evaluate_inputs:
            out["manifest"] = model_manifest(w.model)
        return out

    return inputs


def evaluate_outputs(task):
    out = {}
    for o in task.outputs:
        path = f"{RES}/eval/{{model}}/{o.filename}"
        out[o.key] = report(path, category="{model}", caption=task_caption(task, o.caption),
                            labels={"model": "{model}", "figure": o.key.replace("_", " ")}) if o.caption else path
    return out


def summary_tasks():
    """Per task of this config: its title, headline record, energy figure and the datasets its models ran on."""
    out = []
    for name in dict.fromkeys(model_cfg(m)["task"] for m in config["models"]):  # the config's order of tasks
        datasets = sorted({frames_cfg(model_frames(m))["dataset"] for m in models_of_task(name)})
        out.append({"task": name, "title": get_task(name).title,
                    "headline": f"{RES}/tables/{name}_headline.json", "energy_png": f"{RES}/tables/{name}_energy.png",
                    "datasets": [{"name": d, "kind": dataset_cfg(d)["kind"], "source": dataset_cfg(d)["source"],
                                  "path": dataset_cfg(d).get("path"), "manifest": manifest_path(d)}
                                 for d in datasets]})
    return out
