"""Rule `nir_run`: the NIR file run in spikingjelly, snnTorch and Norse on cached test samples; metrics; parity."""
import json

import torch

from evsnn.nirx.deploy import run_trained
from evsnn.stage import begin

begin(snakemake)  # noqa: F821
i, o, p = snakemake.input, snakemake.output, snakemake.params  # noqa: F821
torch.set_num_threads(1)
manifest = json.loads(open(i.manifest).read())
run_trained(i.model, i.nir, i.test, frameworks=tuple(p.frameworks), n_samples=p.samples, manifest=manifest,
            out_metrics=o.metrics)
