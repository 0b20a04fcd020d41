"""Rule `export_netx`: a trained lava-dl model -> netx .net file (thresholds and weights on Lava's grids)."""
from evsnn.lava.deploy import export_trained
from evsnn.util import setup_logging, write_json

setup_logging(snakemake.log[0])  # noqa: F821
summary = export_trained(snakemake.input.model, snakemake.output.net)  # noqa: F821
write_json(snakemake.output.summary, summary)  # noqa: F821
