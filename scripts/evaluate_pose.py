"""Rule `evaluate_pose`: 2D/3D MPJPE, per-movement errors, mean-pose baseline and figures of one pose model."""
import json

from evsnn.plots import plot_training_curves
from evsnn.pose_eval import evaluate_pose
from evsnn.util import setup_logging

setup_logging(snakemake.log[0])  # noqa: F821
p, i, o = snakemake.params, snakemake.input, snakemake.output  # noqa: F821
manifest = json.loads(open(i.manifest).read())
evaluate_pose(i.model, i.test, i.train, manifest["p_matrices"], o.metrics, o.predictions,
              {"overlay": o.overlay, "skeleton": o.skeleton, "per_movement": o.per_movement}, title=p.title,
              threads=snakemake.threads)  # noqa: F821
summary = json.loads(open(i.summary).read())
plot_training_curves(i.metrics_csv, o.curves, title=p.title, best_epoch=summary["best_epoch"], metric="mpjpe2d",
                     scale=1.0, ylabel="2D MPJPE (px)", ylim=None)
