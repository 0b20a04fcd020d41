"""Rule `evaluate`: test metrics, predictions, confusion matrix and training curves of one model."""
import json

from evsnn.evaluate import evaluate_classifier
from evsnn.plots import plot_confusion, plot_training_curves
from evsnn.util import setup_logging

setup_logging(snakemake.log[0])  # noqa: F821
p, i, o = snakemake.params, snakemake.input, snakemake.output  # noqa: F821
metrics = evaluate_classifier(i.model, i.test, o.metrics, o.predictions, threads=snakemake.threads)  # noqa: F821
summary = json.loads(open(i.summary).read())
names = summary["frames"].get("class_names", "").split(",") or metrics["class_names"]
plot_confusion(metrics["confusion"], names, o.confusion,
               title=f"{p.title}: test accuracy {100 * metrics['accuracy']:.1f} %")
plot_training_curves(i.metrics_csv, o.curves, title=p.title, best_epoch=summary["best_epoch"])
