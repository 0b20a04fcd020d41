"""What every rule script does first: log to the rule's log file and make the config's task packages known.

Rule scripts are a few lines each: ``task = begin(snakemake)`` then one call into a task package's face or a
shared stage. No module of evsnn imports snakemake; the ``snakemake`` object is only read here.
"""
from __future__ import annotations

from evsnn.tasks import EvalJob, Task, get_task, register_packages
from evsnn.util import setup_logging


def begin(smk, task: str | None = None) -> Task | None:
    """Log to ``smk.log[0]``, register the config's ``task_packages``; the face of ``task`` (or of the rule's
    ``task`` param) when there is one."""
    setup_logging(smk.log[0])
    register_packages(smk.config.get("task_packages", []))
    name = task or getattr(smk.params, "task", None)
    return get_task(name) if name else None


def eval_job(smk) -> EvalJob:
    """The evaluate rule's inputs, outputs and params as the task's ``evaluate`` takes them."""
    i, o, p = smk.input, smk.output, smk.params
    manifest = None
    if "manifest" in i.keys():
        import json

        manifest = json.loads(open(i.manifest).read())
    outputs = {k: o[k] for k in o.keys() if k != "metrics"}
    return EvalJob(model=i.model, test=i.test, metrics_csv=i.metrics_csv, summary=i.summary, out_metrics=o.metrics,
                   outputs=outputs, title=p.title, model_cfg=p.model_cfg,
                   train=i.train if "train" in i.keys() else None, manifest=manifest, threads=smk.threads)
