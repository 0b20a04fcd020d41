"""NeuroBench beside evsnn on the demo's models: both tools' operation counts side by side (developer-run, not CI).

    PYTHONPATH=src:/tmp/neurobench-site .venv/bin/python benchmarks/neurobench_compare.py [--results results]
        [--config config.yaml] [--models gesture_plif,pose_cnn] [--samples 4]

For every model of the config (spikingjelly SNNs, lava-dl slayer SDNNs, plain torch CNNs / ANNs) it runs one batch
through NeuroBench's metrics (SynapticOperations: Effective_MACs, Effective_ACs, Dense; ActivationSparsity;
Footprint; ConnectionSparsity; ParameterCount) and through ``evsnn.energy`` (count_ops, static_metrics) and prints
the totals and every layer side by side. The trained weights and the test cache of a finished demo run are used
when ``<results>/models/<model>/model.pt`` exists; otherwise the architecture is built with the config's ``net`` at a
small input and fed Poisson event counts (the comparison of the definitions does not need trained weights).

It says where NeuroBench cannot hook a layer (its connection layers are nn.Linear, nn.Conv1d/2d/3d and recurrent
ones: transposed convolutions, including slayer's ConvT blocks, are not counted at all, so its totals lack them),
where it hooks a layer but computes something else (slayer synapses: nn.Conv3d subclasses; in NeuroBench's
binary copy slayer's weight-norm pre-hook recomputes the weight from weight_g / weight_v and its quantisation hook
stays on, so the "binary" layer sums real weights and even reports negative counts; slayer's Pool synapses, without
either, agree exactly), and where it reports 0.0 for something
it did not measure (ActivationSparsity returns 0.0 when no activation layer was hooked: that is not "no zeros")
instead of comparing its 0.0 against our zero.

NeuroBench is not a dependency of evsnn and must not be added to its pins: neurobench 2.3.0 declares torchaudio,
tonic < 2 and snntorch, which the project's stack (torch 2.13 CPU, numpy < 2, Python 3.11) does not carry.
Its metric code itself needs only torch and snntorch, so install the two without their dependencies into a
separate folder and put it on PYTHONPATH for this script only:

    .venv/bin/python -m pip install --no-deps --target /tmp/neurobench-site neurobench==2.3.0 snntorch

(or a separate virtual environment: ``python3.11 -m venv /tmp/nbvenv && /tmp/nbvenv/bin/pip install neurobench``
plus this project's requirements, if you want NeuroBench's own dependency resolution).
"""
from __future__ import annotations

import argparse
import sys
from pathlib import Path

import torch
import torch.nn as nn
import yaml

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "src"))

from evsnn.energy import _counted_layers, count_ops, static_metrics  # noqa: E402

#: small inputs and outputs per task for models without a trained checkpoint
FALLBACK = {"gesture": ((2, 32, 32), 11), "pose": ((1, 32, 44), 13), "depth": ((4, 32, 40), 1)}

INSTALL = ("neurobench is not importable. Install it apart from the project's pins, e.g.\n"
           "    .venv/bin/python -m pip install --no-deps --target /tmp/neurobench-site neurobench==2.3.0 snntorch\n"
           "and run with PYTHONPATH=src:/tmp/neurobench-site (see this script's docstring).")


class BatchFirst(nn.Module):
    """NeuroBench divides by ``data[0].size(0)``: it wants the batch first; evsnn models are time-major."""

    def __init__(self, net):
        super().__init__()
        self.net = net

    def forward(self, x):
        return self.net(x.transpose(0, 1).contiguous() if x.dim() == 5 else x)


def _models(args):
    from evsnn.models import build_model
    from evsnn.train import load_model

    cfg = yaml.safe_load(open(args.config))
    names = args.models.split(",") if args.models else list(cfg["models"])
    for name in names:
        m = cfg["models"][name]
        ckpt = Path(args.results) / "models" / name / "model.pt"
        if ckpt.exists():
            from evsnn.data import FrameCacheDataset, time_major

            model, _ = load_model(ckpt)
            ds = FrameCacheDataset(Path(args.results) / "frames" / m["frames"] / "test.h5")
            x = time_major(torch.stack([ds[i][0] for i in range(min(args.samples, len(ds)))]).float())
            yield name, m["arch"], "trained", model.eval(), x
            continue
        shape, n_cls = FALLBACK.get(m["task"], ((2, 32, 32), 4))
        net = dict(m.get("net", {}))
        if net.get("modality") == "monocular":
            shape = (shape[0] // 2, *shape[1:])
        try:
            torch.manual_seed(0)
            model = build_model(m["arch"], net, in_shape=shape, n_classes=n_cls).eval()
        except Exception as exc:  # noqa: BLE001 - report and go on with the other models
            print(f"\n== {name} ({m['arch']}): cannot build at the fallback input {shape}: {exc}")
            continue
        x = torch.poisson(torch.full((3, args.samples, *shape), 0.6))
        yield name, m["arch"], f"untrained, Poisson counts {tuple(x.shape)}", model, x


def _neurobench_side(model, x):
    """NeuroBench's metrics on one batch, and its per-layer counts keyed by our layer names."""
    from neurobench.blocks.layer import SUPPORTED_LAYERS
    from neurobench.metrics.static.connection_sparsity import ConnectionSparsity
    from neurobench.metrics.static.footprint import Footprint
    from neurobench.metrics.static.parameter_count import ParameterCount
    from neurobench.metrics.utils.layers import single_layer_MACs
    from neurobench.metrics.workload.activation_sparsity import ActivationSparsity
    from neurobench.metrics.workload.synaptic_operations import SynapticOperations
    from neurobench.models import TorchModel

    wrapped = TorchModel(BatchFirst(model))
    out = {"static": {}}
    for key, metric in (("footprint_bytes", Footprint()), ("parameters", ParameterCount()),
                        ("connection_sparsity", ConnectionSparsity())):
        try:
            out["static"][key] = metric(wrapped)
        except Exception as exc:  # noqa: BLE001
            out["static"][key] = f"error: {type(exc).__name__}: {exc}"
    for cls in _activation_classes():
        wrapped.add_activation_module(cls)
    wrapped.register_hooks()
    xb = x.transpose(0, 1).contiguous() if x.dim() == 5 else x
    try:
        from spikingjelly.activation_based import functional

        functional.reset_net(model)
    except ImportError:
        pass
    with torch.no_grad():
        preds = wrapped(xb)
    data = (xb, torch.zeros(xb.shape[0]))
    names = {id(m): n.removeprefix("net.") for n, m in wrapped.__net__().named_modules()}
    per_layer = {}
    for hook in wrapped.connection_hooks:
        eff = dense = 0
        for inp in hook.inputs:
            spikes = inp[0] if len(inp) == 1 else inp
            try:
                e, spiking = single_layer_MACs(spikes, hook.layer)
                d, _ = single_layer_MACs(spikes, hook.layer, total=True)
            except Exception as exc:  # noqa: BLE001
                e, d, spiking = f"error: {type(exc).__name__}", None, None
            if isinstance(e, str):
                eff = e
                break
            eff += e
            dense += d
        per_layer[names.get(id(hook.layer), "?")] = {"effective": eff, "dense": dense,
                                                     "n_inputs": len(hook.inputs)}
    try:
        out["synops"] = SynapticOperations()(wrapped, preds, data)
    except Exception as exc:  # noqa: BLE001
        out["synops"] = f"error: {type(exc).__name__}: {exc}"
    n_act = len(wrapped.activation_hooks)
    out["activation_sparsity"] = ActivationSparsity()(wrapped, preds, data)
    out["activation_hooks"] = n_act
    out["layers"] = per_layer
    out["hookable"] = SUPPORTED_LAYERS
    wrapped.cleanup_hooks()
    return out


def _activation_classes():
    classes = []
    try:
        from spikingjelly.activation_based.neuron import BaseNode

        classes.append(BaseNode)
    except ImportError:
        pass
    try:
        from lava.lib.dl.slayer.neuron.base import Neuron

        classes.append(Neuron)
    except ImportError:
        pass
    return classes


def _fmt(v):
    if v is None:
        return "-"
    if isinstance(v, str):
        return v
    return f"{v:,.0f}" if abs(v) >= 100 else f"{v:.4g}"


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--config", default=str(ROOT / "config.yaml"))
    ap.add_argument("--results", default=str(ROOT / "results"))
    ap.add_argument("--models", default="")
    ap.add_argument("--samples", type=int, default=2)
    args = ap.parse_args(argv)
    try:
        import neurobench  # noqa: F401
    except ImportError:
        print(INSTALL)
        return 2
    torch.set_num_threads(1)
    for name, arch, source, model, x in _models(args):
        print(f"\n== {name} ({arch}; {source})")
        static = static_metrics(model)
        try:
            nb = _neurobench_side(model, x)
        except Exception as exc:  # noqa: BLE001
            print(f"   NeuroBench failed on this model: {type(exc).__name__}: {exc}")
            nb = None
        ours = count_ops(model, x)
        T = ours["total"]
        if nb is None:
            continue
        syn = nb["synops"] if isinstance(nb["synops"], dict) else {}
        rows = [
            ("Effective_MACs", T["effective_macs"], syn.get("Effective_MACs", nb["synops"])),
            ("Effective_ACs", T["effective_acs"], syn.get("Effective_ACs")),
            ("Dense", T["nb_dense"], syn.get("Dense")),
            ("evsnn dense MACs (dense-input layers)", T["macs"], None),
            ("evsnn MACs if every layer were dense", T["macs_if_dense"], None),
            ("evsnn ACs (zero weights incl.)", T["acs"], None),
            ("footprint_bytes (fresh model)", static["footprint_bytes"], nb["static"]["footprint_bytes"]),
            ("parameters (all)", static["parameters"], nb["static"]["parameters"]),
            ("connection_sparsity", static["connection_sparsity"], nb["static"]["connection_sparsity"]),
        ]
        act_note = ""
        if nb["activation_hooks"] == 0:
            act_note = ("NeuroBench hooked no activation layer and returns 0.0 as a placeholder: not a measurement, "
                        "not compared")
            rows.append(("activation_sparsity", T["activation_sparsity"], "(0.0 placeholder)"))
        else:
            rows.append(("activation_sparsity", T["activation_sparsity"], nb["activation_sparsity"]))
        print(f"   {'figure (per sample)':40s} {'evsnn':>16s} {'NeuroBench':>16s}")
        for label, a, b in rows:
            print(f"   {label:40s} {_fmt(a):>16s} {_fmt(b):>16s}")
        if act_note:
            print(f"   note: {act_note}")
        n = ours["n_samples"]
        print("   per layer (per sample; NeuroBench's own per-layer effective / dense from its hooks):")
        for lname, e in ours["layers"].items():
            nbl = nb["layers"].get(lname)
            mod = dict(model.named_modules())[lname]
            if nbl is None:
                why = ("not a NeuroBench connection layer (transposed convolution)"
                       if isinstance(mod, nn.modules.conv._ConvTransposeNd) else
                       "not hooked by NeuroBench (not a child it walks to, or not one of its layer types)")
                print(f"     {lname:28s} {e['type']:16s} evsnn eff {_fmt(e['effective']):>12s} "
                      f"dense {_fmt(e['nb_dense']):>12s} | NeuroBench: {why}; its totals lack this layer")
                continue
            if isinstance(nbl["effective"], str):
                print(f"     {lname:28s} {e['type']:16s} NeuroBench {nbl['effective']}")
                continue
            ne, nd = nbl["effective"] / n, nbl["dense"] / n
            flag = "" if (abs(ne - e["effective"]) < 0.5 and abs(nd - e["nb_dense"]) < 0.5) else "  <- differs"
            if flag and type(mod).__module__.startswith("lava.lib.dl.slayer"):
                why = ("weight-norm pre-hook recomputes the weight from weight_g / weight_v"
                       if hasattr(mod, "weight_g") else "weight quantisation hook stays on")
                flag += (f" (slayer synapse: in NeuroBench's binary copy the {why}, so it sums real weights, "
                         "not 0/1: negative counts are possible)")
            print(f"     {lname:28s} {e['type']:16s} evsnn eff {_fmt(e['effective']):>12s} dense "
                  f"{_fmt(e['nb_dense']):>12s} | NeuroBench eff {_fmt(ne):>12s} dense {_fmt(nd):>12s}{flag}")
        missing = [ln for ln in _counted_layers(model) if ln not in ours["layers"]]
        if missing:
            print(f"   layers not run in this pass: {', '.join(missing)}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
