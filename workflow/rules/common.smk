# Shared helpers of the rules: result paths, config lookups and source fingerprints.
import json
from pathlib import Path

from evsnn.config import jsonable
from evsnn.util import file_digest

RES = config["results"]
SRC = Path(workflow.basedir) / "src" / "evsnn"

DATASETS = sorted(config["datasets"])
FRAMES = sorted(config["frames"])
MODELS = sorted(config["models"])


wildcard_constraints:
    dataset="|".join(DATASETS),
    frames="|".join(FRAMES),
    model="|".join(MODELS),


def code(*patterns):
    """Fingerprint of the src/evsnn modules a rule runs (glob patterns relative to src/evsnn).

    Given to the rule as a param, so editing one of these modules makes exactly its outputs stale.
    """
    files = sorted({p for pat in patterns for p in SRC.glob(pat) if p.is_file()})
    if not files:
        raise WorkflowError(f"no source files match {patterns} under {SRC}")
    return file_digest(files)


# modules every stage runs
CORE = ("__init__.py", "events.py", "errors.py", "util.py", "config.py")
# per dataset kind: the modules that read / generate / fetch its raw data and build its frame caches
KIND_DATA = {
    "dvsgesture": ("gesture_data.py", "io/__init__.py", "io/aedat3.py", "io/dvsgesture.py", "synth/__init__.py",
                   "synth/dvsgesture.py", "datasets.py", "download.py", "resources/*.csv", "_accel.py"),
    "dhp19": ("pose_data.py", "io/__init__.py", "io/aedat2.py", "io/dhp19.py", "synth/__init__.py", "synth/dhp19.py",
              "_accel.py"),
    "mvsec": ("depth_data.py", "io/__init__.py", "io/mvsec.py", "synth/__init__.py", "synth/mvsec.py", "datasets.py",
              "download.py"),
}
KIND_FRAMES = {
    "dvsgesture": ("gesture_data.py", "frames.py", "data.py", "io/__init__.py", "io/aedat3.py", "io/dvsgesture.py",
                   "_accel.py"),
    "dhp19": ("pose_data.py", "dhp19_preprocess.py", "data.py", "io/__init__.py", "io/aedat2.py", "io/dhp19.py",
              "frames.py", "_accel.py"),
    "mvsec": ("depth_data.py", "frames.py", "data.py", "io/__init__.py", "io/mvsec.py", "datasets.py", "_accel.py"),
}
# models/_*.py: helpers shared by the model families (fingerprinted for every model)
TRAIN_CODE = ("train.py", "tasks.py", "data.py", "models/__init__.py", "models/_*.py")
EVAL_CODE = ("evaluate.py", "plots.py", "train.py", "data.py", "models/__init__.py", "models/_*.py")
DEPTH_EVAL_CODE = ("depth_eval.py", "tasks.py", "plots.py", "train.py", "data.py", "models/__init__.py",
                   "models/_*.py")
POSE_EVAL_CODE = ("pose_eval.py", "pose3d.py", "pose_plots.py", "plots.py", "train.py", "data.py",
                  "models/__init__.py", "models/_*.py", "dhp19_preprocess.py", "io/dhp19.py")


def dataset_cfg(name):
    return config["datasets"][name]


def frames_cfg(name):
    return config["frames"][name]


def model_cfg(name):
    return config["models"][name]


def model_frames(name):
    return model_cfg(name)["frames"]


def arch_code(model):
    """Fingerprint of the module that defines the model's architecture (and only that one)."""
    from evsnn.models import arch_source

    return file_digest([arch_source(model_cfg(model)["arch"])])


def manifest_path(dataset):
    return f"{RES}/data/{dataset}/manifest.json"


def frames_paths(frames):
    return {"train": f"{RES}/frames/{frames}/train.h5", "test": f"{RES}/frames/{frames}/test.h5"}


def models_of_task(task):
    return [m for m in MODELS if model_cfg(m)["task"] == task]


def hybrid_models():
    return [m for m in models_of_task("pose") if model_cfg(m)["arch"] == "hybrid_cnn_snn"]


def lava_models(task=None):
    """The configured lava-dl models (exported to netx and run in Lava when ``lava.run`` is on)."""
    from evsnn.models import lava_dl_archs

    if not config["lava"]["run"]:
        return []
    return [m for m in MODELS if model_cfg(m)["arch"] in lava_dl_archs() and task in (None, model_cfg(m)["task"])]


def table_inputs(task):
    """The per-model files a task's results table reads."""
    models = models_of_task(task)
    return {
        "summaries": expand(f"{RES}/models/{{model}}/summary.json", model=models),
        "metrics": expand(f"{RES}/eval/{{model}}/metrics.json", model=models),
        "costs": expand(f"{RES}/eval/{{model}}/cost.json", model=models),
        "lava": expand(f"{RES}/lava/{{model}}/metrics.json", model=lava_models(task)),
    }


def regex_of(names):
    """A wildcard constraint matching exactly ``names`` (nothing when empty)."""
    return "|".join(names) if names else "(?!x)x"


def final_outputs():
    out = []
    for m in models_of_task("gesture"):
        out += [f"{RES}/eval/{m}/metrics.json", f"{RES}/eval/{m}/confusion.png", f"{RES}/eval/{m}/curves.png"]
    for m in models_of_task("pose"):
        out += [f"{RES}/eval/{m}/{f}" for f in ("metrics.json", "overlay.png", "skeleton3d.png", "per_movement.png",
                                                "curves.png")]
    out += [f"{RES}/eval/{m}/time_since_cnn.png" for m in hybrid_models()]
    for m in models_of_task("depth"):
        out += [f"{RES}/eval/{m}/{f}" for f in ("metrics.json", "depth_maps.png", "curves.png")]
    out += [f"{RES}/eval/{m}/cost.json" for m in MODELS]
    for m in lava_models():
        out += [f"{RES}/lava/{m}/{f}" for f in ("network.net", "metrics.json", "parity.json")]
    for task in ("gesture", "pose", "depth"):
        if models_of_task(task):
            out += [f"{RES}/tables/{task}.{ext}" for ext in ("csv", "md", "html")] + [f"{RES}/tables/{task}_energy.png"]
    out += [f"{RES}/report/config.yaml", f"{RES}/report/config.html", f"{RES}/report/environment.html"]
    return out
