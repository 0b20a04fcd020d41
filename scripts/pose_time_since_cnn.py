"""Rule `pose_time_since_cnn`: error of a hybrid CNN-SNN model against the steps since its last CNN frame."""
import json

from evsnn.pose_plots import plot_error_vs_time_since_cnn
from evsnn.util import setup_logging

setup_logging(snakemake.log[0])  # noqa: F821
m = json.loads(open(snakemake.input.metrics).read())["by_steps_since_cnn"]  # noqa: F821
series = {f"2D {cam}": m["mpjpe_2d"][cam] for cam in m["mpjpe_2d"]}
plot_error_vs_time_since_cnn(m["group"], series, snakemake.output.figure, ylabel="2D MPJPE (px)",  # noqa: F821
                             title=f"{snakemake.params.title}: error vs steps since the CNN frame")  # noqa: F821
