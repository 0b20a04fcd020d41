"""Rule `export_netx`: a trained lava-dl model -> netx .net file (thresholds and weights on Lava's grids)."""
from evsnn.lava.deploy import export_trained
from evsnn.stage import begin
from evsnn.util import write_json

begin(snakemake)  # noqa: F821
summary = export_trained(snakemake.input.model, snakemake.output.net)  # noqa: F821
write_json(snakemake.output.summary, summary)  # noqa: F821
