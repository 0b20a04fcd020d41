"""DHP19 pose in Lava: whole frames seen by both triangulated cameras, scored in 2D and 3D like PyTorch's."""
from __future__ import annotations

import numpy as np
import torch


def read_extra(test_cache) -> dict:
    import h5py

    with h5py.File(test_cache) as h5:
        return {k: h5[k][:] for k in ("camera", "frame", "xyz")}


def select_samples(ds, n: int, extra: dict) -> np.ndarray:
    """``n // 2`` frames, both views, spread over the cache, so that the Lava predictions can be triangulated."""
    from evsnn.tasks.pose.evaluate import aligned_views

    cams = sorted(int(c) for c in np.unique(extra["camera"]))[:2]
    idx = aligned_views(ds, extra, cams)
    k = len(idx[cams[0]])
    pick = np.unique(np.linspace(0, k - 1, max(1, min(k, n // len(cams)))).round().astype(int))
    return np.concatenate([idx[c][pick] for c in cams])


def _pose_metrics(out: torch.Tensor, ds, sel: np.ndarray, extra: dict, p_matrices: str) -> dict:
    from evsnn.io.dhp19 import read_camera_positions, read_projection_matrices
    from evsnn.tasks.pose.data import cache_to_sensor
    from evsnn.tasks.pose.pose3d import heatmap_argmax, pose_metrics

    uv = cache_to_sensor(heatmap_argmax(out.float().numpy())[0], ds.attrs)          # (n, J, 2) sensor pixels
    cams = extra["camera"][sel]
    order = sorted(int(c) for c in np.unique(cams))
    pred = {c: uv[cams == c] for c in order}
    gt_xyz = extra["xyz"][sel][cams == order[0]]
    P = read_projection_matrices(p_matrices)
    m = pose_metrics(pred, gt_xyz, P, cameras=order, centres=read_camera_positions(p_matrices))
    return {"mpjpe_2d": m["mpjpe_2d"], "mpjpe_2d_mean": m["mpjpe_2d_mean"], "mpjpe_3d": m["mpjpe_3d"]}


def lava_metrics(lava_out, torch_out, ds, sel, labels, extra, manifest) -> dict:
    """2D MPJPE per camera and 3D MPJPE by triangulation, of the Lava and of the PyTorch outputs."""
    p_matrices = (manifest or {}).get("p_matrices")
    if p_matrices is None:
        raise ValueError("pose models need the projection matrices (the dataset manifest's p_matrices) to "
                         "evaluate 3D MPJPE")
    lv = _pose_metrics(lava_out, ds, sel, extra, p_matrices)
    tv = _pose_metrics(torch_out, ds, sel, extra, p_matrices)
    return {"metric": "mpjpe_2d_px", "lava": lv["mpjpe_2d_mean"], "pytorch": tv["mpjpe_2d_mean"],
            "lava_detail": lv, "pytorch_detail": tv}
