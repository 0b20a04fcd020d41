"""Spiking neurons shared by the model families (spikingjelly 2.0 ``activation_based``)."""
from __future__ import annotations

from spikingjelly.activation_based import neuron, surrogate

from evsnn.errors import ConfigError

NEURONS = ("plif", "lif", "if")


def spiking_neuron(kind: str, tau: float = 2.0, v_threshold: float = 1.0, detach_reset: bool = True,
                   step_mode: str = "s", v_reset: float | None = 0.0):
    """A PLIF (learnable time constant, Fang et al. ICCV 2021), LIF or IF neuron with the ATan surrogate.

    ``v_reset=None`` is the soft reset (v -= spike * threshold) instead of the hard reset to ``v_reset``."""
    common = dict(surrogate_function=surrogate.ATan(), detach_reset=detach_reset, v_threshold=v_threshold,
                  step_mode=step_mode, v_reset=v_reset)
    if kind == "plif":
        return neuron.ParametricLIFNode(init_tau=tau, **common)
    if kind == "lif":
        return neuron.LIFNode(tau=tau, **common)
    if kind == "if":
        return neuron.IFNode(**common)
    raise ConfigError(f"neuron must be one of {', '.join(map(repr, NEURONS))}, not {kind!r}")
