"""GPU training speed: evsnn's training loop with the PLIF network beside a plain spikingjelly 2.0 loop.

On a synthetic DVS128 Gesture frame cache at the paper's size (T=16, 2x128x128, batch 16, 128 channels, AMP), it
times training steps per second of

- **evsnn**: ``evsnn.train.run_epoch`` (the loop the workflow runs) over a ``FrameCacheDataset`` read from the
  HDF5 cache, with the ``plif_net`` architecture (PLIF, ATan surrogate, detach reset, multi-step mode), MSE on
  firing rates, Adam, AMP; and
- **reference**: spikingjelly 2.0's own ``DVSGestureNet`` (``parametric_lif_net``: the same layer list) trained
  by a plain loop written the way the spikingjelly tutorial does (tensors in memory, ``functional.reset_net``),

in the same process, for each neuron-kernel choice spikingjelly offers on CUDA (``SJ_LIF_CUDA_IMPLEMENTATION`` /
``SJ_PLIF_CUDA_IMPLEMENTATION`` = ``auto``, ``cuda``, ``triton``, ``torch``; spikingjelly reads them when it is
imported, so each choice runs in its own child process), plus the peak GPU memory of each loop. It prints the
table and the ratio to the reference (evsnn steps/s over reference steps/s: 1.0 means the workflow's loop costs
nothing over a hand-written one).

Without a visible CUDA device it prints one line saying so and exits 0 (``make bench`` on a laptop). ``--device
cpu --tiny`` runs the same code at a tiny size on the CPU (the tests do, so the script cannot rot).

Usage: python benchmarks/bench_gpu_training.py [--device cuda|cpu] [--tiny] [--steps 20] [--kernels auto,cuda]
"""
from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import ROOT  # noqa: E402,F401  (puts src/ on sys.path)

KERNELS = ("auto", "cuda", "triton", "torch")
PAPER = {"T": 16, "H": 128, "W": 128, "batch": 16, "channels": 128, "fc_hidden": 512}
TINY = {"T": 2, "H": 128, "W": 128, "batch": 2, "channels": 4, "fc_hidden": 512}
N_CLASSES = 11


def _cache(path: Path, n: int, size: dict, seed: int = 0) -> None:
    """A synthetic gesture cache: Poisson event counts, 11 classes, the attributes of a real one."""
    import numpy as np

    from evsnn.data import FrameCacheWriter

    rng = np.random.default_rng(seed)
    w = FrameCacheWriter(path, (size["T"], 2, size["H"], size["W"]),
                         {"n_classes": N_CLASSES, "T": size["T"], "downsample": 1})
    try:
        for i in range(n):
            w.add(rng.poisson(0.05, (size["T"], 2, size["H"], size["W"])).astype(np.uint16), i % N_CLASSES,
                  f"synthetic{i // 8}", (0, 1))
    finally:
        w.close()


def _sync(device):
    import torch

    if device.type == "cuda":
        torch.cuda.synchronize(device)


def child(device_name: str, size: dict, steps: int, warmup: int, amp: bool) -> dict:
    """Both loops in this process (the kernel choice is fixed by the environment this process started with)."""
    import torch
    import torch.nn.functional as F
    from torch.utils.data import DataLoader, Subset

    from evsnn.data import FrameCacheDataset, time_major
    from evsnn.models import build_model
    from evsnn.tasks.gesture.metrics import ClassificationTask
    from evsnn.train import run_epoch

    device = torch.device(device_name)
    amp = amp and device.type == "cuda"
    torch.manual_seed(0)
    n = size["batch"] * (steps + warmup)
    out: dict = {"device": torch.cuda.get_device_name(device) if device.type == "cuda" else "cpu",
                 "amp": amp, "size": size, "steps": steps}
    with tempfile.TemporaryDirectory() as tmp:
        cache = Path(tmp) / "train.h5"
        _cache(cache, n, size)
        ds = FrameCacheDataset(cache)

        # evsnn: the workflow's loop over the HDF5 cache
        net = {"channels": size["channels"], "n_conv": 5, "neuron": "plif", "tau": 2.0, "fc_hidden": size["fc_hidden"],
               "dropout": 0.5, "voters": 10}
        model = build_model("plif_net", net, in_shape=(2, size["H"], size["W"]), n_classes=N_CLASSES).to(device)
        task = ClassificationTask(N_CLASSES, loss_name="mse")
        opt = torch.optim.Adam(model.parameters(), lr=1e-3)
        scaler = torch.amp.GradScaler("cuda") if amp else None
        b = size["batch"]

        def loader(lo, hi):
            return DataLoader(Subset(ds, range(lo * b, hi * b)), batch_size=b, shuffle=False,
                              pin_memory=device.type == "cuda")

        if device.type == "cuda":
            torch.cuda.reset_peak_memory_stats(device)
        run_epoch(model, loader(0, warmup), task, device, opt, scaler, amp, desc="warmup")
        _sync(device)
        t0 = time.perf_counter()
        run_epoch(model, loader(warmup, warmup + steps), task, device, opt, scaler, amp, desc="timed")
        _sync(device)
        out["evsnn_steps_per_s"] = steps / (time.perf_counter() - t0)
        out["evsnn_peak_mem_MiB"] = (torch.cuda.max_memory_allocated(device) / 2**20) if device.type == "cuda" else None
        del model, opt

        # reference: spikingjelly's own DVSGestureNet, a plain loop over tensors in memory
        from spikingjelly.activation_based import functional, neuron, surrogate
        from spikingjelly.activation_based.model.parametric_lif_net import DVSGestureNet

        torch.manual_seed(0)
        ref = DVSGestureNet(channels=size["channels"], spiking_neuron=neuron.ParametricLIFNode,
                            surrogate_function=surrogate.ATan(), detach_reset=True)
        # (DVSGestureNet's fully connected sizes are fixed to a 128x128 input and FC 512; both sizes use them)
        functional.set_step_mode(ref, "m")
        ref = ref.to(device)
        opt = torch.optim.Adam(ref.parameters(), lr=1e-3)
        scaler = torch.amp.GradScaler("cuda") if amp else None
        xs = torch.stack([ds[i][0] for i in range(n)]).float()
        ys = torch.as_tensor([int(ds[i][1]) for i in range(n)])

        def step(i):
            x = time_major(xs[i * b:(i + 1) * b].to(device, non_blocking=True))
            y = F.one_hot(ys[i * b:(i + 1) * b].to(device), N_CLASSES).float()
            with torch.autocast(device.type, enabled=amp):
                rate = ref(x).mean(0)
                loss = F.mse_loss(rate, y)
            opt.zero_grad(set_to_none=True)
            if scaler is not None:
                scaler.scale(loss).backward()
                scaler.step(opt)
                scaler.update()
            else:
                loss.backward()
                opt.step()
            functional.reset_net(ref)

        if device.type == "cuda":
            torch.cuda.reset_peak_memory_stats(device)
        for i in range(warmup):
            step(i)
        _sync(device)
        t0 = time.perf_counter()
        for i in range(warmup, warmup + steps):
            step(i)
        _sync(device)
        out["reference_steps_per_s"] = steps / (time.perf_counter() - t0)
        out["reference_peak_mem_MiB"] = (torch.cuda.max_memory_allocated(device) / 2**20
                                         if device.type == "cuda" else None)
    out["ratio"] = (out["evsnn_steps_per_s"] / out["reference_steps_per_s"]) if out["reference_steps_per_s"] else None
    return out


def run_choice(kernel: str, args) -> dict:
    """One kernel choice in its own process (spikingjelly reads the SJ_* variables on import)."""
    env = dict(os.environ, PYTHONPATH=os.pathsep.join([str(ROOT / "src"), os.environ.get("PYTHONPATH", "")]))
    if kernel in KERNELS:
        env.update(SJ_LIF_CUDA_IMPLEMENTATION=kernel, SJ_PLIF_CUDA_IMPLEMENTATION=kernel)
    cmd = [sys.executable, __file__, "--child", "--device", args.device, "--steps", str(args.steps),
           "--warmup", str(args.warmup)] + (["--tiny"] if args.tiny else []) + ([] if args.amp else ["--no-amp"])
    proc = subprocess.run(cmd, env=env, capture_output=True, text=True)
    if proc.returncode != 0:
        last = [line for line in proc.stderr.strip().splitlines() if line.strip()]
        return {"kernel": kernel, "error": last[-1] if last else f"exit status {proc.returncode}"}
    return {"kernel": kernel, **json.loads(proc.stdout.strip().splitlines()[-1])}


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--device", default="cuda", choices=["cuda", "cpu"])
    ap.add_argument("--tiny", action="store_true", help="a tiny size (T=2, batch 2, 4 channels): the CPU smoke test")
    ap.add_argument("--steps", type=int, default=20)
    ap.add_argument("--warmup", type=int, default=3)
    ap.add_argument("--kernels", default=",".join(KERNELS), help="comma-separated subset of " + ", ".join(KERNELS))
    ap.add_argument("--no-amp", dest="amp", action="store_false")
    ap.add_argument("--child", action="store_true", help=argparse.SUPPRESS)
    args = ap.parse_args(argv)
    size = TINY if args.tiny else PAPER
    if args.child:
        print(json.dumps(child(args.device, size, args.steps, args.warmup, args.amp)))
        return 0
    kernels = [k.strip() for k in args.kernels.split(",") if k.strip()]
    unknown = [k for k in kernels if k not in KERNELS]
    if unknown:
        print(f"unknown kernel choice {unknown[0]!r}; spikingjelly 2.0 offers: {', '.join(KERNELS)}", file=sys.stderr)
        return 2
    if args.device == "cuda":
        import torch

        if not torch.cuda.is_available():
            print("bench_gpu_training: skipped, no CUDA device is visible (torch.cuda.is_available() is False); "
                  "run `make gpu-check` on a GPU machine, or `--device cpu --tiny` for the CPU smoke test")
            return []
    else:
        kernels = ["cpu"]  # the CUDA kernel choice does not apply to the CPU
    rows = [run_choice(k, args) for k in kernels]
    s = size
    print(f"training steps per second, PLIF network, T={s['T']}, 2x{s['H']}x{s['W']}, batch {s['batch']}, "
          f"{s['channels']} channels, AMP {'on' if args.amp and args.device == 'cuda' else 'off'}, {args.steps} timed "
          f"steps after {args.warmup} warm-up steps")
    print("| kernels | device | evsnn steps/s | spikingjelly loop steps/s | ratio | evsnn peak MiB | reference peak MiB |")
    print("|---|---|---|---|---|---|---|")
    fmt = lambda v, f="{:.2f}": "-" if v is None else f.format(v)  # noqa: E731
    for r in rows:
        if "error" in r:
            print(f"| {r['kernel']} | unavailable: {r['error']} | | | | | |")
            continue
        print(f"| {r['kernel']} | {r['device']} | {fmt(r['evsnn_steps_per_s'])} | {fmt(r['reference_steps_per_s'])} "
              f"| {fmt(r['ratio'])} | {fmt(r['evsnn_peak_mem_MiB'], '{:.0f}')} | "
              f"{fmt(r['reference_peak_mem_MiB'], '{:.0f}')} |")
    if all("error" in r for r in rows):
        print("no kernel choice ran", file=sys.stderr)
        return 1
    return [{"benchmark": "gpu_training", **r} for r in rows]


if __name__ == "__main__":
    result = main()
    sys.exit(result if isinstance(result, int) else 0)
