"""Rule `summary`: the results summary the report opens on."""
from evsnn.stage import begin
from evsnn.summary import write_summary

begin(snakemake)  # noqa: F821
write_summary(snakemake.params.tasks, snakemake.output.html, snakemake.output.body)  # noqa: F821
