"""Run a NIR graph in another framework, step by step, recording every node's output.

Each framework imports the file with its own NIR importer (spikingjelly 2.0 ``import_from_nir``, snnTorch 1.0
``import_from_nir``, Norse 1.1 ``from_nir``); evsnn only adapts what would otherwise make the run unfaithful or
impossible (``ADAPTERS``, measured against spikingjelly on Conv-LIF-AvgPool-Linear-LIF networks):

- snnTorch and Norse turn NIR's ``Flatten(start_dim=0)`` (NIR shapes have no batch axis) into a torch ``Flatten``
  that flattens the batch axis too: their ``Flatten`` modules get ``start_dim + 1`` after import.
- snnTorch takes ``tuple(kernel_size)`` of an ``AvgPool2d`` and fails on a scalar: pooling sizes become pairs.
- snnTorch hard-codes dt = 1e-4 (it ignores the file's): a file written with another dt is refused.
- snnTorch cannot import ``IF`` (it asserts r == 1, NIR's IF has r = 1/dt): refused with that reason.
- Norse has no ``AvgPool2d``: it becomes ``SumPool2d`` and the weights of the next Conv2d / Linear / Affine are
  divided by the kernel area (exact for 2x2: a division by 4).
- Norse fires on v > threshold, spikingjelly and snnTorch on v >= threshold: Norse gets the next float32 below
  each threshold, which makes its comparison ``>=`` for float32 potentials.
- Norse's LIF ignores ``v_reset`` (resets to 0): a node with another reset is refused.
"""
from __future__ import annotations

import contextlib
import copy
import io
import logging

import numpy as np
import torch
import torch.nn as nn

__all__ = ["FRAMEWORKS", "ADAPTERS", "FrameworkUnavailable", "run_graph", "available"]

FRAMEWORKS = ("spikingjelly", "snntorch", "norse")

ADAPTERS = {
    "spikingjelly": [],
    "snntorch": ["Flatten start_dim + 1 (snnTorch flattens the batch axis)",
                 "AvgPool2d sizes as pairs", "dt must be 1e-4 (hard-coded in snnTorch's importer)"],
    "norse": ["Flatten start_dim + 1 (Norse flattens the batch axis)",
              "AvgPool2d -> SumPool2d, next layer's weights / kernel area",
              "thresholds -> next float32 below (Norse fires on v > threshold)"],
}

_MODULES = {"spikingjelly": "spikingjelly.activation_based.nir_exchange", "snntorch": "snntorch",
            "norse": "norse.torch"}


class FrameworkUnavailable(RuntimeError):
    """The framework is not installed, or cannot import a node of this graph (the message says which)."""


def available(framework: str) -> str | None:
    """None when ``framework`` imports here, else why not."""
    import importlib

    try:
        importlib.import_module(_MODULES[framework])
    except Exception as exc:  # noqa: BLE001 - any import failure means the framework cannot run here
        return f"{framework} is not installed here ({type(exc).__name__}: {exc})"
    return None


def _neuron_nodes(graph) -> list[str]:
    import nir

    return [k for k, v in graph.nodes.items() if isinstance(v, (nir.IF, nir.LIF, nir.CubaLIF))]


def _fix_flatten(net: nn.Module) -> None:
    for m in net.modules():
        if isinstance(m, nn.Flatten):
            if m.start_dim >= 0:
                m.start_dim += 1
            if m.end_dim >= 0:
                m.end_dim += 1


def _successors(graph, name: str) -> list[str]:
    return [b for a, b in graph.edges if a == name]


def _norse_graph(graph, dt: float):
    """The graph Norse imports faithfully (see the module docstring)."""
    import nir

    g = copy.deepcopy(graph)
    for name, node in list(g.nodes.items()):
        if isinstance(node, nir.AvgPool2d):
            ks = np.broadcast_to(np.asarray(node.kernel_size), (2,))
            area = float(np.prod(ks))
            g.nodes[name] = nir.SumPool2d(kernel_size=ks, stride=np.broadcast_to(np.asarray(node.stride), (2,)),
                                          padding=np.broadcast_to(np.asarray(node.padding), (2,)))
            todo = list(_successors(g, name))
            while todo:
                nxt = todo.pop()
                n = g.nodes[nxt]
                if isinstance(n, nir.Flatten):  # weightless and linear: the weights after it take the factor
                    todo += _successors(g, nxt)
                    continue
                if isinstance(n, (nir.Conv2d, nir.Linear, nir.Affine)):
                    n.weight = (np.asarray(n.weight, dtype=np.float32) / np.float32(area)).astype(np.float32)
                else:
                    raise FrameworkUnavailable(f"norse: AvgPool2d node {name!r} feeds {type(n).__name__} node "
                                               f"{nxt!r}, which has no weights to take the 1/{area:g}")
    for name, node in g.nodes.items():
        if isinstance(node, (nir.LIF, nir.CubaLIF, nir.IF)):
            if not np.allclose(node.v_reset, 0.0):
                raise FrameworkUnavailable(f"norse: node {name!r} resets to {np.unique(node.v_reset)} but Norse's "
                                           "importer always resets to 0")
            th = np.asarray(node.v_threshold, dtype=np.float32)
            node.v_threshold = np.nextafter(th, np.float32(-np.inf)).astype(np.float32)
    return g


def _build(graph, framework: str, dt: float) -> nn.Module:
    import nir

    why = available(framework)
    if why:
        raise FrameworkUnavailable(why)
    if framework == "spikingjelly":
        from spikingjelly.activation_based.nir_exchange import import_from_nir

        try:
            return import_from_nir(copy.deepcopy(graph), dt=dt, step_mode="s")
        except (ValueError, NotImplementedError) as exc:  # e.g. per-neuron parameters it takes only as one value
            raise FrameworkUnavailable(f"spikingjelly cannot import this graph: {exc}") from None
    if framework == "snntorch":
        from snntorch.import_nir import import_from_nir

        if not np.isclose(dt, 1e-4):
            raise FrameworkUnavailable(f"snntorch: its importer assumes dt = 1e-4, the file has dt = {dt:g}")
        bad = [k for k, v in graph.nodes.items() if isinstance(v, nir.IF)]
        if bad:
            raise FrameworkUnavailable(f"snntorch cannot import IF nodes (its importer asserts r == 1, NIR's IF has "
                                       f"r = 1/dt): {', '.join(bad)}")
        g = copy.deepcopy(graph)
        for node in g.nodes.values():
            if isinstance(node, nir.AvgPool2d):
                for key in ("kernel_size", "stride", "padding"):
                    setattr(node, key, np.broadcast_to(np.asarray(getattr(node, key)), (2,)).copy())
        with contextlib.redirect_stdout(io.StringIO()):  # its importer prints whole weight arrays as warnings
            net = import_from_nir(g)
        _fix_flatten(net)
        return net
    if framework == "norse":
        import norse.torch as norse

        g = _norse_graph(graph, dt)
        logging.getLogger().disabled, was = True, logging.getLogger().disabled
        try:
            net = norse.from_nir(g, dt=dt)
        finally:
            logging.getLogger().disabled = was
        _fix_flatten(net)
        return net
    raise ValueError(f"unknown framework {framework!r}; frameworks: {', '.join(FRAMEWORKS)}")


def _module_of(net: nn.Module, node: str) -> nn.Module | None:
    for name, m in net.named_modules():
        if name == node or name.rsplit(".", 1)[-1] == node:
            return m
    return None


def _reset(net: nn.Module, framework: str) -> None:
    if framework == "snntorch":
        for m in net.modules():
            if hasattr(m, "reset_hidden") and getattr(m, "init_hidden", False):
                m.reset_hidden()


def run_graph(graph, framework: str, x: torch.Tensor, *, dt: float | None = None,
              record: bool = True) -> tuple[torch.Tensor, dict[str, torch.Tensor]]:
    """Run ``graph`` (a ``nir.NIRGraph``) in ``framework`` on ``x`` [T, N, *input] for T steps from the initial
    state; (output [T, N, *output], {node name: output [T, N, ...]} for every neuron node when ``record``)."""
    if dt is None:
        dt = float((graph.metadata or {}).get("dt", 1e-4))
    net = _build(graph, framework, dt)
    net.eval()
    _reset(net, framework)
    recorded: dict[str, list[torch.Tensor]] = {}
    hooks = []
    if record:
        for node in _neuron_nodes(graph):
            m = _module_of(net, node)
            if m is None:
                raise FrameworkUnavailable(f"{framework}: the imported network has no module for node {node!r}")

            def hook(_m, _inp, out, node=node):
                out = out[0] if isinstance(out, tuple) else out
                recorded.setdefault(node, []).append(out.detach().clone())
            hooks.append(m.register_forward_hook(hook))
    outs, state = [], None
    try:
        with torch.no_grad():
            for t in range(x.shape[0]):
                if framework == "snntorch":
                    y = net(x[t])
                    y = y[0] if isinstance(y, tuple) else y
                else:
                    y, state = net(x[t], state)
                outs.append(y.detach().clone())
    finally:
        for h in hooks:
            h.remove()
    return torch.stack(outs), {k: torch.stack(v) for k, v in recorded.items()}
