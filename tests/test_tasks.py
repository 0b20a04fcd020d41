import math

import torch

from types import SimpleNamespace

import numpy as np

from evsnn.tasks import make_task
from evsnn.tasks.gesture.metrics import ClassificationTask
from evsnn.tasks.pose.metrics import PoseTask, gaussian_heatmaps, heatmap_peaks


def test_gaussian_heatmaps_peak_at_joint_and_zero_for_invisible():
    uv = torch.tensor([[[3.0, 7.0, float("nan")], [5.0, 1.0, 2.0]]])  # [N=1, 2, J=3]
    hm = gaussian_heatmaps(uv, H=8, W=10, sigma=1.5)
    assert hm.shape == (1, 3, 8, 10)
    assert hm[0, 0, 5, 3] == 1.0 and hm[0, 1, 1, 7] == 1.0
    assert float(hm[0, 2].abs().sum()) == 0.0
    # value one pixel away: exp(-1 / (2 sigma^2))
    assert math.isclose(float(hm[0, 0, 5, 4]), math.exp(-1 / (2 * 1.5**2)), rel_tol=1e-6)
    peaks = heatmap_peaks(hm[:, :2])
    assert peaks.tolist() == [[[3.0, 7.0], [5.0, 1.0]]]


def test_pose_task_loss_and_mpjpe():
    task = PoseTask(sigma=1.0, pixel_scale=2.0, grid="float")  # the integer grid: tests/test_pose_targets.py
    uv = torch.tensor([[[2.0, 6.0], [3.0, 4.0]], [[1.0, float("nan")], [1.0, 0.0]]])  # N=2, J=2
    perfect = gaussian_heatmaps(torch.nan_to_num(uv, nan=0.0), 8, 8, 1.0)
    assert float(task.loss(gaussian_heatmaps(uv, 8, 8, 1.0), uv)) == 0.0
    shifted = torch.roll(perfect, shifts=1, dims=-1)  # every peak one column to the right
    stats = task.batch_stats(shifted, uv)
    # sample 0: both joints 1 px off -> 1 px * scale 2; sample 1: joint 0 1 px off (joint 1 invisible) -> 2
    assert math.isclose(stats["mpjpe2d"], 2.0 + 2.0)
    assert task.reduce("mpjpe2d", stats["mpjpe2d"], 2) == 2.0
    assert not task.higher_is_better and task.selection_metric == "mpjpe2d"
    per_step = torch.stack([shifted, perfect])  # [T=2, N, J, H, W]: the metric uses the last step
    assert task.batch_stats(per_step, uv)["mpjpe2d"] == 0.0


def test_make_task_asks_the_task_package_for_its_adapter():
    ds = SimpleNamespace(attrs={"n_classes": 11, "downsample": 4}, labels=np.array([0, 3]))
    g = make_task("gesture", {"loss": "cross_entropy"}, ds, ds)
    assert isinstance(g, ClassificationTask) and g.n_classes == 11 and g.loss_name == "cross_entropy"
    p = make_task("pose", {"loss": None, "heatmap_sigma": 3.0}, ds, ds)
    assert isinstance(p, PoseTask) and p.sigma == 3.0 and p.pixel_scale == 4.0 and p.loss_name == "mse"
    assert p.grid == "integer"  # the published targets by default
    d = make_task("depth", {"loss": "silog", "depth_cutoffs": [5]}, ds, ds)
    assert d.n_classes == 1 and d.metric_names == ("mde_cm", "mde5_cm") and d.loss_name == "silog"
    no_attr = SimpleNamespace(attrs={}, labels=np.array([0, 6]))
    assert make_task("gesture", {}, no_attr, SimpleNamespace(labels=np.array([9]))).n_classes == 10
