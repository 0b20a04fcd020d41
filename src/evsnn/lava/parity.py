"""Slayer vs Lava parity, layer by layer.

:func:`compare` runs the slayer blocks of a model one by one (eval mode, the same quantised input) and the
netx export of the model in Lava with every layer tapped, aligns the two in time and counts differences.

Time alignment: Lava answers input step ``t`` of layer ``k`` (its position in the Lava pipeline) at step
``t + k``; :func:`evsnn.lava.run.run_netx` already removes that latency. slayer models it only where a block has
``delay_shift`` (CUBA blocks by default, SDNN blocks not; slayer's sigma-delta ``Input`` never delays): the
slayer output of block ``i`` at ``t`` equals Lava's at ``t - d_i``, ``d_i`` = number of delaying blocks up to
``i``. The report gives both: ``slayer_delay`` (d_i) and ``latency_shift`` (Lava steps between the input and the
matching slayer step: ``latency - d_i``, with ``latency`` = ``lava_index``, + 1 in a network without input
neuron); the first ``d_i`` slayer steps (zeros) are not compared.
"""
from __future__ import annotations

import os
import time

import numpy as np
import torch

from evsnn.lava.export import block_kind, model_blocks, quantize_thresholds

__all__ = ["compare", "lava_forward", "readout", "slayer_layers", "slayer_delays", "slayer_input"]


def slayer_input(model, frames: torch.Tensor | np.ndarray) -> torch.Tensor:
    """Event frames [T, N, C, H, W] (or [N, C, H, W]) as the model's forward feeds its first block:
    times ``model.input_scale`` (if any), slayer layout [N, C, H, W, T]."""
    x = torch.as_tensor(np.asarray(frames), dtype=torch.float32)
    if x.dim() == 4:
        x = x.unsqueeze(0)
    x = x * float(getattr(model, "input_scale", 1.0))
    return x.permute(1, 2, 3, 4, 0).contiguous()


def _applies_delay(block) -> bool:
    from lava.lib.dl.slayer.block import sigma_delta

    if isinstance(block, sigma_delta.Input):  # its forward never calls step_delay
        return False
    kind = block_kind(block)
    if kind in ("flatten", "average"):
        return False
    return bool(getattr(block, "delay_shift", False))


def slayer_delays(model_or_blocks) -> list[int]:
    """Cumulative slayer step delay after each block."""
    out, d = [], 0
    for b in model_blocks(model_or_blocks):
        d += int(_applies_delay(b))
        out.append(d)
    return out


@torch.no_grad()
def slayer_layers(model_or_blocks, x, synapse_out: bool = False, dtype: torch.dtype = torch.float32):
    """Output of every block (slayer layout, as float64 numpy) for input ``x`` [N, C, H, W, T] (or
    [C, H, W, T]), in eval mode, computed in ``dtype``; the blocks' mode and dtype are restored afterwards. With
    ``synapse_out`` also the synaptic input of every block with a synapse (None for the others), as a second list."""
    blocks = model_blocks(model_or_blocks)
    x = torch.as_tensor(np.asarray(x), dtype=dtype)
    if x.dim() in (2, 4):
        x = x.unsqueeze(0)
    modes = [b.training for b in blocks]
    dtypes = [next((p.dtype for p in b.parameters() if p.is_floating_point()), None) for b in blocks]
    outs, syns = [], []
    try:
        for b in blocks:
            b.eval()
            b.to(dtype)
        for b in blocks:
            syn = getattr(b, "synapse", None)
            syns.append(syn(x).double().cpu().numpy() if synapse_out and syn is not None else None)
            x = b(x)
            if isinstance(x, tuple):
                x = x[0]
            outs.append(x.detach().double().cpu().numpy())
    finally:
        for b, m, dt in zip(blocks, modes, dtypes):
            b.train(m)
            if dt is not None:
                b.to(dt)
    return (outs, syns) if synapse_out else outs


def _acc_overflows(z: np.ndarray | None, in_scale: int, acc_bits: int | None) -> int:
    """Synaptic inputs (slayer units; Lava integer = z * in_scale * 64) beyond the signed ``acc_bits`` range."""
    if z is None or not acc_bits:
        return 0
    a = np.abs(z) * in_scale * 64
    return int(np.count_nonzero(a >= 2 ** (acc_bits - 1)))


def compare(model, net_path: str | os.PathLike, x, *, steps: int | None = None, conv_impl: str = "numpy",
            acc_bits: int | None = 24, slayer_dtype: torch.dtype = torch.float32, layers_out: bool = False) -> dict:
    """Run ``model``'s slayer blocks and the Lava network of ``net_path`` on the same input ``x`` (slayer layout
    [N, C, H, W, T] or [C, H, W, T], the input of the first block; see :func:`slayer_input`) and compare every
    layer. ``net_path`` must be the export of ``model`` (:func:`evsnn.lava.export.export_network`); the model's
    sigma-delta thresholds are snapped to the netx grid first, as the export did (in place, idempotent), so a
    model freshly loaded from a checkpoint compares correctly with its export.

    Returns a JSON-able report: per layer ``max_abs_diff``, ``n_mismatch``, ``n_compared``, ``nonzero_slayer``,
    ``nonzero_lava``, ``slayer_delay``, ``latency_shift``, ``bit_exact``, and ``acc_overflows``: how many
    synaptic inputs of a conv/convT/pool layer exceed the ``acc_bits`` accumulator of the Lava synapse (it wraps
    there like Loihi; slayer has no such limit, so these are the mismatches to expect); overall ``bit_exact``,
    Lava timing. ``acc_bits=None`` runs Lava without the wrap.

    The second source of differences is slayer's own float32 arithmetic: graded states carry 18 fractional bits,
    so values beyond about +-64 no longer fit float32's 24-bit mantissa and slayer rounds where Lava's integers
    stay exact (1-LSB = 2**-12 differences); ``slayer_dtype=torch.float64`` computes the reference in double.
    With ``layers_out`` the report also holds the arrays under ``"arrays"`` (not JSON-able).
    """
    from evsnn.lava.run import run_netx

    x = np.asarray(x.detach().cpu().numpy() if isinstance(x, torch.Tensor) else x, dtype=np.float32)
    if x.ndim in (2, 4):
        x = x[None]
    if steps is not None:
        t = x.shape[-1]
        x = x[..., :steps] if t >= steps else np.concatenate(
            [x, np.zeros((*x.shape[:-1], steps - t), dtype=x.dtype)], axis=-1)
    blocks = model_blocks(model)
    quantize_thresholds(blocks)   # as the export did (a no-op when this very model object was exported)
    t0 = time.perf_counter()
    ref, syn = slayer_layers(blocks, x, synapse_out=True, dtype=slayer_dtype)
    slayer_s = time.perf_counter() - t0
    delays = slayer_delays(blocks)
    res = run_netx(net_path, x, taps="all", conv_impl=conv_impl, acc_bits=acc_bits)
    if len(res.layers) != len(blocks):
        raise ValueError(f"{net_path} has {len(res.layers)} layers but the model has {len(blocks)} blocks: "
                         "not its export")
    report_layers = []
    arrays = {}
    in_scale = 1   # Lava units of the current layer's input: raw events first, then each layer's out_scale
    for i, info in enumerate(res.layers):
        if i not in res.taps:
            continue
        layer_in_scale, in_scale = in_scale, info.out_scale
        lava = res.taps[i]
        ref_i = ref[i].reshape(lava.shape)
        d = delays[i]
        T = lava.shape[-1]
        a, s = lava[..., :T - d], ref_i[..., d:]
        diff = np.abs(a - s)
        entry = {"index": i, "type": info.type, "neuron": info.neuron, "shape": list(info.shape),
                 "lava_index": info.lava_index, "slayer_delay": d, "latency_shift": info.latency - d,
                 "n_compared": int(diff.size), "max_abs_diff": float(diff.max(initial=0.0)),
                 "n_mismatch": int(np.count_nonzero(diff)),
                 "nonzero_slayer": int(np.count_nonzero(s)), "nonzero_lava": int(np.count_nonzero(a)),
                 "max_abs_slayer": float(np.abs(s).max(initial=0.0)),
                 "acc_overflows": _acc_overflows(syn[i], layer_in_scale, acc_bits)
                 if info.type in ("conv", "convT", "pool") else 0}
        entry["bit_exact"] = entry["n_mismatch"] == 0
        report_layers.append(entry)
        if layers_out:
            arrays[i] = (s, a)
    out = {"net": os.fspath(net_path), "samples": int(x.shape[0]), "steps": int(x.shape[-1]),
           "acc_bits": acc_bits, "slayer_dtype": str(slayer_dtype).replace("torch.", ""),
           "bit_exact": all(e["bit_exact"] for e in report_layers), "layers": report_layers,
           "lava": {k: v for k, v in res.summary().items() if k != "layers"}, "slayer_s": round(slayer_s, 4)}
    if layers_out:
        out["arrays"] = arrays
    return out


def readout(model, y) -> torch.Tensor:
    """What ``model.forward`` returns, from its last block's output over time ``y`` [N, *shape, T]: the model's
    ``lava_readout`` (every lava-dl model of evsnn has one)."""
    y = torch.as_tensor(np.asarray(y), dtype=torch.float32)
    if hasattr(model, "lava_readout"):
        return model.lava_readout(y)
    raise TypeError(f"{type(model).__name__} has no lava_readout(y): cannot turn its Lava output into predictions")


def lava_forward(model, net_path: str | os.PathLike, frames, *, steps: int | None = None,
                 conv_impl: str = "numpy"):
    """``model(frames)`` computed by Lava: event frames [T, N, C, H, W] -> (the model's output, the
    :class:`evsnn.lava.run.RunResult`). ``net_path`` is the model's export. The model's thresholds are snapped to
    the netx grid as the export did (in place, idempotent), so that ``model(frames)`` is the matching reference."""
    from evsnn.lava.run import run_netx

    quantize_thresholds(model)
    x = slayer_input(model, frames)
    res = run_netx(net_path, x.numpy(), steps=steps, conv_impl=conv_impl)
    return readout(model, res.output), res
