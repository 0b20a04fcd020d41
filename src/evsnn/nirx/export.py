"""A trained spiking model -> a NIR graph (``model.nir``), through spikingjelly 2.0's exporter
(``spikingjelly.activation_based.nir_exchange.export_to_nir``), or for lava-dl CUBA networks :mod:`evsnn.nirx.slayer`.

NIR expresses a chain of Conv2d, Linear/Affine, AvgPool2d, Flatten and IF / LIF / CubaLIF neurons with a hard reset.
It has no max pooling, transposed convolution, batch norm, upsampling or sigma-delta neuron. Before export:

- batch norm (eval mode: a per-channel affine map) is folded into the convolution before it;
- dropout (the identity at inference) is left out;
- spikingjelly's ``VotingLayer`` (the mean of each group of ``voters`` outputs) becomes a ``Linear`` with fixed
  weights ``1 / voters``, so that the file computes the model's votes at every step: the time mean of the graph's
  output is ``model(frames)``.

A model exports when it lists its layers in order (``nir_layers() -> [(name, module)]``) and every one of them is
one of the above. Otherwise :func:`blocker` names the first layer that stops it, as "<type> at <name>" (for a
model that is no chain of layers: its first layer NIR cannot express, or the model itself).

A network of lava-dl slayer blocks (``model.blocks``) exports when every block is a CUBA Input, Conv, Pool,
Flatten or Dense block NIR expresses: :mod:`evsnn.nirx.slayer` (its own writer, same summary and metadata).
"""
from __future__ import annotations

import copy
import os
from collections import OrderedDict

import numpy as np
import torch
import torch.nn as nn

__all__ = ["NotExportable", "DT", "blocker", "export_chain", "export_model", "layer_records", "node_name"]

#: the time step written to every file: 1e-4 s is what snnTorch's importer assumes (it ignores any other)
DT = 1e-4


class NotExportable(ValueError):
    """A model holds a layer NIR cannot express; ``layer`` is "<type> at <name>"."""

    def __init__(self, layer: str, why: str = ""):
        self.layer = layer
        super().__init__(f"not exportable: {layer}" + (f" ({why})" if why else ""))


def node_name(source: str) -> str:
    """The NIR node name of a model layer (dots are not allowed in torch module names)."""
    return source.replace(".", "_")


def _sj():
    from spikingjelly.activation_based import layer, neuron

    return layer, neuron


def _type_name(m: nn.Module) -> str:
    mod = type(m).__module__
    if mod.startswith("lava.lib.dl.slayer.block."):
        return f"slayer {mod.rsplit('.', 1)[-1]}.{type(m).__name__}"
    return type(m).__name__


def _kind(m: nn.Module) -> str | None:
    """What a layer becomes in NIR: conv, linear, avgpool, flatten, neuron, bn (folded), drop, vote; None: nothing."""
    layer, neuron = _sj()
    if isinstance(m, nn.Conv2d) and not isinstance(m, nn.ConvTranspose2d):
        return "conv"
    if isinstance(m, nn.Linear):
        return "linear"
    if isinstance(m, nn.AvgPool2d):
        return "avgpool"
    if isinstance(m, nn.Flatten):
        return "flatten"
    if isinstance(m, (neuron.IFNode, neuron.LIFNode, neuron.ParametricLIFNode, neuron.CUBALIFNode)):
        return "neuron"
    if isinstance(m, nn.BatchNorm2d):
        return "bn"
    if isinstance(m, (nn.Dropout, nn.Identity)) or type(m).__name__ == "Dropout":
        return "drop"
    if isinstance(m, layer.VotingLayer):
        return "vote"
    return None


def _check_layer(name: str, m: nn.Module) -> None:
    kind = _kind(m)
    if kind is None:
        raise NotExportable(f"{_type_name(m)} at {name}", "NIR has no such node")
    if kind == "conv":
        if m.groups != 1:
            raise NotExportable(f"{_type_name(m)} at {name}", "grouped convolution")
        if m.padding_mode != "zeros":
            raise NotExportable(f"{_type_name(m)} at {name}", f"padding_mode {m.padding_mode!r}")
    if kind == "avgpool" and (m.ceil_mode or m.divisor_override is not None
                              or (np.any(m.padding) and not m.count_include_pad)):
        raise NotExportable(f"{_type_name(m)} at {name}", "ceil_mode, divisor_override or padding NIR lacks")
    if kind == "neuron":
        if m.v_reset is None:
            raise NotExportable(f"{_type_name(m)} at {name}", "soft reset; NIR neurons reset to v_reset")
        if type(m).__name__ == "LIFNode" and not m.decay_input and m.v_reset != 0.0:
            raise NotExportable(f"{_type_name(m)} at {name}", "decay_input=False with v_reset != 0")


def _leaves(model: nn.Module):
    """Named leaf layers in registration order; a slayer block and a spikingjelly neuron count as one layer (their
    surrogate functions and inner parts are not layers)."""
    from spikingjelly.activation_based.neuron import BaseNode

    whole: list[str] = []
    for name, m in model.named_modules():
        if not name or any(name.startswith(p + ".") for p in whole):
            continue
        if type(m).__module__.startswith("lava.lib.dl.slayer.block.") or isinstance(m, BaseNode):
            whole.append(name)
            yield name, m
        elif next(m.children(), None) is None:
            yield name, m


def chain(model: nn.Module) -> list[tuple[str, nn.Module]]:
    """The model's layers in forward order; raises :class:`NotExportable` naming the first one NIR cannot express
    (or the model, when it is not a chain of layers). A network of lava-dl slayer blocks is checked by
    :func:`evsnn.nirx.slayer.cuba_chain`."""
    from evsnn.nirx.slayer import cuba_chain, is_slayer

    if is_slayer(model):
        return [(name, b) for name, b, _ in cuba_chain(model)]
    if not hasattr(model, "nir_layers"):
        for name, m in _leaves(model):
            _check_layer(name, m)
        raise NotExportable(f"{type(model).__name__} at (model)",
                            "its forward is not a chain of layers (no nir_layers())")
    layers = list(model.nir_layers())
    prev = None
    for name, m in layers:
        _check_layer(name, m)
        if _kind(m) == "bn" and (prev is None or _kind(prev) != "conv"):
            raise NotExportable(f"{_type_name(m)} at {name}", "batch norm not after a convolution cannot be folded")
        if _kind(m) != "drop":
            prev = m
    return layers


def blocker(model: nn.Module) -> str | None:
    """"<layer type> at <name>" of the first layer NIR cannot express; None when the model exports."""
    try:
        chain(model)
    except NotExportable as exc:
        return exc.layer
    return None


def _fold_bn(conv: nn.Conv2d, bn: nn.BatchNorm2d) -> nn.Conv2d:
    """conv followed by eval-mode batch norm as one convolution (float64 arithmetic, stored as float32)."""
    layer, _ = _sj()
    w = conv.weight.detach().double()
    b = conv.bias.detach().double() if conv.bias is not None else torch.zeros(w.shape[0], dtype=torch.float64)
    scale = bn.weight.detach().double() / torch.sqrt(bn.running_var.double() + bn.eps)
    shift = bn.bias.detach().double() - bn.running_mean.double() * scale
    out = layer.Conv2d(conv.in_channels, conv.out_channels, conv.kernel_size, stride=conv.stride,
                       padding=conv.padding, dilation=conv.dilation, groups=conv.groups, bias=True)
    with torch.no_grad():
        out.weight.copy_((w * scale.view(-1, 1, 1, 1)).float())
        out.bias.copy_((b * scale + shift).float())
    return out


def _voting_linear(vote: nn.Module, n_in: int) -> nn.Module:
    layer, _ = _sj()
    v = int(vote.voting_size)
    n_out = n_in // v
    lin = layer.Linear(n_in, n_out, bias=False)
    w = torch.zeros(n_out, n_in)
    for k in range(n_out):
        w[k, k * v:(k + 1) * v] = 1.0 / v
    with torch.no_grad():
        lin.weight.copy_(w)
    return lin


def _pair(v) -> tuple[int, int]:
    return tuple(int(a) for a in v) if isinstance(v, (tuple, list)) else (int(v), int(v))


def export_chain(model: nn.Module) -> tuple[nn.Sequential, list[dict]]:
    """The model as a single-step spikingjelly ``Sequential`` of NIR-expressible layers (copies; the model is left
    as it was) and one record per exported layer: node name, the model layers it comes from, kind."""
    from spikingjelly.activation_based import functional

    layers = chain(model)
    mods: list[tuple[str, nn.Module]] = []
    records: list[dict] = []
    last_width = None
    for name, m in layers:
        kind = _kind(m)
        if kind == "drop":
            continue
        if kind == "bn":
            prev_name, prev = mods[-1]
            mods[-1] = (prev_name, _fold_bn(prev, m))
            records[-1]["sources"].append(name)
            records[-1]["folded_batch_norm"] = True
            continue
        if kind == "vote":
            if last_width is None:
                raise NotExportable(f"{_type_name(m)} at {name}", "no Linear layer before it gives its width")
            mods.append((node_name(name), _voting_linear(m, last_width)))
            records.append({"node": node_name(name), "sources": [name], "kind": "vote"})
            continue
        if kind == "linear":
            last_width = m.out_features
        c = copy.deepcopy(m)
        if kind == "avgpool":  # as pairs: snnTorch's importer takes tuple(kernel_size) and fails on a scalar
            c.kernel_size, c.stride, c.padding = (_pair(c.kernel_size), _pair(c.stride or c.kernel_size),
                                                  _pair(c.padding))
        mods.append((node_name(name), c))
        records.append({"node": node_name(name), "sources": [name], "kind": kind})
    net = nn.Sequential(OrderedDict(mods))
    functional.set_step_mode(net, "s")
    functional.reset_net(net)
    net.eval()
    return net, records


def layer_records(model: nn.Module, in_shape) -> list[dict]:
    """One record per exported NIR node (node name, the model layers it comes from, kind; ``time_last`` for
    slayer blocks, whose outputs are [N, ..., T]), as :func:`export_model` writes them."""
    from evsnn.nirx.slayer import export_cuba, is_slayer

    if is_slayer(model):
        return export_cuba(model, in_shape)[1]
    return export_chain(model)[1]


def export_model(model: nn.Module, in_shape, path: str | os.PathLike | None = None, *, dt: float = DT) -> dict:
    """Export ``model`` (input one time step of shape ``in_shape`` = (C, H, W)) to a NIR file at ``path``; a
    JSON-able summary (nodes, kinds, the model layers each node comes from). Raises :class:`NotExportable`.

    spikingjelly models go through spikingjelly's exporter; networks of lava-dl slayer CUBA blocks through
    :func:`evsnn.nirx.slayer.export_cuba` (the summary then lists each neuron's decays and threshold)."""
    import nir

    from evsnn.nirx.slayer import export_cuba, is_slayer
    from evsnn.util import atomic_path

    extra: dict = {}
    if is_slayer(model):
        graph, records, neurons = export_cuba(model, in_shape, dt=dt)
        n_weights = int(sum(np.asarray(n.weight).size for k, n in graph.nodes.items()
                            if hasattr(n, "weight") and not k.endswith("_scale")
                            and not any(r["node"] == k and r["kind"] == "pool" for r in records)))
        extra = {"source": "lava-dl slayer CUBA blocks", "neurons": neurons,
                 "fixed_point": "slayer rounds the decayed current and voltage to multiples of 1/4096 (towards "
                                "zero) and quantises the Input block's input to steps of 1/32; NIR's CubaLIF "
                                "runs the same update in floating point"}
    else:
        from spikingjelly.activation_based.nir_exchange import export_to_nir

        net, records = export_chain(model)
        example = torch.zeros(1, *[int(v) for v in in_shape])
        graph = export_to_nir(net, example, dt=dt)
        n_weights = int(sum(p.numel() for p in net.parameters()))
    graph.metadata = {"evsnn": "exported by evsnn.nirx.export", "dt": float(dt),
                      "readout": "the model's output is the mean over time steps of the graph's output",
                      "input": "one event frame per time step, shape " + "x".join(map(str, in_shape))}
    if extra:
        graph.metadata["slayer"] = extra["fixed_point"]
    if path is not None:
        with atomic_path(path, suffix=".nir") as tmp:
            nir.write(tmp, graph)
    nodes = {k: type(v).__name__ for k, v in graph.nodes.items()}
    return {"dt": float(dt), "in_shape": [int(v) for v in in_shape], "nodes": nodes,
            "edges": [list(e) for e in graph.edges], "layers": records,
            "folded_batch_norm": [r["sources"][-1] for r in records if r.get("folded_batch_norm")],
            "n_weights": n_weights, **extra}
