"""The pose coordinate round trip: sensor pixels -> training label -> target heatmap -> peak -> sensor pixels.

A perfect predictor of the training targets must come back at the joints it was trained on, without a mean shift,
for every downsampling factor and crop (issue 20 item 1): the labels (tasks/pose/data.py), ``_to_sensor``
(evaluate.py, used for every model's 2D/3D metrics), the overlay's ``to_cache`` and the Lava metrics (lava.py) use
one convention, :func:`evsnn.tasks.pose.data.sensor_to_cache` / :func:`~evsnn.tasks.pose.data.cache_to_sensor`.
Before the fix, the labels were ``u / k`` while ``_to_sensor`` added ``(k - 1) / 2``: +1.5 px at k = 4, +3.5 px at
k = 8 on both axes.
"""
import json

import numpy as np
import pytest
import torch

from evsnn.tasks.pose.data import CNN_WIDTH, cache_to_sensor, crop_window, joint_labels, sensor_to_cache
from evsnn.tasks.pose.evaluate import _to_sensor, to_cache
from evsnn.tasks.pose.metrics import gaussian_heatmaps, heatmap_peaks
from evsnn.tasks.pose.pose3d import heatmap_argmax

J = 13


def _attrs(k, crop):
    r0, c0, rows, cols = crop_window(crop)
    return {"downsample": k, "crop": json.dumps([r0, c0, rows, cols]), "H": rows // k, "W": cols // k}


def _joints(crop, k, n=80, seed=0):
    """Random joints (sensor pixels of the CNN input) well inside the crop (a full cache pixel from its edges)."""
    r0, c0, rows, cols = crop_window(crop)
    rng = np.random.default_rng(seed)
    u = c0 + rng.uniform(k, (cols // k) * k - k, size=(n, J))
    v = r0 + rng.uniform(k, (rows // k) * k - k, size=(n, J))
    return u, v


def _round_trip(u, v, k, crop, peaks="torch"):
    attrs = _attrs(k, crop)
    labels = joint_labels(u, v, np.ones(u.shape, bool), k, crop)                 # (n, 2, J) cache pixels
    assert np.isfinite(labels).all()
    hm = gaussian_heatmaps(torch.from_numpy(labels), attrs["H"], attrs["W"], sigma=2.0)   # [n, J, H, W]
    if peaks == "torch":   # the training loop's peaks (PoseTask.joint_errors)
        uv_cache = heatmap_peaks(hm).double().numpy().transpose(0, 2, 1)         # (n, J, 2)
    else:                  # evaluation and Lava (pose3d.heatmap_argmax)
        uv_cache = heatmap_argmax(hm.numpy())[0]
    return _to_sensor(uv_cache, attrs)


@pytest.mark.parametrize("crop", [None, (200, 304), (130, 176)])
@pytest.mark.parametrize("k", [1, 4, 8])
@pytest.mark.parametrize("peaks", ["torch", "numpy"])
def test_perfect_predictor_round_trip_is_unbiased(k, crop, peaks):
    u, v = _joints(crop, k)
    uv = _round_trip(u, v, k, crop, peaks)
    du, dv = uv[..., 0] - u, uv[..., 1] - v
    assert abs(du.mean()) < 0.25 and abs(dv.mean()) < 0.25, (du.mean(), dv.mean())
    # and no single joint is further than half a cache pixel away (the quantisation of the grid)
    assert np.abs(du).max() <= k / 2 + 1e-9 and np.abs(dv).max() <= k / 2 + 1e-9


@pytest.mark.parametrize("k", [1, 4, 8])
def test_old_convention_was_biased_by_half_a_block(k):
    """What the test above catches: labels ``u / k`` against ``_to_sensor``'s block centre, (k - 1) / 2 px off."""
    u, v = _joints(None, k)
    labels = torch.from_numpy(np.stack([u / k, v / k], axis=1))
    hm = gaussian_heatmaps(labels, 260 // k, CNN_WIDTH // k, sigma=2.0)
    uv = _to_sensor(heatmap_argmax(hm.numpy())[0], _attrs(k, None))
    assert abs((uv[..., 0] - u).mean() - (k - 1) / 2) < 0.25


@pytest.mark.parametrize("k,crop", [(1, None), (4, (200, 304)), (8, (130, 176))])
def test_cache_and_sensor_conversions_are_inverse(k, crop):
    attrs = _attrs(k, crop)
    u, v = _joints(crop, k, n=20)
    uc, vc = to_cache(u, v, attrs)                                   # the overlay figure's conversion
    back = cache_to_sensor(np.stack([uc, vc], -1), attrs)
    np.testing.assert_allclose(back[..., 0], u, atol=1e-9)
    np.testing.assert_allclose(back[..., 1], v, atol=1e-9)
    r0, c0, _, _ = crop_window(crop)
    np.testing.assert_allclose(sensor_to_cache(u, v, k, (r0, c0))[0], uc)
    # the centre of cache pixel i is the mean position of the k sensor pixels averaged into it (camera_frames)
    i = np.arange(5.0)
    centre = cache_to_sensor(np.stack([i, i], -1), attrs)[:, 0]
    np.testing.assert_allclose(centre, [np.mean(c0 + k * j + np.arange(k)) for j in range(5)])


def test_pose_cache_labels_and_lava_metrics_round_trip(tmp_path):
    """Real caches (synthetic DHP19, k = 8 and a crop): heatmaps of the stored labels, scored by the Lava metrics
    and by ``_to_sensor`` against the projected ground truth, are off by less than half a cache pixel on average
    and unbiased."""
    import h5py

    from evsnn.data import FrameCacheDataset
    from evsnn.io.dhp19 import read_projection_matrices
    from evsnn.tasks.pose.data import build_pose_frames, prepare_dhp19
    from evsnn.tasks.pose.lava import _pose_metrics, read_extra, select_samples
    from evsnn.tasks.pose.preprocess import project

    ds_cfg = {"kind": "dhp19", "source": "synthetic",
              "synthetic": {"subjects": [1, 13], "sessions": [1], "movements": [2], "duration_s": 0.4, "seed": 3,
                            "pathologies": {}}}
    manifest = prepare_dhp19("dhp19", ds_cfg, str(tmp_path / "resources"), str(tmp_path / "manifest.json"))
    k, crop = 8, [248, 320]
    frames = {"dataset": "dhp19", "T": 1, "downsample": k,
              "dhp19": {"events_per_frame": 300, "cameras": [2, 3], "crop": crop}}
    build_pose_frames(manifest, frames, str(tmp_path / "train.h5"), str(tmp_path / "test.h5"))
    ds = FrameCacheDataset(tmp_path / "test.h5")
    with h5py.File(tmp_path / "test.h5") as h5:
        labels = h5["labels"][:]
    extra = read_extra(tmp_path / "test.h5")
    P = read_projection_matrices(manifest["p_matrices"])
    gu = np.stack([project(P[int(c)], x, H=260, W=CNN_WIDTH)[0] for c, x in zip(extra["camera"], extra["xyz"])])
    gv = np.stack([project(P[int(c)], x, H=260, W=CNN_WIDTH)[1] for c, x in zip(extra["camera"], extra["xyz"])])
    hm = gaussian_heatmaps(torch.from_numpy(labels.astype(np.float64)), ds.attrs["H"], ds.attrs["W"], 2.0)
    uv = _to_sensor(heatmap_argmax(hm.numpy())[0], ds.attrs)
    ok = np.isfinite(labels[:, 0])
    assert ok.mean() > 0.5
    du, dv = (uv[..., 0] - gu)[ok], (uv[..., 1] - gv)[ok]
    assert abs(du.mean()) < 0.5 and abs(dv.mean()) < 0.5, (du.mean(), dv.mean())   # before: +3.5 px each
    assert np.abs(du).max() <= k / 2 + 1e-6 and np.abs(dv).max() <= k / 2 + 1e-6
    sel = select_samples(ds, 64, extra)
    m = _pose_metrics(hm[sel], ds, sel, extra, manifest["p_matrices"])
    assert m["mpjpe_2d_mean"] < k / 2 * np.sqrt(2) * 0.8, m
