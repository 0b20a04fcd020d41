"""Rule `cost`: synaptic operations and energy per inference of a trained model on its test samples."""
import logging

from evsnn.energy import model_cost
from evsnn.stage import begin
from evsnn.util import write_json

begin(snakemake)  # noqa: F821
result = model_cost(snakemake.input.model, snakemake.input.test, n_samples=snakemake.params.samples)  # noqa: F821
logging.getLogger("evsnn.cost").info("%s: %.3g MACs, %.3g ACs per inference; %s", result["arch"],
                                     result["ops"]["macs"], result["ops"]["acs"],
                                     {k: f"{v['energy_mJ']:.4g} mJ" for k, v in result["energy"].items()})
write_json(snakemake.output.cost, result)  # noqa: F821
