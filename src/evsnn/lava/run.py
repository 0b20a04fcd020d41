"""Run a netx .net network in Lava (CPU, ``Loihi2SimCfg(select_tag='fixed_pt')``) on event-frame samples.

:func:`run_netx` quantises slayer-layout inputs onto the network's input grid, feeds all samples back to back
through one ``RingBuffer`` source (data laid out (W, H, C, T)), lets every neuron reset at the first step of each
sample (see :mod:`evsnn.lava.netx`), reads the output (and optionally every layer) through sink processes that
write straight into a memory-mapped file (Lava's ``Var.get`` moves one element per message, far too slow for
feature maps), removes the one-step-per-layer latency and converts the integers back to slayer units.

Exceptions raised inside Lava's worker processes only reach the caller as "N Exception(s) occurred. See output
above" (the traceback goes to a logger at INFO level). :func:`run_netx` collects the workers' tracebacks from the
runtime's actors and raises :class:`LavaRuntimeError` with them; the runtime is always stopped.
"""
from __future__ import annotations

import math
import os
import tempfile
import time
import warnings
from dataclasses import dataclass

import numpy as np
from lava.magma.core.decorator import implements, requires, tag
from lava.magma.core.model.py.model import PyLoihiProcessModel
from lava.magma.core.model.py.ports import PyInPort
from lava.magma.core.model.py.type import LavaPyType
from lava.magma.core.process.ports.ports import InPort
from lava.magma.core.process.process import AbstractProcess
from lava.magma.core.resources import CPU
from lava.magma.core.sync.protocols.loihi_protocol import LoihiProtocol

from evsnn.errors import EvsnnError
from evsnn.lava.netx import (ACC_BITS, INPUT_SCALE, LayerInfo, _validate, load_network, process_models,
                             read_layers)

#: `netx run` without --input: the random input array (float64) may take at most this many bytes
MAX_RANDOM_INPUT_BYTES = 1 << 30

__all__ = ["LavaRuntimeError", "RunResult", "run_netx", "run_file", "quantize_input", "MemmapSink"]


class LavaRuntimeError(EvsnnError):
    """A Lava worker process failed; the message carries the worker's traceback."""


# ============================================================================================ sink
class MemmapSink(AbstractProcess):
    """Receives a port's messages and writes step ``t`` (1-based) to row ``t - 1`` of an int32 ``.npy`` file
    (shape (num_steps, *shape), created by the caller). Steps beyond ``num_steps`` are dropped."""

    def __init__(self, *, shape: tuple, path: str, num_steps: int) -> None:
        super().__init__(shape=tuple(shape), path=str(path), num_steps=int(num_steps))
        self.a_in = InPort(shape=tuple(shape))


@implements(proc=MemmapSink, protocol=LoihiProtocol)
@requires(CPU)
@tag("fixed_pt")
class PyMemmapSinkModel(PyLoihiProcessModel):
    a_in: PyInPort = LavaPyType(PyInPort.VEC_DENSE, np.int32, precision=24)

    def __init__(self, proc_params) -> None:
        super().__init__(proc_params)
        self._out = None

    def run_spk(self) -> None:
        data = self.a_in.recv()
        if self._out is None:
            self._out = np.load(self.proc_params["path"], mmap_mode="r+")
        t = self.time_step - 1
        if t < self._out.shape[0]:
            self._out[t] = data


# ============================================================================================ helpers
@dataclass
class RunResult:
    """What :func:`run_netx` returns.

    ``output``: [N, *shape, T] in slayer units, aligned to the input (``output[..., t]`` is the network's answer
    to input steps 0..t; Lava's latency of one step per layer removed). ``taps``: {file layer index: [N, *shape, T]}
    for the requested layers, aligned the same way. ``wall_s``: seconds of Lava execution per sample;
    ``setup_s``: compile + process start-up (once per call); ``drain_s``: the extra steps that flush the pipeline.
    """

    output: np.ndarray
    taps: dict[int, np.ndarray]
    layers: list[LayerInfo]
    steps: int
    lava_steps: int
    latency: int
    wall_s: list[float]
    setup_s: float
    drain_s: float

    def summary(self) -> dict:
        n_out = int(np.count_nonzero(self.output))
        total = float(sum(self.wall_s) + self.drain_s)
        return {"layers": [li.summary() for li in self.layers], "steps": self.steps, "samples": len(self.wall_s),
                "lava_steps": self.lava_steps, "latency_steps": self.latency,
                "output_shape": list(self.output.shape), "output_nonzeros": n_out,
                "wall_s_per_sample": [round(w, 4) for w in self.wall_s], "setup_s": round(self.setup_s, 3),
                "drain_s": round(self.drain_s, 4), "wall_s": round(total, 4),
                "wall_s_per_step": round(total / max(self.lava_steps, 1), 5)}


def quantize_input(x: np.ndarray) -> np.ndarray:
    """slayer's 8-bit input quantisation (``neuron.quantize_8bit``: round to steps of 1/32 half-to-even, clamp to
    [-4, 254/64]) as Lava integers (value * 64)."""
    q = np.rint(np.asarray(x, dtype=np.float64) * (INPUT_SCALE / 2)) * 2
    return np.clip(q, -256, 254).astype(np.int64)


def _input_ints(x: np.ndarray, first: LayerInfo, raw_first: dict | None) -> np.ndarray:
    """Slayer input values -> the integers the first Lava process receives."""
    if first.type == "input" and first.neuron is not None:
        q = quantize_input(x)
        if raw_first is not None and ("weight" in raw_first or "bias" in raw_first):
            w = float(np.asarray(raw_first.get("weight", INPUT_SCALE)).ravel()[0])
            b = float(np.asarray(raw_first.get("bias", 0)).ravel()[0])
            q = np.rint(q * w / INPUT_SCALE + b).astype(np.int64)
        return q
    r = np.rint(x)
    if np.max(np.abs(np.asarray(x, dtype=np.float64) - r), initial=0.0) > 0:
        raise EvsnnError("the network has no input neuron, so its input must be integer spikes (binary events); "
                         "got non-integer values")
    return r.astype(np.int64)


class _WorkerFailure(Exception):
    def __init__(self, details: list[str]):
        super().__init__("\n".join(details))
        self.details = details


def _actors(runtime) -> list:
    infra = getattr(runtime, "_messaging_infrastructure", None)
    return list(getattr(infra, "actors", None) or [])


def _worker_errors(runtime) -> list[str]:
    """Tracebacks that Lava's worker processes (``SystemProcess``) sent back, plus workers that died."""
    out = []
    for actor in _actors(runtime):
        try:
            exc = actor.exception
        except (OSError, EOFError, ValueError):  # a closed pipe: nothing (more) to report from this actor
            exc = None
        if exc:
            err, tb = exc
            out.append(tb if tb else repr(err))
            continue
        code = getattr(actor, "exitcode", None) if not getattr(actor, "_is_done", False) else None
        if code not in (None, 0):
            out.append(f"Lava worker process {actor.name} (pid {actor.pid}) died with exit code {code}")
    return out


def _await_steps(runtime, poll_max_s: float = 0.002) -> None:
    """Wait for a non-blocking ``run`` to finish, watching the workers.

    Lava's own blocking wait deadlocks when a worker raises before sending its messages (its neighbours wait for
    them for ever, and so does the runtime service): poll instead, and fail as soon as a worker reports one.
    """
    from lava.magma.runtime.mgmt_token_enums import MGMT_RESPONSE, enum_equal

    ports = list(runtime.service_to_runtime)
    sleep = 1e-4
    while True:
        errors = _worker_errors(runtime)
        if errors:
            raise _WorkerFailure(errors)
        if all(p.probe() for p in ports):
            if any(enum_equal(p.peek(), MGMT_RESPONSE.ERROR) for p in ports):
                deadline = time.monotonic() + 10.0
                while not errors and time.monotonic() < deadline:
                    time.sleep(0.05)
                    errors = _worker_errors(runtime)
                raise _WorkerFailure(errors or ["a Lava runtime service reported an error without a traceback"])
            runtime.wait()
            return
        time.sleep(sleep)
        sleep = min(sleep * 2, poll_max_s)


def _shutdown(runtime, failed: bool) -> None:
    """Stop the runtime; after a worker failure Lava's own stop would wait for dead workers, so end our workers
    (by their process objects) and release the shared memory directly."""
    if runtime is None:
        return
    if not failed:
        try:
            runtime.stop()
            return
        except Exception:  # noqa: BLE001 - fall through to the forced shutdown
            pass
    for actor in _actors(runtime):
        if not getattr(actor, "_is_done", False) and actor.is_alive():
            actor.terminate()
    runtime._is_running = False
    runtime._is_started = False
    try:
        runtime._messaging_infrastructure.stop()   # joins the (now dead) workers, frees shared memory
    finally:
        if runtime._watchdog_manager is not None:
            runtime._watchdog_manager.stop()


def _as_batch(inputs, first: dict, path) -> tuple[np.ndarray, tuple | None]:
    """inputs -> [N, *input shape, T] and the input shape to pass to the loader (None: the file has one)."""
    x = np.asarray(inputs, dtype=np.float64)
    if first["type"] == "input":
        nd = int(np.atleast_1d(first["shape"]).size)
    else:   # no input layer: a conv/pool network takes [C, H, W], a dense one [F]
        nd = 1 if first["type"] == "dense" else 3
    if x.ndim == nd + 1:
        x = x[None]
    if x.ndim != nd + 2:
        layout = "[C, H, W, T] or [N, C, H, W, T]" if nd == 3 else "[F, T] or [N, F, T]"
        raise EvsnnError(f"{path}: inputs must be {layout} (slayer layout), got shape {list(x.shape)}")
    return x, (None if first["type"] == "input" else tuple(x.shape[1:-1]))


# ============================================================================================ run
def run_netx(path, inputs, steps: int | None = None, taps=(), *, conv_impl: str = "numpy",
             acc_bits: int | None = ACC_BITS, synapse: str | None = None,
             tmp_dir: str | os.PathLike | None = None) -> RunResult:
    """Run the netx network of ``path`` in Lava on ``inputs`` (slayer layout [C, H, W, T] or [N, C, H, W, T];
    [N, F, T] for a network that starts with a dense layer).

    ``steps``: time steps per sample (default the inputs' T; shorter inputs are zero-padded, longer truncated).
    ``taps``: file layer indices whose outputs to record as well (``"all"``: every layer that runs in Lava).
    Inputs go through slayer's input quantisation (:func:`quantize_input`) when the network has an input
    neuron (a scalar input weight/bias in the file is applied on the host, rounded to the 1/64 grid); a network
    without one takes integer events.
    The run takes ``N * steps + latency`` Lava steps (latency = number of Lava layers - 1, or the number of Lava
    layers when the network has no input neuron). ``conv_impl``, ``acc_bits``, ``synapse`` (auto / event / dense,
    None: ``$EVSNN_LAVA_SYNAPSE`` or auto; the same output in every mode): see :func:`evsnn.lava.netx.load_network`.
    """
    from lava.magma.core.run_conditions import RunSteps
    from lava.magma.core.run_configs import Loihi2SimCfg
    from lava.proc.io.source import RingBuffer

    raw_layers = read_layers(path)
    x, input_shape = _as_batch(inputs, raw_layers[0], path)
    n, t_in = x.shape[0], x.shape[-1]
    steps = int(steps) if steps is not None else int(t_in)
    if steps < 1:
        raise EvsnnError(f"steps must be >= 1, got {steps}")
    net, infos = load_network(path, reset_interval=steps, input_shape=input_shape,
                              conv_impl=conv_impl, acc_bits=acc_bits, synapse=synapse)
    blocks = [li for li in infos if li.block is not None]
    latency = blocks[-1].latency
    in_shape = infos[0].shape if infos[0].type == "input" else infos[0].in_shape
    if tuple(x.shape[1:-1]) != tuple(in_shape):
        raise EvsnnError(f"{path}: the network takes inputs of shape {list(in_shape)} (+ time), got "
                         f"{list(x.shape[1:-1])}")
    if taps == "all":
        tap_idx = [li.index for li in blocks]
    else:
        tap_idx = sorted({int(i) for i in taps})
        bad = [i for i in tap_idx if i >= len(infos) or infos[i].block is None]
        if bad:
            raise EvsnnError(f"{path}: cannot tap layer(s) {bad}: only layers that run in Lava can be tapped "
                             f"({[li.index for li in blocks]})")
    total = n * steps + latency

    q = _input_ints(x, infos[0], raw_layers[0] if infos[0].type == "input" else None)
    if t_in < steps:
        q = np.concatenate([q, np.zeros((*q.shape[:-1], steps - t_in), dtype=q.dtype)], axis=-1)
    q = q[..., :steps]
    # samples back to back in time, then `latency` zero steps; slayer [C, H, W] -> Lava (W, H, C)
    seq = np.concatenate([q[i] for i in range(n)] + [np.zeros((*q.shape[1:-1], latency), dtype=q.dtype)], axis=-1)
    spatial = seq.ndim - 1
    seq = seq.transpose(*range(spatial - 1, -1, -1), spatial)
    if np.abs(seq).max(initial=0) >= 2 ** 23:
        raise EvsnnError(f"{path}: input values do not fit Lava's 24-bit messages")

    own_tmp = tmp_dir is None
    tmp = tempfile.mkdtemp(prefix="evsnn_lava_") if own_tmp else os.fspath(tmp_dir)
    source = RingBuffer(data=seq.astype(np.int32))
    source.s_out.connect(net.inp)
    record = {blocks[-1].index: blocks[-1]}
    record.update({i: infos[i] for i in tap_idx})
    files = {}
    sinks = []
    for i, li in record.items():
        shape = tuple(li.block.out.shape)
        f = os.path.join(tmp, f"layer{i}.npy")
        np.lib.format.open_memmap(f, mode="w+", dtype=np.int32, shape=(total, *shape)).flush()
        files[i] = f
        sink = MemmapSink(shape=shape, path=f, num_steps=total)
        li.block.out.connect(sink.a_in)
        sinks.append(sink)

    from lava.proc.io.source import PySendModelFixed

    models = process_models(net)
    models[source] = PySendModelFixed
    models.update({sink: PyMemmapSinkModel for sink in sinks})
    run_cfg = Loihi2SimCfg(select_tag="fixed_pt", exception_proc_model_map=models)
    wall = []
    t0 = time.perf_counter()
    failed = False
    try:
        try:
            with warnings.catch_warnings():   # the compiler's model search warns about modules it cannot import
                warnings.filterwarnings("ignore", message="Cannot import module", category=UserWarning)
                source.create_runtime(run_cfg=run_cfg)
            setup_s = time.perf_counter() - t0
            for _ in range(n):
                t1 = time.perf_counter()
                source.run(condition=RunSteps(num_steps=steps, blocking=False))
                _await_steps(source.runtime)
                wall.append(time.perf_counter() - t1)
            t1 = time.perf_counter()
            if latency:
                source.run(condition=RunSteps(num_steps=latency, blocking=False))
                _await_steps(source.runtime)
            drain_s = time.perf_counter() - t1
        except _WorkerFailure as exc:
            failed = True
            details = list(dict.fromkeys(exc.details))   # the same error in several copies of a process model
            last = details[0].strip().splitlines()[-1] if details[0].strip() else "unknown error"
            raise LavaRuntimeError(f"{path}: {len(exc.details)} Lava worker process(es) failed: {last}\n"
                                   "worker traceback(s):\n" + "\n".join(details)) from None
        except BaseException:
            failed = True
            raise
        finally:
            _shutdown(source.runtime, failed)
        raw = {i: np.load(f) for i, f in files.items()}
    finally:
        if own_tmp:
            for f in files.values():
                if os.path.exists(f):
                    os.unlink(f)
            os.rmdir(tmp)

    def aligned(i: int) -> np.ndarray:
        li = infos[i]
        r = raw[i]                                           # (total, W, H, C) or (total, N)
        k = li.latency
        per = np.stack([r[s * steps + k:s * steps + k + steps] for s in range(n)])  # [N, steps, *whc]
        nd = per.ndim - 2
        per = per.transpose(0, *range(nd + 1, 1, -1), 1)     # [N, *chw, steps]
        return per.astype(np.float64) / li.out_scale

    out_idx = blocks[-1].index
    return RunResult(output=aligned(out_idx), taps={i: aligned(i) for i in tap_idx}, layers=infos, steps=steps,
                     lava_steps=total, latency=latency, wall_s=wall, setup_s=setup_s, drain_s=drain_s)


def run_file(path, steps: int | None = None, input_path=None, seed: int = 0, samples: int = 1,
             conv_impl: str = "numpy", acc_bits: int | None = ACC_BITS, synapse: str | None = None) -> dict:
    """The ``python -m evsnn netx run`` command: run ``path`` on the inputs of ``input_path`` (.npy, slayer
    layout) or on random binary events sized from the file's input layer; return the run summary (JSON-able)."""
    if input_path is not None:
        try:
            x = np.load(input_path, allow_pickle=False)
        except (OSError, ValueError, EOFError) as exc:
            if isinstance(exc, FileNotFoundError):
                raise
            raise EvsnnError(f"{input_path}: cannot read the input array ({exc or 'empty file'})") from None
        source = os.fspath(input_path)
    else:
        # the input shape is what the file claims: validated (without building Lava processes) and capped first
        shape = tuple(_validate(read_layers(path), os.fspath(path))[0]["in_shape"])
        if samples < 1:
            raise EvsnnError(f"--samples must be >= 1, got {samples}")
        t = int(steps) if steps is not None else 8
        nbytes = 8 * int(samples) * math.prod(shape) * max(t, 1)
        if nbytes > MAX_RANDOM_INPUT_BYTES:
            raise EvsnnError(f"{path}: a random input of {samples} sample(s) of shape {list(shape)} x {t} steps "
                             f"would take {nbytes} bytes, more than the {MAX_RANDOM_INPUT_BYTES} allowed; use fewer "
                             "--samples or --steps, or pass --input")
        rng = np.random.default_rng(seed)
        x = (rng.random((int(samples), *shape, t)) < 0.2).astype(np.float64)
        source = f"random binary events (p=0.2, seed {seed})"
    res = run_netx(path, x, steps=steps, conv_impl=conv_impl, acc_bits=acc_bits, synapse=synapse)
    from evsnn.lava.event_synapse import resolve_mode
    from evsnn.lava.netx import zero_threshold_report

    out = {"file": os.fspath(path), "input": source, "synapse": resolve_mode(synapse)}
    out.update(res.summary())
    out.update(zero_threshold_report(res.layers))
    out["output_events"] = out.pop("output_nonzeros")
    return out
