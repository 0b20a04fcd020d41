"""Rule `environment`: the validated config and the software environment of the run, for the report."""
from evsnn.report import write_run_record
from evsnn.stage import begin

begin(snakemake)  # noqa: F821
p, o = snakemake.params, snakemake.output  # noqa: F821
write_run_record(p.config, o.config_yaml, o.config_html, o.environment_html, o.environment_yaml)
