"""Rule `table`: one task's results over all its configured runs, with the published numbers beside them."""
from evsnn.stage import begin
from evsnn.tables import write_task_table

task = begin(snakemake)  # noqa: F821
write_task_table(task, snakemake.params, snakemake.input, snakemake.output)  # noqa: F821
