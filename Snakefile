# evsnn: raw event-camera datasets -> frame caches -> trained networks -> evaluation -> tables and plots.
#
#   snakemake --cores 2                                  the embedded demo (config.yaml, synthetic data)
#   snakemake --cores 8 --configfile configs/paper.yaml  the papers' settings on the real datasets
#
# The config is validated (workflow/schemas/config.schema.yaml + cross references) before any job runs.
import sys
from pathlib import Path

from snakemake.exceptions import WorkflowError
from snakemake.utils import min_version

min_version("9.0")

# --configfile replaces the demo config instead of being merged into it (a merge would add the demo's models)
if not workflow.config_settings.configfiles:

    configfile: "config.yaml"


# the Snakefile imports evsnn from this checkout's src/; rule scripts use the installed (editable) evsnn
sys.path.insert(0, str(Path(workflow.basedir) / "src"))
from evsnn.config import validate_config  # noqa: E402
from evsnn.errors import ConfigError  # noqa: E402

try:
    _validated = validate_config(config, Path(workflow.basedir) / "workflow" / "schemas" / "config.schema.yaml")
except ConfigError as _exc:
    raise WorkflowError(f"invalid configuration: {_exc}") from None
config.clear()
config.update(_validated)


# `snakemake --report` opens on the results summary (rule summary), embedded by this description
report: "workflow/report/workflow.rst"


include: "workflow/rules/common.smk"
include: "workflow/rules/data.smk"
include: "workflow/rules/frames.smk"
include: "workflow/rules/train.smk"
include: "workflow/rules/evaluate.smk"
include: "workflow/rules/lava.smk"
include: "workflow/rules/nir.smk"
include: "workflow/rules/report.smk"
include: "workflow/rules/environment.smk"
include: "workflow/rules/targets.smk"


rule all:
    input:
        final_outputs(),
    default_target: True
