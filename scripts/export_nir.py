"""Rule `export_nir`: a trained spiking model -> NIR file (spikingjelly 2.0's exporter) and its summary."""
from evsnn.nirx.deploy import export_trained
from evsnn.stage import begin
from evsnn.util import write_json

begin(snakemake)  # noqa: F821
summary = export_trained(snakemake.input.model, snakemake.output.nir)  # noqa: F821
write_json(snakemake.output.summary, summary)  # noqa: F821
