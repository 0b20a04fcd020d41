"""Operation counts and energy per inference, one implementation for every model of every task.

``count_ops(model, x)`` runs ``model`` once on a real input batch with forward hooks on its synaptic layers
(every ``nn.Conv1d/2d/3d``, ``nn.ConvTranspose1d/2d/3d``, ``nn.Linear``, ``nn.RNN/GRU/LSTM`` and their cells,
including subclasses: spikingjelly's ``layer.Conv2d``/``layer.Linear`` and lava-dl slayer synapses, which are
``nn.Conv3d``/``nn.ConvTranspose3d`` working on ``[N, C, H, W, T]``) and on its neurons (spikingjelly
``BaseNode``, slayer ``neuron``), and counts per layer and in total, **per sample** (divided by the batch size):

- ``macs``: multiply-accumulates of layers whose input is dense / real valued, everything a dense kernel computes
  (zeros and padding taps included, as on a GPU): conv ``out_elements * (C_in/groups) * prod(kernel)``, transposed
  conv ``in_elements * (C_out/groups) * prod(kernel)`` (each input element scatters ``prod(kernel) * C_out/groups``
  products), linear ``in_elements * out_features``, recurrent ``gates * (input + hidden) * hidden`` per step and
  direction. Every call counts, so a layer run at T time steps counts T times.
- ``acs``: accumulates of layers whose input is event-driven (binary spikes or sigma-delta messages): the exact
  number of synapses that the non-zero inputs reach, summed over time steps. It is computed exactly, borders,
  stride, dilation, groups and output crops included, by running the layer's own ``forward`` on the non-zero
  mask of its input with every weight set to one and no bias: each output element then holds the number of
  non-zero inputs connected to it, and the sum over outputs is the number of (event, synapse) pairs.
- ``neuron_updates``: state updates of spiking / sigma-delta neurons (elements x time steps), reported apart.

**Which inputs are event-driven (the rule).** A call of a synaptic layer counts ACs when

1. the layer is a lava-dl slayer synapse (it lives in a slayer block: its input is the message stream of the
   previous block): binary input -> ``spikes``, graded input -> ``deltas``, non-zeros counted either way; or
2. the layer may be event-driven *by position* and its input is binary *by data*: position = the innermost
   enclosing module that declares ``is_spiking`` (evsnn models do) says True, or, when none declares it, the
   model contains spiking neurons (``event_driven=None``, the default; pass True/False to force it);
   data = every value of this call's input is 0 or 1 (``spikes``).

Everything else is dense (``macs``): all layers of an ANN (ReLU zeros are not skipped by dense hardware), the
ANN branch of a hybrid model (it declares ``is_spiking = False``), and layers of an SNN fed with real values:
the first layer on event *counts* (any value > 1), projections of ANN features into an SNN. An event frame
that holds only 0/1 is an event stream, so an SNN's first layer on binary frames counts ACs. The model runs in
``eval()`` mode for counting (dropout would scale spikes to 1/(1-p)) and gets its training mode back after.

Not counted: biases and batch norm (foldable into the weights at inference), max pooling and element-wise
products (comparisons / O(activations), small next to the synaptic operations), the spikingjelly ``VotingLayer``
average, and the non-spiking readout integrators (O(outputs)). Slayer ``Pool`` synapses are counted (on Loihi a
sum pooling is a synaptic layer).

``energy(ops, table)`` turns the counts into energy per inference: ``E = MACs * E_MAC + ACs * E_AC
[+ neuron_updates * E_neuron where the table has one]``, in pJ and mJ, with the table name and its source.
"""
from __future__ import annotations

import contextlib
import math
from typing import Any

import torch
import torch.nn as nn

__all__ = ["ENERGY_TABLES", "count_ops", "energy", "energy_report"]

# ------------------------------------------------------------------------------------------ energy tables
_HOROWITZ = ('M. Horowitz, "1.1 Computing\'s energy problem (and what we can do about it)", IEEE ISSCC 2014, '
             "pp. 10-14, doi:10.1109/ISSCC.2014.6757323; energy per operation table, 45 nm, 0.9 V")

ENERGY_TABLES: dict[str, dict[str, Any]] = {
    # The table of Horowitz (ISSCC 2014) used by the SNN energy literature (StereoSpike / Depth-SNN, hybrid
    # ANN-SNN papers): 32-bit float add 0.9 pJ, 32-bit float mult 3.7 pJ -> MAC = mult + add = 4.6 pJ, AC = 0.9 pJ.
    "horowitz45_fp32": {
        "mac_pj": 4.6, "ac_pj": 0.9, "neuron_pj": None,
        "source": _HOROWITZ + ": 32-bit float mult 3.7 pJ + 32-bit float add 0.9 pJ = 4.6 pJ per MAC; "
                              "32-bit float add 0.9 pJ per AC",
        "notes": "arithmetic only (no memory access), 45 nm; the usual basis of SNN-vs-ANN energy ratios",
    },
    # Same table, 8-bit integer arithmetic: int8 add 0.03 pJ, int8 mult 0.2 pJ.
    "horowitz45_int8": {
        "mac_pj": 0.23, "ac_pj": 0.03, "neuron_pj": None,
        "source": _HOROWITZ + ": 8-bit int mult 0.2 pJ + 8-bit int add 0.03 pJ = 0.23 pJ per MAC; "
                              "8-bit int add 0.03 pJ per AC",
        "notes": "arithmetic only (no memory access), 45 nm; for quantised (8-bit) inference",
    },
    # Loihi (Intel, 14 nm), Davies et al., IEEE Micro 2018, Table 1 (pre-silicon characterisation as widely quoted):
    # minimum energy per synaptic spike operation 23.6 pJ, energy per (active) neuron update 52 pJ.
    "loihi": {
        "mac_pj": 23.6, "ac_pj": 23.6, "neuron_pj": 52.0,
        "source": 'M. Davies et al., "Loihi: A Neuromorphic Manycore Processor with On-Chip Learning", IEEE Micro '
                  "38(1):82-99, 2018, doi:10.1109/MM.2018.112130359, Table 1: energy per synaptic spike op "
                  "(minimum) 23.6 pJ, energy per neuron update (active) 52 pJ (inactive 1.7 pJ)",
        "notes": "APPROXIMATE: 23.6 pJ is the table's minimum per synaptic op and 52 pJ the active-neuron update; "
                 "spike routing (tile hops), idle/static power and the I/O are not included. The figures are "
                 "quoted from the paper's Table 1 as cited across the SNN literature and were not re-checked "
                 "against the PDF here. Dense MACs (an SNN's first layer on event counts, an ANN branch) are "
                 "costed as one synaptic op per connection, i.e. the dense input sent as graded spikes "
                 "(Loihi 2); Loihi 1 has no graded spikes, so for it this is a lower bound.",
    },
}


def _table(table) -> tuple[str, dict]:
    if isinstance(table, str):
        if table not in ENERGY_TABLES:
            raise ValueError(f"unknown energy table {table!r}; available: {', '.join(ENERGY_TABLES)}")
        return table, ENERGY_TABLES[table]
    if isinstance(table, dict) and {"mac_pj", "ac_pj"} <= set(table):
        return str(table.get("name", "custom")), table
    raise ValueError("table must be the name of an ENERGY_TABLES entry or a dict with mac_pj, ac_pj "
                     "(optionally neuron_pj, source, name)")


def energy(ops: dict, table="horowitz45_fp32", *, delta_as: str = "ac", include_neurons: bool | None = None) -> dict:
    """Energy per inference from ``count_ops`` output: ``MACs * E_MAC + ACs * E_AC (+ neuron updates * E_neuron)``.

    ``delta_as``: how sigma-delta messages (graded, non-binary events) are costed: ``"ac"`` (default; a synaptic
    op, the Loihi / SDNN convention) or ``"mac"`` (on a digital accelerator a graded value times a weight is a
    multiply: the conservative choice). ``include_neurons``: add neuron updates when the table has a per-update
    energy (default: yes if it has one). Returns a JSON-ready dict with pJ and mJ, the table name and its source.
    """
    name, tab = _table(table)
    if delta_as not in ("ac", "mac"):
        raise ValueError(f"delta_as must be 'ac' or 'mac', not {delta_as!r}")
    tot = ops["total"] if "total" in ops else ops
    macs = float(tot["macs"])
    acs = float(tot["acs"])
    deltas = float(tot.get("acs_deltas", 0.0))
    if delta_as == "mac":
        macs, acs = macs + deltas, acs - deltas
    neuron_pj = tab.get("neuron_pj")
    use_neurons = (neuron_pj is not None) if include_neurons is None else bool(include_neurons)
    if use_neurons and neuron_pj is None:
        raise ValueError(f"energy table {name!r} has no per-neuron-update energy")
    nu = float(tot.get("neuron_updates", 0.0))
    parts = {"mac": macs * float(tab["mac_pj"]), "ac": acs * float(tab["ac_pj"]),
             "neuron": nu * float(neuron_pj) if use_neurons else 0.0}
    total_pj = sum(parts.values())
    return {
        "table": name, "source": tab.get("source", ""), "notes": tab.get("notes", ""),
        "e_mac_pj": float(tab["mac_pj"]), "e_ac_pj": float(tab["ac_pj"]),
        "e_neuron_pj": float(neuron_pj) if use_neurons else None,
        "delta_as": delta_as, "macs": macs, "acs": acs, "neuron_updates": nu if use_neurons else None,
        "energy_pj": total_pj, "energy_mJ": total_pj * 1e-9,
        "breakdown_pj": parts, "per": "inference (one sample)",
    }


def energy_report(ops: dict, tables=None, **kwargs) -> dict:
    """``energy`` for several tables at once (default: all of ``ENERGY_TABLES``), keyed by table name."""
    names = list(ENERGY_TABLES) if tables is None else list(tables)
    return {n: energy(ops, n, **kwargs) for n in names}


# ------------------------------------------------------------------------------------------ layer kinds
_SYNAPTIC = (nn.modules.conv._ConvNd, nn.Linear, nn.RNNBase, nn.RNNCellBase)


def _is_slayer(module: nn.Module) -> bool:
    return type(module).__module__.startswith("lava.lib.dl.slayer")


def _neuron_classes() -> tuple[type, ...]:
    classes = []
    try:
        from spikingjelly.activation_based.neuron import BaseNode

        classes.append(BaseNode)
    except ImportError:  # pragma: no cover - spikingjelly is a dependency, but keep counting ANNs without it
        pass
    try:
        from lava.lib.dl.slayer.neuron.base import Neuron as SlayerNeuron

        classes.append(SlayerNeuron)
    except ImportError:  # pragma: no cover
        pass
    return tuple(classes)


def _kind(module: nn.Module) -> str:
    if isinstance(module, nn.modules.conv._ConvNd):
        if _is_slayer(module) and type(module).__name__ == "Pool":
            return "pool"
        return "convT" if module.transposed else "conv"
    if isinstance(module, nn.Linear):
        return "linear"
    return "rnn"


def _dense_macs(module: nn.Module, x: torch.Tensor, y: torch.Tensor) -> int:
    if isinstance(module, nn.modules.conv._ConvNd):
        k = math.prod(module.kernel_size)
        if module.transposed:
            return x.numel() * (module.out_channels // module.groups) * k
        return y.numel() * (module.in_channels // module.groups) * k
    if isinstance(module, nn.Linear):
        return x.numel() * module.out_features
    if isinstance(module, (nn.RNNBase, nn.RNNCellBase)):
        return _rnn_macs(module, x)
    raise TypeError(type(module))


def _rnn_gates(module) -> int:
    mode = getattr(module, "mode", None)
    if isinstance(module, (nn.LSTM, nn.LSTMCell)) or mode == "LSTM":
        return 4
    if isinstance(module, (nn.GRU, nn.GRUCell)) or mode == "GRU":
        return 3
    return 1


def _rnn_macs(module, x: torch.Tensor) -> int:
    g, h = _rnn_gates(module), module.hidden_size
    if isinstance(module, nn.RNNCellBase):
        rows = x.numel() // module.input_size
        return rows * g * (module.input_size + h) * h
    rows = x.numel() // module.input_size  # time steps x batch
    dirs = 2 if module.bidirectional else 1
    total = 0
    for layer in range(module.num_layers):
        in_size = module.input_size if layer == 0 else h * dirs
        total += rows * dirs * g * (in_size + h) * h
    return total


@contextlib.contextmanager
def _ones_weights(module: nn.Module):
    """Temporarily: weight -> ones, bias -> None, slayer weight quantisation hook -> off (restored on exit)."""
    saved = {}
    for name in ("weight", "bias"):
        if name in module._parameters:
            saved[name] = ("param", module._parameters[name])
        elif name in module.__dict__:
            saved[name] = ("attr", module.__dict__[name])
    has_pre = "_pre_hook_fx" in module.__dict__  # slayer synapses quantise their weights through it
    pre = module.__dict__.get("_pre_hook_fx")
    try:
        w = saved["weight"][1]
        ones = torch.ones_like(w)
        if saved["weight"][0] == "param":
            module._parameters["weight"] = ones
        else:
            module.__dict__["weight"] = ones
        if "bias" in saved:
            if saved["bias"][0] == "param":
                module._parameters["bias"] = None
            else:
                module.__dict__["bias"] = None
        if has_pre:
            module.__dict__["_pre_hook_fx"] = None
        yield
    finally:
        for name, (where, value) in saved.items():
            if where == "param":
                module._parameters[name] = value
            else:
                module.__dict__[name] = value
        if has_pre:
            module.__dict__["_pre_hook_fx"] = pre


def _event_acs(module: nn.Module, mask: torch.Tensor) -> int:
    """Exact number of (non-zero input, synapse) pairs: the layer's own forward on the mask with unit weights."""
    if isinstance(module, (nn.RNNBase, nn.RNNCellBase)):
        raise TypeError("recurrent layers are counted as dense")
    with _ones_weights(module):
        # type(module).forward skips the module's hooks (ours included) and slayer's weight-norm pre-hook
        out = type(module).forward(module, mask)
    # float32 holds integers exactly up to 2**24 per element: far above any fan-in here
    return int(out.double().sum().round().item())


def _is_binary(x: torch.Tensor) -> bool:
    return bool(((x == 0) | (x == 1)).all().item())


# ------------------------------------------------------------------------------------------ counting
def _spiking_scope(model: nn.Module) -> dict[str, bool | None]:
    """Module name -> the ``is_spiking`` of its innermost declaring ancestor (itself included), None if none."""
    scope: dict[str, bool | None] = {}
    for name, mod in model.named_modules():  # parents come before their children
        own = getattr(mod, "is_spiking", None)
        if own is None and name:
            own = scope.get(name.rsplit(".", 1)[0] if "." in name else "")
        scope[name] = None if own is None else bool(own)
    return scope


def _batch_size(x) -> int:
    t = x[0] if isinstance(x, (tuple, list)) else x
    return int(t.shape[1] if t.dim() == 5 else t.shape[0])


def count_ops(model: nn.Module, x, *, n_samples: int | None = None, event_driven: bool | None = None,
              forward=None) -> dict:
    """Count MACs, ACs and neuron updates of one forward pass of ``model`` on ``x``, per sample.

    ``x``: a real input batch in the model's own layout (evsnn: ``[T, N, C, H, W]`` or ``[N, C, H, W]``).
    ``n_samples``: the batch size to divide by (default: ``x.shape[1]`` for 5-D inputs, else ``x.shape[0]``).
    ``event_driven``: whether layers outside any ``is_spiking`` declaration may be event-driven (default:
    the model contains spiking / sigma-delta neurons). ``forward``: callable ``forward(model, x)`` to run
    instead of ``model(x)``.

    Returns ``{"total": {...}, "layers": {name: {...}}, "n_samples", "time_steps", "rule"}``; every count is
    per sample (a float: the batch sum divided by ``n_samples``). ``total`` holds ``macs``, ``acs`` (=
    ``acs_spikes + acs_deltas``), ``synops`` (= ``acs``), ``neuron_updates``, ``macs_if_dense`` (what the
    event-driven layers would cost as dense MACs, plus ``macs``) and ``spike_density`` (mean non-zero fraction
    of the event-driven inputs). Each layer entry has ``type``, ``kind``, ``calls``, ``inputs`` (the input
    kinds seen: dense / spikes / deltas), ``macs``, ``acs``, ``macs_if_dense``, ``in_elements``,
    ``in_nonzero`` and ``density``.
    """
    n = int(n_samples) if n_samples is not None else _batch_size(x)
    neuron_cls = _neuron_classes()
    has_neurons = any(isinstance(m, neuron_cls) for m in model.modules()) if neuron_cls else False
    default_ed = has_neurons if event_driven is None else bool(event_driven)
    scope = _spiking_scope(model)

    layers: dict[str, dict] = {}
    neurons: dict[str, dict] = {}
    handles = []

    def synaptic_hook(name):
        def hook(module, inputs, output):
            xin = inputs[0]
            y = output[0] if isinstance(output, (tuple, list)) else output
            entry = layers.setdefault(name, {"type": type(module).__name__, "kind": _kind(module), "calls": 0,
                                             "inputs": [], "macs": 0, "acs": 0, "acs_deltas": 0,
                                             "macs_if_dense": 0, "in_elements": 0, "in_nonzero": 0})
            entry["calls"] += 1
            dense_equiv = _dense_macs(module, xin, y)
            entry["macs_if_dense"] += dense_equiv
            entry["in_elements"] += xin.numel()
            nz = (xin != 0)
            entry["in_nonzero"] += int(nz.sum().item())
            recurrent = isinstance(module, (nn.RNNBase, nn.RNNCellBase))
            if not recurrent and _is_slayer(module):
                kind = "spikes" if _is_binary(xin) else "deltas"
            else:
                may = scope.get(name)
                may = default_ed if may is None else may
                kind = "spikes" if (may and not recurrent and _is_binary(xin)) else "dense"
            if kind not in entry["inputs"]:
                entry["inputs"].append(kind)
            if kind == "dense":
                entry["macs"] += dense_equiv
            else:
                acs = _event_acs(module, nz.to(xin.dtype if xin.is_floating_point() else torch.float32))
                entry["acs"] += acs
                if kind == "deltas":
                    entry["acs_deltas"] += acs
        return hook

    def neuron_hook(name):
        def hook(module, inputs, output):
            y = output[0] if isinstance(output, (tuple, list)) else output
            e = neurons.setdefault(name, {"type": type(module).__name__, "calls": 0, "updates": 0, "events": 0})
            e["calls"] += 1
            e["updates"] += y.numel()
            e["events"] += int((y != 0).sum().item())
        return hook

    synaptic = {name: m for name, m in model.named_modules() if isinstance(m, _SYNAPTIC)}
    for name, m in synaptic.items():
        # a synaptic module that contains another one is a wrapper: count the inner one only
        if any(other != name and other.startswith(name + ".") for other in synaptic) and name:
            continue
        handles.append(m.register_forward_hook(synaptic_hook(name)))
    if neuron_cls:
        for name, m in model.named_modules():
            if isinstance(m, neuron_cls):
                handles.append(m.register_forward_hook(neuron_hook(name)))

    was_training = model.training
    model.eval()
    try:
        try:
            from spikingjelly.activation_based import functional

            functional.reset_net(model)
        except ImportError:  # pragma: no cover
            pass
        with torch.no_grad():
            if forward is not None:
                forward(model, x)
            else:
                model(x)
    finally:
        for h in handles:
            h.remove()
        model.train(was_training)

    def per(v):
        return v / n

    out_layers = {}
    for name, e in layers.items():
        out_layers[name] = {
            "type": e["type"], "kind": e["kind"], "calls": e["calls"], "inputs": e["inputs"],
            "macs": per(e["macs"]), "acs": per(e["acs"]), "acs_deltas": per(e["acs_deltas"]),
            "macs_if_dense": per(e["macs_if_dense"]), "in_elements": per(e["in_elements"]),
            "in_nonzero": per(e["in_nonzero"]),
            "density": e["in_nonzero"] / e["in_elements"] if e["in_elements"] else 0.0,
        }
    ev = [e for e in layers.values() if any(k != "dense" for k in e["inputs"])]
    ev_el = sum(e["in_elements"] for e in ev)
    total = {
        "macs": per(sum(e["macs"] for e in layers.values())),
        "acs": per(sum(e["acs"] for e in layers.values())),
        "acs_deltas": per(sum(e["acs_deltas"] for e in layers.values())),
        "neuron_updates": per(sum(e["updates"] for e in neurons.values())),
        "neuron_events": per(sum(e["events"] for e in neurons.values())),
        "macs_if_dense": per(sum(e["macs_if_dense"] for e in layers.values())),
        "spike_density": (sum(e["in_nonzero"] for e in ev) / ev_el) if ev_el else None,
    }
    total["acs_spikes"] = total["acs"] - total["acs_deltas"]
    total["synops"] = total["acs"]
    xt = x[0] if isinstance(x, (tuple, list)) else x
    return {
        "total": total, "layers": out_layers,
        "neurons": {k: {"type": v["type"], "calls": v["calls"], "updates": per(v["updates"]),
                        "events": per(v["events"])} for k, v in neurons.items()},
        "n_samples": n, "time_steps": int(xt.shape[0]) if xt.dim() == 5 else 1,
        "model": type(model).__name__, "event_driven_default": default_ed,
        "rule": ("dense MACs unless the layer input is event-driven: slayer synapse inputs (spikes or sigma-delta "
                 "messages) always; other layers when the innermost is_spiking declaration says True (or, without "
                 "one, the model has spiking neurons) and every input value is 0 or 1; ACs = exact count of "
                 "synapses reached by the non-zero inputs"),
    }


def model_cost(model_path, cache_path, *, n_samples: int = 16, batch_size: int = 8) -> dict:
    """Operation counts and energy per inference of a trained model (``model.pt``) on the first ``n_samples``
    samples of a frame cache (the test split), averaged over those samples; the same function for every task.

    Returns ``{"model", "arch", "task", "n_samples", "ops": count_ops totals, "layers", "energy": energy_report,
    "seconds_per_sample"}``: the counts come from the actual spikes / deltas of the trained network on real
    test inputs, so the SNN figures reflect its trained activity.
    """
    import time

    from evsnn.data import FrameCacheDataset, time_major
    from evsnn.train import load_model

    model, blob = load_model(model_path)
    model.eval()
    ds = FrameCacheDataset(cache_path)
    n = min(int(n_samples), len(ds))
    if n == 0:
        raise ValueError(f"{cache_path}: no samples to count operations on")
    totals: dict[str, float] = {}
    layers: dict[str, dict] = {}
    t0 = time.perf_counter()
    with torch.no_grad():
        for start in range(0, n, batch_size):
            idx = range(start, min(n, start + batch_size))
            x = time_major(torch.stack([ds[i][0] for i in idx]).float())
            ops = count_ops(model, x)
            w = len(idx) / n
            for k, v in ops["total"].items():
                if v is None:  # e.g. spike_density of a network without event-driven layers
                    totals.setdefault(k, None)
                else:
                    totals[k] = (totals.get(k) or 0.0) + float(v) * w
            for name, entry in ops["layers"].items():
                acc = layers.setdefault(name, {"type": entry["type"], "kind": entry["kind"], "macs": 0.0,
                                               "acs": 0.0, "density": 0.0})
                acc["macs"] += float(entry["macs"]) * w
                acc["acs"] += float(entry["acs"]) * w
                acc["density"] += float(entry.get("density") or 0.0) * w
    seconds = (time.perf_counter() - t0) / n
    summary = {"total": totals}
    return {"model": str(model_path), "arch": blob["arch"], "task": blob["task"], "n_samples": n,
            "ops": totals, "layers": layers, "energy": energy_report(summary), "seconds_per_sample": seconds,
            "rule": ops["rule"]}
