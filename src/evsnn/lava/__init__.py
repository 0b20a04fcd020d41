"""Lava (neuromorphic runtime) support: netx export, the netx blocks lava-dl 0.6 lacks, Lava runs, parity.

- :mod:`evsnn.lava.export` -- ``export_network(model_or_blocks, path, *, in_shape=None) -> dict`` writes a slayer
  block network to a netx ``.net`` file with the quantisation that makes Lava match slayer bit for bit
  (thresholds snapped to the 1/64 grid in the model too); ``quantize_thresholds(model_or_blocks)``.
- :mod:`evsnn.lava.netx` -- ``load_network(path, *, reset_interval=0, input_shape=None, conv_impl="numpy",
  acc_bits=24, synapse=None) -> (NetxNetwork, [LayerInfo])`` builds the Lava network of a ``.net`` file (input,
  conv, pool, convT, flatten, dense; SDNN and CUBA neurons), validating it (``FormatError`` naming file and layer);
  ``describe(path) -> dict``.
- :mod:`evsnn.lava.event_synapse` -- the event-driven conv / convT / pool synapse step: ``event_forward(kind, x,
  prepared, stride, padding, dilation, out_shape, *, acc_bits=None, backend="auto")`` scatters only the non-zero
  input messages (numba kernel, numpy fallback), bit-identical to the dense step; ``synapse`` modes auto / event /
  dense (``$EVSNN_LAVA_SYNAPSE``; auto, the default, picks per step by the non-zero fraction).
- :mod:`evsnn.lava.run` -- ``run_netx(path, inputs, steps=None, taps=(), *, conv_impl="numpy", acc_bits=24,
  synapse=None) -> RunResult`` runs it on CPU (``Loihi2SimCfg(select_tag="fixed_pt")``), samples back to back, and
  converts the result back to slayer layout and units; worker failures raise ``LavaRuntimeError`` with the
  traceback.
- :mod:`evsnn.lava.parity` -- ``compare(model, net_path, x, *, steps=None, conv_impl="numpy", acc_bits=24,
  slayer_dtype=torch.float32) -> dict`` (slayer vs Lava, layer by layer); ``lava_forward(model, net_path,
  frames) -> (output like model(frames), RunResult)``; ``slayer_input(model, frames)``.

Submodules import Lava (and torch); import them explicitly.
"""


def _let_lava_set_fork() -> None:
    """Lava's message infrastructure calls ``multiprocessing.set_start_method('fork')`` (without ``force``) when it
    is imported, which raises "context has already been set" once anything in the process has fixed the default
    context (tqdm does, creating its lock: any progress bar before the first Lava import). When that context is
    already 'fork', Lava's call changes nothing: forget it so that the call succeeds."""
    import multiprocessing as mp
    import sys

    if "lava.magma.runtime.message_infrastructure.multiprocessing" in sys.modules:
        return
    ctx = mp.context._default_context
    actual = getattr(ctx, "_actual_context", None)
    if actual is not None and actual.get_start_method() == "fork":
        ctx._actual_context = None


_let_lava_set_fork()
