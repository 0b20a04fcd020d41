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


def _lava_module(task: str):
    from evsnn.tasks import get_task, load_entry

    t = get_task(task)
    if not t.lava:
        raise ValueError(f"task {task!r} has no Lava evaluation (its task package names no lava module)")
    return load_entry(t.lava)


def select_samples(ds: FrameCacheDataset, task: str, n: int, extra: dict | None = None) -> np.ndarray:
    """Indices of the test samples run in Lava, chosen by the task package (gesture: ``n`` spread evenly over the
    cache; pose: whole frames seen by both triangulated cameras)."""
    return _lava_module(task).select_samples(ds, n, extra)


def run_trained(model_path: str | os.PathLike, net_path: str | os.PathLike, test_cache: str | os.PathLike, *,
                n_samples: int = 8, parity_samples: int = 1, manifest: dict | None = None,
                out_metrics: str | None = None, out_parity: str | None = None,
                out_outputs: str | None = None) -> tuple[dict, dict]:
    """Run the export of a trained lava-dl model in Lava on ``n_samples`` cached test samples; evaluate the Lava
    outputs and the PyTorch model's on the same samples with the task's metric; compare the two layer by layer
    on the first ``parity_samples``. Returns (metrics, parity) and writes them (and the outputs) when paths are
    given. The metrics come from the task package's lava module (gesture: accuracy and the agreement of the
    predicted classes; pose: 2D MPJPE per camera and 3D MPJPE by triangulation, from the dataset ``manifest``'s
    projection matrices)."""
    from evsnn.lava.parity import compare, lava_forward, slayer_input

    model, blob = load_model(model_path)
    task = blob["task"]
    ds = FrameCacheDataset(test_cache)
    lava_task = _lava_module(task)
    extra = lava_task.read_extra(test_cache)
    sel = lava_task.select_samples(ds, int(n_samples), extra)
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
    metrics.update(lava_task.lava_metrics(lava_out, torch_out, ds, sel, labels, extra, manifest))

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
