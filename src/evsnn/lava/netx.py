"""Load a lava-dl netx ``.net`` file (HDF5, ``/layer/{i}``) as a Lava network that runs bit-exactly on CPU.

lava-dl 0.6's own loader (``lava.lib.dl.netx.hdf5.Network``) stops at ``pool`` and ``convT`` layers
(NotImplementedError). :func:`load_network` reads every layer type that slayer's sigma-delta and CUBA blocks export:
``input``, ``conv``, ``pool`` (sum or average pooling: the pool weight carries the scale), ``convT``, ``flatten``
and ``dense``, with SDNN (sigma-delta ReLU; the ``sigma_output`` variant) and CUBA-LIF neurons. It reuses netx's
blocks where they work (the ``Input`` and ``Dense`` blocks, their neuron parameter conventions, netx's
``optimize_weight_bits`` for dense weights, and optionally the ``Conv`` block) and adds what is missing:

- :class:`Synapse2D`: a convolution / transposed-convolution / pooling synapse process with a fixed-point process
  model (exact integer arithmetic in float64 BLAS: every product and sum of 24-bit messages and 9-bit weights is
  an integer below 2**53, so the result is exact), wrapping its dendritic sum to 24 bits like Lava's own conv
  synapse (``acc_bits``; a per-step synaptic input of magnitude >= 32 in slayer units of a graded SDNN layer
  overflows; ``acc_bits=None`` turns the wrap off). It is wired like netx's ``Conv`` block: synapse -> neuron,
  with a one-step synaptic delay. Its steps are event-driven (:mod:`evsnn.lava.event_synapse`: a sparse step
  scatters only the non-zero input messages' kernels, bit-identical to the dense step; ``synapse="auto"``, the
  default, picks the cheaper one per step by the non-zero fraction; ``"dense"`` or ``$EVSNN_LAVA_SYNAPSE=dense``
  forces the dense step).
- neurons that reset their state every ``reset_interval`` steps (phase-shifted by one step per layer, as netx
  does for CUBA with ``LIFReset``), so that many samples run back to back in one Lava run without a rebuild:
  :class:`SigmaDeltaReset`, :class:`DeltaReset`, :class:`SigmaReset`; CUBA uses Lava's ``LIFReset``.

Fixed-point units (slayer value = Lava integer / ``LayerInfo.out_scale``): the input neuron takes ``x * 64``
(slayer's 8-bit input grid, step 1/32, as integers); SDNN layers send graded spikes ``y * 2**12``; a
``sigma_output`` layer sends ``sigma * 2**18``; CUBA layers send 0/1 spikes. Every Lava layer adds one step of
latency (layer ``k`` of the Lava pipeline answers input step ``t`` at step ``t + k``).

The file is validated before anything is built: unknown layer types, missing fields and inconsistent shapes
(input shape vs the previous layer's output, weight shape vs channels/features, declared output shape vs the
one the layer parameters give) raise :class:`evsnn.errors.FormatError` naming the file, the layer and the problem.
"""
from __future__ import annotations

import math
import os
from dataclasses import dataclass, field
from typing import Any

import numpy as np
from lava.lib.dl.netx.blocks.models import AbstractPyBlockModel
from lava.lib.dl.netx.blocks.process import AbstractBlock
from lava.lib.dl.netx.blocks.process import Conv as NetxConv
from lava.lib.dl.netx.blocks.process import Dense as NetxDense
from lava.lib.dl.netx.blocks.process import Input as NetxInput
from lava.lib.dl.netx.utils import optimize_weight_bits
from lava.magma.core.decorator import implements, requires, tag
from lava.magma.core.model.py.model import PyLoihiProcessModel
from lava.magma.core.model.py.ports import PyInPort, PyOutPort
from lava.magma.core.model.py.type import LavaPyType
from lava.magma.core.process.ports.ports import InPort, OutPort
from lava.magma.core.process.process import AbstractProcess
from lava.magma.core.process.variable import Var
from lava.magma.core.resources import CPU
from lava.magma.core.sync.protocols.loihi_protocol import LoihiProtocol
from lava.proc.lif.process import LIFReset
from lava.proc.sdn.models import PyDeltaModelFixed, PySigmaDeltaModelFixed, PySigmaModelFixed
from lava.proc.sdn.process import ActivationMode, Delta, Sigma, SigmaDelta

from evsnn.errors import FormatError, reading_hdf5
from evsnn.lava import event_synapse, sigma_delta

SUPPORTED_TYPES = ("input", "conv", "pool", "convT", "flatten", "dense")
SPIKE_EXP = 6      # netx's default: graded spikes carry 6 fractional bits more than the 1/64 weight grid
STATE_EXP = 6      # netx's sigma-delta state exponent
INPUT_SCALE = 64   # the input neuron takes slayer's input value times 64 (its 8-bit grid has step 2/64)
ACC_BITS = 24      # Loihi's dendritic accumulators (and Lava's own conv synapse) wrap at 24 bits
MAX_NET_BYTES = 1 << 30      # a .net file's datasets together (weights of a Loihi-sized network are far less)
MAX_LAYER_NEURONS = 1 << 26  # a layer's declared shape (the Lava processes allocate state of this size)
_NEVER = 2 ** 31 - 1

__all__ = ["LayerInfo", "NetxNetwork", "Synapse2D", "synapse2d_step", "SigmaDeltaReset", "DeltaReset", "SigmaReset",
           "load_network", "read_layers", "process_models", "describe", "SUPPORTED_TYPES"]


# ============================================================================================ file reading
@dataclass
class LayerInfo:
    """One ``/layer/{index}`` of a .net file and the Lava block built for it.

    ``shape`` is the layer's output in slayer order ([C, H, W], or [N] for dense/flatten). ``lava_index`` is the
    layer's position in the Lava pipeline, ``latency`` the steps between an input and this layer's answer to it
    (one per synapse on the way: ``lava_index``, or ``lava_index + 1`` when the network has no input neuron);
    both None for layers without a Lava process (flatten, an input layer without a neuron). ``out_scale``
    converts the block's integer output to slayer units.
    """

    index: int
    type: str
    shape: tuple[int, ...]
    in_shape: tuple[int, ...] | None = None
    neuron: str | None = None            # "SDNN", "SDNN-sigma", "CUBA" or None
    threshold: float | None = None       # slayer threshold = vThMant / 64
    n_weights: int = 0
    params: dict[str, Any] = field(default_factory=dict)
    out_scale: int = 1
    message_bits: int = 0
    lava_index: int | None = None
    latency: int | None = None
    block: Any = field(default=None, repr=False)

    def summary(self) -> dict:
        """JSON-able description (no Lava objects)."""
        out = {"index": self.index, "type": self.type, "shape": list(self.shape)}
        if self.in_shape is not None:
            out["in_shape"] = list(self.in_shape)
        if self.neuron is not None:
            out["neuron"] = self.neuron
        if self.threshold is not None:
            out["threshold"] = self.threshold
            if self.threshold == 0 and self.neuron == "SDNN":
                out["zero_threshold"] = True
        if self.n_weights:
            out["n_weights"] = self.n_weights
        out.update({k: v for k, v in self.params.items() if not isinstance(v, np.ndarray)})
        if self.lava_index is not None:
            out["lava_index"] = self.lava_index
            out["latency"] = self.latency
        return out


def _decode(value) -> str:
    if isinstance(value, bytes):
        return value.decode("ascii", "replace")
    return str(value)


def _read_group(group) -> dict:
    """h5py group -> plain dict of numpy values (sub-groups as nested dicts)."""
    import h5py

    out = {}
    for key, item in group.items():
        if isinstance(item, h5py.Group):
            out[key] = _read_group(item)
        else:
            out[key] = item[()]
    return out


def read_layers(path: str | os.PathLike) -> list[dict]:
    """The raw layer descriptions of a .net file, in order; FormatError if it is not a netx file."""
    import h5py

    from evsnn.h5safe import check_hdf5

    path = os.fspath(path)
    if not os.path.exists(path):
        raise FileNotFoundError(2, "No such file", path)
    if os.path.isdir(path):
        raise IsADirectoryError(21, "Is a directory", path)
    try:
        fh = h5py.File(path, "r")
    except OSError as exc:
        raise FormatError(path, None, f"not an HDF5 file ({exc})") from None
    with fh, reading_hdf5(path, "netx network file"):
        # every dataset is read whole below: no external data, and no more bytes than a netx file can need
        check_hdf5(fh, path, max_dataset_bytes=MAX_NET_BYTES, max_total_bytes=MAX_NET_BYTES)
        if "layer" not in fh:
            raise FormatError(path, None, "no /layer group: not a lava-dl netx network description")
        keys = list(fh["layer"].keys())
        try:
            order = sorted(int(k) for k in keys)
        except ValueError:
            raise FormatError(path, None, f"/layer holds non-numeric entries {keys}: expected /layer/0, /layer/1, "
                                          "...") from None
        if order != list(range(len(order))):
            raise FormatError(path, None, f"/layer entries are {order}, expected 0..{len(order) - 1} without gaps")
        if not order:
            raise FormatError(path, None, "/layer is empty")
        layers = []
        for i in order:
            raw = _read_group(fh["layer"][str(i)])
            if "type" not in raw:
                raise FormatError(path, None, f"layer {i}: no 'type' dataset")
            t = raw["type"]
            raw["type"] = _decode(t[0] if np.ndim(t) else t)
            layers.append(raw)
    return layers


# ============================================================================================ validation
def _pair(value, name: str, where: str, path: str) -> tuple[int, int]:
    """A netx (H, W)-ordered pair (scalar broadcast)."""
    arr = np.atleast_1d(np.asarray(value)).astype(int).ravel()
    if arr.size == 1:
        return int(arr[0]), int(arr[0])
    if arr.size != 2:
        raise FormatError(path, None, f"{where}: '{name}' must be one or two integers, got {arr.tolist()}")
    return int(arr[0]), int(arr[1])


def _need(raw: dict, keys, where: str, path: str) -> None:
    missing = [k for k in keys if k not in raw]
    if missing:
        raise FormatError(path, None, f"{where}: missing field(s) {', '.join(missing)}")


def _conv_out(n: int, k: int, s: int, p: int, d: int) -> int:
    return (n + 2 * p - d * (k - 1) - 1) // s + 1


def _convT_out(n: int, k: int, s: int, p: int, d: int) -> int:
    return (n - 1) * s - 2 * p + d * (k - 1) + 1


def _pool_padded(n: int, k: int) -> int:
    """slayer's Pool synapse pads the end of an odd-sized dimension by ``n % k`` zeros before pooling."""
    return n + (n % k)


def _neuron_spec(raw: dict, where: str, path: str, *, is_input: bool) -> dict:
    """Neuron description -> kind, threshold, message bits and output scale (validated)."""
    if "neuron" not in raw:
        return {}
    n = raw["neuron"]
    _need(n, ["type"], f"{where} neuron", path)
    ntype = _decode(n["type"][0] if np.ndim(n["type"]) else n["type"])
    if ntype == "SDNN":
        act = _decode(n.get("activation", b"relu"))
        if act not in ("relu", "ReLU"):
            raise FormatError(path, None, f"{where}: SDNN activation {act!r} is not supported (Lava's sigma-delta "
                                          "neuron implements relu only)")
        sigma = "sigma_output" in n and bool(np.asarray(n["sigma_output"]).ravel()[0])
        if not sigma:
            _need(n, ["vThMant"], f"{where} neuron", path)
        vth = int(np.asarray(n.get("vThMant", 0)).ravel()[0])
        if not sigma and vth < 0:
            raise FormatError(path, None, f"{where}: SDNN threshold vThMant={vth} < 0")
        # vThMant = 0 is what lava-dl's export writes for a slayer threshold below 1/64: slayer's float threshold is
        # lost, and in Lava (|change| >= 0) every non-zero change is sent; it runs, and is reported (ZERO_THRESHOLD)
        bits = int(np.asarray(n.get("messageBits", 16)).ravel()[0])
        # A delta neuron's state is value * 2**(6 + spike_exp + state_exp) (weights carry 6 fractional bits) and
        # it sends state >> state_exp = value * 2**12; a sigma (output) neuron sends its accumulated input,
        # weight (x 2**6) times graded spike (x 2**12) = value * 2**18.
        scale = 1 << (6 + SPIKE_EXP + STATE_EXP) if sigma else 1 << (6 + SPIKE_EXP)
        return {"kind": "SDNN-sigma" if sigma else "SDNN", "vth": vth, "bits": bits, "scale": scale,
                "threshold": None if sigma else vth / 64.0, "zero_threshold": not sigma and vth == 0}
    if ntype in ("CUBA", "LOIHI"):
        _need(n, ["vThMant", "iDecay", "vDecay"], f"{where} neuron", path)
        if "gradedSpike" in n and bool(np.asarray(n["gradedSpike"]).ravel()[0]):
            raise FormatError(path, None, f"{where}: CUBA neurons with graded spikes are not supported by "
                                          "Lava's LIF process")
        vth = int(np.asarray(n["vThMant"]).ravel()[0])
        return {"kind": "CUBA", "vth": vth, "bits": int(np.asarray(n.get("messageBits", 0)).ravel()[0]),
                "scale": 1, "threshold": vth / 64.0,
                "i_decay": int(np.asarray(n["iDecay"]).ravel()[0]),
                "v_decay": int(np.asarray(n["vDecay"]).ravel()[0])}
    raise FormatError(path, None, f"{where}: neuron type {ntype!r} is not supported (SDNN or CUBA)")


def _scalar(raw: dict, key: str, default=None) -> int:
    return int(np.asarray(raw.get(key, default)).ravel()[0])


def _geometry(raw: dict, where: str, path: str) -> tuple:
    return tuple(_pair(raw[key], key, where, path) for key in ("kernelSize", "stride", "padding", "dilation"))


def _need_chw(cur: tuple, where: str, path: str) -> None:
    if len(cur) != 3:
        raise FormatError(path, None, f"{where}: expects a [C, H, W] input, the previous layer gives {list(cur)}")


def _check_conv(raw: dict, cur: tuple, where: str, path: str, transposed: bool) -> tuple[tuple, dict]:
    """conv / convT: channels, groups and weight shape against the input; the output shape."""
    _need(raw, ["weight", "kernelSize", "stride", "padding", "dilation", "inChannels", "outChannels"], where, path)
    _need_chw(cur, where, path)
    cin, cout, groups = _scalar(raw, "inChannels"), _scalar(raw, "outChannels"), _scalar(raw, "groups", 1)
    k, s, p, d = _geometry(raw, where, path)
    if groups < 1 or cin % groups or cout % groups:
        raise FormatError(path, None, f"{where}: groups={groups} does not divide inChannels={cin} and "
                                      f"outChannels={cout}")
    if cur[0] != cin:
        raise FormatError(path, None, f"{where}: inChannels={cin} but the previous layer has {cur[0]} channels "
                                      f"(input shape {list(cur)})")
    w = np.asarray(raw["weight"])
    if w.ndim == 5 and w.shape[-1] == 1:   # slayer's synapses are 3-D convolutions with a time kernel of 1
        w = w[..., 0]
    expect = (cin, cout // groups, *k) if transposed else (cout, cin // groups, *k)
    if tuple(w.shape) != expect:
        order = "(in, out/groups, kH, kW)" if transposed else "(out, in/groups, kH, kW)"
        raise FormatError(path, None, f"{where}: weight shape {list(w.shape)} does not match inChannels={cin}, "
                                      f"outChannels={cout}, kernel {list(k)} (expected {list(expect)} = {order})")
    f = _convT_out if transposed else _conv_out
    out = (cout, f(cur[1], k[0], s[0], p[0], d[0]), f(cur[2], k[1], s[1], p[1], d[1]))
    return out, {"kernel": list(k), "stride": list(s), "padding": list(p), "dilation": list(d), "groups": groups,
                 "weight": w}


def _check_pool(raw: dict, cur: tuple, where: str, path: str) -> tuple[tuple, dict]:
    _need(raw, ["weight", "kernelSize", "stride", "padding", "dilation"], where, path)
    _need_chw(cur, where, path)
    k, s, p, d = _geometry(raw, where, path)
    w = np.asarray(raw["weight"])
    if w.size != k[0] * k[1]:
        raise FormatError(path, None, f"{where}: pool weight has {w.size} values, kernel {list(k)} needs "
                                      f"{k[0] * k[1]}")
    out = (cur[0], _conv_out(_pool_padded(cur[1], k[0]), k[0], s[0], p[0], d[0]),
           _conv_out(_pool_padded(cur[2], k[1]), k[1], s[1], p[1], d[1]))
    return out, {"kernel": list(k), "stride": list(s), "padding": list(p), "dilation": list(d),
                 "weight": w.reshape(k)}


def _check_dense(raw: dict, cur: tuple, where: str, path: str, n_out: int) -> tuple[tuple, dict]:
    _need(raw, ["weight"], where, path)
    if "delay" in raw:
        raise FormatError(path, None, f"{where}: synaptic delays are not supported")
    if len(cur) == 3 and cur[1:] == (1, 1):
        cur = (cur[0],)
    if len(cur) != 1:
        raise FormatError(path, None, f"{where}: a dense layer after the [C, H, W] output {list(cur)} needs a "
                                      "flatten layer before it")
    w = np.asarray(raw["weight"])
    w2 = w.reshape(w.shape[0], -1) if w.ndim > 2 else (w.reshape(n_out, -1) if w.ndim == 1 and n_out else w)
    if w2.ndim != 2 or tuple(w2.shape) != (n_out, cur[0]):
        raise FormatError(path, None, f"{where}: weight shape {list(w.shape)} does not match {cur[0]} inputs -> "
                                      f"{n_out} outputs (expected [{n_out}, {cur[0]}])")
    for key, val in (("inFeatures", cur[0]), ("outFeatures", n_out)):
        if key in raw and _scalar(raw, key) != val:
            raise FormatError(path, None, f"{where}: {key}={_scalar(raw, key)} but the layer has {val}")
    return (n_out,), {"weight": w2}


def _validate(layers: list[dict], path: str, input_shape=None) -> list[dict]:
    """Check every layer against the previous one; return normalised specs (one dict per layer) with the input
    shape ``in_shape``, output shape ``out``, parameters and neuron description."""
    specs = []
    cur: tuple[int, ...] | None = tuple(int(v) for v in input_shape) if input_shape is not None else None
    for i, raw in enumerate(layers):
        t = raw["type"]
        where = f"layer {i} ({t})"
        if t not in SUPPORTED_TYPES:
            raise FormatError(path, None, f"layer {i}: unknown layer type {t!r} (supported: "
                                          f"{', '.join(SUPPORTED_TYPES)})")
        _need(raw, ["shape"], where, path)
        shape = tuple(int(v) for v in np.atleast_1d(raw["shape"]).ravel())
        if any(v < 1 for v in shape) or math.prod(shape) > MAX_LAYER_NEURONS:
            raise FormatError(path, None, f"{where}: declared shape {list(shape)} is empty or has more than "
                                          f"{MAX_LAYER_NEURONS} neurons")
        neuron = _neuron_spec(raw, where, path, is_input=(t == "input"))
        spec = {"index": i, "type": t, "shape": shape, "raw": raw, "params": {}, "neuron": neuron}
        if t == "input":
            if i != 0:
                raise FormatError(path, None, f"{where}: an input layer is only allowed as layer 0")
            if cur is not None and int(np.prod(cur)) != int(np.prod(shape)):
                raise FormatError(path, None, f"{where}: shape {list(shape)} does not match the given input shape "
                                              f"{list(cur)}")
            if neuron and neuron["kind"] == "SDNN-sigma":
                raise FormatError(path, None, f"{where}: an input layer cannot have a sigma output neuron")
            for key in ("weight", "bias"):
                if key in raw and np.asarray(raw[key]).size != 1:
                    raise FormatError(path, None, f"{where}: input '{key}' must be a scalar, got shape "
                                                  f"{list(np.shape(raw[key]))}")
            spec.update(in_shape=shape, out=shape)
            cur = shape
            specs.append(spec)
            continue
        if t != "flatten" and not neuron:
            raise FormatError(path, None, f"{where}: no neuron description (/layer/{i}/neuron)")
        if "delay" in raw and t != "flatten":
            raise FormatError(path, None, f"{where}: synaptic delays are not supported")
        if cur is None:
            if t != "dense" or "inFeatures" not in raw:
                raise FormatError(path, None, f"{where}: the file has no input layer, so the input shape is unknown;"
                                              " pass input_shape=(C, H, W)")
            cur = (_scalar(raw, "inFeatures"),)
        spec["in_shape"] = cur
        if t in ("conv", "convT"):
            out, spec["params"] = _check_conv(raw, cur, where, path, transposed=(t == "convT"))
        elif t == "pool":
            out, spec["params"] = _check_pool(raw, cur, where, path)
        elif t == "flatten":
            out = (int(np.prod(cur)),)
            spec["params"] = {"from": list(cur)}
        else:
            out, spec["params"] = _check_dense(raw, cur, where, path, int(np.prod(shape)))
        if min(out) < 1:
            raise FormatError(path, None, f"{where}: the layer parameters give an empty output {list(out)} from "
                                          f"input {list(cur)}")
        declared_ok = int(np.prod(shape)) == int(np.prod(out)) if len(out) == 1 else tuple(shape) == out
        if not declared_ok:
            raise FormatError(path, None, f"{where}: declared output shape {list(shape)} but the layer parameters "
                                          f"give {list(out)} from input {list(cur)}")
        if "bias" in raw and t in ("conv", "convT", "dense"):
            b = np.asarray(raw["bias"]).ravel()
            if b.size not in (1, out[0], int(np.prod(out))):
                raise FormatError(path, None, f"{where}: bias has {b.size} values for {out[0]} channels")
        spec["out"] = out
        specs.append(spec)
        cur = out
    return specs


# ============================================================================================ processes
class Synapse2D(AbstractProcess):
    """Convolution, transposed convolution or pooling synapse with slayer's (PyTorch's) semantics.

    Ports and data are in Lava's (W, H, C) order; ``weight`` is in PyTorch's order: conv (out, in/groups, kH, kW),
    convT (in, out/groups, kH, kW), pool (kH, kW). ``kernel``, ``stride``, ``padding``, ``dilation`` are
    (H, W) pairs. Pool pads the end of odd dimensions by ``n % k`` like slayer's Pool synapse. Like Lava's Conv
    synapse, the output of step t is sent at step t + 1, and the dendritic sum wraps at ``acc_bits`` (24, Loihi's
    accumulator width; None: no wrap beyond int32, like Lava's Dense synapse). ``synapse``: how a step is computed
    (:data:`evsnn.lava.event_synapse.MODES`: "auto" picks per step by the non-zero fraction of the input, "event"
    scatters the non-zero inputs, "dense" runs :func:`synapse2d_forward`; None: ``$EVSNN_LAVA_SYNAPSE`` or "auto");
    every mode sends the same integers.
    """

    def __init__(self, *, kind: str, weight: np.ndarray, input_shape: tuple, output_shape: tuple,
                 kernel=(1, 1), stride=(1, 1), padding=(0, 0), dilation=(1, 1), groups: int = 1,
                 num_message_bits: int = 0, acc_bits: int | None = ACC_BITS, synapse: str | None = None,
                 name: str | None = None) -> None:
        if kind not in ("conv", "convT", "pool"):
            raise ValueError(f"kind must be conv, convT or pool, not {kind!r}")
        weight = np.asarray(weight)
        super().__init__(kind=kind, weight_value=weight.astype(np.float64), kernel=tuple(kernel),
                         stride=tuple(stride), padding=tuple(padding), dilation=tuple(dilation),
                         groups=int(groups), num_message_bits=int(num_message_bits),
                         acc_bits=None if acc_bits is None else int(acc_bits),
                         synapse=event_synapse.resolve_mode(synapse), name=name)
        self.input_shape = tuple(int(v) for v in input_shape)
        self.output_shape = tuple(int(v) for v in output_shape)
        self.s_in = InPort(shape=self.input_shape)
        self.a_out = OutPort(shape=self.output_shape)
        self.a_buf = Var(shape=self.output_shape, init=0)


def _signed_wrap(x: np.ndarray, bits: int) -> np.ndarray:
    base = 1 << bits
    return (x + base // 2) % base - base // 2


def conv2d_int(x: np.ndarray, weight: np.ndarray, stride, padding, dilation, groups: int) -> np.ndarray:
    """Cross-correlation of x [C, H, W] with weight (out, in/groups, kH, kW) in float64 (exact for integers)."""
    cin, h, w = x.shape
    cout, cg, kh, kw = weight.shape
    (sh, sw), (ph, pw), (dh, dw) = stride, padding, dilation
    ho, wo = _conv_out(h, kh, sh, ph, dh), _conv_out(w, kw, sw, pw, dw)
    xp = np.zeros((cin, h + 2 * ph, w + 2 * pw))
    xp[:, ph:ph + h, pw:pw + w] = x
    og = cout // groups
    out = np.empty((cout, ho * wo))
    for g in range(groups):
        xs = xp[g * cg:(g + 1) * cg]
        cols = np.empty((kh, kw, cg, ho, wo))
        for i in range(kh):
            for j in range(kw):
                cols[i, j] = xs[:, i * dh:i * dh + (ho - 1) * sh + 1:sh, j * dw:j * dw + (wo - 1) * sw + 1:sw]
        wmat = weight[g * og:(g + 1) * og].transpose(0, 2, 3, 1).reshape(og, -1)
        out[g * og:(g + 1) * og] = wmat @ cols.reshape(-1, ho * wo)
    return out.reshape(cout, ho, wo)


def conv_transpose2d_int(x: np.ndarray, weight: np.ndarray, stride, padding, dilation, groups: int) -> np.ndarray:
    """Transposed convolution of x [C, H, W] with weight (in, out/groups, kH, kW), PyTorch semantics
    (output_padding 0), in float64 (exact for integers)."""
    cin, h, w = x.shape
    _, og, kh, kw = weight.shape
    (sh, sw), (ph, pw), (dh, dw) = stride, padding, dilation
    hf, wf = (h - 1) * sh + dh * (kh - 1) + 1, (w - 1) * sw + dw * (kw - 1) + 1
    cg = cin // groups
    full = np.zeros((og * groups, hf, wf))
    for g in range(groups):
        xs = x[g * cg:(g + 1) * cg].reshape(cg, h * w)
        wg = weight[g * cg:(g + 1) * cg]                        # (cg, og, kh, kw)
        for i in range(kh):
            for j in range(kw):
                contrib = (wg[:, :, i, j].T @ xs).reshape(og, h, w)
                full[g * og:(g + 1) * og, i * dh:i * dh + (h - 1) * sh + 1:sh,
                     j * dw:j * dw + (w - 1) * sw + 1:sw] += contrib
    ho, wo = _convT_out(h, kh, sh, ph, dh), _convT_out(w, kw, sw, pw, dw)
    return full[:, ph:ph + ho, pw:pw + wo]


def pool2d_int(x: np.ndarray, weight: np.ndarray, stride, padding, dilation) -> np.ndarray:
    """Per-channel weighted pooling of x [C, H, W] with a (kH, kW) kernel, slayer's Pool semantics."""
    c, h, w = x.shape
    kh, kw = weight.shape
    (sh, sw), (ph, pw), (dh, dw) = stride, padding, dilation
    hp, wp = _pool_padded(h, kh), _pool_padded(w, kw)
    xp = np.zeros((c, hp + 2 * ph, wp + 2 * pw))
    xp[:, ph:ph + h, pw:pw + w] = x
    ho, wo = _conv_out(hp, kh, sh, ph, dh), _conv_out(wp, kw, sw, pw, dw)
    out = np.zeros((c, ho, wo))
    for i in range(kh):
        for j in range(kw):
            if weight[i, j]:
                out += weight[i, j] * xp[:, i * dh:i * dh + (ho - 1) * sh + 1:sh, j * dw:j * dw + (wo - 1) * sw + 1:sw]
    return out


def synapse2d_forward(kind: str, x_whc: np.ndarray, weight: np.ndarray, kernel, stride, padding, dilation,
                      groups: int) -> np.ndarray:
    """One step of :class:`Synapse2D`: (W, H, C) integers in -> (W, H, C) int64 dendritic sums out (not wrapped)."""
    x = np.asarray(x_whc, dtype=np.float64).transpose(2, 1, 0)
    if kind == "conv":
        y = conv2d_int(x, weight, stride, padding, dilation, groups)
    elif kind == "convT":
        y = conv_transpose2d_int(x, weight, stride, padding, dilation, groups)
    else:
        y = pool2d_int(x, weight, stride, padding, dilation)
    return np.rint(y).astype(np.int64).transpose(2, 1, 0)


@implements(proc=Synapse2D, protocol=LoihiProtocol)
@requires(CPU)
@tag("fixed_pt")
class PySynapse2DModelFixed(PyLoihiProcessModel):
    """Fixed-point model: integer messages times integer weights, the sum wrapped to 24 bits; one-step delay.

    Each step is dense (:func:`synapse2d_forward`) or event-driven (:func:`evsnn.lava.event_synapse.event_forward`)
    as the process's ``synapse`` mode says (:func:`evsnn.lava.event_synapse.use_event`); the wrap is applied to the
    final sum in both, so both send the same integers. ``steps_event`` / ``steps_dense`` count the steps of each.
    """

    s_in: PyInPort = LavaPyType(PyInPort.VEC_DENSE, np.int32, precision=24)
    a_out: PyOutPort = LavaPyType(PyOutPort.VEC_DENSE, np.int32, precision=24)
    a_buf: np.ndarray = LavaPyType(np.ndarray, np.int32, precision=24)

    def __init__(self, proc_params) -> None:
        super().__init__(proc_params)
        p = proc_params
        self._kind = p["kind"]
        self._weight = p["weight_value"]
        self._geom = (p["kernel"], p["stride"], p["padding"], p["dilation"], p["groups"])
        self._acc_bits = p["acc_bits"]
        self._mode = p.get("synapse", "dense")
        self._prepared = None
        self.steps_event = self.steps_dense = 0

    def run_spk(self) -> None:
        self.a_out.send(self.a_buf)
        s_in = self.s_in.recv()
        self.a_buf = synapse2d_step(self._kind, s_in, self._weight, *self._geom, acc_bits=self._acc_bits,
                                    mode=self._mode, model=self)


def synapse2d_step(kind: str, s_in: np.ndarray, weight: np.ndarray, kernel, stride, padding, dilation, groups: int,
                   *, acc_bits: int | None = ACC_BITS, mode: str = "auto", model=None,
                   backend: str = "auto") -> np.ndarray:
    """What :class:`Synapse2D` sends one step after receiving ``s_in`` ((W, H, C) integers): the dendritic sums,
    wrapped to ``acc_bits``, as int32 (W, H, C). ``mode`` (auto / event / dense) picks the dense step
    (:func:`synapse2d_forward`) or the scatter of the non-zero inputs (:mod:`evsnn.lava.event_synapse`), whose
    int32 sums equal the dense int64 sums modulo 2**32, so the wrapped result is the same integer. ``model``: the
    process model, which caches the rearranged weights and counts the steps of each kind; ``backend``: the
    scatter's (auto, numba, numpy)."""
    s_in = np.asarray(s_in)
    if event_synapse.use_event(kind, mode, s_in, backend):
        prepared = getattr(model, "_prepared", None)
        if prepared is None:
            out_shape = _synapse_out_whc(kind, s_in.shape, weight, kernel, stride, padding, dilation, groups)
            prepared = (event_synapse.prepare(kind, weight, s_in.shape, out_shape, stride, padding, dilation, groups),
                        out_shape)
            if model is not None:
                model._prepared = prepared
        a = event_synapse.event_forward(kind, s_in, prepared[0], stride, padding, dilation, prepared[1],
                                        acc_bits=acc_bits, backend=backend)
        if model is not None:
            model.steps_event += 1
        return a
    a = synapse2d_forward(kind, s_in, weight, kernel, stride, padding, dilation, groups)
    if model is not None:
        model.steps_dense += 1
    return (_signed_wrap(a, acc_bits) if acc_bits else a).astype(np.int32)


def _synapse_out_whc(kind: str, in_whc: tuple, weight: np.ndarray, kernel, stride, padding, dilation,
                     groups: int) -> tuple:
    """The (Wo, Ho, Cout) output of a synapse on a (W, H, Cin) input: the dense step's geometry."""
    w, h, cin = in_whc
    (kh, kw), (sh, sw), (ph, pw), (dh, dw) = kernel, stride, padding, dilation
    if kind == "conv":
        return _conv_out(w, kw, sw, pw, dw), _conv_out(h, kh, sh, ph, dh), int(weight.shape[0])
    if kind == "convT":
        return _convT_out(w, kw, sw, pw, dw), _convT_out(h, kh, sh, ph, dh), int(weight.shape[1]) * groups
    return (_conv_out(_pool_padded(w, kw), kw, sw, pw, dw), _conv_out(_pool_padded(h, kh), kh, sh, ph, dh), cin)


def _add_reset(proc: AbstractProcess, reset_interval: int, reset_offset: int) -> None:
    if reset_interval < 0 or reset_offset < 0:
        raise ValueError("reset_interval and reset_offset must be >= 0")
    proc.proc_params["reset_interval"] = int(reset_interval)
    proc.proc_params["reset_offset"] = int(reset_offset)


def _reset_due(model: PyLoihiProcessModel) -> bool:
    interval = model.proc_params["reset_interval"]
    return interval > 0 and model.time_step % interval == model.proc_params["reset_offset"] % interval


class SigmaDeltaReset(SigmaDelta):
    """Lava's SigmaDelta neuron whose state (sigma, act, residue, error) is zeroed at every step t with
    ``t % reset_interval == reset_offset`` (before the step; ``reset_interval=0``: never), like netx's LIFReset."""

    def __init__(self, *, reset_interval: int = 0, reset_offset: int = 0, **kwargs) -> None:
        super().__init__(**kwargs)
        _add_reset(self, reset_interval, reset_offset)


class DeltaReset(Delta):
    """Lava's Delta encoder (the SDNN input neuron) with the periodic state reset of :class:`SigmaDeltaReset`."""

    def __init__(self, *, reset_interval: int = 0, reset_offset: int = 0, **kwargs) -> None:
        super().__init__(**kwargs)
        _add_reset(self, reset_interval, reset_offset)


class SigmaReset(Sigma):
    """Lava's Sigma accumulator (an SDNN ``sigma_output`` layer) with the periodic state reset."""

    def __init__(self, *, reset_interval: int = 0, reset_offset: int = 0, **kwargs) -> None:
        kwargs.pop("vth", None)
        super().__init__(shape=kwargs.pop("shape"))
        _add_reset(self, reset_interval, reset_offset)


class _ScheduledReset:
    """Mixin for Lava's fixed_pt neuron models: zero the ``RESET_STATE`` variables before the step when
    :func:`_reset_due` (the sample boundaries of a multi-sample run), then run Lava's own step."""

    RESET_STATE: tuple[str, ...] = ()
    implements_process = None  # inherits Lava's fixed_pt model (tags, types); re-bound to the reset process

    def _reset_if_due(self) -> None:
        if _reset_due(self):
            for name in self.RESET_STATE:
                getattr(self, name)[...] = 0

    def run_spk(self) -> None:
        self._reset_if_due()
        super().run_spk()


@implements(proc=SigmaDeltaReset, protocol=LoihiProtocol)
class PySigmaDeltaResetModelFixed(_ScheduledReset, PySigmaDeltaModelFixed):
    """Lava's fixed-point sigma-delta step with the scheduled reset, computed by the fused kernel of
    :mod:`evsnn.lava.sigma_delta` (the same integers in one pass) where it serves, else by Lava's numpy update.
    ``steps_fused`` / ``steps_numpy`` count the steps of each."""

    RESET_STATE = ("sigma", "act", "residue", "error")
    steps_fused = steps_numpy = 0

    def run_spk(self) -> None:
        self._reset_if_due()
        a_in = self.a_in.recv()
        s_out = None
        if self.act_mode in (ActivationMode.RELU, ActivationMode.UNIT) and np.size(self.state_exp) == 1 \
                and np.size(self.cum_error) == 1:
            state = {name: getattr(self, name) for name in ("sigma", "act", "residue", "error", "vth", "bias")}
            s_out = sigma_delta.sigma_delta_step(a_in, state, relu=self.act_mode == ActivationMode.RELU,
                                                 cum_error=bool(np.ravel(self.cum_error)[0]),
                                                 state_exp=int(np.ravel(self.state_exp)[0]))
        if s_out is None:
            s_out = np.right_shift(self.dynamics(a_in), self.state_exp)
            self.steps_numpy += 1
        else:
            self.steps_fused += 1
        self.s_out.send(s_out)


@implements(proc=DeltaReset, protocol=LoihiProtocol)
class PyDeltaResetModelFixed(_ScheduledReset, PyDeltaModelFixed):
    RESET_STATE = ("act", "residue", "error")


@implements(proc=SigmaReset, protocol=LoihiProtocol)
class PySigmaResetModelFixed(_ScheduledReset, PySigmaModelFixed):
    RESET_STATE = ("sigma",)


# ============================================================================================ blocks
class InputBlock(NetxInput):
    """netx's Input block with its ``inp`` port wired to the neuron's ``a_in`` (netx leaves it unconnected and
    expects the input through the neuron bias)."""

    def __init__(self, **kwargs) -> None:
        super().__init__(**kwargs)
        self.inp.connect(self.neuron.a_in)


class Synapse2DBlock(AbstractBlock):
    """conv / convT / pool block: :class:`Synapse2D` -> neuron, wired like netx's Conv block."""

    def __init__(self, **kwargs) -> None:
        super().__init__(**kwargs)
        self.synapse = Synapse2D(kind=kwargs.pop("kind"), weight=kwargs.pop("weight"),
                                 input_shape=kwargs.pop("input_shape"), output_shape=self.shape,
                                 kernel=kwargs.pop("kernel"), stride=kwargs.pop("stride"),
                                 padding=kwargs.pop("padding"), dilation=kwargs.pop("dilation"),
                                 groups=kwargs.pop("groups", 1), num_message_bits=self.input_message_bits,
                                 acc_bits=kwargs.pop("acc_bits", ACC_BITS), synapse=kwargs.pop("synapse", None))
        self.neuron = self._neuron(kwargs.pop("bias", None))
        self.inp = InPort(shape=self.synapse.s_in.shape)
        self.out = OutPort(shape=self.neuron.s_out.shape)
        self.inp.connect(self.synapse.s_in)
        self.synapse.a_out.connect(self.neuron.a_in)
        self.neuron.s_out.connect(self.out)
        self._clean()


@implements(proc=InputBlock, protocol=LoihiProtocol)
class PyInputBlockModel(AbstractPyBlockModel):
    def __init__(self, proc: AbstractProcess) -> None:
        super().__init__(proc)


@implements(proc=Synapse2DBlock, protocol=LoihiProtocol)
class PySynapse2DBlockModel(AbstractPyBlockModel):
    def __init__(self, proc: AbstractProcess) -> None:
        super().__init__(proc)


class NetxNetwork(AbstractProcess):
    """The whole network as one hierarchical Lava process: ``inp`` feeds layer 0, ``out`` is the last layer.

    ``layers`` are the Lava blocks in pipeline order, ``infos`` the :class:`LayerInfo` of every file layer.
    """

    def __init__(self, *, blocks: list, infos: list, filename: str, in_port_shape: tuple,
                 input_message_bits: int, output_message_bits: int) -> None:
        super().__init__(filename=filename)
        self.filename = filename
        self.layers = blocks
        self.infos = infos
        self.input_message_bits = input_message_bits
        self.output_message_bits = output_message_bits
        self.in_layer, self.out_layer = blocks[0], blocks[-1]
        self.inp = InPort(shape=in_port_shape)
        self.out = OutPort(shape=self.out_layer.out.shape)
        self.inp.connect(self.in_layer.inp)
        self.out_layer.out.connect(self.out)

    def __len__(self) -> int:
        return len(self.layers)


@implements(proc=NetxNetwork, protocol=LoihiProtocol)
class PyNetxNetworkModel(AbstractPyBlockModel):
    def __init__(self, proc: AbstractProcess) -> None:
        super().__init__(proc)


# ============================================================================================ models
def process_models(net: NetxNetwork) -> dict:
    """{process instance: ProcessModel class} for every process of ``net``, for
    ``Loihi2SimCfg(exception_proc_model_map=...)``. It selects exactly the fixed-point models this module relies on
    and spares Lava's compiler its model search (it re-executes every module of each process's package, once per
    process: ~0.3 s per process, 12 s for the 20-layer DHP19 network)."""
    from lava.lib.dl.netx.blocks.models import PyConvModel, PyDenseModel
    from lava.proc.conv.models import PyConvModelFixed
    from lava.proc.conv.process import Conv as ConvSynapse
    from lava.proc.dense.models import PyDenseModelBitAcc
    from lava.proc.dense.process import Dense as DenseSynapse
    from lava.proc.lif.models import PyLifResetModelBitAcc

    by_type = {NetxNetwork: PyNetxNetworkModel, InputBlock: PyInputBlockModel, Synapse2DBlock: PySynapse2DBlockModel,
               NetxDense: PyDenseModel, NetxConv: PyConvModel, Synapse2D: PySynapse2DModelFixed,
               ConvSynapse: PyConvModelFixed, DenseSynapse: PyDenseModelBitAcc, LIFReset: PyLifResetModelBitAcc,
               SigmaDeltaReset: PySigmaDeltaResetModelFixed, DeltaReset: PyDeltaResetModelFixed,
               SigmaReset: PySigmaResetModelFixed}
    out = {net: PyNetxNetworkModel}
    for block in net.layers:
        for proc in (block, getattr(block, "synapse", None), getattr(block, "neuron", None)):
            if proc is not None and type(proc) in by_type:
                out[proc] = by_type[type(proc)]
    return out


# ============================================================================================ building
def _neuron_params(neuron: dict, *, is_input: bool, reset_interval: int, reset_offset: int) -> dict:
    """netx-style neuron_params (``neuron_proc`` + keyword arguments) with resettable neuron processes."""
    reset = {"reset_interval": reset_interval, "reset_offset": reset_offset}
    if neuron["kind"] == "CUBA":
        # netx's convention (hdf5.Network.get_neuron_params): du = iDecay - 1 (the LIF model adds 1), bias_exp 6
        never = reset_interval <= 0   # LIFReset needs an interval: one longer than any run means "never"
        return {"neuron_proc": LIFReset, "bias_key": "bias_mant", "vth": neuron["vth"],
                "du": neuron["i_decay"] - 1, "dv": neuron["v_decay"], "bias_exp": 6,
                "num_message_bits": neuron["bits"], "reset_interval": _NEVER if never else reset_interval,
                "reset_offset": _NEVER - 1 if never else reset_offset}
    if neuron["kind"] == "SDNN-sigma":
        return {"neuron_proc": SigmaReset, "num_message_bits": neuron["bits"], **reset}
    if is_input:
        return {"neuron_proc": DeltaReset, "vth": neuron["vth"], "spike_exp": SPIKE_EXP, "state_exp": STATE_EXP,
                "num_message_bits": neuron["bits"], **reset}
    return {"neuron_proc": SigmaDeltaReset, "vth": neuron["vth"], "spike_exp": SPIKE_EXP, "state_exp": STATE_EXP,
            "act_mode": ActivationMode.RELU, "num_message_bits": neuron["bits"], **reset}


def _whc(shape: tuple) -> tuple:
    return tuple(int(v) for v in shape[::-1])


def _int_array(a, where: str, path: str, what: str) -> np.ndarray:
    a = np.asarray(a, dtype=np.float64)
    r = np.rint(a)
    if not np.all(np.isfinite(a)) or np.max(np.abs(a - r), initial=0.0) > 1e-6:
        raise FormatError(path, None, f"{where}: {what} are not integers (not quantised by the lava-dl exporter)")
    return r.astype(np.int64)


def load_network(path: str | os.PathLike, *, reset_interval: int = 0, input_shape=None,
                 conv_impl: str = "numpy", acc_bits: int | None = ACC_BITS,
                 synapse: str | None = None) -> tuple[NetxNetwork, list[LayerInfo]]:
    """Build the Lava network of a netx .net file.

    ``reset_interval`` (steps per sample; 0: never) makes every neuron reset its state at the first step of each
    sample, shifted by one step per layer, so samples can run back to back. ``input_shape`` ([C, H, W]) is only
    needed for files without an input layer. ``conv_impl``: "numpy" uses :class:`Synapse2D` for conv layers
    (fast), "lava" uses netx's Conv block (lava.proc.conv, scipy-based, slow but Lava's own); both are exact.
    ``acc_bits``: wrap of the conv/convT/pool dendritic sums (24 as on Loihi and in Lava's conv synapse; None: off;
    netx's Conv block of ``conv_impl="lava"`` always wraps at 24). ``synapse``: how the :class:`Synapse2D` steps are
    computed (auto / event / dense, :mod:`evsnn.lava.event_synapse`; None: ``$EVSNN_LAVA_SYNAPSE`` or "auto");
    all give the same integers.

    Returns the network process and one :class:`LayerInfo` per file layer (with ``block`` set to the Lava block).
    """
    if conv_impl not in ("numpy", "lava"):
        raise ValueError(f"conv_impl must be 'numpy' or 'lava', not {conv_impl!r}")
    synapse = event_synapse.resolve_mode(synapse)
    if synapse != "dense":
        event_synapse.warm()   # compiled once here: Lava's workers are forked from this process
    sigma_delta.warm()
    path = os.fspath(path)
    specs = _validate(read_layers(path), path, input_shape)
    blocks: list[AbstractBlock] = []
    infos: list[LayerInfo] = []
    in_bits = 0
    in_port_shape = None
    flatten_next = False
    # steps from the network input to the first Lava layer's output: 0 behind an input neuron, else 1 (a synapse)
    lead = 0 if specs[0]["type"] == "input" and specs[0]["neuron"] else 1
    prev_scale = 1     # Lava units of the current layer's input: raw integer events at the network input
    for spec in specs:
        t, raw, neuron, where = spec["type"], spec["raw"], spec["neuron"], f"layer {spec['index']} ({spec['type']})"
        info = LayerInfo(index=spec["index"], type=t, shape=tuple(spec["out"]),
                         in_shape=spec["in_shape"], neuron=neuron.get("kind"), threshold=neuron.get("threshold"),
                         params={k: v for k, v in spec["params"].items() if k != "weight"})
        infos.append(info)
        if t == "flatten":
            flatten_next = True
            continue
        k = len(blocks)
        # the neuron meets input step 0 of each sample at time step (1-based) 1 + its latency: reset it then
        nparams = _neuron_params(neuron, is_input=(t == "input"), reset_interval=reset_interval,
                                 reset_offset=k + lead + 1) if neuron else None
        bias = None
        if "bias" in raw and t != "input":
            bias = _int_array(np.asarray(raw["bias"]).ravel(), where, path, "biases")
            if bias.size == 1:
                bias = np.full(spec["out"][0], int(bias[0]))
        if t == "input":
            if not neuron:
                in_port_shape = _whc(spec["shape"])
                continue
            shape = _whc(spec["shape"])
            block = InputBlock(shape=shape, neuron_params=nparams, transform={})
        elif t == "dense":
            w = _int_array(spec["params"]["weight"], where, path, "weights")
            info.n_weights = int(w.size)
            wq, nbits, wexp, _ = optimize_weight_bits(w) if np.any(w) else (w, 8, 0, None)
            kwargs = dict(shape=(int(spec["out"][0]),), neuron_params=nparams, weight=wq, num_weight_bits=nbits,
                          weight_exponent=wexp, input_message_bits=in_bits)
            if bias is not None:
                kwargs["bias"] = bias
            block = NetxDense(**kwargs)
        elif t == "conv" and conv_impl == "lava":
            w = _int_array(spec["params"]["weight"], where, path, "weights")
            info.n_weights = int(w.size)
            p = spec["params"]
            kwargs = dict(input_shape=_whc(spec["in_shape"]), shape=_whc(spec["out"]), neuron_params=nparams,
                          # Lava's conv is a true convolution in (out, W, H, in) order: flip and transpose
                          weight=w[:, :, ::-1, ::-1].transpose(0, 3, 2, 1),
                          stride=np.array(p["stride"][::-1]), padding=np.array(p["padding"][::-1]),
                          dilation=np.array(p["dilation"][::-1]), groups=p["groups"], input_message_bits=in_bits)
            if bias is not None:
                kwargs["bias"] = bias
            block = NetxConv(**kwargs)
        else:  # conv (numpy), convT, pool
            p = spec["params"]
            w = _int_array(p["weight"], where, path, "weights")
            info.n_weights = int(w.size) if t != "pool" else 0
            kwargs = dict(kind=t, weight=w, input_shape=_whc(spec["in_shape"]), shape=_whc(spec["out"]),
                          neuron_params=nparams, kernel=tuple(p["kernel"]), stride=tuple(p["stride"]),
                          padding=tuple(p["padding"]), dilation=tuple(p["dilation"]), groups=p.get("groups", 1),
                          input_message_bits=in_bits, acc_bits=acc_bits, synapse=synapse)
            if bias is not None:
                kwargs["bias"] = bias
            block = Synapse2DBlock(**kwargs)
        if blocks:
            prev_out = blocks[-1].out
            if flatten_next or (t == "dense" and len(blocks[-1].out.shape) == 3):
                prev_out.transpose([2, 1, 0]).flatten().connect(block.inp)
            else:
                prev_out.connect(block.inp)
        elif in_port_shape is None:
            in_port_shape = tuple(block.inp.shape)
        flatten_next = False
        info.block = block
        info.lava_index = k
        info.latency = k + lead
        # a sigma layer sends its accumulated input: the previous layer's units times the weights' 64
        info.out_scale = prev_scale * 64 if neuron["kind"] == "SDNN-sigma" else neuron["scale"]
        prev_scale = info.out_scale
        info.message_bits = block.output_message_bits
        in_bits = block.output_message_bits
        blocks.append(block)
    if not blocks:
        raise FormatError(path, None, "the file has no layer that runs in Lava (only input/flatten layers)")
    if in_port_shape is None:
        in_port_shape = tuple(blocks[0].inp.shape)
    net = NetxNetwork(blocks=blocks, infos=infos, filename=path, in_port_shape=tuple(in_port_shape),
                      input_message_bits=0, output_message_bits=blocks[-1].output_message_bits)
    return net, infos


#: how netx info / run explain layers with vThMant = 0
ZERO_THRESHOLD = ("vThMant = 0: slayer's float threshold (below 1/64) was lost at export; in Lava these layers send "
                  "every non-zero change")


def zero_threshold_report(infos) -> dict:
    """{"zero_threshold_layers": [indices], "zero_threshold_note": ...} when some SDNN layer has vThMant = 0."""
    zero = [li.index for li in infos if li.neuron == "SDNN" and li.threshold == 0]
    return {"zero_threshold_layers": zero, "zero_threshold_note": ZERO_THRESHOLD} if zero else {}


def describe(path: str | os.PathLike, *, input_shape=None) -> dict:
    """Validate a .net file (building its Lava network) and summarise it as JSON-able dict."""
    _, infos = load_network(path, input_shape=input_shape)
    lava = [li for li in infos if li.lava_index is not None]
    first = infos[0]
    return {"file": os.fspath(path), "layers": [li.summary() for li in infos],
            "input_shape": list(first.shape if first.type == "input" else first.in_shape),
            "output_shape": list(infos[-1].shape), "n_weights": int(sum(li.n_weights for li in infos)),
            "lava_layers": len(lava), "latency_steps": lava[-1].latency,
            "neurons": sorted({li.neuron for li in infos if li.neuron}), **zero_threshold_report(infos)}
