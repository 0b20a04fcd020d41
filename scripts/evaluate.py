"""Rule `evaluate_<task>`: the task package's evaluation of one trained model (metrics, predictions, figures)."""
from evsnn.stage import begin, eval_job

task = begin(snakemake)  # noqa: F821
task.call("evaluate", eval_job(snakemake))  # noqa: F821
