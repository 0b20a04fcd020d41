"""Reading a NIR file with checks that name the node: node types evsnn runs, edges, shapes; and a summary."""
from __future__ import annotations

import os

import numpy as np

from evsnn.errors import EvsnnError

__all__ = ["NIRFormatError", "SUPPORTED", "read_graph", "describe"]

#: node types the frameworks evsnn runs import (plus the graph's Input and Output)
SUPPORTED = ("Input", "Output", "Conv2d", "Linear", "Affine", "AvgPool2d", "SumPool2d", "Flatten", "IF", "LIF",
             "CubaLIF")


class NIRFormatError(EvsnnError):
    """A NIR file evsnn cannot run; the message names the file and the node."""


def _shape(types: dict) -> list[int] | None:
    if not types:
        return None
    v = next(iter(types.values()))
    return [int(a) for a in np.asarray(v).reshape(-1)]


def read_graph(path: str | os.PathLike):
    """``nir.read(path)``, checked: every node of a type evsnn runs, every edge between existing nodes, every node
    on a path from the input to the output, and each edge's source output shape equal to its target input shape."""
    import nir

    path = os.fspath(path)
    try:
        g = nir.read(path)
    except ValueError as exc:
        if "type mismatch" in str(exc):  # nir.read's own shape inference: "<node>.output: [..] -> <node>.input: [..]"
            raise NIRFormatError(f"{path}: inconsistent shapes: the edge {str(exc).split('type mismatch: ')[-1]}"
                                 ) from None
        raise NIRFormatError(f"{path}: not a readable NIR file ({type(exc).__name__}: {exc})") from None
    except Exception as exc:  # noqa: BLE001 - h5py / nir raise many kinds on a bad file
        raise NIRFormatError(f"{path}: not a readable NIR file ({type(exc).__name__}: {exc})") from None
    for name, node in g.nodes.items():
        if type(node).__name__ not in SUPPORTED:
            raise NIRFormatError(f"{path}: node {name!r} is a {type(node).__name__}, which evsnn does not map to "
                                 f"spikingjelly, snnTorch and Norse (mapped: {', '.join(SUPPORTED)})")
    for a, b in g.edges:
        for end in (a, b):
            if end not in g.nodes:
                raise NIRFormatError(f"{path}: edge {a!r} -> {b!r} names node {end!r}, which the graph does not have")
    ins = [k for k, v in g.nodes.items() if type(v).__name__ == "Input"]
    outs = [k for k, v in g.nodes.items() if type(v).__name__ == "Output"]
    if len(ins) != 1 or len(outs) != 1:
        fed = ", ".join(f"{i} -> {b}" for i in ins for a, b in g.edges if a == i)
        feeding = ", ".join(f"{a} -> {o}" for o in outs for a, b in g.edges if b == o)
        raise NIRFormatError(f"{path}: the graph has {len(ins)} Input nodes ({fed}) and {len(outs)} Output nodes "
                             f"({feeding}); evsnn runs graphs with one of each: an edge is missing (NIR gives a node "
                             "without incoming or outgoing edges an Input or Output of its own)")
    succ: dict[str, list[str]] = {k: [] for k in g.nodes}
    pred: dict[str, list[str]] = {k: [] for k in g.nodes}
    for a, b in g.edges:
        succ[a].append(b)
        pred[b].append(a)
    reach, todo = set(), [ins[0]]
    while todo:
        n = todo.pop()
        if n not in reach:
            reach.add(n)
            todo += succ[n]
    for name in g.nodes:
        if name not in reach:
            missing = "no incoming edge" if not pred[name] else f"its inputs {pred[name]} are not reached either"
            raise NIRFormatError(f"{path}: node {name!r} is not reached from the input {ins[0]!r} ({missing}: a "
                                 "missing edge)")
        if name != outs[0] and not succ[name]:
            raise NIRFormatError(f"{path}: node {name!r} has no outgoing edge (a missing edge to the output)")
    for a, b in g.edges:
        so, ti = _shape(g.nodes[a].output_type), _shape(g.nodes[b].input_type)
        if so is not None and ti is not None and so != ti and int(np.prod(so)) != 0 and int(np.prod(ti)) != 0:
            raise NIRFormatError(f"{path}: edge {a!r} -> {b!r}: {a!r} puts out shape {list(so)} but {b!r} takes "
                                 f"{list(ti)}")
    return g


def _params(node) -> dict:
    out = {}
    for key in ("tau", "tau_mem", "tau_syn", "r", "v_leak", "v_threshold", "v_reset", "w_in"):
        if hasattr(node, key):
            v = np.unique(np.asarray(getattr(node, key), dtype=np.float64))
            out[key] = float(v[0]) if v.size == 1 else {"min": float(v.min()), "max": float(v.max()),
                                                        "distinct": int(v.size)}
    for key in ("kernel_size", "stride", "padding", "dilation", "start_dim", "end_dim"):
        if hasattr(node, key) and not callable(getattr(node, key)):
            v = np.asarray(getattr(node, key))
            out[key] = v.tolist()
    if hasattr(node, "weight"):
        out["weight_shape"] = list(np.asarray(node.weight).shape)
    return out


def describe(path: str | os.PathLike) -> dict:
    """Nodes in graph order with type, input and output shapes and neuron / layer parameters; edges; metadata."""
    g = read_graph(path)
    order, seen = [], set()
    ins = [k for k, v in g.nodes.items() if type(v).__name__ == "Input"]
    todo = list(ins)
    while todo:
        n = todo.pop(0)
        if n in seen:
            continue
        seen.add(n)
        order.append(n)
        todo += [b for a, b in g.edges if a == n]
    nodes = []
    for name in order:
        node = g.nodes[name]
        nodes.append({"name": name, "type": type(node).__name__, "input": _shape(node.input_type),
                      "output": _shape(node.output_type), **_params(node)})
    meta = {k: (v.item() if hasattr(v, "item") else v) for k, v in (g.metadata or {}).items()}
    return {"path": os.fspath(path), "n_nodes": len(nodes), "nodes": nodes, "edges": [list(e) for e in g.edges],
            "metadata": meta,
            "n_weights": int(sum(np.asarray(n.weight).size for n in g.nodes.values() if hasattr(n, "weight")))}
