"""MVSEC stereo depth (Zhu et al., RA-L 2018; split 1 / split 3 protocols): spiking, hybrid and conventional
encoder-decoders, each binocular and monocular, with mean depth error in cm and energy per inference.

- ``data``: the raw tree (HDF5 + calibration) and the rectified depth frame caches; ``synth``: the synthetic tree;
- ``models``: the depth networks; ``metrics``: losses over valid pixels and MDE for the training loop;
- ``evaluate``: metrics, baseline, depth-map figures, the clip; ``table``: the table; ``published.yaml``; ``schema.yaml``.
"""
from evsnn.tasks import Output, Task

TASK = Task(
    name="depth",
    title="MVSEC depth",
    dataset_kinds=("mvsec",),
    losses=("l1_log", "silog", "l1", "stereospike"),
    prepare="evsnn.tasks.depth.data:prepare_mvsec",
    build_frames="evsnn.tasks.depth.data:build_depth_frames",
    adapter="evsnn.tasks.depth.metrics:adapter",
    models="evsnn.tasks.depth.models",
    evaluate="evsnn.tasks.depth.evaluate:evaluate",
    evaluate_inputs=("train",),
    table="evsnn.tasks.depth.table:table",
    outputs=(
        Output("predictions", "predictions.npz"),
        Output("depth_maps", "depth_maps.png", "report/maps.rst"),
        Output("curves", "curves.png", "report/curves.rst"),
        Output("clip_gif", "clip.gif"),
        Output("clip", "clip.html", "report/clip.rst"),      # the report item (labelled "clip"): a page with the GIF
    ),
)
