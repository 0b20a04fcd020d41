"""Event-driven conv / transposed-conv / pool synapse arithmetic: work only from the non-zero input messages.

A sigma-delta layer sends a message only where its activation changed by at least its threshold, so most inputs of
a synapse are zero at most steps. The dense step of :func:`evsnn.lava.netx.synapse2d_forward` (im2col and a matrix
product over the whole map) costs the same whatever the sparsity; the scatter here costs one weighted kernel per
non-zero input: for input ``v`` at (channel ``ci``, row ``iy``, column ``ix``)

- conv (weight (out, in/groups, kH, kW)): ``out[co, oy, ox] += v * w[co, ci % cg, ky, kx]`` for every kernel tap with
  ``iy + pad - ky * dil = oy * stride`` (0 <= oy < Ho; likewise for x) and every ``co`` of ``ci``'s group;
- convT (weight (in, out/groups, kH, kW), PyTorch's semantics, output_padding 0):
  ``out[co, iy * stride + ky * dil - pad, ...] += v * w[ci, co % og, ky, kx]``;
- pool (weight (kH, kW), per channel): a depthwise conv (slayer's end-padding of odd sizes only adds zeros: the
  output size, given by the caller, is all it changes).

Bit-identity with the dense step. Both are sums of integer products; the dense one is exact in float64 (each
partial sum an integer below 2**53, :func:`evsnn.lava.netx.synapse2d_forward`), then wrapped to ``acc_bits`` and
cast to the int32 that the synapse sends. A signed wrap to ``acc_bits <= 32`` and the cast to int32 only depend on
the sum modulo 2**32, and integer addition modulo 2**32 does not depend on the order of the terms. So the scatter
accumulates modulo 2**32 (int32 in the numba kernel, int64 in the numpy fallback, both reduced to int32) and gives
the very int32 message of the dense step: same sum, different order (identical whenever the dense float64 sums are
exact). The wrap is applied to the final sums only (at the end of the kernel), as the dense step does
(:func:`evsnn.lava.netx.synapse2d_step`) and as Lava's own fixed-point conv synapse does: it convolves the whole
step, then ``signed_clamp(x, bits=24)`` (lava-nc/lava@96db6ee src/lava/proc/conv/models.py:45-51, 78-79).

Backends (:mod:`evsnn._accel`): a numba kernel and a pure-numpy fallback (``np.nonzero`` and one ``np.add.at`` per
kernel tap) with identical results; ``EVSNN_DISABLE_NUMBA`` forces the fallback. The kernel walks the input pixels
of Lava's (W, H, C) layout, skips those without a message, sums the weighted kernels of the pixel's non-zero
channels into one kernel-sized buffer (one long multiply-add per message, which vectorises) and adds that buffer to
the output once per kernel tap (once per column of taps where the taps land on consecutive rows): per-tap work
scales with the active pixels, per-weight work with the messages. Divisions are replaced by per-axis tap tables
(:func:`tap_table`); pooling (depthwise) adds the pixel's channels times each tap's weight.

Which step to use (``mode``): ``"event"`` always scatters, ``"dense"`` always runs the dense step, ``"auto"`` (the
default) scatters when the fraction of non-zero inputs is at most the measured crossover of the backend
(:data:`AUTO_MAX_DENSITY`: none below 1.0 for the numba kernel; :data:`AUTO_MAX_DENSITY_NUMPY` for the fallback) and
runs the dense step above it. The environment variable ``EVSNN_LAVA_SYNAPSE`` (auto, event, dense) sets the default
for runs that do not choose (``netx run``, the workflow's lava_run), so a benchmark or test can force the dense step.
"""
from __future__ import annotations

import functools
import os

import numpy as np

from evsnn._accel import import_numba, resolve_backend
from evsnn.errors import ConfigError

__all__ = ["MODES", "MODE_ENV", "AUTO_MAX_DENSITY", "AUTO_MAX_DENSITY_NUMPY", "default_mode", "resolve_mode",
           "numba_available", "warm", "use_event", "prepare_weight", "prepare", "tap_table", "event_forward"]

MODES = ("auto", "event", "dense")
MODE_ENV = "EVSNN_LAVA_SYNAPSE"
#: ``mode="auto"`` scatters when at most this fraction of a step's inputs is non-zero. Measured with
#: ``python benchmarks/bench_lava_event.py --crossover numba`` on one synapse of each shape of the full-size DHP19
#: SDNN (FORMATS.md 2.11: 260 x 344, 16 to 64 channels, random non-zero positions; the numba kernel vs the
#: float64-BLAS dense step, one thread, a loaded 2-core machine): the scatter is 5-20x faster at 0.05-0.2 non-zero,
#: 3-5x at 0.3-0.4, and still 1.5-3.7x faster at 1.0 (the 64 -> 64 3x3 convolution at 65 x 86 least); pooling and
#: the 2x2 stride-2 transposed convolution are 3-60x faster. No crossover below 1.0: with numba, auto always scatters.
AUTO_MAX_DENSITY = {"conv": 1.0, "pool": 1.0, "convT": 1.0}
#: the same for the numpy fallback (``np.add.at`` per kernel tap; ``--crossover numpy``): break-even at 0.01-0.02
#: non-zero for the convolutions, near 0.1 for pooling and the transposed convolution.
AUTO_MAX_DENSITY_NUMPY = {"conv": 0.015, "pool": 0.07, "convT": 0.07}


def default_mode() -> str:
    """The synapse mode of runs that do not choose one: ``$EVSNN_LAVA_SYNAPSE`` or ``"auto"``."""
    value = os.environ.get(MODE_ENV, "").strip() or "auto"
    if value not in MODES:
        raise ConfigError(f"environment variable {MODE_ENV}={value!r}: allowed values are {', '.join(MODES)}")
    return value


def resolve_mode(mode: str | None) -> str:
    """``mode`` checked against :data:`MODES`; None means :func:`default_mode`."""
    if mode is None:
        return default_mode()
    if mode not in MODES:
        raise ValueError(f"synapse mode must be one of {', '.join(MODES)}, not {mode!r}")
    return mode


# ============================================================================================ numba kernels
def tap_table(kind: str, n_in: int, n_out: int, k: int, s: int, p: int, d: int):
    """For every input coordinate ``i`` along one axis, the kernel taps that reach the output: ``count[i]`` pairs
    ``(tap[i, j], out[i, j])``. conv: ``i + p - tap * d = out * s``; convT: ``out = i * s + tap * d - p``; always
    ``0 <= out < n_out``. Tables instead of divisions in the scatter's inner loops."""
    i = np.arange(n_in)[:, None]
    kk = np.arange(k)[None, :]
    if kind == "convT":
        o = i * s + kk * d - p
        ok = (o >= 0) & (o < n_out)
    else:
        t = i + p - kk * d
        o = t // s
        ok = (t >= 0) & (t % s == 0) & (o < n_out)
    count = ok.sum(axis=1).astype(np.int64)
    order = np.argsort(~ok, axis=1, kind="stable")        # the valid taps first, in tap order
    taps = np.take_along_axis(np.broadcast_to(kk, ok.shape), order, axis=1).astype(np.int64)
    outs = np.take_along_axis(np.broadcast_to(o, ok.shape), order, axis=1).astype(np.int64)
    return count, np.ascontiguousarray(taps), np.ascontiguousarray(outs)


@functools.lru_cache(maxsize=1)
def _numba_kernels():
    """The compiled scatter kernel (loaded from numba's on-disk cache when possible); None without numba."""
    numba = import_numba()   # None when not importable or disabled by EVSNN_DISABLE_NUMBA
    if numba is None:
        return None

    U = numba.uint64   # unsigned indices: no negative-index fix-up in the inner loops, which then vectorise

    @numba.njit(cache=True, nogil=True)
    def scatter(x, wt, wc, ky_order, cg, og, ny, kyt, oyt, nx, kxt, oxt, acc_bits, out):  # pragma: no cover
        """out[ox, oy, g*og + o] += x[ix, iy, ci] * wt[ci, ky, kx, o] (g = ci // cg) for every non-zero input and
        every tap (ky, oy) of the row table of iy and (kx, ox) of the column table of ix; int32 (modulo 2**32);
        then the signed wrap of every sum to ``acc_bits`` when 0 < acc_bits < 32.

        Pixel by pixel: the non-zero channels of an input pixel are first summed into ``y`` [kH * kW, Cout] (with one
        group: one long contiguous multiply-add per four messages, which vectorises), then ``y`` is added to the
        output once per kernel tap that lands inside it (one add per tap and pixel, not per tap and message). When
        the row taps of a column tap land on consecutive output rows (``ky_order`` 1: a conv with stride and
        dilation 1 along H, the rows ascend as ky descends; 2: a convT with dilation 1, ascending with ky), ``y`` is
        laid out [kW, kH, Cout] from ``wc`` (the weights in that order) and the taps of one column are one add.
        Depthwise (pooling): the pixel's channels times each tap's weights, added per tap."""
        nw, nh, nc = x.shape
        kh, kw = wt.shape[1], wt.shape[2]
        ho, cout = out.shape[1], out.shape[2]
        n_taps = kh * kw
        one_group = og == cout
        by_column = one_group and ky_order != 0
        depthwise = og == 1 and cg == 1
        x1 = x.reshape(x.size)
        o1 = out.reshape(out.size)
        w1 = wc.reshape(wc.size) if by_column else wt.reshape(wt.size)
        L = U(n_taps * og)                    # weights per input channel
        ly = n_taps * cout
        y = np.zeros(ly, np.int32)
        nz = np.empty(nc, np.uint64)
        wd = np.ascontiguousarray(wt.reshape(nc, n_taps).T).reshape(n_taps * nc) if depthwise else y
        for ix in range(nw):
            for iy in range(nh):
                px = U((ix * nh + iy) * nc)
                any_nz = np.int32(0)
                for ci in range(nc):              # a vectorised OR: most pixels of a sparse step have no message
                    any_nz |= x1[px + U(ci)]
                if any_nz == 0:
                    continue
                n_nz = 0
                for ci in range(nc):              # branch-free: the index is written, kept when non-zero
                    nz[n_nz] = U(ci)
                    n_nz += x1[px + U(ci)] != 0
                if depthwise:
                    for a in range(ny[iy]):
                        row = kyt[iy, a] * kw
                        oy = oyt[iy, a]
                        for b in range(nx[ix]):
                            d = U((oxt[ix, b] * ho + oy) * cout)
                            sw = U((row + kxt[ix, b]) * nc)
                            for o in range(nc):
                                o1[d + U(o)] += x1[px + U(o)] * wd[sw + U(o)]
                    continue
                if one_group:   # four messages per pass over y
                    j = n_nz % 4
                    if j == 0:
                        for q in range(ly):
                            y[U(q)] = 0
                    elif j == 1:
                        v0, b0 = x1[px + nz[0]], nz[0] * L
                        for q in range(ly):
                            y[U(q)] = v0 * w1[b0 + U(q)]
                    elif j == 2:
                        v0, b0, v1, b1 = x1[px + nz[0]], nz[0] * L, x1[px + nz[1]], nz[1] * L
                        for q in range(ly):
                            y[U(q)] = v0 * w1[b0 + U(q)] + v1 * w1[b1 + U(q)]
                    else:
                        v0, b0, v1, b1 = x1[px + nz[0]], nz[0] * L, x1[px + nz[1]], nz[1] * L
                        v2, b2 = x1[px + nz[2]], nz[2] * L
                        for q in range(ly):
                            y[U(q)] = v0 * w1[b0 + U(q)] + v1 * w1[b1 + U(q)] + v2 * w1[b2 + U(q)]
                    while j < n_nz:
                        v0, b0, v1, b1 = x1[px + nz[j]], nz[j] * L, x1[px + nz[j + 1]], nz[j + 1] * L
                        v2, b2, v3, b3 = x1[px + nz[j + 2]], nz[j + 2] * L, x1[px + nz[j + 3]], nz[j + 3] * L
                        for q in range(ly):
                            y[U(q)] += (v0 * w1[b0 + U(q)] + v1 * w1[b1 + U(q)] + v2 * w1[b2 + U(q)]
                                        + v3 * w1[b3 + U(q)])
                        j += 4
                else:
                    for q in range(ly):
                        y[U(q)] = 0
                    for j in range(n_nz):
                        ci = nz[j]
                        v = x1[px + ci]
                        c0 = (ci // U(cg)) * U(og)
                        for t in range(n_taps):
                            d = U(t * cout) + c0
                            sw = ci * L + U(t * og)
                            for o in range(og):
                                y[d + U(o)] += v * w1[sw + U(o)]
                if by_column:
                    n = ny[iy]
                    if n == 0:
                        continue
                    if ky_order == 1:
                        oy0, k0 = oyt[iy, n - 1], kh - 1 - kyt[iy, n - 1]
                    else:
                        oy0, k0 = oyt[iy, 0], kyt[iy, 0]
                    m = n * cout
                    for b in range(nx[ix]):
                        d = U((oxt[ix, b] * ho + oy0) * cout)
                        sy = U((kxt[ix, b] * kh + k0) * cout)
                        for o in range(m):
                            o1[d + U(o)] += y[sy + U(o)]
                else:
                    for a in range(ny[iy]):
                        row = kyt[iy, a] * kw
                        oy = oyt[iy, a]
                        for b in range(nx[ix]):
                            d = U((oxt[ix, b] * ho + oy) * cout)
                            sy = U((row + kxt[ix, b]) * cout)
                            for o in range(cout):
                                o1[d + U(o)] += y[sy + U(o)]
        if 0 < acc_bits < 32:
            half = np.int64(1) << (acc_bits - 1)
            mask = (np.int64(1) << acc_bits) - 1
            for i in range(o1.size):
                o1[i] = ((np.int64(o1[i]) + half) & mask) - half
        return 0

    return scatter


def numba_available() -> bool:
    """Whether the numba scatter kernels load (numba importable and not disabled by ``EVSNN_DISABLE_NUMBA``)."""
    return _numba_kernels() is not None


@functools.lru_cache(maxsize=1)
def warm() -> bool:
    """Compile (or load from numba's cache) the kernel for the argument types of :func:`event_forward`, in this
    process: Lava forks one worker per process after building the network, so warming the parent spares every
    worker its own load. Returns :func:`numba_available`."""
    if _numba_kernels() is None:
        return False
    x = np.ones((1, 1, 1), dtype=np.int32)
    event_forward("conv", x, prepare_weight("conv", np.ones((1, 1, 1, 1)), 1), (1, 1), (0, 0), (1, 1), (1, 1, 1),
                  acc_bits=24, backend="numba")
    return True


def use_event(kind: str, mode: str, x: np.ndarray, backend: str = "auto") -> bool:
    """Whether a step in ``mode`` (:data:`MODES`) scatters the input ``x``: always for "event", never for "dense",
    for "auto" when the non-zero fraction of ``x`` is at most the backend's crossover (:data:`AUTO_MAX_DENSITY`,
    :data:`AUTO_MAX_DENSITY_NUMPY`)."""
    if mode == "event":
        return True
    if mode == "dense":
        return False
    limits = AUTO_MAX_DENSITY if resolve_backend(backend, numba_available) == "numba" else AUTO_MAX_DENSITY_NUMPY
    return limits[kind] >= 1.0 or np.count_nonzero(x) <= limits[kind] * x.size


# ============================================================================================ the scatter
def prepare_weight(kind: str, weight: np.ndarray, in_channels: int, groups: int = 1) -> tuple[np.ndarray, int, int]:
    """A synapse's weight rearranged for the scatter: ``(wt, cg, og)`` with ``wt`` int32 [Cin, kH, kW, og] (the
    weights one input channel sends to its group's ``og`` output channels, contiguous), ``cg`` input channels per
    group. ``weight`` in PyTorch's order: conv (out, in/groups, kH, kW), convT (in, out/groups, kH, kW), pool (kH, kW)
    (``groups`` is ignored: depthwise). Integers beyond int32 are reduced modulo 2**32, which the int32 message does
    not see (module docstring)."""
    w = np.rint(np.asarray(weight, dtype=np.float64)).astype(np.int64)
    if kind == "pool":   # depthwise: every channel its own group of one
        kh, kw = w.shape
        wt = np.broadcast_to(w.reshape(1, kh, kw, 1), (in_channels, kh, kw, 1))
        return np.ascontiguousarray(wt).astype(np.int32), 1, 1
    cg = in_channels // groups
    if kind == "conv":
        og = w.shape[0] // groups
        # wt[ci, ky, kx, o] = w[g*og + o, ci - g*cg, ky, kx]
        wt = w.reshape(groups, og, cg, *w.shape[2:]).transpose(0, 2, 3, 4, 1).reshape(in_channels, *w.shape[2:], og)
        return np.ascontiguousarray(wt).astype(np.int32), int(cg), int(og)
    if kind == "convT":
        wt = w.transpose(0, 2, 3, 1)                     # wt[ci, ky, kx, o] = w[ci, o, ky, kx]
        return np.ascontiguousarray(wt).astype(np.int32), int(cg), int(w.shape[1])
    raise ValueError(f"kind must be conv, convT or pool, not {kind!r}")


def prepare(kind: str, weight: np.ndarray, in_whc: tuple, out_whc: tuple, stride, padding, dilation,
            groups: int = 1) -> tuple:
    """Everything a synapse's steps share: :func:`prepare_weight` plus the row and column tap tables
    (:func:`tap_table`) for inputs of shape ``in_whc`` (W, H, C) and outputs ``out_whc``."""
    wt, cg, og = prepare_weight(kind, weight, int(in_whc[2]), groups)
    tkind = "convT" if kind == "convT" else "conv"
    (sh, sw), (ph, pw), (dh, dw) = stride, padding, dilation
    tables = (tap_table(tkind, int(in_whc[1]), int(out_whc[1]), wt.shape[1], sh, ph, dh),
              tap_table(tkind, int(in_whc[0]), int(out_whc[0]), wt.shape[2], sw, pw, dw))
    return (wt, cg, og, tables, *_column_layout(kind, wt, sh, dh))


def _wrap(a: np.ndarray, acc_bits: int | None) -> np.ndarray:
    """int32 sums (modulo 2**32) -> signed-wrapped to ``acc_bits`` when 0 < acc_bits < 32 (a wider wrap is the
    int32 cast's)."""
    if acc_bits and acc_bits < 32:
        base = 1 << acc_bits
        a = ((a.astype(np.int64) + base // 2) % base - base // 2).astype(np.int32)
    return a


def _numpy_scatter(x: np.ndarray, wt: np.ndarray, cg: int, og: int, tables, out_shape: tuple) -> np.ndarray:
    """The scatter with numpy: the non-zero inputs' products, one ``np.add.at`` per kernel tap, in int64."""
    (ny, kyt, oyt), (nx, kxt, oxt) = tables
    wo, ho, cout = out_shape
    out = np.zeros((wo, ho, cout // og, og), dtype=np.int64)
    ix, iy, ci = np.nonzero(x)
    v = x[ix, iy, ci].astype(np.int64)
    g = ci // cg
    wt64 = wt.astype(np.int64)
    for a in range(kyt.shape[1]):
        ok_y = ny[iy] > a
        for b in range(kxt.shape[1]):
            sel = np.flatnonzero(ok_y & (nx[ix] > b))
            if sel.size == 0:
                continue
            ky, oy = kyt[iy[sel], a], oyt[iy[sel], a]
            kx, ox = kxt[ix[sel], b], oxt[ix[sel], b]
            np.add.at(out, (ox, oy, g[sel]), v[sel, None] * wt64[ci[sel], ky, kx])
    return out.reshape(out_shape).astype(np.int32)


def event_forward(kind: str, x_whc: np.ndarray, prepared: tuple, stride, padding, dilation, out_shape: tuple, *,
                  acc_bits: int | None = None, backend: str = "auto") -> np.ndarray:
    """One synapse step from the non-zero inputs only: (W, H, C) integer messages in, (Wo, Ho, Cout) int32 dendritic
    sums out, signed-wrapped to ``acc_bits`` (None, 0 or >= 32: only modulo 2**32, like the dense step's int64 sums
    cast to int32).

    ``prepared``: :func:`prepare_weight` of the synapse's weight, or :func:`prepare` (weight and tap tables, for a
    synapse that runs many steps); ``stride``, ``padding``, ``dilation``: (H, W) pairs; ``out_shape``: the synapse's
    output (Wo, Ho, Cout); ``backend``: auto, numba or numpy.
    """
    wt, cg, og = prepared[:3]
    x = np.asarray(x_whc)
    if x.dtype != np.int32:
        x = x.astype(np.int64).astype(np.int32)   # messages are int32 in Lava; reduce like the cast of the sums
    elif not x.flags.c_contiguous:
        x = np.ascontiguousarray(x)
    if kind not in ("conv", "convT", "pool"):
        raise ValueError(f"kind must be conv, convT or pool, not {kind!r}")
    wo, ho, cout = (int(v) for v in out_shape)
    tables = prepared[3] if len(prepared) > 3 else None
    if tables is None or tables[0][0].size != x.shape[1] or tables[1][0].size != x.shape[0]:
        (sh, sw), (ph, pw), (dh, dw) = stride, padding, dilation
        tkind = "convT" if kind == "convT" else "conv"
        tables = (tap_table(tkind, x.shape[1], ho, wt.shape[1], sh, ph, dh),
                  tap_table(tkind, x.shape[0], wo, wt.shape[2], sw, pw, dw))
    wrap_bits = int(acc_bits) if acc_bits and acc_bits < 32 else 0
    if backend != "auto":
        resolve_backend(backend, numba_available)       # an unknown backend, or numba asked for and not loading
    kernel = _numba_kernels() if backend != "numpy" else None
    if kernel is None:
        return _wrap(_numpy_scatter(x, wt, cg, og, tables, (wo, ho, cout)), wrap_bits)
    out = np.zeros((wo, ho, cout), dtype=np.int32)
    ky_order, wc = prepared[4:6] if len(prepared) > 4 else _column_layout(kind, wt, stride[0], dilation[0])
    kernel(x, wt, wc, ky_order, cg, og, *tables[0], *tables[1], wrap_bits, out)
    return out


def _column_layout(kind: str, wt: np.ndarray, sh: int, dh: int) -> tuple[int, np.ndarray]:
    """(ky_order, weights [Cin, kW, kH, og]) for the scatter kernel's contiguous column adds: 1 for a conv with
    stride and dilation 1 along H (ky reversed), 2 for a convT with dilation 1; 0 (and ``wt``) otherwise."""
    if kind == "conv" and sh == 1 and dh == 1:
        return 1, np.ascontiguousarray(wt[:, ::-1].transpose(0, 2, 1, 3))
    if kind == "convT" and dh == 1:
        return 2, np.ascontiguousarray(wt.transpose(0, 2, 1, 3))
    return 0, wt
