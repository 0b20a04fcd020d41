"""Rule `cost`: operation counts, NeuroBench's figures, firing rates and energy per inference of a trained model on
its test samples (cost.json) and its per-layer firing / message rates (firing_rates.png)."""
from evsnn.energy import write_cost
from evsnn.stage import begin

begin(snakemake)  # noqa: F821
write_cost(snakemake.input.model, snakemake.input.test, snakemake.output.cost,  # noqa: F821
           snakemake.output.firing_rates, n_samples=snakemake.params.samples,  # noqa: F821
           title=snakemake.params.title)  # noqa: F821
