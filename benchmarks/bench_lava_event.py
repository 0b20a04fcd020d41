"""Seconds per Lava step with the dense and the event-driven conv / convT / pool synapse, side by side, same outputs.

evsnn's Lava synapse (:class:`evsnn.lava.netx.Synapse2D`) computes a step either densely (im2col and a float64 matrix
product over the whole map, the reference here) or from the non-zero input messages only
(:mod:`evsnn.lava.event_synapse`, ``synapse="auto"``: the scatter when the step's non-zero fraction is below the
measured crossover, the dense step above it; the default of ``netx run`` and the workflow's lava_run). Two networks:

- ``pose SDNN demo``: the demo's dhp19_sdnn (base_channels 8, input 32 x 40, config.yaml's pose_sdnn), exported with
  evsnn's netx exporter. Trained weights: ``results/models/pose_sdnn/model.pt`` (``--model``), trained through the
  workflow first when it does not exist (``--no-train``: the freshly initialised model, seed 0, whose messages are
  denser). Inputs: real event frames of the test cache
  ``results/frames/pose_t4/test.h5`` (``--frames``), else frames built here the workflow's way (synthetic DHP19
  recording of subject 13 -> :func:`evsnn.tasks.pose.data.build_pose_frames` with config.yaml's pose_t4).
- ``DHP19 SDNN full size``: the FORMATS.md 2.11 layer list at 260 x 344 (the ``write_dhp19_like`` generator of
  tests/test_lava_netx.py, with vThMant = 0 in the 13 layers where the real export has it: every non-zero change is
  sent), random integer weights; inputs: event frames at full resolution built the same way (downsample 1, the
  official 7,500 events per frame and camera).

For each network and mode: the whole Lava run (``run_netx``, seconds per Lava step without setup) and the synapse
processes alone (every Synapse2D step of the run replayed in this process on the messages the run sent:
:func:`evsnn.lava.netx.synapse2d_step`, best of ``--repeats``). Outputs of every layer are compared between the
modes (bit for bit). The target, at least 3x fewer seconds per step, is checked on the synapse processes: the whole
run also pays Lava's own per-step cost (one OS process per synapse and per neuron, message copies, the sigma-delta
neurons' dense numpy updates), which no synapse can remove; both are printed.

Both modes' whole runs use evsnn's fused sigma-delta neuron step (:mod:`evsnn.lava.sigma_delta`); a last table
times it against Lava's own numpy neuron update on the full-size layer shapes (same integers).

Run: ``python benchmarks/bench_lava_event.py [--samples N] [--full-steps N] [--skip-full]``. One thread per numeric
library; Lava's workers are separate processes, so the whole-run time depends on the cores free.
"""
from __future__ import annotations

import os

_USER_THREADS = {v for v in ("OMP_NUM_THREADS", "MKL_NUM_THREADS", "OPENBLAS_NUM_THREADS", "NUMBA_NUM_THREADS")
                 if v in os.environ}
for _var in ("OMP_NUM_THREADS", "MKL_NUM_THREADS", "OPENBLAS_NUM_THREADS", "NUMBA_NUM_THREADS"):
    os.environ.setdefault(_var, "1")

import argparse
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import ROOT, exit_status  # noqa: E402  (puts src/ and tests/ on sys.path)

TARGET = 3.0
POSE_FRAMES = {"T": 4, "downsample": 8, "dhp19": {"events_per_frame": 400, "cameras": [2, 3], "crop": [256, 320]}}
FULL_FRAMES = {"T": 4, "downsample": 1, "dhp19": {"events_per_frame": 7500, "cameras": [2, 3]}}


def synthetic_frames(tmp: Path, frames_cfg: dict, n: int, event_rate: float = 10_000.0) -> np.ndarray:
    """``n`` test samples [N, T, 1, H, W] (uint8 event counts) built the workflow's way from a synthetic DHP19
    recording (subject 13, session 1, movement 1; ``event_rate`` body events per second and camera)."""
    import h5py

    from evsnn.tasks.pose.data import build_pose_frames, prepare_dhp19
    from evsnn.tasks.pose.synth import write_dhp19_tree

    root = tmp / f"dhp19_{frames_cfg['downsample']}"
    write_dhp19_tree(root, subjects=(1, 13), sessions=(1,), movements=(1,), duration_s=1.0, pathologies={},
                     hot_pixel=False, event_rate=event_rate)
    manifest = prepare_dhp19("bench", {"source": "local", "path": str(root)}, str(root / "data"),
                             str(root / "manifest.json"))
    build_pose_frames(manifest, frames_cfg, str(root / "train.h5"), str(root / "test.h5"))
    with h5py.File(root / "test.h5", "r") as fh:
        frames = fh["frames"]
        idx = np.linspace(0, frames.shape[0] - 1, n).round().astype(int)
        return np.stack([frames[int(i)] for i in idx])


def cached_frames(path: Path, n: int) -> np.ndarray:
    import h5py

    with h5py.File(path, "r") as fh:
        frames = fh["frames"]
        idx = np.linspace(0, frames.shape[0] - 1, n).round().astype(int)
        return np.stack([frames[int(i)] for i in idx])


def pose_case(tmp: Path, n: int, model_path: Path, frames_path: Path) -> tuple[str, Path, np.ndarray, str]:
    """(name, .net path, slayer input [N, C, H, W, T], where the weights and frames came from)."""
    import torch

    from evsnn.lava.export import export_network
    from evsnn.lava.parity import slayer_input
    from evsnn.models import build_model
    from evsnn.train import load_model

    if model_path.exists():
        model, _ = load_model(model_path)
        weights = f"trained ({model_path})"
    else:
        torch.manual_seed(0)
        model = build_model("dhp19_sdnn", {"base_channels": 8, "input_scale": 0.015625}, in_shape=(1, 32, 40),
                            n_classes=13)
        weights = "initialised (seed 0; no trained model found)"
    model.eval()
    if frames_path.exists():
        frames = cached_frames(frames_path, n)
        source = f"test cache {frames_path}"
    else:
        frames = synthetic_frames(tmp, POSE_FRAMES, n)
        source = "frames built from a synthetic DHP19 recording"
    net = tmp / "pose_sdnn.net"
    export_network(model, net)
    x = slayer_input(model, torch.as_tensor(frames.astype(np.float32)).transpose(0, 1)).numpy()
    return "pose SDNN demo (32x40, base 8)", net, x.astype(np.float64), f"{weights}; {source}"


def full_case(tmp: Path, n: int) -> tuple[str, Path, np.ndarray, str]:
    from test_lava_netx import _zero_thresholds, write_dhp19_like

    net = write_dhp19_like(tmp / "dhp19_full.net", H=260, W=344, edit=_zero_thresholds)
    frames = synthetic_frames(tmp, FULL_FRAMES, n, event_rate=50_000.0)   # [N, T, 1, 260, 344] counts
    x = frames.astype(np.float64).transpose(0, 2, 3, 4, 1)         # [N, 1, H, W, T]; a count of 1 = 1.0
    return ("DHP19 SDNN full size (FORMATS 2.11, 260x344)", net, x,
            "random weights, vThMant = 0 in 13 layers; frames built from a synthetic DHP19 recording")


def synapse_inputs(res) -> list[tuple]:
    """(kind, geometry, weight, acc_bits, [per-step (W, H, C) int32 inputs]) of every Synapse2D of a tapped run: the
    messages the previous Lava block sent, step by step (the drain steps after the last sample are not tapped)."""
    from evsnn.lava.netx import Synapse2DBlock

    blocks = [li for li in res.layers if li.block is not None]
    out = []
    for prev, li in zip(blocks, blocks[1:]):
        if not isinstance(li.block, Synapse2DBlock):
            continue
        p = li.block.synapse.proc_params
        ints = np.rint(res.taps[prev.index] * prev.out_scale).astype(np.int32)     # [N, C, H, W, steps]
        msgs = [np.ascontiguousarray(ints[s, ..., t].transpose(2, 1, 0)) for s in range(ints.shape[0])
                for t in range(ints.shape[-1])]
        geom = (p["kernel"], p["stride"], p["padding"], p["dilation"], p["groups"])
        out.append((li.index, p["kind"], geom, p["weight_value"], p["acc_bits"], msgs))
    return out


def time_synapses(inputs, mode: str, repeats: int) -> tuple[float, list]:
    """Best-of-``repeats`` seconds to run every synapse step of ``inputs`` in ``mode``; and the results."""
    from types import SimpleNamespace

    from evsnn.lava.netx import synapse2d_step

    # one stand-in per synapse for its process model: the prepared weights are cached there across steps
    models = [SimpleNamespace(_prepared=None, steps_event=0, steps_dense=0) for _ in inputs]
    best, results = float("inf"), []
    for _ in range(repeats):
        results = []
        t0 = time.perf_counter()
        for (_index, kind, geom, w, acc_bits, msgs), model in zip(inputs, models):
            results.append([synapse2d_step(kind, m, w, *geom, acc_bits=acc_bits, mode=mode, model=model)
                            for m in msgs])
        best = min(best, time.perf_counter() - t0)
    return best, results


def run_case(name: str, net: Path, x: np.ndarray, note: str, repeats: int) -> list[dict]:
    from evsnn.lava.event_synapse import warm
    from evsnn.lava.run import run_netx

    warm()
    print(f"\n{name}: input {list(x.shape)} ({note})", flush=True)
    runs, tapped = {}, {}
    for mode in ("dense", "auto"):   # the whole-run timing: only the output recorded
        runs[mode] = run_netx(net, x, synapse=mode)
        s = runs[mode].summary()
        print(f"  {mode}: whole run {s['wall_s_per_step']:.4f} s per Lava step ({s['lava_steps']} steps)", flush=True)
    for mode in ("dense", "auto"):   # every layer recorded: the identity check and the synapses' inputs
        tapped[mode] = run_netx(net, x, taps="all", synapse=mode)
    diffs = [i for i in tapped["dense"].taps if not np.array_equal(tapped["dense"].taps[i], tapped["auto"].taps[i])]
    same_out = np.array_equal(runs["dense"].output, runs["auto"].output)
    identical = "yes" if same_out and not diffs else f"no: layers {diffs} differ" + ("" if same_out else ", output")
    inputs = synapse_inputs(tapped["dense"])
    n_msgs = sum(m.size for *_, msgs in inputs for m in msgs)
    density = sum(int(np.count_nonzero(m)) for *_, msgs in inputs for m in msgs) / max(n_msgs, 1)
    per_layer = {index: round(sum(int(np.count_nonzero(m)) for m in msgs) / sum(m.size for m in msgs), 3)
                 for index, _kind, _g, _w, _a, msgs in inputs}
    print(f"  non-zero fraction of the synapses' input messages: {density:.3f} overall; by layer {per_layer}",
          flush=True)
    n_steps = len(inputs[0][-1])
    syn = {}
    for mode in ("dense", "auto", "event"):
        syn[mode] = time_synapses(inputs, mode, repeats)
    same_syn = all(np.array_equal(a, b) for mode in ("auto", "event")
                   for la, lb in zip(syn["dense"][1], syn[mode][1]) for a, b in zip(la, lb))
    if not same_syn:
        identical = identical.replace("yes", "no: replayed synapse steps differ") if identical == "yes" else identical
    whole = {m: runs[m].summary()["wall_s_per_step"] for m in runs}
    rows = []
    for mode, impl in (("dense", "Lava dense synapse (im2col + BLAS; reference)"),
                       ("auto", "evsnn event-driven synapse (auto, the default)"),
                       ("event", "evsnn event-driven synapse (always scatter)")):
        syn_s = syn[mode][0] / n_steps
        row = {"benchmark": "lava_event", "case": name, "implementation": impl,
               "run_s_per_step": whole.get(mode, ""),
               "run_speedup": round(whole["dense"] / whole[mode], 2) if mode in whole else "",
               "synapses_s_per_step": round(syn_s, 5),
               "synapses_speedup": round(syn[("dense")][0] / syn[mode][0], 2),
               "input_nonzero_fraction": round(density, 3), "inputs": note}
        if mode != "dense":
            row["identical_to_straightforward"] = identical
        if mode == "auto":
            row["target"] = f">= {TARGET:g}x fewer s per step (synapse processes)"
            row["target_met"] = bool(syn["dense"][0] / syn["auto"][0] >= TARGET)
        rows.append(row)
    return rows


#: the synapses of the full-size DHP19 SDNN (FORMATS.md 2.11), one of each shape: kind, Cin, Cout, H, W, kernel,
#: stride, padding, dilation
CROSSOVER_LAYERS = [("conv", 16, 16, 260, 344, 3, 1, 1, 1), ("pool", 16, 16, 260, 344, 2, 2, 0, 1),
                    ("conv", 32, 32, 130, 172, 3, 1, 1, 1), ("conv", 64, 64, 65, 86, 3, 1, 2, 2),
                    ("convT", 64, 32, 65, 86, 2, 2, 0, 1), ("conv", 32, 32, 130, 172, 3, 1, 2, 2)]


def crossover(backend: str = "numba", densities=(0.05, 0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.8, 1.0),
              repeats: int = 3) -> list[dict]:
    """Dense step vs scatter (``backend``) on one synapse of each shape of the full-size DHP19 SDNN, random
    non-zero positions at each density: seconds and the density where the scatter stops being faster (the basis
    of :data:`evsnn.lava.event_synapse.AUTO_MAX_DENSITY`)."""
    from evsnn.lava.event_synapse import event_forward, prepare
    from evsnn.lava.netx import _synapse_out_whc, synapse2d_forward

    rng = np.random.default_rng(0)
    rows = []
    for kind, cin, cout, h, w, k, s, p, d in CROSSOVER_LAYERS:
        if kind == "conv":
            wt = rng.integers(-128, 128, size=(cout, cin, k, k)).astype(np.float64)
        elif kind == "convT":
            wt = rng.integers(-128, 128, size=(cin, cout, k, k)).astype(np.float64)
        else:
            wt = np.full((k, k), 16.0)
        geom = ((k, k), (s, s), (p, p), (d, d), 1)
        out_whc = _synapse_out_whc(kind, (w, h, cin), wt, *geom)
        prepared = prepare(kind, wt, (w, h, cin), out_whc, *geom[1:4], 1)
        cross = None
        for dens in densities:
            x = (rng.integers(-2 ** 15, 2 ** 15, size=(w, h, cin)) * (rng.random((w, h, cin)) < dens)).astype(np.int32)
            td = te = float("inf")
            for _ in range(repeats):
                t0 = time.perf_counter()
                synapse2d_forward(kind, x, wt, *geom)
                t1 = time.perf_counter()
                event_forward(kind, x, prepared, *geom[1:4], out_whc, acc_bits=24, backend=backend)
                t2 = time.perf_counter()
                td, te = min(td, t1 - t0), min(te, t2 - t1)
            if cross is None and te >= td:
                cross = dens
            rows.append({"layer": f"{kind} {cin}->{cout} {h}x{w} k{k} s{s} d{d}", "density": dens,
                         "dense_ms": round(td * 1e3, 2), "event_ms": round(te * 1e3, 2),
                         "event_speedup": round(td / te, 2)})
        print(f"{kind} {cin}->{cout} {h}x{w} k{k} s{s} d{d} ({backend}): "
              + " ".join(f"{r['density']}:{r['event_speedup']}x" for r in rows if r["layer"].startswith(
                  f"{kind} {cin}->{cout} {h}x{w} k{k} s{s} d{d}"))
              + f"; break-even {'above ' + str(densities[-1]) if cross is None else 'at ' + str(cross)}", flush=True)
    return rows


def neuron_update(repeats: int = 5) -> list[dict]:
    """Lava's fixed-point sigma-delta update (``PySigmaDeltaModelFixed.dynamics`` and the shift, the reference) vs
    evsnn's fused step (:mod:`evsnn.lava.sigma_delta`) on the full-size DHP19 SDNN's layer shapes (W, H, C), a
    trained-like state (25 % of the inputs non-zero); the messages and state compared bit for bit."""
    from lava.proc.sdn.models import PySigmaDeltaModelFixed
    from lava.proc.sdn.process import ActivationMode

    from evsnn.lava import sigma_delta

    if not sigma_delta.warm():
        print("\nsigma-delta neuron update: numba not available, Lava's own update runs (no comparison)")
        return []
    rng = np.random.default_rng(0)
    rows = []
    for shape in ((344, 260, 16), (172, 130, 32), (86, 65, 64)):
        a = (rng.integers(-4096, 4096, shape) * (rng.random(shape) < 0.25)).astype(np.int32)
        state = {"sigma": rng.integers(-65536, 65536, shape).astype(np.int32), "act": np.zeros(shape, np.int32),
                 "residue": np.zeros(shape, np.int32), "error": np.zeros(shape, np.int32),
                 "vth": np.array([0], np.int32), "bias": rng.integers(-256, 256, shape).astype(np.int32)}
        lava = object.__new__(PySigmaDeltaModelFixed)
        for k, v in state.items():
            setattr(lava, k, v.copy())
        lava.act_mode, lava.cum_error, lava.state_exp = ActivationMode.RELU, np.array([False]), np.array([6], np.int32)
        ours = {k: v.copy() for k, v in state.items()}
        t_ref = t_ours = float("inf")
        same = True
        for _ in range(repeats):
            t0 = time.perf_counter()
            want = np.right_shift(lava.dynamics(a), lava.state_exp)
            t1 = time.perf_counter()
            got = sigma_delta.sigma_delta_step(a, ours, relu=True, cum_error=False, state_exp=6)
            t2 = time.perf_counter()
            t_ref, t_ours = min(t_ref, t1 - t0), min(t_ours, t2 - t1)
            same &= np.array_equal(got, want) and all(np.array_equal(ours[k], getattr(lava, k))
                                                       for k in ("sigma", "act", "residue"))
        rows.append({"shape": "x".join(map(str, shape)), "lava_ms": round(t_ref * 1e3, 2),
                     "fused_ms": round(t_ours * 1e3, 2), "speedup": round(t_ref / t_ours, 1),
                     "identical": "yes" if same else "NO"})
    print("\n### Sigma-delta neuron update per step: Lava's numpy model vs evsnn's fused step (full-size layer "
          "shapes W x H x C)\n")
    print(markdown_table(rows, [("shape", "layer"), ("lava_ms", "Lava numpy ms"), ("fused_ms", "fused ms"),
                                ("speedup", "speed-up"), ("identical", "messages and state identical")]))
    return rows


def markdown_table(rows: list[dict], columns: list[tuple[str, str]]) -> str:
    head = "| " + " | ".join(title for _, title in columns) + " |"
    sep = "|" + "|".join("---" for _ in columns) + "|"
    body = ["| " + " | ".join(str(r.get(key, "")) for key, _ in columns) + " |" for r in rows]
    return "\n".join([head, sep, *body])


def train_demo_pose_sdnn(model_path: Path, frames_path: Path) -> None:
    """The demo's trained pose SDNN and its test cache, made the workflow's way (only the pose SDNN's part of the
    demo: synthetic DHP19, frames, 6 epochs; a minute or two): an initialised network's messages are denser than a
    trained one's (0.37 against 0.24 non-zero here), so the benchmark measures what the demo deploys."""
    import subprocess

    rel = [os.path.relpath(model_path, ROOT), os.path.relpath(frames_path, ROOT)]
    print(f"bench_lava_event: no trained pose_sdnn in {ROOT / 'results'}; training it through the workflow "
          f"(snakemake {' '.join(rel)}) ...", flush=True)
    env = dict(os.environ, PYTHONPATH=os.pathsep.join([str(ROOT / "src"), os.environ.get("PYTHONPATH", "")]))
    for var in ("OMP_NUM_THREADS", "MKL_NUM_THREADS", "OPENBLAS_NUM_THREADS", "NUMBA_NUM_THREADS"):
        if os.environ.get(var) == "1" and var not in _USER_THREADS:  # set above for the timing, not for training
            env.pop(var)
    subprocess.run([sys.executable, "-m", "snakemake", "--cores", str(max(1, min(2, os.cpu_count() or 1))),
                    *rel], cwd=ROOT, env=env, check=True)


def main(samples: int = 4, full_samples: int = 1, repeats: int = 3, skip_full: bool = False,
         model: str | None = None, frames: str | None = None, train: bool = True) -> list[dict]:
    import evsnn.lava.run  # noqa: F401  (Lava sets multiprocessing's start method on import: before frames use it)

    model_path = Path(model) if model else ROOT / "results" / "models" / "pose_sdnn" / "model.pt"
    frames_path = Path(frames) if frames else ROOT / "results" / "frames" / "pose_t4" / "test.h5"
    if train and not model and not frames and not (model_path.exists() and frames_path.exists()):
        train_demo_pose_sdnn(model_path, frames_path)
    rows: list[dict] = []
    with tempfile.TemporaryDirectory(prefix="evsnn_bench_lava_") as tmp:
        tmp = Path(tmp)
        rows += run_case(*pose_case(tmp, samples, model_path, frames_path), repeats)
        if not skip_full:
            rows += run_case(*full_case(tmp, full_samples), max(1, repeats - 2))
    print("\n### Lava conv/convT/pool synapse: dense vs event-driven, seconds per Lava step "
          "(whole run without setup; synapse processes replayed in this process, best of repeats)\n")
    print(markdown_table(rows, [("case", "network"), ("implementation", "synapse"),
                                ("run_s_per_step", "whole run s/step"), ("run_speedup", "run speed-up"),
                                ("synapses_s_per_step", "synapses s/step"), ("synapses_speedup", "synapse speed-up"),
                                ("input_nonzero_fraction", "non-zero input fraction"),
                                ("identical_to_straightforward", "outputs identical to dense"),
                                ("target_met", f"target >= {TARGET:g}x met")]))
    neuron_update()
    return rows


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--samples", type=int, default=4, help="test samples of the pose SDNN demo")
    parser.add_argument("--full-samples", type=int, default=1, help="samples of the full-size network (4 steps each)")
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--skip-full", action="store_true", help="only the pose SDNN demo")
    parser.add_argument("--model", default=None, help="trained pose_sdnn model.pt (default: results/models/...)")
    parser.add_argument("--frames", default=None, help="pose_t4 test cache (default: results/frames/pose_t4/test.h5)")
    parser.add_argument("--no-train", action="store_true",
                        help="without a trained pose_sdnn, use the initialised one (seed 0) instead of training it "
                        "through the workflow")
    parser.add_argument("--crossover", choices=("numba", "numpy"), default=None,
                        help="instead: dense vs scatter on one synapse of each full-size shape at densities 0.05..1")
    args = parser.parse_args()
    if args.crossover:
        dens = (0.01, 0.02, 0.05, 0.1, 0.2) if args.crossover == "numpy" else (0.05, 0.1, 0.2, 0.3, 0.4, 0.5, 0.6,
                                                                                0.8, 1.0)
        crossover(args.crossover, dens)
        sys.exit(0)
    sys.exit(exit_status(main(samples=args.samples, full_samples=args.full_samples, repeats=args.repeats,
                              skip_full=args.skip_full, model=args.model, frames=args.frames,
                              train=not args.no_train)))
