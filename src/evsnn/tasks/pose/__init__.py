"""DHP19 human pose (Calabrese et al., CVPRW 2019): 2D heatmaps per camera, 3D by triangulating cameras 2 and 3.

- ``data``: the raw tree and the per-camera frame caches; ``preprocess``: the official MATLAB preprocessing;
- ``models``: the DHP19 CNN, its SDNN, the SNN, hybrid CNN-SNN, RNN and CNN-RNN; ``keras_import``: the official
  Keras weights; ``metrics``: heatmap loss and 2D MPJPE for the training loop;
- ``pose3d``: projection, triangulation and MPJPE; ``evaluate`` and ``plots``: evaluation and figures;
- ``has_models``, ``has_data``, ``has_train``, ``has_evaluate``: the hybrid ANN-SNN paper as published (its five
  networks, its inputs as ``representation: has`` frames, its loss, its evaluation protocol);
- ``lava``: the Lava run's metrics; ``table``: the table; ``published.yaml``; ``schema.yaml``.
"""
from evsnn.tasks import Figure, Output, Task

TASK = Task(
    name="pose",
    title="DHP19 pose",
    dataset_kinds=("dhp19",),
    losses=("mse", "spatial_ce"),
    prepare="evsnn.tasks.pose.data:prepare_dhp19",
    build_frames="evsnn.tasks.pose.data:build_pose_frames",
    adapter="evsnn.tasks.pose.metrics:adapter",
    models="evsnn.tasks.pose.models",
    evaluate="evsnn.tasks.pose.evaluate:evaluate",
    evaluate_inputs=("train", "manifest"),
    table="evsnn.tasks.pose.table:table",
    lava="evsnn.tasks.pose.lava",
    outputs=(
        Output("predictions", "predictions.npz"),
        Output("overlay", "overlay.png", "report/overlay.rst"),
        Output("skeleton", "skeleton3d.png", "report/skeleton.rst"),
        Output("per_movement", "per_movement.png", "report/per_movement.rst"),
        Output("curves", "curves.png", "report/curves.rst"),
        Output("clip_gif", "clip.gif"),
        Output("clip", "clip.html", "report/clip.rst"),      # the report item (labelled "clip"): a page with the GIF
    ),
    figures=(
        Figure("time_since_cnn", "time_since_cnn.png", "evsnn.tasks.pose.evaluate:time_since_cnn_figure",
               "report/time_since_cnn.rst",
               archs=("hybrid_cnn_snn", "has_hybrid_cnn_snn", "has_hybrid_cnn_rnn")),
    ),
)
