"""Rule `environment`: the validated config and the software environment of the run, for the report."""
from evsnn.config import jsonable
from evsnn.report import write_run_record
from evsnn.stage import begin
from evsnn.util import params_digest

begin(snakemake)  # noqa: F821
p, o = snakemake.params, snakemake.output  # noqa: F821
# the rule's param is the digest of the validated config; the config itself comes with the job
config = jsonable(snakemake.config)  # noqa: F821
if params_digest(config) != p.config_digest:
    raise RuntimeError(f"the config given to the environment job (digest {params_digest(config)}) is not the one "
                       f"its param was computed from ({p.config_digest})")
write_run_record(config, o.config_yaml, o.config_html, o.environment_html, o.environment_yaml)
