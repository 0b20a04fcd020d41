"""Export slayer (lava-dl) block networks to netx ``.net`` files that Lava reproduces bit-exactly.

:func:`export_network` is the one exporter shared by the evsnn lava-dl models (``dhp19_sdnn``, ``gesture_sdnn``)
and any list of ``lava.lib.dl.slayer.block`` blocks. It

- snaps every sigma-delta threshold onto the 1/64 grid *in the given model* (lava-dl writes
  ``vThMant = int(threshold * 64)``, a truncation, while slayer keeps using the float threshold: with a learnt
  threshold such as 0.1 the two disagree and Lava's output drifts away; after snapping, slayer and Lava use the
  same threshold). This is idempotent and changes the model only by the sub-1/64 part of the threshold; a
  threshold below 1/64 is raised to 1/64 (reported in the summary's ``thresholds_raised`` and as a warning);
- writes the blocks from a copy of the model (slayer's block exporters remove weight normalisation from the
  module they export, which would break further training of the live model);
- quantises weights exactly as slayer's forward pass does (``quantize_8bit``: steps of 2/64, clamped to
  [-256, 254]/64, written as integers), biases (mean-only batch norm) likewise; netx then maps these integers
  to Loihi weights without loss (dense: ``optimize_weight_bits``; conv/convT/pool: used as they are);
- writes atomically and returns a JSON-able summary.
"""
from __future__ import annotations

import copy
import os
import warnings

import numpy as np
import torch

from evsnn.errors import ConfigError
from evsnn.util import atomic_path

__all__ = ["export_network", "quantize_thresholds", "model_blocks", "block_kind"]

THRESHOLD_GRID = 64  # lava-dl: vThMant = int(threshold * 64)


def model_blocks(model_or_blocks) -> list:
    """The slayer block list of a model (``.blocks``) or of a list/ModuleList of blocks."""
    blocks = getattr(model_or_blocks, "blocks", model_or_blocks)
    try:
        blocks = list(blocks)
    except TypeError:
        raise ConfigError(f"expected a model with .blocks or a list of slayer blocks, got "
                          f"{type(model_or_blocks).__name__}") from None
    if not blocks:
        raise ConfigError("the network has no blocks to export")
    return blocks


def block_kind(block) -> str:
    """netx layer type a slayer block exports as (input, conv, pool, convT, dense, flatten, ...)."""
    from lava.lib.dl.slayer.block import base

    for cls, name in ((base.AbstractInput, "input"), (base.AbstractFlatten, "flatten"),
                      (base.AbstractConvT, "convT"), (base.AbstractConv, "conv"), (base.AbstractPool, "pool"),
                      (base.AbstractDense, "dense"), (base.AbstractAffine, "dense"),
                      (base.AbstractAverage, "average"), (base.AbstractUnpool, "unpool")):
        if isinstance(block, cls):
            return name
    if type(block).__name__ == "Output":   # slayer.block.sigma_delta.Output: a dense sigma readout
        return "dense"
    return type(block).__name__


def _delta(block):
    neuron = getattr(block, "neuron", None)
    return getattr(neuron, "delta", None) if neuron is not None else None


def quantize_thresholds(model_or_blocks, raised: list | None = None) -> list[float]:
    """Snap every sigma-delta threshold to the netx grid (floor to a multiple of 1/64, what the export writes)
    in place; return the thresholds per block (None for blocks without one).

    A threshold below 1/64 (a learnt threshold can drift there; netx would write vThMant = 0, and Lava would then
    send every change while slayer does not) is raised to 1/64; the block indices go to ``raised``."""
    out = []
    for i, block in enumerate(model_blocks(model_or_blocks)):
        delta = _delta(block)
        if delta is None or not hasattr(delta, "threshold"):
            neuron = getattr(block, "neuron", None)
            thr = getattr(neuron, "_threshold", None) if neuron is not None else None
            out.append(float(thr) if isinstance(thr, (int, float)) and thr is not None and thr > 0 else None)
            continue
        with torch.no_grad():
            thr = delta.threshold
            mant = torch.floor(thr.detach().double() * THRESHOLD_GRID + 1e-9)
            if bool((mant < 1).any()):
                if raised is not None:
                    raised.append(i)
                mant = mant.clamp(min=1)
            thr.copy_((mant / THRESHOLD_GRID).to(thr.dtype))
        vals = thr.detach().flatten().tolist()
        out.append(vals[0] if len(vals) == 1 else vals)
    return out


def _clone(model_or_blocks):
    """A copy whose export (which strips weight norm) leaves the original untouched."""
    init = getattr(model_or_blocks, "_init_kwargs", None)
    if init is not None and hasattr(model_or_blocks, "state_dict"):
        clone = type(model_or_blocks)(**init)
        clone.load_state_dict(model_or_blocks.state_dict())
        return clone
    # weight norm keeps a non-leaf `weight` attribute that deepcopy refuses: detach it first (the forward
    # pre-hook recomputes it anyway)
    for block in model_blocks(model_or_blocks):
        syn = getattr(block, "synapse", None)
        if syn is not None and getattr(syn, "weight_norm_enabled", False) and hasattr(syn, "weight_v"):
            w = getattr(syn, "weight", None)
            if isinstance(w, torch.Tensor) and not w.is_leaf:
                syn.weight = w.detach()
    return copy.deepcopy(model_or_blocks)


def _in_shape(model_or_blocks, in_shape):
    if in_shape is None:
        in_shape = getattr(model_or_blocks, "in_shape", None)
    if in_shape is None:
        raise ConfigError("export_network needs the input shape (C, H, W) of the blocks: pass in_shape= "
                          "(or give the model an .in_shape)")
    return tuple(int(v) for v in in_shape)


def export_network(model_or_blocks, path: str | os.PathLike, *, in_shape=None) -> dict:
    """Write the netx description of a slayer block network to ``path`` (``/layer/{i}`` per block, atomically).

    ``model_or_blocks``: a model with ``.blocks`` (and ``.in_shape``) or a list of slayer blocks (then pass
    ``in_shape`` = (C, H, W) of the first block's input). Thresholds of the given model are snapped to the
    1/64 grid first (see the module docstring). Returns a JSON-able summary: path, per-layer type/shape/weights/
    threshold, total number of weights.
    """
    import h5py

    shape = _in_shape(model_or_blocks, in_shape)
    raised: list[int] = []
    thresholds = quantize_thresholds(model_or_blocks, raised)
    if raised:
        warnings.warn(f"sigma-delta thresholds of block(s) {raised} were below 1/64 and were raised to 1/64 "
                      "(the smallest threshold netx can export)", stacklevel=2)
    clone = _clone(model_or_blocks)
    blocks = model_blocks(clone)
    for b in blocks:
        b.eval()
    device = next((p.device for b in blocks for p in b.parameters()), torch.device("cpu"))
    with torch.no_grad():  # one small pass so that every block knows its shape
        x = torch.zeros(1, *shape, 2, device=device)
        for b in blocks:
            x = b(x)
            if isinstance(x, tuple):
                x = x[0]
    layers = []
    with atomic_path(path, suffix=".net") as tmp:
        with h5py.File(tmp, "w") as fh:
            group = fh.create_group("layer")
            for i, b in enumerate(blocks):
                g = group.create_group(f"{i}")
                b.export_hdf5(g)
                entry = {"index": i, "type": g["type"][0].decode(), "shape": [int(v) for v in g["shape"][()]]}
                if "weight" in g:
                    w = g["weight"][()]
                    if not np.allclose(w, np.rint(w)):
                        raise ConfigError(f"block {i} ({type(b).__name__}) exported non-integer weights: it "
                                          "has no 8-bit quantisation hook (pre_hook_fx)")
                    if entry["type"] != "pool":
                        entry["n_weights"] = int(w.size)
                if "neuron" in g:
                    ntype = g["neuron/type"][()]
                    entry["neuron"] = ntype.decode() if isinstance(ntype, bytes) else str(ntype)
                    if "vThMant" in g["neuron"] and "sigma_output" not in g["neuron"]:
                        entry["threshold"] = int(g["neuron/vThMant"][()]) / THRESHOLD_GRID
                        thr = thresholds[i]
                        if entry["neuron"] == "SDNN" and isinstance(thr, float) and thr != entry["threshold"]:
                            raise ConfigError(f"block {i}: netx wrote threshold {entry['threshold']} but the "
                                              f"model uses {thr}; Lava would not match slayer")
                layers.append(entry)
    return {"path": os.fspath(path), "in_shape": list(shape), "layers": layers, "thresholds_raised": raised,
            "n_weights": int(sum(e.get("n_weights", 0) for e in layers)),
            "thresholds": sorted({e["threshold"] for e in layers if "threshold" in e})}
