"""Rule `evaluate_depth`: mean depth error (cm), constant-depth baseline, depth-map figure and training curves."""
import json

from evsnn.depth_eval import evaluate_depth
from evsnn.plots import plot_training_curves
from evsnn.util import setup_logging

setup_logging(snakemake.log[0])  # noqa: F821
i, o, p = snakemake.input, snakemake.output, snakemake.params  # noqa: F821
res = evaluate_depth(i.model, i.test, i.train, o.metrics, o.predictions, o.depth_maps, title=p.title,
                     cutoffs=p.cutoffs, threads=snakemake.threads)  # noqa: F821
summary = json.loads(open(i.summary).read())
plot_training_curves(i.metrics_csv, o.curves, title=p.title, best_epoch=summary["best_epoch"], metric="mde_cm",
                     scale=1.0, ylabel="mean depth error (cm)", ylim=None)
