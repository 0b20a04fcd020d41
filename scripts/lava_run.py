"""Rule `lava_run`: the netx export run in Lava on cached test samples; metrics beside PyTorch; parity."""
import json

import torch

from evsnn.lava.deploy import run_trained
from evsnn.stage import begin

begin(snakemake)  # noqa: F821
i, o, p = snakemake.input, snakemake.output, snakemake.params  # noqa: F821
torch.set_num_threads(1)
manifest = json.loads(open(i.manifest).read())
run_trained(i.model, i.net, i.test, n_samples=p.samples, parity_samples=p.parity_samples,
            manifest=manifest, out_metrics=o.metrics, out_parity=o.parity,
            out_outputs=o.outputs)
