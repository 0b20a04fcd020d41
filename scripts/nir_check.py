"""Rule `nir_check`: a spiking model the workflow does not export to NIR: the layer that stops it."""
from evsnn.nirx.deploy import check_trained
from evsnn.stage import begin

begin(snakemake)  # noqa: F821
check_trained(snakemake.input.model, snakemake.output.metrics)  # noqa: F821
