"""A fourth task defined only in the tests: two-class direction of motion from synthetic events (a bar sweeping
left-to-right or right-to-left). It proves that the workflow learns a new dataset from a task package alone,
with no edit under workflow/ or scripts/."""
from evsnn.tasks import Figure, Output, Task

TASK = Task(
    name="toy",
    title="Toy direction of motion",
    dataset_kinds=("toy_sweeps",),
    losses=("cross_entropy",),
    prepare="toytask.data:prepare",
    build_frames="toytask.data:build_frames",
    adapter="toytask.task:adapter",
    models="toytask.models",
    evaluate="toytask.task:evaluate",
    table="toytask.task:table",
    outputs=(Output("scores", "scores.npz"),),
    figures=(Figure("score_hist", "score_hist.png", "toytask.task:score_histogram", "report/score_hist.rst"),),
)
