"""A fused sigma-delta neuron step: Lava's fixed-point SigmaDelta update in one pass over the neurons.

Lava's ``PySigmaDeltaModelFixed`` (lava-nc/lava@174f46d src/lava/proc/sdn/models.py:33-156, 260-284; the same
lines in the installed lava-nc 0.10.0) computes a step as about ten whole-array numpy operations: ``sigma = a_in +
sigma``, ``act = relu(sigma + bias)`` (or without the ReLU), ``delta = act - act_prev + residue``, the message ``delta`` where ``|delta| >= vth`` (with ``cum_error``:
where the accumulated ``|error + delta| >= vth``, the error then cleared where a message goes out), ``residue =
delta - message``, and the message shifted right by ``state_exp``. At the full-size DHP19 SDNN (344 x 260 x 16 in the
first layer) that is ~8 ms per layer and step. :func:`sigma_delta_step` does the same arithmetic in one numba loop,
neuron by neuron, with numpy's int32 semantics spelled out: every sum wraps to int32 as numpy's int32 arrays do,
``abs`` of -2**31 stays -2**31 (numpy's), the shift is arithmetic. So the state and the messages are the same
integers (tests/test_lava_sigma_delta.py compares both on random states, extreme values included, and whole Lava
runs with numpy's update made to fail).

Used by :class:`evsnn.lava.netx.PySigmaDeltaResetModelFixed` when numba loads and the arrays are Lava's int32;
otherwise Lava's own numpy update runs (``EVSNN_DISABLE_NUMBA`` forces that).
"""
from __future__ import annotations

import functools

import numpy as np

from evsnn._accel import import_numba

__all__ = ["kernel", "warm", "sigma_delta_step", "sigma_delta_numpy"]


@functools.lru_cache(maxsize=1)
def kernel():
    """The compiled step (from numba's on-disk cache when possible); None without numba."""
    numba = import_numba()
    if numba is None:
        return None
    i32 = numba.int32
    i64 = numba.int64

    @numba.njit(cache=True, nogil=True)
    def step(a, sigma, act, residue, error, vth, bias, relu, cum_error, state_exp, out):  # pragma: no cover
        """One step over the raveled int32 arrays; ``vth`` and ``bias`` hold 1 value (broadcast) or one per neuron."""
        n = sigma.size
        nv, nb = vth.size, bias.size
        shift = state_exp
        for i in range(n):
            s = i32(i64(a[i]) + sigma[i])
            sigma[i] = s
            x = i32(i64(s) + bias[i if nb > 1 else 0])
            if relu and x < 0:
                x = i32(0)
            d = i32(i64(i32(i64(x) - act[i])) + residue[i])
            th = vth[i if nv > 1 else 0]
            if cum_error:
                e = i32(i64(error[i]) + d)
                msg = d if i32(abs(i64(e))) >= th else i32(0)
                error[i] = e if i32(abs(i64(msg))) <= 0 else i32(0)
            else:
                msg = d if i32(abs(i64(d))) >= th else i32(0)
            residue[i] = i32(i64(d) - msg)
            act[i] = x
            out[i] = msg >> shift
        return 0

    return step


@functools.lru_cache(maxsize=1)
def warm() -> bool:
    """Compile (or load) the kernel in this process, before Lava forks its workers; whether numba serves."""
    if kernel() is None:
        return False
    z = np.zeros(1, np.int32)
    kernel()(z, z.copy(), z.copy(), z.copy(), z.copy(), z.copy(), z.copy(), True, False, 0, z.copy())
    return True


def sigma_delta_step(a_in: np.ndarray, state: dict, *, relu: bool, cum_error: bool, state_exp: int):
    """One fused step: ``state`` holds Lava's arrays ``sigma``, ``act``, ``residue``, ``error`` (updated in place),
    ``vth`` and ``bias``; returns the int32 messages (shape of ``sigma``), or None where the kernel cannot serve
    (numba missing or disabled, arrays that are not C-contiguous int32): the caller then runs Lava's update."""
    k = kernel()
    if k is None:
        return None
    arrays = [a_in] + [state[name] for name in ("sigma", "act", "residue", "error", "vth", "bias")]
    if any(x.dtype != np.int32 or not x.flags.c_contiguous for x in arrays):
        return None
    sigma = state["sigma"]
    if a_in.shape != sigma.shape or state["act"].shape != sigma.shape or state["residue"].shape != sigma.shape \
            or state["error"].shape != sigma.shape or state["vth"].size not in (1, sigma.size) \
            or state["bias"].size not in (1, sigma.size):
        return None
    out = np.empty(sigma.shape, np.int32)
    k(a_in.reshape(-1), sigma.reshape(-1), state["act"].reshape(-1), state["residue"].reshape(-1),
      state["error"].reshape(-1), state["vth"].reshape(-1), state["bias"].reshape(-1), bool(relu), bool(cum_error),
      int(state_exp), out.reshape(-1))
    return out


def sigma_delta_numpy(a_in: np.ndarray, state: dict, *, relu: bool, cum_error: bool, state_exp: int) -> np.ndarray:
    """The reference: Lava's numpy update, written out as its model runs it (the state is replaced in ``state``)."""
    sigma = a_in + state["sigma"]
    act = sigma + state["bias"]
    if relu:
        act = np.maximum(act, 0)
    delta = act - state["act"] + state["residue"]
    if cum_error:
        state["error"] = state["error"] + delta
        msg = np.where(np.abs(state["error"]) >= state["vth"], delta, 0)
        state["error"] = state["error"] * (1 - (np.abs(msg) > 0))
    else:
        msg = np.where(np.abs(delta) >= state["vth"], delta, 0)
    state["residue"] = delta - msg
    state["sigma"], state["act"] = sigma, act
    return np.right_shift(msg, state_exp)
