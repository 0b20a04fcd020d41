"""Rule `dataset`: make a dataset's raw tree available (through the task package that reads its kind) and write
its manifest."""
from evsnn.stage import begin
from evsnn.tasks import task_of_kind

begin(snakemake)  # noqa: F821
p = snakemake.params  # noqa: F821
task_of_kind(p.cfg["kind"]).call("prepare", p.name, p.cfg, p.data_root, snakemake.output.manifest)  # noqa: F821
