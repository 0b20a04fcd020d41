"""lava-dl (slayer) CUBA-LIF block networks -> NIR: ``Conv2d`` / ``Linear`` synapses and ``CubaLIF`` neurons.

What slayer computes (lava-nc/lava-dl@d825ac5, paths under ``src/lava/lib/dl/slayer/``):

- a block is synapse -> neuron (``block/base.py:702-703``, ``:546-547``, ``:855-856``); the synapse weights go
  through ``pre_hook_fx``, by default ``neuron.quantize_8bit`` (``block/cuba.py:98-111``): rounded to steps of
  2/64 and clamped to [-256, 254]/64 (``neuron/base.py:168-198``), after weight normalisation (torch's
  ``weight_norm`` pre-hook) and ``weight_scale`` (which only scales the initial weights,
  ``synapse/layer.py:136-137``). The ``Input`` block quantises its *input* the same way (``block/base.py:110``,
  ``block/cuba.py:44``).
- the CUBA neuron (``neuron/cuba.py:356-374``, ``neuron/dynamics/leaky_integrator.py:210-231``) keeps current and
  voltage as integers scaled by ``s_scale = 64 * 64 = 4096`` (``neuron/cuba.py:121``) and decays them with
  integer fractions of 4096 (``current_decay``, ``voltage_decay`` rounded to integers in [0, 4096]), rounding
  the product towards zero (``right_shift_to_zero(x * (4096 - decay), 12)``)::

      current[t] = current[t-1] * (1 - cd) + input[t]
      voltage[t] = voltage[t-1] * (1 - vd) + current[t]
      spike[t]   = voltage[t] >= threshold + threshold_eps;  voltage[t] = 0 where it spiked

  with ``threshold = int(threshold * 64) / 64`` (``neuron/base.py:128``) and ``threshold_eps = 0.01 / 4096``
  (``neuron/cuba.py:134``: Loihi fires on v > threshold).

NIR's ``CubaLIF`` (``tau_syn dI/dt = -I + w_in x``, ``tau_mem dv/dt = v_leak - v + r I``) discretised with forward
Euler at step ``dt`` is exactly this update when ``tau_syn = dt / cd``, ``w_in = tau_syn / dt``, ``tau_mem = dt /
vd``, ``r = tau_mem / dt``, ``v_leak = v_reset = 0`` and ``v_threshold = threshold + threshold_eps``:
spikingjelly's importer turns it into ``CUBALIFNode(c_decay = 1 - cd, v_decay = 1 - vd)``, snnTorch's into
``Synaptic(alpha = 1 - cd, beta = 1 - vd)``, both the update above in float32. What NIR cannot carry is slayer's
fixed-point rounding of the decayed states (at most 1/4096 per step) and the Input block's quantisation of its
input (exact for inputs on the 1/32 grid within [-4, 3.97]): :func:`float_reference` runs the slayer network with
the same update in float32, so that a run separates the rounding from the mapping.

Per-channel decays (``shared_param=False``) become per-neuron arrays: snnTorch and Norse import them,
spikingjelly's importer takes one value per layer and refuses the file.

Layers: ``Input`` -> (a 1x1 ``Conv2d`` carrying the model's ``input_scale`` and the block's weight / bias when they
are not 1 / absent) + ``CubaLIF``; ``Conv`` -> ``Conv2d`` + ``CubaLIF``; ``Pool`` (slayer's sum pooling with one
weight) -> a ``Conv2d`` with that weight on the channel diagonal + ``CubaLIF``; ``Flatten`` -> ``Flatten``;
``Dense`` -> ``Linear`` (or a 1x1 ``Conv2d`` on a map) + ``CubaLIF``. Refused, naming the block: any other block,
sigma-delta and other neuron kinds, ``delay_shift=True`` and axonal delays ("delay at <block>": NIR has no delay
node), ``persistent_state``, graded spikes, a norm on the current, a decay of 0 (an infinite time constant),
grouped or non-square convolutions, pooling that is not non-overlapping on the input.
"""
from __future__ import annotations

import numpy as np
import torch
import torch.nn as nn

from evsnn.nirx.export import DT, NotExportable, node_name

__all__ = ["is_slayer", "cuba_chain", "export_cuba", "float_reference", "input_off_grid", "STATE_SCALE"]

#: slayer's CUBA state scale (``s_scale = 64 * 64``) and decay scale (``p_scale = 1 << 12``)
STATE_SCALE = 4096
DECAY_SCALE = 4096

_BLOCKS = "lava.lib.dl.slayer.block."


def is_slayer(model: nn.Module) -> bool:
    """Whether ``model`` is a network of slayer blocks (``model.blocks``)."""
    blocks = getattr(model, "blocks", None)
    return isinstance(blocks, (nn.ModuleList, nn.Sequential, list)) and any(
        type(b).__module__.startswith(_BLOCKS) for b in blocks)


def _type_name(b) -> str:
    from evsnn.nirx.export import _type_name as type_name

    return type_name(b)


# the block kinds NIR expresses (the netx exporter's classification of slayer blocks, evsnn.lava.export.block_kind)
NIR_KINDS = ("input", "flatten", "conv", "pool", "dense")


def _kind(b) -> str | None:
    """The kind of a CUBA block that maps to NIR (:data:`NIR_KINDS`), else None."""
    from evsnn.lava.export import block_kind

    if type(b).__module__ != _BLOCKS + "cuba" or type(b).__name__ in ("Affine", "Output"):
        return None   # (Affine: a dense synapse with a non-spiking neuron, which netx counts as dense)
    kind = block_kind(b)
    return kind if kind in NIR_KINDS else None


def _decays(neuron) -> tuple[np.ndarray, np.ndarray]:
    """Slayer's integer current and voltage decays (of 4096), as its dynamics use them: clamped, rounded."""
    cd = torch.round(neuron.current_decay.detach().double().clamp(0, DECAY_SCALE)).cpu().numpy()
    vd = torch.round(neuron.voltage_decay.detach().double().clamp(0, DECAY_SCALE)).cpu().numpy()
    return cd, vd


def _check_neuron(name: str, b) -> None:
    n = b.neuron
    if n is None:
        return
    if n.persistent_state:
        raise NotExportable(f"{_type_name(b)} at {name}", "persistent_state=True carries the neuron state from one "
                            "sample to the next; a NIR graph starts every run from rest")
    if getattr(n, "graded_spike", False):
        raise NotExportable(f"{_type_name(b)} at {name}", "graded spikes (the spike carries a value); NIR's "
                            "CubaLIF sends binary spikes")
    if getattr(n, "norm", None) is not None:
        raise NotExportable(f"{_type_name(b)} at {name}", "a norm on the neuron current, which NIR's CubaLIF lacks")
    if not n.shared_param and hasattr(n, "current_decay_min"):
        raise NotExportable(f"{_type_name(b)} at {name}", "per-channel decays (shared_param=False) that slayer has "
                            "not drawn yet (it draws them on the first forward pass)")
    cd, vd = _decays(n)
    for label, d in (("current_decay", cd), ("voltage_decay", vd)):
        if np.any(d <= 0):
            raise NotExportable(f"{_type_name(b)} at {name}", f"{label} 0 (no decay) would need an infinite time "
                                "constant in NIR's CubaLIF, which its importers refuse")


def cuba_chain(model: nn.Module) -> list[tuple[str, nn.Module, str]]:
    """The model's blocks as (name, block, kind); raises :class:`NotExportable` naming the first block NIR cannot
    express (see the module docstring)."""
    out = []
    for i, b in enumerate(model.blocks):
        name = f"blocks.{i}"
        kind = _kind(b)
        if kind is None:
            why = ("only slayer's CUBA blocks map to NIR (CubaLIF)" if not type(b).__module__.endswith(".cuba")
                   else "NIR has no such node")
            raise NotExportable(f"{_type_name(b)} at {name}", why)
        if getattr(b, "delay_shift", False):
            raise NotExportable(f"delay at {name}", "delay_shift=True delays every spike by one step, and NIR has "
                                "no delay node (train the model with delay_shift=False)")
        if getattr(b, "delay", None) is not None:
            raise NotExportable(f"delay at {name}", "learnable axonal delays; NIR has no delay node")
        if kind != "flatten":
            _check_neuron(name, b)
        syn = getattr(b, "synapse", None)
        if kind == "conv":
            if syn.groups != 1:
                raise NotExportable(f"{_type_name(b)} at {name}", "grouped convolution")
            if syn.kernel_size[0] != syn.kernel_size[1]:
                raise NotExportable(f"{_type_name(b)} at {name}", f"non-square kernel {tuple(syn.kernel_size[:2])} "
                                    "(nir 1.0.8 infers Conv2d shapes from one kernel side)")
        if kind == "pool":
            k = tuple(syn.kernel_size[:2])
            if (tuple(syn.stride[:2]) != k or any(syn.padding[:2]) or tuple(syn.dilation[:2]) != (1, 1)
                    or k[0] != k[1]):
                raise NotExportable(f"{_type_name(b)} at {name}", "pooling other than square, non-overlapping "
                                    "windows without padding (slayer pools over channels x rows, so windows "
                                    "that overlap or are padded mix channels)")
            w = _weight(syn).reshape(-1)
            if not bool(torch.all(w == w[0])):
                raise NotExportable(f"{_type_name(b)} at {name}", "pooling with unequal weights")
        if kind == "dense" and tuple(syn.weight.shape[2:]) != (1, 1, 1):
            raise NotExportable(f"{_type_name(b)} at {name}", "a Dense block over a 2-D input (in_neurons given "
                                "as a shape)")
        if kind == "input" and b.neuron is None:
            raise NotExportable(f"{_type_name(b)} at {name}", "an Input block without neuron")
        out.append((name, b, kind))
    if not out:
        raise NotExportable(f"{type(model).__name__} at (model)", "it has no blocks")
    return out


def _weight(syn) -> torch.Tensor:
    """The weight a slayer synapse uses in its forward pass: weight normalisation, then ``pre_hook_fx``."""
    from torch.nn.utils.weight_norm import WeightNorm

    with torch.no_grad():
        w = syn.weight
        for hook in syn._forward_pre_hooks.values():
            if isinstance(hook, WeightNorm):
                w = hook.compute_weight(syn)
        w = w.detach().clone()
        if syn._pre_hook_fx is not None:
            w = syn._pre_hook_fx(w)
    return w.detach().float()


def _cuba_node(neuron, shape: tuple[int, ...], dt: float):
    import nir

    cd, vd = _decays(neuron)

    def full(v):
        v = np.asarray(v, dtype=np.float64).reshape(-1)
        if v.size == 1:
            return np.full(shape, float(v[0]))
        return np.broadcast_to(v.reshape(-1, *([1] * (len(shape) - 1))), shape).copy()  # per channel

    tau_syn = full(dt * DECAY_SCALE / cd)
    tau_mem = full(dt * DECAY_SCALE / vd)
    th = float(neuron.threshold) + float(neuron.threshold_eps)
    return nir.CubaLIF(tau_syn=tau_syn, tau_mem=tau_mem, r=tau_mem / dt, v_leak=np.zeros(shape),
                       v_threshold=np.full(shape, th), v_reset=np.zeros(shape), w_in=tau_syn / dt), {
        "current_decay": (cd / DECAY_SCALE).tolist() if cd.size > 1 else float(cd[0] / DECAY_SCALE),
        "voltage_decay": (vd / DECAY_SCALE).tolist() if vd.size > 1 else float(vd[0] / DECAY_SCALE),
        "threshold": float(neuron.threshold), "v_threshold": th}


def _conv(weight: np.ndarray, shape, *, stride=1, padding=0, dilation=1, bias=None):
    import nir

    weight = np.asarray(weight, dtype=np.float32)
    return nir.Conv2d(input_shape=tuple(int(v) for v in shape[1:]), weight=weight,
                      stride=tuple(int(v) for v in np.broadcast_to(stride, (2,))),
                      padding=tuple(int(v) for v in np.broadcast_to(padding, (2,))),
                      dilation=tuple(int(v) for v in np.broadcast_to(dilation, (2,))), groups=1,
                      bias=np.zeros(weight.shape[0], np.float32) if bias is None else np.asarray(bias, np.float32))


def _out_shape(node) -> tuple[int, ...]:
    return tuple(int(v) for v in np.asarray(next(iter(node.output_type.values()))).reshape(-1))


def _scale(model, block) -> tuple[float, float | None]:
    """The Input block's affine map of the model's input: (scale, bias) = (input_scale * weight, bias)."""
    s = float(getattr(model, "input_scale", 1.0))
    hook = block.pre_hook_fx
    with torch.no_grad():
        if block.weight is not None:
            s *= float(hook(block.weight.detach()).reshape(-1)[0])
        bias = float(hook(block.bias.detach()).reshape(-1)[0]) if block.bias is not None else None
    return s, bias


def export_cuba(model: nn.Module, in_shape, *, dt: float = DT):
    """The NIR graph of a slayer CUBA network whose input is one event frame per time step (shape ``in_shape``
    (C, H, W)) and one record per node (node, source block, kind); raises :class:`NotExportable`."""
    import nir

    chain = cuba_chain(model)
    shape = tuple(int(v) for v in in_shape)
    nodes: dict = {"input": nir.Input(input_type=np.array(shape))}
    records: list[dict] = []
    neurons: dict[str, dict] = {}
    order = ["input"]

    def add(name, node, source, kind):
        nodes[name] = node
        order.append(name)
        records.append({"node": name, "sources": [source], "kind": kind, "time_last": True})
        return _out_shape(node)

    for name, b, kind in chain:
        base = node_name(name)
        if kind == "input":
            s, bias = _scale(model, b)
            if s != 1.0 or bias is not None:
                if len(shape) != 3:
                    raise NotExportable(f"{_type_name(b)} at {name}", f"an input scale on a {len(shape)}-D input")
                w = np.zeros((shape[0], shape[0], 1, 1), np.float32)
                w[np.arange(shape[0]), np.arange(shape[0])] = s
                add(base + "_scale", _conv(w, shape, bias=None if bias is None else np.full(shape[0], bias)),
                    name, "scale")
        elif kind == "flatten":
            if len(shape) > 1:
                shape = add(base, nir.Flatten(input_type={"input": np.array(shape)}, start_dim=0, end_dim=-1),
                            name, "flatten")
            continue
        elif kind in ("conv", "pool", "dense"):
            syn = b.synapse
            w = _weight(syn)
            if getattr(b, "mask", None) is not None:
                w = w * b.mask.to(w.dtype)
            if kind == "pool":
                c = shape[0]
                k = int(syn.kernel_size[0])
                if len(shape) != 3 or shape[1] % k or shape[2] % k:
                    raise NotExportable(f"{_type_name(b)} at {name}", f"input {list(shape)} not divisible by the "
                                        f"pooling kernel {k} (slayer pads it with zeros, NIR would drop the rest)")
                pw = np.zeros((c, c, k, k), np.float32)
                pw[np.arange(c), np.arange(c)] = float(w.reshape(-1)[0])
                shape = add(base + "_syn", _conv(pw, shape, stride=k), name, "pool")
            elif kind == "conv":
                if len(shape) != 3 or shape[0] != syn.in_channels:
                    raise NotExportable(f"{_type_name(b)} at {name}", f"input {list(shape)} does not fit its "
                                        f"{syn.in_channels} input channels")
                shape = add(base + "_syn", _conv(w[..., 0].numpy(), shape, stride=syn.stride[:2],
                                                 padding=syn.padding[:2], dilation=syn.dilation[:2]), name, "conv")
            else:
                w2 = w.reshape(w.shape[0], w.shape[1]).numpy()
                if len(shape) == 1:
                    if shape[0] != w2.shape[1]:
                        raise NotExportable(f"{_type_name(b)} at {name}", f"input of {shape[0]} features does not "
                                            f"fit its {w2.shape[1]} input neurons")
                    shape = add(base + "_syn", nir.Linear(weight=w2.astype(np.float32)), name, "linear")
                else:
                    shape = add(base + "_syn", _conv(w2[:, :, None, None], shape), name, "conv")
        node, params = _cuba_node(b.neuron, shape, dt)
        neurons[base] = params
        shape = add(base, node, name, "neuron")
    nodes["output"] = nir.Output(output_type=np.array(shape))
    order.append("output")
    edges = list(zip(order[:-1], order[1:]))
    graph = nir.NIRGraph(nodes=nodes, edges=edges)
    return graph, records, neurons


def input_off_grid(model: nn.Module, frames: torch.Tensor) -> dict:
    """How many input values (``frames`` [T, N, C, H, W] times the model's ``input_scale``) slayer's Input block
    changes by its 8-bit quantisation (steps of 1/32, clamped to [-4, 3.97]); the NIR file passes them as they
    are."""
    block = next(b for b in model.blocks if _kind(b) == "input")
    x = frames.float() * float(getattr(model, "input_scale", 1.0))
    with torch.no_grad():
        q = block.pre_hook_fx(x)
    changed = (q != x)
    return {"n_changed": int(changed.sum()), "n_values": int(x.numel()),
            "fraction_changed": float(changed.float().mean()), "max_abs_change": float((q - x).abs().max())}


def float_reference(model: nn.Module, frames: torch.Tensor) -> dict[str, torch.Tensor]:
    """The slayer network on ``frames`` [T, N, C, H, W] with slayer's own synapses but the CUBA update of the
    module docstring in float32 (no fixed-point rounding of the states, input passed unquantised): {neuron node:
    spikes [T, N, ...]}. What the NIR file computes, by construction, so a difference between it and the
    frameworks is a mapping error and a difference between it and slayer is slayer's rounding."""
    chain = cuba_chain(model)
    x = frames.float() * float(getattr(model, "input_scale", 1.0))      # [T, N, ...]
    out: dict[str, torch.Tensor] = {}
    with torch.no_grad():
        for name, b, kind in chain:
            if kind == "flatten":
                x = x.reshape(x.shape[0], x.shape[1], -1)
                continue
            if kind == "input":
                if b.weight is not None:
                    x = x * b.pre_hook_fx(b.weight.detach())
                if b.bias is not None:
                    x = x + b.pre_hook_fx(b.bias.detach())
                z = x
            else:
                slayer_in = x.movedim(0, -1)                                # [N, ..., T]
                z = b.synapse(slayer_in).movedim(-1, 0)
            n = b.neuron
            cd, vd = _decays(n)
            shape = z.shape[2:]
            cdec = torch.from_numpy(1 - cd / DECAY_SCALE).float().reshape(-1, *([1] * (len(shape) - 1)))
            vdec = torch.from_numpy(1 - vd / DECAY_SCALE).float().reshape(-1, *([1] * (len(shape) - 1)))
            th = float(n.threshold) + float(n.threshold_eps)
            c = torch.zeros_like(z[0])
            v = torch.zeros_like(z[0])
            spikes = []
            for t in range(z.shape[0]):
                c = c * cdec + z[t]
                v = v * vdec + c
                s = (v >= th).float()
                v = v * (1 - s)
                spikes.append(s)
            x = torch.stack(spikes)
            out[node_name(name)] = x
    return out
