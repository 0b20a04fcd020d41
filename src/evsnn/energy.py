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

**NeuroBench's figures from the same pass** (each defined once, with its source, in ``DEFINITIONS``):
``effective_macs`` / ``effective_acs`` (non-zero input x non-zero weight, split by NeuroBench's own test of a
spiking input: every value -1, 0 or 1), ``nb_dense`` (every product without padding taps), ``activation_sparsity``;
``static_metrics`` gives the parameter count (trainable or not), the footprint and the connection sparsity of a
freshly loaded model. ``rate_x_dense`` is the hybrid paper's SNN count (input firing rate x dense MACs). The
per-layer firing rates (spiking) and message rates (sigma-delta) are under ``neurons``. A model holding a layer
with parameters that the counter does not know raises ``UncountedLayerError`` naming it: never a silent zero.

``energy(ops, model)`` turns the counts into energy per inference with one of the energy models of
``resources/energy_models.yaml`` (``ENERGY_MODELS``; each with what it counts, its source and whether it was
checked there): ``E = MACs * E_MAC + ACs * E_AC [+ neuron_updates * E_neuron]`` (basis ``ops``: Horowitz, Loihi) or
``E = rate_x_dense * E_op`` (basis ``rate_x_dense``: the hybrid paper's SNN model), in pJ and mJ.
"""
from __future__ import annotations

import contextlib
import math
from pathlib import Path
from typing import Any

import torch
import torch.nn as nn
import yaml

__all__ = ["DEFINITIONS", "ENERGY_MODELS", "ENERGY_TABLES", "UncountedLayerError", "count_ops", "energy",
           "energy_report", "model_cost", "static_metrics", "write_cost"]

# ------------------------------------------------------------------------------------------ energy models
ENERGY_MODELS_FILE = Path(__file__).with_name("resources") / "energy_models.yaml"


def _load_energy_models(path=ENERGY_MODELS_FILE) -> dict[str, dict[str, Any]]:
    """The energy models as data (``resources/energy_models.yaml``): per model its ``basis`` (``ops`` or
    ``rate_x_dense``), per-operation energies, ``counts`` (what it counts), ``source``, ``verified`` and ``notes``."""
    with open(path) as fh:
        models = yaml.safe_load(fh)
    for name, m in models.items():
        missing = [k for k in ("basis", "counts", "source", "verified") if k not in m]
        if missing:
            raise ValueError(f"{path}: energy model {name!r} lacks {', '.join(missing)}")
        if m["basis"] == "ops" and (m.get("mac_pj") is None or m.get("ac_pj") is None):
            raise ValueError(f"{path}: energy model {name!r} (basis ops) needs mac_pj and ac_pj")
        if m["basis"] == "rate_x_dense" and m.get("op_pj") is None:
            raise ValueError(f"{path}: energy model {name!r} (basis rate_x_dense) needs op_pj")
        if m["basis"] not in ("ops", "rate_x_dense"):
            raise ValueError(f"{path}: energy model {name!r}: unknown basis {m['basis']!r}")
    return models


#: every energy model of ``resources/energy_models.yaml`` (what ``model_cost`` reports)
ENERGY_MODELS: dict[str, dict[str, Any]] = _load_energy_models()
#: the models that cost every operation (MACs and ACs): the default of ``energy_report``
ENERGY_TABLES: dict[str, dict[str, Any]] = {k: v for k, v in ENERGY_MODELS.items() if v["basis"] == "ops"}


def _table(table) -> tuple[str, dict]:
    if isinstance(table, str):
        if table not in ENERGY_MODELS:
            raise ValueError(f"unknown energy table {table!r}; available: {', '.join(ENERGY_MODELS)}")
        return table, ENERGY_MODELS[table]
    if isinstance(table, dict) and ({"mac_pj", "ac_pj"} <= set(table) or table.get("basis") == "rate_x_dense"):
        return str(table.get("name", "custom")), {"basis": "ops", **table}
    raise ValueError("table must be the name of an energy model (ENERGY_MODELS) or a dict with mac_pj, ac_pj "
                     "(optionally neuron_pj, source, name) or with basis 'rate_x_dense' and op_pj")


def energy(ops: dict, table="horowitz45_fp32", *, delta_as: str = "ac", include_neurons: bool | None = None) -> dict:
    """Energy per inference from ``count_ops`` output with one energy model (``ENERGY_MODELS``).

    Basis ``ops``: ``MACs * E_MAC + ACs * E_AC (+ neuron updates * E_neuron)``. Basis ``rate_x_dense`` (the hybrid
    paper's model): ``rate_x_dense * E_op``, the SNN part only: dense MACs are not costed (``uncosted_macs``).

    ``delta_as``: how sigma-delta messages (graded, non-binary events) are costed: ``"ac"`` (default; a synaptic
    op, the Loihi / SDNN convention) or ``"mac"`` (on a digital accelerator a graded value times a weight is a
    multiply: the conservative choice). ``include_neurons``: add neuron updates when the table has a per-update
    energy (default: yes if it has one). Returns a JSON-ready dict with pJ and mJ, the model name, what it counts
    and its source.
    """
    name, tab = _table(table)
    if delta_as not in ("ac", "mac"):
        raise ValueError(f"delta_as must be 'ac' or 'mac', not {delta_as!r}")
    tot = ops["total"] if "total" in ops else ops
    head = {"table": name, "basis": tab.get("basis", "ops"), "counts": tab.get("counts", ""),
            "source": tab.get("source", ""), "notes": tab.get("notes", ""), "verified": tab.get("verified")}
    if tab.get("basis") == "rate_x_dense":
        if "rate_x_dense" not in tot:
            raise ValueError(f"energy model {name!r} needs the count rate_x_dense (evsnn.energy.count_ops)")
        n_ops = float(tot["rate_x_dense"])
        pj = n_ops * float(tab["op_pj"])
        return {**head, "e_op_pj": float(tab["op_pj"]), "ops": n_ops, "uncosted_macs": float(tot["macs"]),
                "energy_pj": pj, "energy_mJ": pj * 1e-9, "breakdown_pj": {"snn": pj},
                "per": "inference (one sample)"}
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
        **head,
        "e_mac_pj": float(tab["mac_pj"]), "e_ac_pj": float(tab["ac_pj"]),
        "e_neuron_pj": float(neuron_pj) if use_neurons else None,
        "delta_as": delta_as, "macs": macs, "acs": acs, "neuron_updates": nu if use_neurons else None,
        "energy_pj": total_pj, "energy_mJ": total_pj * 1e-9,
        "breakdown_pj": parts, "per": "inference (one sample)",
    }


def energy_report(ops: dict, tables=None, **kwargs) -> dict:
    """``energy`` for several models at once (default: the per-operation ``ENERGY_TABLES``), keyed by name."""
    names = list(ENERGY_TABLES) if tables is None else list(tables)
    return {n: energy(ops, n, **kwargs) for n in names}


# ------------------------------------------------------------------------------------------ definitions
_NB = "NeuroBench/neurobench"
#: every count and figure of cost.json, each defined once here with its source (written into cost.json)
DEFINITIONS: dict[str, str] = {
    "macs": "evsnn dense MACs: everything a dense kernel computes for the layers whose input is dense (zeros and "
            "padding taps included, as on a GPU); see the module docstring of evsnn.energy",
    "acs": "evsnn accumulates: for layers whose input is event-driven (spikes / sigma-delta messages), the exact "
           "number of (non-zero input, synapse) pairs, zero weights included (a synapse is reached whatever its "
           "weight); borders, strides, dilations, groups and crops exact",
    "effective_macs": "NeuroBench Effective_MACs: per actual input, the number of (non-zero input, non-zero weight) "
                      "products of layers whose input is not spiking in NeuroBench's sense (a value other than "
                      "-1, 0, 1); padding taps, zero inputs and zero weights not counted, bias not counted. "
                      f"{_NB}@d420b4f neurobench/metrics/utils/layers/macs.py (stateless_layer_macs: the layer run "
                      "on the binarised input with binarised weights, bias zeroed), @cfb182c "
                      "metrics/utils/layers/input.py (binary_inputs: spiking = every value in {-1, 0, 1}), "
                      "@cfb182c metrics/workload/synaptic_operations.py (Effective_MACs / Effective_ACs / Dense)",
    "effective_acs": "NeuroBench Effective_ACs: the same (non-zero input, non-zero weight) count for layers whose "
                     "input is spiking in NeuroBench's sense (every value -1, 0 or 1); differs from evsnn's acs by "
                     "the zero weights, and from evsnn's split of dense / event-driven inputs: NeuroBench calls a "
                     "binary input of an ANN spiking and a graded sigma-delta message dense "
                     f"({_NB}@cfb182c metrics/utils/layers/input.py)",
    "nb_dense": "NeuroBench Dense: every (input, weight) product the layer's connectivity has, zeros included, "
                "padding taps and cropped outputs not (the layer run on an all-ones input with all-ones weights); "
                f"{_NB}@d420b4f neurobench/metrics/utils/layers/macs.py (single_layer_MACs(total=True)). evsnn's "
                "dense MACs include the padding taps",
    "rate_x_dense": "the hybrid paper's SNN operation count: per event-driven layer call, the non-zero fraction of "
                    "its input times its dense MACs, summed (uzh-rpg/hybrid_ann_snn@39f1248 results/iccv/core.py: "
                    "firing rate x num_mops per layer)",
    "neuron_updates": "evsnn: state updates of spiking / sigma-delta neurons (elements x time steps)",
    "activation_sparsity": "NeuroBench ActivationSparsity: zero outputs / all outputs of the activation layers "
                           "(spiking and sigma-delta neurons, nn.ReLU, nn.Sigmoid modules) over all time steps and "
                           f"samples; {_NB}@cfb182c neurobench/metrics/workload/activation_sparsity.py, "
                           "blocks/activation.py (ReLU, Sigmoid; spiking neurons added as activation modules). "
                           "None when the model has no such layer (functional activations are not hooked, as in "
                           "NeuroBench)",
    "firing_rates": "per spiking neuron layer: spikes / (neurons x time steps); per sigma-delta layer (message "
                    "rate): non-zero output messages / (neurons x time steps); on the test samples",
    "parameters": "NeuroBench ParameterCount: every parameter of the model, trainable or not "
                  f"({_NB}@74351d9 neurobench/metrics/static/parameter_count.py: sum(p.numel() for p in "
                  "net.parameters()))",
    "footprint_bytes": "NeuroBench Footprint: bytes of all parameters and buffers (numel x element size) of the "
                       f"freshly loaded model, before any forward pass ({_NB}@1ab59a4 "
                       "neurobench/metrics/static/footprint.py); a forward pass can leave neuron state in buffers "
                       "(slayer), which is not the model's footprint",
    "connection_sparsity": "NeuroBench ConnectionSparsity: zero weights / all weights of the synaptic layers, "
                           "with the weights as the layer uses them (slayer: after its 8-bit quantisation); "
                           f"{_NB}@cfb182c neurobench/metrics/static/connection_sparsity.py counts Linear, "
                           "Conv1d/2d/3d and recurrent layers (their biases too) and skips transposed convolutions; "
                           "evsnn counts the weights of every layer it counts operations of, biases not",
}


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
    raise UncountedLayerError(f"no dense-MAC formula for layer type {type(module).__module__}."
                              f"{type(module).__qualname__}")


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


def _used_weight(module: nn.Module) -> torch.Tensor:
    """The weight as the layer's forward uses it (slayer synapses quantise theirs through ``_pre_hook_fx``)."""
    w = module.weight
    pre = module.__dict__.get("_pre_hook_fx")
    if pre is not None:
        with torch.no_grad():
            w = pre(w)
    return w.detach()


@contextlib.contextmanager
def _substitute_weights(module: nn.Module, weight: torch.Tensor):
    """Temporarily: weight -> ``weight``, bias -> None, slayer weight quantisation hook -> off (restored on exit)."""
    saved = {}
    for name in ("weight", "bias"):
        if name in module._parameters:
            saved[name] = ("param", module._parameters[name])
        elif name in module.__dict__:
            saved[name] = ("attr", module.__dict__[name])
    has_pre = "_pre_hook_fx" in module.__dict__  # slayer synapses quantise their weights through it
    pre = module.__dict__.get("_pre_hook_fx")
    try:
        if saved["weight"][0] == "param":
            module._parameters["weight"] = weight
        else:
            module.__dict__["weight"] = weight
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


def _ones_weights(module: nn.Module):
    """Temporarily: weight -> ones, bias -> None, slayer weight quantisation hook -> off."""
    return _substitute_weights(module, torch.ones_like(module.weight))


def _connections(module: nn.Module, x: torch.Tensor, weight: torch.Tensor) -> int:
    """Sum over outputs of the layer's own forward on ``x`` (0/1) with ``weight`` (0/1) and no bias: the number of
    (input, weight) pairs with both 1 that reach an output (padding taps and cropped outputs reach none)."""
    with _substitute_weights(module, weight):
        # type(module).forward skips the module's hooks (ours included) and slayer's weight-norm pre-hook
        out = type(module).forward(module, x)
    # float32 holds integers exactly up to 2**24 per element: far above any fan-in here
    return int(out.double().sum().round().item())


def _event_acs(module: nn.Module, mask: torch.Tensor) -> int:
    """Exact number of (non-zero input, synapse) pairs: the layer's own forward on the mask with unit weights."""
    if isinstance(module, (nn.RNNBase, nn.RNNCellBase)):
        raise TypeError("recurrent layers are counted as dense")
    return _connections(module, mask, torch.ones_like(module.weight))


def _is_binary(x: torch.Tensor) -> bool:
    return bool(((x == 0) | (x == 1)).all().item())


def _is_neurobench_spiking(x: torch.Tensor) -> bool:
    """NeuroBench's test of a spiking input: every value is -1, 0 or 1 (metrics/utils/layers/input.py)."""
    return bool(((x == 0) | (x == 1) | (x == -1)).all().item())


class UncountedLayerError(ValueError):
    """A layer the counter does not know: its operations would silently count as zero."""


#: layers with parameters that are deliberately not counted (foldable into the weights, or O(activations))
_NOT_COUNTED = (nn.modules.batchnorm._NormBase, nn.LayerNorm, nn.GroupNorm, nn.PReLU)


def _check_known_layers(model: nn.Module, neuron_cls: tuple[type, ...]) -> None:
    """Every module that owns parameters must be a layer the counter counts (synaptic), a neuron, or a layer
    deliberately left out (normalisation, PReLU), or live inside one of those: otherwise its operations would count
    as zero without a word. Raises ``UncountedLayerError`` naming the layer and its type."""
    covered = _SYNAPTIC + neuron_cls + _NOT_COUNTED
    inside: list[str] = []
    for name, mod in model.named_modules():
        if any(name == p or name.startswith(p + ".") for p in inside):
            continue
        if isinstance(mod, covered):
            inside.append(name)
            continue
        own = [k for k, p in mod._parameters.items() if p is not None]
        if own:
            where = name or "(the model itself)"
            raise UncountedLayerError(
                f"cannot count the operations of layer {where!r}: its type "
                f"{type(mod).__module__}.{type(mod).__qualname__} (parameters: {', '.join(own)}) is not one the "
                "counter knows (nn.Conv*/ConvTranspose*, nn.Linear, nn.RNN/GRU/LSTM and cells, spikingjelly / "
                "slayer neurons, normalisation); counting it as zero would understate the cost. Build it from "
                "those layers or teach evsnn.energy its operation count")


#: NeuroBench's activation layers (blocks/activation.py): their outputs count in the activation sparsity
_ACTIVATIONS = (nn.ReLU, nn.Sigmoid)


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


def _neuron_kind(module: nn.Module, y: torch.Tensor) -> str:
    """``messages`` for sigma-delta neurons (graded output messages), ``spikes`` for spiking neurons."""
    if "sigma_delta" in type(module).__module__ or not _is_binary(y):
        return "messages"
    return "spikes"


def count_ops(model: nn.Module, x, *, n_samples: int | None = None, event_driven: bool | None = None,
              forward=None) -> dict:
    """Count every operation figure of one forward pass of ``model`` on ``x``, per sample (one pass, all hooks).

    ``x``: a real input batch in the model's own layout (evsnn: ``[T, N, C, H, W]`` or ``[N, C, H, W]``).
    ``n_samples``: the batch size to divide by (default: ``x.shape[1]`` for 5-D inputs, else ``x.shape[0]``).
    ``event_driven``: whether layers outside any ``is_spiking`` declaration may be event-driven (default:
    the model contains spiking / sigma-delta neurons). ``forward``: callable ``forward(model, x)`` to run
    instead of ``model(x)``.

    Returns ``{"total": {...}, "layers": {name: {...}}, "neurons", "n_samples", "time_steps", "rule",
    "definitions"}``; every count is per sample (a float: the batch sum divided by ``n_samples``); the
    definitions are ``DEFINITIONS``. ``total`` holds ``macs``, ``acs`` (= ``acs_spikes + acs_deltas``), ``synops``
    (= ``acs``), ``effective_macs`` / ``effective_acs`` / ``nb_dense`` (NeuroBench's definitions),
    ``rate_x_dense`` (the hybrid paper's count), ``neuron_updates``, ``neuron_events``, ``macs_if_dense`` (what
    the event-driven layers would cost as dense MACs, plus ``macs``), ``spike_density`` (mean non-zero fraction of
    the event-driven inputs) and ``activation_sparsity``. Each layer entry has ``type``, ``kind``, ``calls``,
    ``inputs`` (the input kinds seen: dense / spikes / deltas), ``macs``, ``acs``, ``effective``,
    ``effective_macs``, ``effective_acs``, ``nb_dense``, ``macs_if_dense``, ``in_elements``, ``in_nonzero`` and
    ``density``; each neuron entry ``type``, ``kind`` (spikes / messages), ``updates``, ``events`` and ``rate``.

    Raises ``UncountedLayerError`` (naming the layer and its type) when the model holds a layer with parameters
    that the counter does not know, rather than counting it as zero.
    """
    n = int(n_samples) if n_samples is not None else _batch_size(x)
    neuron_cls = _neuron_classes()
    _check_known_layers(model, neuron_cls)
    has_neurons = any(isinstance(m, neuron_cls) for m in model.modules()) if neuron_cls else False
    default_ed = has_neurons if event_driven is None else bool(event_driven)
    scope = _spiking_scope(model)

    layers: dict[str, dict] = {}
    neurons: dict[str, dict] = {}
    activations = {"elements": 0, "zeros": 0}
    nb_dense_cache: dict[tuple, int] = {}
    handles = []

    def synaptic_hook(name):
        def hook(module, inputs, output):
            xin = inputs[0]
            y = output[0] if isinstance(output, (tuple, list)) else output
            entry = layers.setdefault(name, {"type": type(module).__name__, "kind": _kind(module), "calls": 0,
                                             "inputs": [], "macs": 0, "acs": 0, "acs_deltas": 0,
                                             "effective": 0, "effective_macs": 0, "effective_acs": 0,
                                             "nb_dense": 0, "rate_x_dense": 0.0,
                                             "macs_if_dense": 0, "in_elements": 0, "in_nonzero": 0})
            entry["calls"] += 1
            dense_equiv = _dense_macs(module, xin, y)
            entry["macs_if_dense"] += dense_equiv
            entry["in_elements"] += xin.numel()
            nz = (xin != 0)
            n_nz = int(nz.sum().item())
            entry["in_nonzero"] += n_nz
            recurrent = isinstance(module, (nn.RNNBase, nn.RNNCellBase))
            if not recurrent and _is_slayer(module):
                kind = "spikes" if _is_binary(xin) else "deltas"
            else:
                may = scope.get(name)
                may = default_ed if may is None else may
                kind = "spikes" if (may and not recurrent and _is_binary(xin)) else "dense"
            if kind not in entry["inputs"]:
                entry["inputs"].append(kind)
            mask = nz.to(xin.dtype if xin.is_floating_point() else torch.float32)
            if kind == "dense":
                entry["macs"] += dense_equiv
            else:
                acs = _event_acs(module, mask)
                entry["acs"] += acs
                if kind == "deltas":
                    entry["acs_deltas"] += acs
                entry["rate_x_dense"] += (n_nz / xin.numel() if xin.numel() else 0.0) * dense_equiv
            # NeuroBench's definitions on the same call (recurrent layers: not resolved, the dense count)
            if recurrent:
                eff, total = dense_equiv, dense_equiv
            else:
                w = _used_weight(module)
                eff = _connections(module, mask, (w != 0).to(mask.dtype))
                key = (name, tuple(xin.shape))
                if key not in nb_dense_cache:
                    nb_dense_cache[key] = _connections(module, torch.ones_like(mask),
                                                       torch.ones_like(w, dtype=mask.dtype))
                total = nb_dense_cache[key]
            entry["effective"] += eff
            entry["effective_acs" if _is_neurobench_spiking(xin) else "effective_macs"] += eff
            entry["nb_dense"] += total
        return hook

    def neuron_hook(name):
        def hook(module, inputs, output):
            y = output[0] if isinstance(output, (tuple, list)) else output
            e = neurons.setdefault(name, {"type": type(module).__name__, "kind": _neuron_kind(module, y),
                                          "calls": 0, "updates": 0, "events": 0})
            e["calls"] += 1
            e["updates"] += y.numel()
            ev = int((y != 0).sum().item())
            e["events"] += ev
            if e["kind"] == "spikes" and not _is_binary(y):
                e["kind"] = "messages"
            activations["elements"] += y.numel()
            activations["zeros"] += y.numel() - ev
        return hook

    def activation_hook(module, inputs, output):
        y = output[0] if isinstance(output, (tuple, list)) else output
        activations["elements"] += y.numel()
        activations["zeros"] += y.numel() - int((y != 0).sum().item())

    synaptic = {name: m for name, m in model.named_modules() if isinstance(m, _SYNAPTIC)}
    for name, m in synaptic.items():
        # a synaptic module that contains another one is a wrapper: count the inner one only
        if any(other != name and other.startswith(name + ".") for other in synaptic) and name:
            continue
        handles.append(m.register_forward_hook(synaptic_hook(name)))
    for name, m in model.named_modules():
        if neuron_cls and isinstance(m, neuron_cls):
            handles.append(m.register_forward_hook(neuron_hook(name)))
        elif isinstance(m, _ACTIVATIONS):
            handles.append(m.register_forward_hook(activation_hook))

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
            "effective": per(e["effective"]), "effective_macs": per(e["effective_macs"]),
            "effective_acs": per(e["effective_acs"]), "nb_dense": per(e["nb_dense"]),
            "rate_x_dense": per(e["rate_x_dense"]),
            "macs_if_dense": per(e["macs_if_dense"]), "in_elements": per(e["in_elements"]),
            "in_nonzero": per(e["in_nonzero"]),
            "density": e["in_nonzero"] / e["in_elements"] if e["in_elements"] else 0.0,
        }
    ev = [e for e in layers.values() if any(k != "dense" for k in e["inputs"])]
    ev_el = sum(e["in_elements"] for e in ev)

    def tsum(key):
        return per(sum(e[key] for e in layers.values()))

    total = {
        "macs": tsum("macs"), "acs": tsum("acs"), "acs_deltas": tsum("acs_deltas"),
        "effective_macs": tsum("effective_macs"), "effective_acs": tsum("effective_acs"),
        "nb_dense": tsum("nb_dense"), "rate_x_dense": tsum("rate_x_dense"),
        "neuron_updates": per(sum(e["updates"] for e in neurons.values())),
        "neuron_events": per(sum(e["events"] for e in neurons.values())),
        "macs_if_dense": tsum("macs_if_dense"),
        "spike_density": (sum(e["in_nonzero"] for e in ev) / ev_el) if ev_el else None,
        "activation_sparsity": (activations["zeros"] / activations["elements"]) if activations["elements"] else None,
    }
    total["acs_spikes"] = total["acs"] - total["acs_deltas"]
    total["synops"] = total["acs"]
    xt = x[0] if isinstance(x, (tuple, list)) else x
    return {
        "total": total, "layers": out_layers,
        "neurons": {k: {"type": v["type"], "kind": v["kind"], "calls": v["calls"], "updates": per(v["updates"]),
                        "events": per(v["events"]), "rate": v["events"] / v["updates"] if v["updates"] else 0.0}
                    for k, v in neurons.items()},
        "n_samples": n, "time_steps": int(xt.shape[0]) if xt.dim() == 5 else 1,
        "model": type(model).__name__, "event_driven_default": default_ed,
        "rule": ("dense MACs unless the layer input is event-driven: slayer synapse inputs (spikes or sigma-delta "
                 "messages) always; other layers when the innermost is_spiking declaration says True (or, without "
                 "one, the model has spiking neurons) and every input value is 0 or 1; ACs = exact count of "
                 "synapses reached by the non-zero inputs"),
        "definitions": DEFINITIONS,
    }


def _counted_layers(model: nn.Module) -> dict[str, nn.Module]:
    synaptic = {name: m for name, m in model.named_modules() if isinstance(m, _SYNAPTIC)}
    return {name: m for name, m in synaptic.items()
            if not (name and any(o != name and o.startswith(name + ".") for o in synaptic))}


def static_metrics(model: nn.Module) -> dict:
    """What does not depend on the input (``DEFINITIONS``): ``parameters`` (all, trainable or not),
    ``parameters_trainable``, ``buffers``, ``footprint_bytes`` (parameters and buffers; call this on the freshly
    loaded model, before any forward pass) and ``connection_sparsity`` (zero weights / weights of the counted
    layers, with the weights as the layers use them)."""
    params = list(model.parameters())
    buffers = list(model.buffers())
    zeros = weights = 0
    for m in _counted_layers(model).values():
        if isinstance(m, (nn.RNNBase, nn.RNNCellBase)):
            ws = [p.detach() for k, p in m.named_parameters(recurse=False) if k.startswith("weight")]
        else:
            ws = [_used_weight(m)]
        for w in ws:
            zeros += int((w == 0).sum().item())
            weights += w.numel()
    return {
        "parameters": sum(p.numel() for p in params),
        "parameters_trainable": sum(p.numel() for p in params if p.requires_grad),
        "buffers": sum(b.numel() for b in buffers),
        "footprint_bytes": sum(p.numel() * p.element_size() for p in params)
        + sum(b.numel() * b.element_size() for b in buffers),
        "connection_sparsity": zeros / weights if weights else None,
        "weights": weights,
    }


def model_cost(model_path, cache_path, *, n_samples: int = 16, batch_size: int = 8) -> dict:
    """Operation counts, NeuroBench's figures, firing rates and energy per inference of a trained model
    (``model.pt``) on the first ``n_samples`` samples of a frame cache (the test split), averaged over those
    samples; the same function for every task.

    Returns ``{"model", "arch", "task", "n_samples", "ops": count_ops totals, "static": static_metrics of the
    freshly loaded model, "layers", "rates": per neuron layer firing / message rate, "energy": every energy model
    of ENERGY_MODELS, "definitions", "seconds_per_sample"}``: the counts come from the actual spikes / deltas of
    the trained network on real test inputs, so the SNN figures reflect its trained activity.
    """
    import time

    from evsnn.data import FrameCacheDataset, time_major
    from evsnn.train import load_model

    model, blob = load_model(model_path)
    model.eval()
    static = static_metrics(model)  # before any forward pass leaves neuron state behind
    ds = FrameCacheDataset(cache_path)
    n = min(int(n_samples), len(ds))
    if n == 0:
        raise ValueError(f"{cache_path}: no samples to count operations on")
    totals: dict[str, float] = {}
    layers: dict[str, dict] = {}
    rates: dict[str, dict] = {}
    layer_keys = ("macs", "acs", "effective_macs", "effective_acs", "nb_dense", "rate_x_dense")
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
                acc = layers.setdefault(name, {"type": entry["type"], "kind": entry["kind"], "inputs": [],
                                               **{k: 0.0 for k in layer_keys}, "density": 0.0})
                for k in layer_keys:
                    acc[k] += float(entry[k]) * w
                acc["density"] += float(entry.get("density") or 0.0) * w
                acc["inputs"] += [i for i in entry["inputs"] if i not in acc["inputs"]]
            for name, e in ops["neurons"].items():
                r = rates.setdefault(name, {"type": e["type"], "kind": e["kind"], "updates": 0.0, "events": 0.0})
                r["updates"] += e["updates"] * w
                r["events"] += e["events"] * w
                if e["kind"] == "messages":
                    r["kind"] = "messages"
    seconds = (time.perf_counter() - t0) / n
    for r in rates.values():
        r["rate"] = r["events"] / r["updates"] if r["updates"] else 0.0
    summary = {"total": totals}
    return {"model": str(model_path), "arch": blob["arch"], "task": blob["task"], "n_samples": n,
            "ops": totals, "static": static, "layers": layers, "rates": rates,
            "energy": energy_report(summary, tables=list(ENERGY_MODELS)), "seconds_per_sample": seconds,
            "rule": ops["rule"], "definitions": DEFINITIONS}


def write_cost(model_path, cache_path, cost_path, figure_path, *, n_samples: int = 16, title: str = "") -> dict:
    """Rule ``cost``: ``model_cost`` written as JSON and its per-layer firing / message rates as a figure."""
    import logging

    from evsnn.plots import plot_firing_rates
    from evsnn.util import write_json

    result = model_cost(model_path, cache_path, n_samples=n_samples)
    o = result["ops"]
    logging.getLogger("evsnn.cost").info(
        "%s: %.4g dense MACs (NeuroBench Dense %.4g, effective MACs %.4g), %.4g ACs (effective ACs %.4g) per "
        "inference; %s", result["arch"], o["macs"], o["nb_dense"], o["effective_macs"], o["acs"], o["effective_acs"],
        {k: f"{v['energy_mJ']:.4g} mJ" for k, v in result["energy"].items()})
    write_json(cost_path, result)
    plot_firing_rates(result["rates"], figure_path, title=title or result["arch"], n_samples=result["n_samples"])
    return result
