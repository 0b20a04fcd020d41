"""The one training loop of evsnn (every task, every framework that is a torch.nn.Module).

- optimiser Adam, SGD or RMSprop (Keras 2.2.4's update rule, the DHP19 CNN's optimiser), cosine annealing, step or
  multistep LR (StereoSpike's: milestones [8, 42, 60], gamma 0.5), AMP on CUDA;
- a validation split carved from the training data for model selection (``train.val_split``: stratified and
  seeded, or the PLIF paper's deterministic per-class tail), or the items a test cache flags as validation (a
  protocol that validates on part of the test sequence); the test split is evaluated every epoch too, so both
  numbers the PLIF paper reports are available: the test accuracy of the validation-selected epoch
  ("accuracy-B") and the maximum test accuracy over training ("accuracy-A");
- ``train.init``: start from the weights of a model.pt (e.g. the official DHP19 CNN imported by
  ``python -m evsnn pose import-dhp19-cnn``); with ``train.epochs: 0`` the model is those weights, evaluated once;
- a checkpoint after every epoch (model, optimiser, scheduler, scaler, RNG states, history); a rerun after a
  kill resumes from it and ends with the same metrics as an uninterrupted run with the same seed;
- SIGTERM (what SLURM sends on preemption) writes a checkpoint at the next training-batch boundary (batch index,
  the epoch's running sums and the RNG states: the batch order of an epoch is a seeded permutation) and stops with
  :class:`~evsnn.errors.TrainingInterrupted`; the requeued run resumes inside the epoch with the same result;
- a finished training marks its checkpoint finished: resuming is for attempts that did not finish, so a forced
  rerun of a finished training starts from scratch;
- metrics per epoch to CSV and TensorBoard, one log line per epoch (losses, metrics, time, ETA; a tqdm bar only
  when stderr is a terminal), NaN loss stops training with a clear message.
"""
from __future__ import annotations

import contextlib
import csv
import logging
import math
import os
import signal
import sys
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch
from torch.utils.data import DataLoader
from tqdm import tqdm

from evsnn.data import FrameCacheDataset, holdout_split, split_indices, time_major
from evsnn.config import RUNTIME_TRAIN_KEYS, result_train_settings
from evsnn.errors import ConfigError, TrainingError, TrainingInterrupted
from evsnn.models import build_model, count_parameters
from evsnn.tasks import get_task, make_task, register_packages
from evsnn.util import atomic_path, params_digest, seed_everything, write_json

log = logging.getLogger("evsnn.train")



def metric_fields(task) -> list[str]:
    """Columns of metrics.csv: epoch, lr, then loss and the task's metrics for train / val / test, seconds."""
    cols = ["epoch", "lr"]
    for split in ("train", "val", "test"):
        cols += [f"{split}_loss"] + [f"{split}_{m}" for m in task.metric_names]
    return cols + ["seconds"]


def resolve_device(name: str) -> torch.device:
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if name == "cuda" and not torch.cuda.is_available():
        found = (f"this torch {torch.__version__} is a CPU-only build" if torch.version.cuda is None else
                 f"torch {torch.__version__} (CUDA {torch.version.cuda}) sees {torch.cuda.device_count()} devices; "
                 f"CUDA_VISIBLE_DEVICES={os.environ.get('CUDA_VISIBLE_DEVICES', 'unset')}")
        raise ConfigError(f"train.device is 'cuda' but no CUDA device is available here ({found}); use 'cpu' or "
                          "'auto', or run the job on a GPU node (SLURM: the train job asks for --gpus=1)")
    return torch.device(name)


#: Keras 2.2.4 RMSprop defaults (rho 0.9, epsilon = K.epsilon() = 1e-7); DHP_CNN.model's training_config holds
#: the same values (RMSprop lr 1e-5, rho 0.9, epsilon 1e-07, decay 0)
RMSPROP_RHO = 0.9
RMSPROP_EPS = 1e-7


def make_optimizer(params, cfg: dict) -> torch.optim.Optimizer:
    """``adam``, ``sgd`` (``momentum``) or ``rmsprop``: Keras 2.2.4's rule, which is PyTorch's ``RMSprop`` with
    ``alpha = rho`` and the epsilon added outside the square root, ``a <- rho a + (1 - rho) g^2``,
    ``p <- p - lr g / (sqrt(a) + eps)``, accumulators starting at 0 (``train.rho``, ``train.eps``: default 0.9 and
    1e-7 as Keras)."""
    if cfg["optimizer"] == "adam":
        return torch.optim.Adam(params, lr=cfg["lr"], weight_decay=cfg["weight_decay"])
    if cfg["optimizer"] == "rmsprop":
        return torch.optim.RMSprop(params, lr=cfg["lr"], alpha=cfg.get("rho", RMSPROP_RHO),
                                   eps=cfg.get("eps", RMSPROP_EPS), weight_decay=cfg["weight_decay"], momentum=0.0)
    return torch.optim.SGD(params, lr=cfg["lr"], momentum=cfg["momentum"], weight_decay=cfg["weight_decay"])


def _layer(key: str) -> str:
    """The layer a state-dict entry belongs to (``features.3.weight`` -> ``features.3``)."""
    return key.rsplit(".", 1)[0] if "." in key else key


def state_mismatch(expected: dict, given: dict) -> str | None:
    """The first way ``given`` (a state dict) does not fit a model whose state dict is ``expected``, as a phrase
    naming the layer and both shapes (in the model's layer order), or None when every tensor fits."""
    for key, want in expected.items():
        if key not in given:
            return f"layer {_layer(key)} has no {key.rsplit('.', 1)[-1]!r} in the file (missing {key})"
        have, need = tuple(getattr(given[key], "shape", ())), tuple(getattr(want, "shape", ()))
        if have != need:
            return f"first mismatching layer {_layer(key)}: {key} has shape {have} in the file and {need} in this model"
    extra = [k for k in given if k not in expected]
    if extra:
        return f"the file has {len(extra)} tensor(s) this model lacks, first {extra[0]} (layer {_layer(extra[0])})"
    return None


def load_init(model: torch.nn.Module, path: str, arch: str) -> dict:
    """Load the weights of the model.pt at ``path`` (``evsnn.train`` or ``import-dhp19-cnn`` format, weights_only)
    into ``model``; the architecture and every tensor shape must match (a mismatch names the first layer that does
    not fit and both shapes)."""
    try:
        blob = torch.load(path, map_location="cpu", weights_only=True)
    except FileNotFoundError:
        raise ConfigError(f"train.init {path} does not exist (a model.pt, e.g. written by "
                          "`python -m evsnn pose import-dhp19-cnn DHP_CNN.model OUT.pt`)") from None
    except Exception as exc:  # noqa: BLE001 - any unreadable file gets the same one-sentence error
        raise ConfigError(f"train.init {path} is not a readable evsnn model.pt ({exc})") from None
    if not isinstance(blob, dict) or "state_dict" not in blob:
        raise ConfigError(f"train.init {path} is not an evsnn model.pt (no state_dict)")
    if blob.get("arch") != arch:
        raise ConfigError(f"train.init {path} holds a {blob.get('arch')!r} model; this model's arch is {arch!r}")
    problem = state_mismatch(model.state_dict(), blob["state_dict"])
    if problem:
        raise ConfigError(f"train.init {path} does not fit this model's net settings: {problem}")
    model.load_state_dict(blob["state_dict"])
    return blob


def make_scheduler(opt, cfg: dict):
    if cfg["scheduler"] == "cosine":
        return torch.optim.lr_scheduler.CosineAnnealingLR(opt, T_max=cfg.get("T_max") or cfg["epochs"])
    if cfg["scheduler"] == "step":
        return torch.optim.lr_scheduler.StepLR(opt, step_size=cfg["step_size"], gamma=cfg["gamma"])
    if cfg["scheduler"] == "multistep":
        milestones = cfg.get("milestones")
        if not milestones:
            raise ConfigError("train.scheduler is 'multistep' but train.milestones (the epochs after which the "
                              "learning rate is multiplied by train.gamma) is not set")
        return torch.optim.lr_scheduler.MultiStepLR(opt, milestones=list(milestones), gamma=cfg["gamma"])
    return None


@dataclass
class RunSpec:
    """Everything a training run depends on (its digest guards checkpoint reuse)."""

    task: str
    arch: str
    net: dict
    train: dict
    code: str = ""  # fingerprint of the source modules (from the workflow)
    extra: dict = field(default_factory=dict)

    def digest(self) -> str:
        """Settings that cannot change the result (threads, data-loader workers, an equivalent device spelling)
        are left out, so a rerun with other runtime settings still resumes its checkpoint."""
        return params_digest({"task": self.task, "arch": self.arch, "net": self.net,
                              "train": result_train_settings(self.train),
                              "code": self.code, "extra": self.extra})


def _worker_ignores_sigterm(worker_id: int) -> None:
    """SLURM signals every process of a job: loader workers leave SIGTERM to the training process, which stops at
    the next batch boundary (a worker killed by it would crash the loader first)."""
    signal.signal(signal.SIGTERM, signal.SIG_IGN)


def _loader(ds, batch_size, shuffle, seed, num_workers, device):
    gen = torch.Generator()
    gen.manual_seed(seed)
    return DataLoader(ds, batch_size=batch_size, shuffle=shuffle, generator=gen, num_workers=num_workers,
                      pin_memory=device.type == "cuda", drop_last=False,
                      worker_init_fn=_worker_ignores_sigterm if num_workers else None)


def _train_loader(ds, batch_size, seed, num_workers, device, start_batch: int = 0):
    """The shuffled training batches of one epoch: a permutation drawn from ``seed`` alone (not from the global
    RNG), cut into batches; ``start_batch`` leaves out the batches an interrupted attempt already trained."""
    gen = torch.Generator()
    gen.manual_seed(seed)
    order = torch.randperm(len(ds), generator=gen).tolist()
    batches = [order[i:i + batch_size] for i in range(0, len(order), batch_size)][start_batch:]
    return DataLoader(ds, batch_sampler=batches, generator=gen, num_workers=num_workers,
                      pin_memory=device.type == "cuda", worker_init_fn=_worker_ignores_sigterm if num_workers else None)


class _StopRequest:
    """Set by SIGTERM; training looks at it at every batch boundary."""

    def __init__(self):
        self.signum: int | None = None

    def __call__(self, signum, frame):
        self.signum = signum

    def __bool__(self) -> bool:
        return self.signum is not None


@contextlib.contextmanager
def _stop_on_sigterm():
    stop = _StopRequest()
    if threading.current_thread() is not threading.main_thread():  # signals reach the main thread only
        yield stop
        return
    previous = signal.signal(signal.SIGTERM, stop)
    try:
        yield stop
    finally:
        signal.signal(signal.SIGTERM, previous)


class _StoppedAtBatch(Exception):
    """Raised by :func:`run_epoch` at a batch boundary after a stop request: ``batch`` batches of the epoch are done,
    ``sums`` holds the epoch's running sums."""

    def __init__(self, batch: int, sums: dict):
        super().__init__(batch)
        self.batch, self.sums = batch, sums


def run_epoch(model, loader, task, device, optimizer=None, scaler=None, amp=False, desc="", epoch=0,
              start_batch: int = 0, sums: dict | None = None, stop=None):
    """One pass; trains when ``optimizer`` is given. Returns mean loss and mean metrics.

    ``start_batch`` and ``sums`` continue an epoch that an earlier attempt interrupted; ``stop`` (truthy when a stop
    was requested) ends a training pass at the next batch boundary with :class:`_StoppedAtBatch`.
    """
    train = optimizer is not None
    model.train(train)
    sums = sums or {}
    totals: dict[str, float] = dict(sums.get("totals", {}))
    loss_sum, n = float(sums.get("loss_sum", 0.0)), int(sums.get("n", 0))
    # a progress bar only for a person at a terminal: in a rule's log file its carriage returns are noise (the log
    # gets one line per epoch instead, see _epoch_line)
    bar = tqdm(loader, desc=desc, leave=False, mininterval=2.0, disable=not _interactive())
    for step, (x, y) in enumerate(bar, start=start_batch):
        if train:
            log.debug("%s: batch %d started", desc, step)
        x = time_major(x.to(device, non_blocking=True))
        y = y.to(device, non_blocking=True)
        with torch.set_grad_enabled(train), torch.autocast(device.type, enabled=amp):
            out = model(x)
            loss = task.loss(out, y)
        if not torch.isfinite(loss):
            raise TrainingError(f"loss became {loss.item()} in epoch {epoch} at batch {step} ({desc}); "
                                "training stopped without writing a model (lower train.lr or check the inputs)")
        if train:
            optimizer.zero_grad(set_to_none=True)
            if scaler is not None:
                scaler.scale(loss).backward()
                scaler.step(optimizer)
                scaler.update()
            else:
                loss.backward()
                # spiking nets hide NaN weights (a NaN membrane never crosses threshold: the loss stays finite),
                # so the gradient norm is checked too
                gnorm = torch.nn.utils.clip_grad_norm_(model.parameters(), float("inf"))
                if not torch.isfinite(gnorm):
                    raise TrainingError(f"gradient norm became {gnorm.item()} in epoch {epoch} at batch {step} ({desc}); "
                                        "training stopped without writing a model (lower train.lr or check the inputs)")
                optimizer.step()
        b = y.shape[0]
        loss_sum += float(loss.detach()) * b
        n += b
        for k, v in task.batch_stats(out.detach(), y).items():
            totals[k] = totals.get(k, 0.0) + v
        bar.set_postfix(loss=f"{loss_sum / n:.4f}")
        if train and stop:
            raise _StoppedAtBatch(step + 1, {"loss_sum": loss_sum, "n": n, "totals": dict(totals)})
    if n == 0:
        return {"loss": float("nan"), **{k: float("nan") for k in task.metric_names}}
    return {"loss": loss_sum / n, **{k: task.reduce(k, v, n) for k, v in totals.items()}}


def _interactive() -> bool:
    """Whether stderr is a terminal (a person watching), not a log file or a pipe."""
    try:
        return sys.stderr.isatty()
    except (AttributeError, ValueError):
        return False


def _duration(seconds: float) -> str:
    seconds = max(0, int(round(seconds)))
    if seconds < 60:
        return f"{seconds} s"
    if seconds < 3600:
        return f"{seconds // 60} min {seconds % 60:02d} s"
    return f"{seconds // 3600} h {seconds % 3600 // 60:02d} min"


def _epoch_line(epoch: int, epochs: int, row: dict, metric_names, seconds_done: list[float]) -> str:
    """One line of the training log per epoch: losses and metrics of each split, the epoch's time and the
    estimated time left (mean epoch time so far x epochs to go) with the clock time it ends."""
    parts = []
    for split in ("train", "val", "test"):
        vals = [(k, row.get(f"{split}_{k}")) for k in ("loss", *list(metric_names)[:2])]  # the rest: metrics.csv
        vals = [f"{k} {100 * v:.2f} %" if k.endswith("acc") else f"{k} {v:.4g}"  # accuracies as percentages
                for k, v in vals if isinstance(v, (int, float)) and v == v]
        if vals:
            parts.append(f"{split} " + " ".join(vals))
    left = max(epochs - epoch - 1, 0)
    mean = sum(seconds_done) / max(len(seconds_done), 1)
    eta = left * mean
    when = time.strftime("%H:%M", time.localtime(time.time() + eta))
    tail = f"{_duration(row['seconds'])}; ETA {_duration(eta)} (about {when})" if left else \
        f"{_duration(row['seconds'])}; done"
    return f"epoch {epoch + 1}/{max(epochs, 1)}: " + " | ".join(parts) + f" | {tail}"


def _rng_state():
    return {"torch": torch.get_rng_state(), "numpy": np.random.get_state(),
            "cuda": torch.cuda.get_rng_state_all() if torch.cuda.is_available() else []}


def _set_rng_state(state):
    torch.set_rng_state(state["torch"])
    np.random.set_state(state["numpy"])
    if state.get("cuda") and torch.cuda.is_available():
        torch.cuda.set_rng_state_all(state["cuda"])


def _save_checkpoint(path: Path, payload: dict) -> None:
    with atomic_path(path) as tmp:
        torch.save(payload, tmp)


def load_checkpoint(path: str | os.PathLike) -> dict:
    """Checkpoints hold only tensors, numbers, strings and numpy RNG state: loaded with weights_only=True."""
    with torch.serialization.safe_globals([np.core.multiarray._reconstruct, np.ndarray, np.dtype,
                                           type(np.dtype("uint32")), np.random.RandomState]):
        return torch.load(path, map_location="cpu", weights_only=True)


def fit(spec: RunSpec, train_cache: str, test_cache: str, out_model: str, out_metrics: str, out_summary: str,
        checkpoint: str, tensorboard_dir: str | None = None, stop_after_epochs: int | None = None,
        init_from: dict[str, str] | None = None) -> dict:
    """Train ``spec`` on ``train_cache``; write the best-validation model, per-epoch metrics and a summary.

    ``stop_after_epochs`` ends the process early (used by tests to simulate a kill between epochs). SIGTERM during
    training writes a checkpoint at the next batch boundary and raises :class:`~evsnn.errors.TrainingInterrupted`.
    ``init_from`` (role -> ``model.pt`` of an earlier stage, ``train.init_from``) starts the model from trained
    stages through its ``load_stage`` (the hybrids: the CNN, loaded and frozen; the SNN / RNN); the files'
    digests join the run's digest, so a checkpoint made from another stage is not resumed.
    """
    if spec.train.get("init") and os.path.isfile(spec.train["init"]):  # a checkpoint made from other weights is not resumed
        from evsnn.util import file_digest

        spec.extra = {**spec.extra, "init": file_digest([spec.train["init"]])}
    if init_from:
        from evsnn.util import file_digest

        spec.extra = {**spec.extra, "init_from": {role: file_digest([path]) for role, path in sorted(init_from.items())}}
    with _stop_on_sigterm() as stop:
        return _fit(spec, train_cache, test_cache, out_model, out_metrics, out_summary, checkpoint, tensorboard_dir,
                    stop_after_epochs, stop, init_from or {})


def load_stages(model, init_from: dict[str, str]) -> None:
    """Load the trained stages ``init_from`` (role -> model.pt) into ``model`` (weights_only loads)."""
    if init_from and not hasattr(model, "load_stage"):
        raise ConfigError(f"train.init_from is set but {type(model).__name__} starts from no trained stage")
    for role, path in sorted(init_from.items()):
        model.load_stage(role, torch.load(path, map_location="cpu", weights_only=True), str(path))


def _fit(spec, train_cache, test_cache, out_model, out_metrics, out_summary, checkpoint, tensorboard_dir,
         stop_after_epochs, stop, init_from) -> dict:
    cfg = spec.train
    torch.set_num_threads(cfg.get("threads", 2))
    device = resolve_device(cfg["device"])
    amp = bool(cfg["amp"]) and device.type == "cuda"
    seed_everything(cfg["seed"])

    full = FrameCacheDataset(train_cache)
    test = FrameCacheDataset(test_cache)
    held = holdout_split(test)
    if held is not None:  # the protocol validates on flagged items of the test sequence (StereoSpike's)
        train_ds, val_ds, test = full, test.subset(held[1]), test.subset(held[0])
        log.info("validation: the %d flagged items of the test cache (train.val_fraction not used)", len(val_ds))
    else:
        try:
            tr_idx, va_idx = split_indices(full, cfg["val_fraction"], cfg["seed"],
                                           method=cfg.get("val_split", "stratified_random"))
        except ValueError as exc:
            raise ConfigError(str(exc)) from None
        train_ds, val_ds = full.subset(tr_idx), full.subset(va_idx)
    task = make_task(spec.task, cfg, full, test)   # the task package's loss / metric adapter
    n_classes = int(task.n_classes)
    in_shape = full.frame_shape[1:]
    model = build_model(spec.arch, spec.net, in_shape=in_shape, n_classes=n_classes)
    if cfg.get("init"):
        load_init(model, cfg["init"], spec.arch)
        log.info("starting from the weights of %s", cfg["init"])
    load_stages(model, init_from)
    model = model.to(device)
    if hasattr(task, "bind_model"):  # a task whose loss reads the model (the HAS hybrid's state loss)
        task.bind_model(model)
    n_params = count_parameters(model)
    opt = make_optimizer(model.parameters(), cfg)
    sched = make_scheduler(opt, cfg)
    scaler = torch.amp.GradScaler("cuda") if amp else None
    log.info("model %s (%s): %d parameters; train %d / val %d / test %d samples; device %s, amp %s",
             spec.arch, spec.task, n_params, len(train_ds), len(val_ds), len(test), device, amp)

    digest = spec.digest()
    history: list[dict] = []
    best = {"epoch": -1, "val": None, "state": None}
    start_epoch = 0
    partial = None  # an epoch an interrupted attempt stopped inside: {"epoch", "batch", "sums", "seconds"}
    ckpt_path = Path(checkpoint)
    if ckpt_path.exists():
        try:
            ck = load_checkpoint(ckpt_path)
        except Exception as exc:  # noqa: BLE001 - a corrupt checkpoint is discarded, not fatal
            log.warning("ignoring unreadable checkpoint %s (%s)", ckpt_path, exc)
            ck = None
        if ck is not None and ck.get("finished"):
            log.info("checkpoint %s is of a finished training; starting from scratch", ckpt_path)
        elif ck is not None and ck.get("digest") == digest:
            model.load_state_dict(ck["model"])
            opt.load_state_dict(ck["optimizer"])
            if sched is not None and ck.get("scheduler"):
                sched.load_state_dict(ck["scheduler"])
            if scaler is not None and ck.get("scaler"):
                scaler.load_state_dict(ck["scaler"])
            _set_rng_state(ck["rng"])
            history = list(ck["history"])
            best = {"epoch": ck["best_epoch"], "val": ck["best_val"], "state": ck["best_state"]}
            start_epoch = ck["epoch"] + 1
            partial = ck.get("partial")
            if partial:
                log.info("resuming from %s in epoch %d after batch %d", ckpt_path, partial["epoch"],
                         partial["batch"])
            else:
                log.info("resuming from %s after epoch %d", ckpt_path, ck["epoch"])
        elif ck is not None:
            log.info("checkpoint %s belongs to other settings; starting from scratch", ckpt_path)

    writer = None
    if tensorboard_dir:
        from torch.utils.tensorboard import SummaryWriter

        writer = SummaryWriter(tensorboard_dir, purge_step=start_epoch)

    sel_name = task.selection_metric
    # ties: the earliest epoch keeps the title, or (best_on_tie: last) the latest, as the PLIF code's `<=`
    if cfg.get("best_on_tie", "first") == "last":
        better = (lambda a, b: a >= b) if task.higher_is_better else (lambda a, b: a <= b)
    else:
        better = (lambda a, b: a > b) if task.higher_is_better else (lambda a, b: a < b)
    nan_row = {"loss": math.nan, **{m: math.nan for m in task.metric_names}}

    def state(epoch_done: int, **extra) -> dict:
        """The checkpoint: everything after epoch ``epoch_done`` (plus ``partial`` / ``finished``)."""
        return {
            "digest": digest, "epoch": epoch_done, "model": model.state_dict(), "optimizer": opt.state_dict(),
            "scheduler": sched.state_dict() if sched is not None else {}, "scaler": scaler.state_dict() if scaler else {},
            "rng": _rng_state(), "history": history, "best_epoch": best["epoch"], "best_val": best["val"],
            "best_state": best["state"], **extra,
        }

    epoch_seconds: list[float] = []  # of the epochs this process ran (for the ETA of the epoch lines)
    evaluate_only = cfg["epochs"] == 0  # the starting weights (train.init), evaluated once as epoch 0
    for epoch in range(start_epoch, max(cfg["epochs"], 1)):
        t0 = time.time()
        lr = opt.param_groups[0]["lr"]
        resumed = partial if partial and partial["epoch"] == epoch else {}
        partial = None
        first = int(resumed.get("batch", 0))
        try:
            if evaluate_only:
                tr, lr = nan_row, math.nan
            else:
                loader = _train_loader(train_ds, cfg["batch_size"], cfg["seed"] * 1000 + epoch, cfg["num_workers"],
                                       device, start_batch=first)
                tr = run_epoch(model, loader, task, device, opt, scaler, amp, desc=f"epoch {epoch} train",
                               epoch=epoch, start_batch=first, sums=resumed.get("sums"), stop=stop)
        except _StoppedAtBatch as at:
            seconds = float(resumed.get("seconds", 0.0)) + time.time() - t0
            _save_checkpoint(ckpt_path, state(epoch - 1, partial={"epoch": epoch, "batch": at.batch, "sums": at.sums,
                                                                   "seconds": seconds}))
            if writer is not None:
                writer.close()
            raise TrainingInterrupted(f"training stopped by signal {stop.signum} in epoch {epoch} after batch "
                                      f"{at.batch}; {ckpt_path} holds the checkpoint and a rerun resumes from it") from None
        t0 -= float(resumed.get("seconds", 0.0))
        if sched is not None and not evaluate_only:
            sched.step()
        with torch.no_grad():
            va = run_epoch(model, _loader(val_ds, cfg["batch_size"], False, 0, cfg["num_workers"], device), task,
                           device, amp=amp, desc=f"epoch {epoch} val", epoch=epoch) if len(val_ds) else nan_row
            te = run_epoch(model, _loader(test, cfg["batch_size"], False, 0, cfg["num_workers"], device), task,
                           device, amp=amp, desc=f"epoch {epoch} test", epoch=epoch)
        row = {"epoch": epoch, "lr": lr}
        for split, res in (("train", tr), ("val", va), ("test", te)):
            row[f"{split}_loss"] = res["loss"]
            for m in task.metric_names:
                row[f"{split}_{m}"] = res[m]
        row["seconds"] = time.time() - t0
        history.append(row)
        sel = va[sel_name] if len(val_ds) else (te[sel_name] if evaluate_only else tr[sel_name])
        if best["val"] is None or better(sel, best["val"]):
            best = {"epoch": epoch, "val": sel, "state": {k: v.detach().cpu().clone() for k, v in model.state_dict().items()}}
        epoch_seconds.append(row["seconds"])
        log.info("%s", _epoch_line(epoch, cfg["epochs"], row, task.metric_names, epoch_seconds))
        if writer is not None:
            for k, v in row.items():
                if k not in ("epoch", "seconds"):
                    writer.add_scalar(k.replace("_", "/", 1), v, epoch)
            writer.flush()
        _save_checkpoint(ckpt_path, state(epoch))
        if stop and epoch + 1 < cfg["epochs"]:  # the signal came during evaluation: the epoch's checkpoint is written
            if writer is not None:
                writer.close()
            raise TrainingInterrupted(f"training stopped by signal {stop.signum} after epoch {epoch}; {ckpt_path} "
                                      "holds the checkpoint and a rerun resumes from it")
        if stop_after_epochs is not None and epoch + 1 - start_epoch >= stop_after_epochs and epoch + 1 < cfg["epochs"]:
            log.info("stopping early after epoch %d as requested", epoch)
            if writer is not None:
                writer.close()
            return {"stopped_early": True, "epoch": epoch}
    if writer is not None:
        writer.close()

    best_row = history[best["epoch"]]
    pick = max if task.higher_is_better else min
    summary = {
        "arch": spec.arch, "task": spec.task, "parameters": n_params, "epochs": cfg["epochs"],
        "best_epoch": best["epoch"], "selection_metric": sel_name, f"val_{sel_name}_best": best_row[f"val_{sel_name}"],
        # for gesture: test accuracy of the validation-selected epoch (accuracy-B of the PLIF paper) and the best
        # test accuracy over training (accuracy-A)
        f"test_{sel_name}_at_best_val": best_row[f"test_{sel_name}"],
        f"test_{sel_name}_{pick.__name__}": pick(r[f"test_{sel_name}"] for r in history),
        f"test_{sel_name}_last": history[-1][f"test_{sel_name}"],
        "train_seconds": sum(r["seconds"] for r in history),
        "init": cfg.get("init"), "val_split": cfg.get("val_split", "stratified_random"),
        "n_train": len(train_ds), "n_val": len(val_ds), "n_test": len(test), "n_classes": n_classes,
        "in_shape": list(in_shape), "frames": {k: _plain(v) for k, v in full.attrs.items()},
        "device": str(device), "amp": amp, "digest": digest,
        "seed": cfg["seed"], **determinism(device),
        # runtime settings: recorded, but not part of the digest (they cannot change the trained model)
        "runtime": {k: cfg.get(k) for k in RUNTIME_TRAIN_KEYS} | {"device_setting": cfg.get("device")},
    }
    with atomic_path(out_metrics) as tmp:
        with open(tmp, "w", newline="") as fh:
            w = csv.DictWriter(fh, fieldnames=metric_fields(task))
            w.writeheader()
            w.writerows(history)
    with atomic_path(out_model) as tmp:
        torch.save({"arch": spec.arch, "task": spec.task, "task_package": get_task(spec.task).package,
                    "net": spec.net, "in_shape": list(in_shape),
                    "n_classes": n_classes, "state_dict": best["state"], "epoch": best["epoch"]}, tmp)
    write_json(out_summary, summary)
    # resuming is for attempts that did not finish: a rerun of this finished training (snakemake --forcerun)
    # starts from scratch
    _save_checkpoint(ckpt_path, state(cfg["epochs"] - 1, finished=True))
    return summary


def determinism(device) -> dict:
    """Whether a run's kernels were deterministic (same seed, same numbers), with the flags and versions behind it.

    On CPU torch's kernels are deterministic for a fixed thread count; on CUDA only with deterministic algorithms
    on, cuDNN deterministic and its autotuner off (torch.backends.cudnn.benchmark)."""
    import importlib.metadata

    flags = {"torch_deterministic_algorithms": bool(torch.are_deterministic_algorithms_enabled()),
             "cudnn_deterministic": bool(torch.backends.cudnn.deterministic),
             "cudnn_benchmark": bool(torch.backends.cudnn.benchmark)}
    cuda = torch.device(device).type == "cuda"
    ok = not cuda or (flags["torch_deterministic_algorithms"] and flags["cudnn_deterministic"]
                      and not flags["cudnn_benchmark"])
    versions = {}
    for pkg in ("torch", "numpy", "spikingjelly", "lava-dl", "evsnn"):
        try:
            versions[pkg] = importlib.metadata.version(pkg)
        except importlib.metadata.PackageNotFoundError:
            versions[pkg] = None
    if cuda:
        versions["cuda"] = torch.version.cuda
        versions["cudnn"] = torch.backends.cudnn.version()
    return {"deterministic": ok, "determinism": flags, "versions": versions}


def _plain(v):
    if hasattr(v, "item"):
        return v.item()
    if isinstance(v, bytes):
        return v.decode()
    return v


def load_model(path: str | os.PathLike, device="cpu"):
    """Rebuild a trained model from ``model.pt`` (weights_only load)."""
    blob = torch.load(path, map_location=device, weights_only=True)
    if blob.get("task_package"):  # a model of a task package named in the config (task_packages)
        register_packages([blob["task_package"]])
    model = build_model(blob["arch"], blob["net"], in_shape=tuple(blob["in_shape"]), n_classes=blob["n_classes"])
    model.load_state_dict(blob["state_dict"])
    model.eval()
    return model, blob
