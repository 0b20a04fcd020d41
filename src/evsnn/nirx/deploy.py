"""The workflow's NIR stage: a trained spiking model -> ``model.nir`` -> the file run in spikingjelly, snnTorch and
Norse on the cached test samples the Lava stage uses, scored with the task's metric beside the PyTorch model, and
compared with the PyTorch model spike by spike in every neuron layer.

- :func:`export_trained`: ``model.pt`` -> ``model.nir`` + summary (rule ``export_nir``);
- :func:`run_trained`: the runs, metrics and parity (rule ``nir_run`` -> ``results/nir/<model>/metrics.json``);
- :func:`check_trained`: for the spiking models the workflow does not export, the layer that stops them
  (rule ``nir_check`` -> ``results/nir/<model>/metrics.json`` with ``exportable: false``);
- :func:`run_file`: ``python -m evsnn nir run``.
"""
from __future__ import annotations

import logging
import os
import time

import numpy as np
import torch

from evsnn.util import write_json

log = logging.getLogger("evsnn.nir")

__all__ = ["export_trained", "check_trained", "run_trained", "run_file", "compare_layers"]


def export_trained(model_path, nir_path) -> dict:
    """Export a trained model (``model.pt``) to ``nir_path``; the summary. Raises NotExportable naming the layer."""
    from evsnn.nirx.export import export_model
    from evsnn.train import load_model

    model, blob = load_model(model_path)
    summary = export_model(model, blob["in_shape"], nir_path)
    summary.update(model=os.fspath(model_path), arch=blob["arch"], task=blob["task"])
    log.info("exported %s (%s) to NIR: %d nodes -> %s", model_path, blob["arch"], len(summary["nodes"]), nir_path)
    return summary


def check_trained(model_path, out_json=None) -> dict:
    """Why a trained model is not exported: {"exportable": False, "reason": "not exportable: <layer> at <name>"}
    (or exportable: True when nothing stops it)."""
    from evsnn.nirx.export import NotExportable, chain
    from evsnn.train import load_model

    model, blob = load_model(model_path)
    try:
        chain(model)
        layer, reason = None, "exportable (not selected by the config: its architecture's NIR_WHEN)"
    except NotExportable as exc:
        layer, reason = exc.layer, str(exc)
    res = {"model": os.fspath(model_path), "arch": blob["arch"], "task": blob["task"], "exportable": False,
           "layer": layer, "reason": reason}
    if out_json:
        write_json(out_json, res)
    return res


def compare_layers(ref: dict[str, torch.Tensor], got: dict[str, torch.Tensor]) -> dict:
    """Per neuron node: identical spikes, or the fraction that differs and the largest difference."""
    layers, exact = [], 0
    for node, r in ref.items():
        g = got.get(node)
        if g is None:
            layers.append({"node": node, "identical": False, "missing": True})
            continue
        g = g.reshape(r.shape)
        diff = (g.float() - r.float()).abs()
        n_diff = int((diff > 0).sum())
        layers.append({"node": node, "identical": n_diff == 0, "n_differ": n_diff, "n_compared": int(r.numel()),
                       "fraction_differ": n_diff / max(1, r.numel()), "max_abs_diff": float(diff.max()),
                       "spikes_reference": int((r != 0).sum()), "spikes": int((g != 0).sum())})
        exact += n_diff == 0
    return {"summary": f"{exact}/{len(layers)} layers identical", "identical": exact == len(layers),
            "max_abs_diff": max((e.get("max_abs_diff", float("inf")) for e in layers), default=0.0),
            "fraction_differ": (sum(e.get("n_differ", 0) for e in layers)
                                / max(1, sum(e.get("n_compared", 0) for e in layers))),
            "layers": layers}


def reference_run(model, layers: list[dict], frames: torch.Tensor) -> tuple[torch.Tensor, dict, torch.Tensor]:
    """The PyTorch model on ``frames`` [T, N, ...]: (its output, {neuron node: spikes [T, N, ...]}, the output per
    step of the layer the graph ends with [T, N, ...]). Layers recorded ``time_last`` (slayer blocks, [N, ..., T])
    are moved to time-major."""
    rec: dict[str, torch.Tensor] = {}
    hooks = []
    wanted = [r for r in layers if r["kind"] == "neuron"] + [layers[-1]]
    for r in wanted:
        src = r["sources"][0]
        mod = model.get_submodule(src)

        def hook(_m, _i, out, node=r["node"], time_last=r.get("time_last", False)):
            out = out[0] if isinstance(out, tuple) else out
            rec[node] = (out.movedim(-1, 0) if time_last else out).detach().clone()
        hooks.append(mod.register_forward_hook(hook))
    try:
        with torch.no_grad():
            out = model(frames)
    finally:
        for h in hooks:
            h.remove()
    neurons = {r["node"] for r in layers if r["kind"] == "neuron"}
    return out, {k: v for k, v in rec.items() if k in neurons}, rec[layers[-1]["node"]]


def run_trained(model_path, nir_path, test_cache, *, frameworks=("spikingjelly", "snntorch", "norse"),
                n_samples: int = 8, manifest: dict | None = None, out_metrics=None) -> dict:
    """Run ``nir_path`` in each framework on the test samples the task's Lava stage selects; per framework: the
    task metric of its outputs beside the PyTorch model's on the same samples, the agreement of the two, and the
    parity of every neuron layer with the PyTorch model (identical spikes, or the fraction that differs and the
    largest difference). A framework that is not installed or cannot import the file gets ``error`` instead.

    For a lava-dl CUBA network the reference is slayer's own fixed-point run; each framework also gets
    ``parity_float_reference`` (against :func:`evsnn.nirx.slayer.float_reference`, the same update without the
    rounding) and ``metrics["slayer"]`` measures the rounding itself and the Input block's input quantisation."""
    from evsnn.data import FrameCacheDataset, time_major
    from evsnn.lava.deploy import _lava_module
    from evsnn.nirx.export import layer_records
    from evsnn.nirx.frameworks import ADAPTERS, FrameworkUnavailable, run_graph
    from evsnn.nirx.graph import read_graph
    from evsnn.nirx.slayer import float_reference, input_off_grid, is_slayer
    from evsnn.train import load_model

    model, blob = load_model(model_path)
    task = blob["task"]
    layers = layer_records(model, blob["in_shape"])
    graph = read_graph(nir_path)
    dt = float((graph.metadata or {}).get("dt", 1e-4))
    ds = FrameCacheDataset(test_cache)
    tmod = _lava_module(task)
    extra = tmod.read_extra(test_cache)
    sel = tmod.select_samples(ds, int(n_samples), extra)
    frames = time_major(torch.stack([ds[int(i)][0] for i in sel]))              # [T, N, C, H, W]
    labels = [ds[int(i)][1] for i in sel]
    torch_out, ref_spikes, ref_steps = reference_run(model, layers, frames)
    metrics = {"model": os.fspath(model_path), "nir": os.fspath(nir_path), "arch": blob["arch"], "task": task,
               "exportable": True, "dt": dt, "n_samples": len(sel), "samples": [int(i) for i in sel],
               "steps": int(frames.shape[0]), "frameworks": {}}
    float_ref = None
    if is_slayer(model):
        float_ref = float_reference(model, frames)
        metrics["slayer"] = {
            "float_reference_vs_slayer": compare_layers(ref_spikes, float_ref),
            "input_off_grid": input_off_grid(model, frames),
            "note": "the NIR file runs slayer's CUBA update in floating point; float_reference_vs_slayer is that "
                    "update (evsnn.nirx.slayer.float_reference) against slayer's fixed-point run: the part of any "
                    "difference that is slayer's rounding, not the export"}
    for fw in frameworks:
        t0 = time.perf_counter()
        try:
            steps, spikes = run_graph(graph, fw, frames, dt=dt)
        except FrameworkUnavailable as exc:
            metrics["frameworks"][fw] = {"error": str(exc)}
            log.warning("NIR in %s: %s", fw, exc)
            continue
        seconds = time.perf_counter() - t0
        out = steps.reshape(ref_steps.shape).mean(0).reshape(torch_out.shape)
        m = tmod.lava_metrics(out, torch_out, ds, sel, labels, extra, manifest)
        entry = {"metric": m["metric"], "value": m["lava"], "pytorch": m["pytorch"],
                 **{k: v for k, v in m.items() if k not in ("metric", "lava", "pytorch")},
                 "max_abs_output_diff": float((out - torch_out).abs().max()), "seconds": seconds,
                 "adapters": ADAPTERS[fw], "parity": compare_layers(ref_spikes, spikes)}
        if float_ref is not None:
            entry["parity_float_reference"] = compare_layers(float_ref, spikes)
        metrics["frameworks"][fw] = entry
        metrics["metric"] = m["metric"]
        log.info("NIR in %s: %s %.4g (PyTorch %.4g on the same %d samples); parity %s", fw, m["metric"], m["lava"],
                 m["pytorch"], len(sel), entry["parity"]["summary"])
    if out_metrics:
        write_json(out_metrics, metrics)
    return metrics


def run_file(path, *, framework: str = "spikingjelly", steps: int | None = None, input_path=None, seed: int = 0,
             samples: int = 1) -> dict:
    """``python -m evsnn nir run``: the file run in ``framework`` on ``--input`` ([T, *input] or [T, N, *input]
    .npy) or random binary events; a JSON summary (output shape, spikes per neuron node, wall time)."""
    from evsnn.nirx.frameworks import FRAMEWORKS, run_graph
    from evsnn.nirx.graph import NIRFormatError, read_graph

    if framework not in FRAMEWORKS:
        raise NIRFormatError(f"unknown framework {framework!r}; frameworks: {', '.join(FRAMEWORKS)}")
    g = read_graph(path)
    in_shape = next(tuple(int(a) for a in np.asarray(v).reshape(-1))
                    for n in g.nodes.values() if type(n).__name__ == "Input" for v in n.input_type.values())
    if input_path is not None:
        x = torch.from_numpy(np.load(input_path)).float()
        if x.dim() == len(in_shape) + 1:
            x = x.unsqueeze(1)
        if tuple(x.shape[2:]) != in_shape:
            raise NIRFormatError(f"{input_path}: input shape {list(x.shape)} does not fit the file's input "
                                 f"{list(in_shape)} (expected [T, {', '.join(map(str, in_shape))}] or [T, N, ...])")
        if steps is not None:
            x = x[:steps]
    else:
        gen = torch.Generator().manual_seed(seed)
        x = (torch.rand((steps or 8, samples, *in_shape), generator=gen) < 0.1).float()
    t0 = time.perf_counter()
    out, spikes = run_graph(g, framework, x)
    return {"file": os.fspath(path), "framework": framework, "input_shape": list(x.shape),
            "output_shape": list(out.shape), "output_mean_over_time": out.mean(0).tolist(),
            "spikes": {k: int(v.sum()) for k, v in spikes.items()}, "wall_s": round(time.perf_counter() - t0, 3)}
