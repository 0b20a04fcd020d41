"""DVS128 Gesture classification (Amir et al., CVPR 2017): the PLIF network of Fang et al. (ICCV 2021) and a
lava-dl sigma-delta network; the same pipeline classifies a lab's own recordings (dataset kind ``recordings``: a
folder of event files in any supported format and a labels CSV, :mod:`evsnn.tasks.gesture.recordings`).

- ``data``: the raw tree (synthetic, downloaded or local) and the frame caches (spikingjelly's integration);
- ``models``: the architectures; ``metrics``: loss and accuracy for the training loop;
- ``evaluate``: test metrics, confusion matrix, curves; ``lava``: the Lava run's metrics; ``table``: the table;
- ``published.yaml``: the published numbers the table shows beside ours; ``schema.yaml``: the task's config keys.
"""
from evsnn.tasks import Output, Task

TASK = Task(
    name="gesture",
    title="DVS128 Gesture",
    dataset_kinds=("dvsgesture", "recordings"),
    losses=("mse", "cross_entropy"),
    prepare="evsnn.tasks.gesture.data:prepare",
    build_frames="evsnn.tasks.gesture.data:build_frames",
    prepare_inputs="evsnn.tasks.gesture.recordings:prepare_inputs",
    adapter="evsnn.tasks.gesture.metrics:adapter",
    models="evsnn.tasks.gesture.models",
    evaluate="evsnn.tasks.gesture.evaluate:evaluate",
    table="evsnn.tasks.gesture.table:table",
    lava="evsnn.tasks.gesture.lava",
    outputs=(
        Output("predictions", "predictions.csv"),
        Output("confusion", "confusion.png", "report/confusion.rst"),
        Output("curves", "curves.png", "report/curves.rst"),
        Output("clip_gif", "clip.gif"),
        Output("clip", "clip.html", "report/clip.rst"),      # the report item (labelled "clip"): a page with the GIF
    ),
)
