"""The workflow's deployment stage: a trained lava-dl model -> netx export -> Lava run on cached test samples,
evaluated with the task's own metrics beside the PyTorch model on the same samples, plus the layer-by-layer parity.

- :func:`export_trained`: ``model.pt`` -> ``network.net`` (rule ``export_netx``).
- :func:`run_trained`: the Lava run, the metrics, the parity report and the raw outputs (rule ``lava_run``).
"""
from __future__ import annotations

import json
import logging
import os

import numpy as np
import torch

from evsnn.data import FrameCacheDataset, time_major
from evsnn.train import load_model
from evsnn.util import atomic_path, write_json

log = logging.getLogger("evsnn.lava")

__all__ = ["export_trained", "select_samples", "run_trained"]


def export_trained(model_path: str | os.PathLike, net_path: str | os.PathLike) -> dict:
    """Export a trained lava-dl model (``model.pt``) to a netx ``.net`` file; a JSON-able summary."""
    from evsnn.lava.export import export_network

    model, blob = load_model(model_path)
    summary = export_network(model, net_path)
    summary.update(model=os.fspath(model_path), arch=blob["arch"], task=blob["task"], in_shape=blob["in_shape"])
    log.info("exported %s (%s): %d layers, %d weights -> %s", model_path, blob["arch"], len(summary["layers"]),
             summary["n_weights"], net_path)
    return summary


def select_samples(ds: FrameCacheDataset, task: str, n: int, extra: dict | None = None) -> np.ndarray:
    """Indices of the test samples run in Lava: ``n`` spread evenly over the cache (all classes / recordings);
    for pose, whole frames seen by both triangulated cameras (``n // 2`` frames, both views), so that the Lava
    predictions can be triangulated like the PyTorch ones."""
    if task == "pose":
        from evsnn.pose_eval import aligned_views

        cams = sorted(int(c) for c in np.unique(extra["camera"]))[:2]
        idx = aligned_views(ds, extra, cams)
        k = len(idx[cams[0]])
        pick = np.unique(np.linspace(0, k - 1, max(1, min(k, n // len(cams)))).round().astype(int))
        return np.concatenate([idx[c][pick] for c in cams])
    pick = np.linspace(0, len(ds) - 1, min(n, len(ds))).round().astype(int)
    return np.unique(pick)


def _pose_metrics(out: torch.Tensor, ds: FrameCacheDataset, sel: np.ndarray, extra: dict, p_matrices: str) -> dict:
    from evsnn.io.dhp19 import read_camera_positions, read_projection_matrices
    from evsnn.pose3d import heatmap_argmax, pose_metrics
    from evsnn.pose_eval import _to_sensor

    uv = _to_sensor(heatmap_argmax(out.float().numpy())[0], ds.attrs)          # (n, J, 2) sensor pixels
    cams = extra["camera"][sel]
    order = sorted(int(c) for c in np.unique(cams))
    pred = {c: uv[cams == c] for c in order}
    gt_xyz = extra["xyz"][sel][cams == order[0]]
    P = read_projection_matrices(p_matrices)
    m = pose_metrics(pred, gt_xyz, P, cameras=order, centres=read_camera_positions(p_matrices))
    return {"mpjpe_2d": m["mpjpe_2d"], "mpjpe_2d_mean": m["mpjpe_2d_mean"], "mpjpe_3d": m["mpjpe_3d"]}


def run_trained(model_path: str | os.PathLike, net_path: str | os.PathLike, test_cache: str | os.PathLike, *,
                n_samples: int = 8, parity_samples: int = 1, p_matrices: str | None = None,
                out_metrics: str | None = None, out_parity: str | None = None,
                out_outputs: str | None = None) -> tuple[dict, dict]:
    """Run the export of a trained lava-dl model in Lava on ``n_samples`` cached test samples; evaluate the Lava
    outputs and the PyTorch model's on the same samples with the task's metric; compare the two layer by layer
    on the first ``parity_samples``. Returns (metrics, parity) and writes them (and the outputs) when paths are
    given. Gesture: accuracy and the agreement of the predicted classes; pose: 2D MPJPE per camera and 3D MPJPE
    by triangulation (``p_matrices`` needed)."""
    import h5py

    from evsnn.lava.parity import compare, lava_forward, slayer_input

    model, blob = load_model(model_path)
    task = blob["task"]
    ds = FrameCacheDataset(test_cache)
    extra = None
    if task == "pose":
        with h5py.File(test_cache) as h5:
            extra = {k: h5[k][:] for k in ("camera", "frame", "xyz")}
    sel = select_samples(ds, task, int(n_samples), extra)
    frames = time_major(torch.stack([ds[int(i)][0] for i in sel]))              # [T, N, C, H, W]
    labels = [ds[int(i)][1] for i in sel]

    lava_out, res = lava_forward(model, net_path, frames)   # snaps the thresholds to the netx grid first
    with torch.no_grad():
        torch_out = model(frames)                           # the same (quantised) model in PyTorch
    summary = res.summary()
    seconds = float(np.mean(res.wall_s)) if res.wall_s else float("nan")
    metrics = {"model": os.fspath(model_path), "net": os.fspath(net_path), "arch": blob["arch"], "task": task,
               "n_samples": len(sel), "samples": [int(i) for i in sel], "seconds_per_sample": seconds,
               "lava_steps": summary["lava_steps"], "latency_steps": summary["latency_steps"],
               "setup_s": summary["setup_s"], "max_abs_output_diff": float((lava_out - torch_out).abs().max())}
    if task == "gesture":
        y = torch.as_tensor(labels)
        lp, tp = lava_out.argmax(1), torch_out.argmax(1)
        metrics.update(metric="acc", lava=float((lp == y).float().mean()), pytorch=float((tp == y).float().mean()),
                       prediction_agreement=float((lp == tp).float().mean()))
    elif task == "pose":
        if p_matrices is None:
            raise ValueError("pose models need the projection matrices (p_matrices) to evaluate 3D MPJPE")
        lv, tv = _pose_metrics(lava_out, ds, sel, extra, p_matrices), _pose_metrics(torch_out, ds, sel, extra,
                                                                                      p_matrices)
        metrics.update(metric="mpjpe_2d_px", lava=lv["mpjpe_2d_mean"], pytorch=tv["mpjpe_2d_mean"],
                       lava_detail=lv, pytorch_detail=tv)
    else:
        raise ValueError(f"no Lava evaluation for task {task!r}")

    k = max(1, min(int(parity_samples), frames.shape[1]))
    report = compare(model, net_path, slayer_input(model, frames[:, :k]))
    layers = report["layers"]
    exact = sum(e["bit_exact"] for e in layers)
    parity = {**{key: v for key, v in report.items() if key != "arrays"},
              "summary": f"{exact}/{len(layers)} layers bit-exact",
              "max_abs_diff": max((e["max_abs_diff"] for e in layers), default=0.0),
              "n_mismatch": int(sum(e["n_mismatch"] for e in layers)),
              "n_compared": int(sum(e["n_compared"] for e in layers)),
              "acc_overflows": int(sum(e["acc_overflows"] for e in layers))}
    metrics["parity"] = {key: parity[key] for key in ("summary", "bit_exact", "max_abs_diff", "n_mismatch",
                                                        "n_compared", "acc_overflows")}
    log.info("%s in Lava: %s %.4g (PyTorch %.4g on the same %d samples); %.2f s/sample; parity %s (max |diff| "
             "%.3g)", blob["arch"], metrics["metric"], metrics["lava"], metrics["pytorch"], len(sel), seconds,
             parity["summary"], parity["max_abs_diff"])
    if out_metrics:
        write_json(out_metrics, metrics)
    if out_parity:
        write_json(out_parity, parity)
    if out_outputs:
        with atomic_path(out_outputs, suffix=".npz") as tmp:
            with open(tmp, "wb") as fh:
                np.savez_compressed(fh, lava=lava_out.numpy(), pytorch=torch_out.numpy(), samples=sel,
                                    lava_raw=res.output, summary=json.dumps(summary))
    return metrics, parity
