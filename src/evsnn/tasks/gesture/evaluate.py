"""Evaluation of trained models on the cached test split."""
from __future__ import annotations

import csv
import logging

import numpy as np
import torch
from torch.utils.data import DataLoader

from evsnn.data import FrameCacheDataset, time_major
from evsnn.train import load_model
from evsnn.util import atomic_path, write_json

log = logging.getLogger("evsnn.tasks.gesture.evaluate")


@torch.no_grad()
def predict(model, dataset, batch_size: int = 32, device: str = "cpu") -> np.ndarray:
    """Model outputs (e.g. firing rates per class) for every sample of ``dataset``, in order."""
    outs = []
    for x, _ in DataLoader(dataset, batch_size=batch_size, shuffle=False):
        outs.append(model(time_major(x.to(device))).float().cpu().numpy())
    return np.concatenate(outs) if outs else np.zeros((0,))


def confusion_matrix(y_true: np.ndarray, y_pred: np.ndarray, n_classes: int) -> np.ndarray:
    return np.bincount(y_true * n_classes + y_pred, minlength=n_classes * n_classes).reshape(n_classes, n_classes)


def classification_metrics(y_true: np.ndarray, y_pred: np.ndarray, n_classes: int) -> dict:
    cm = confusion_matrix(y_true, y_pred, n_classes)
    support = cm.sum(1)
    per_class = np.divide(np.diag(cm), support, out=np.full(n_classes, np.nan), where=support > 0)
    counts = np.bincount(y_true, minlength=n_classes)
    return {
        "accuracy": float((y_true == y_pred).mean()) if len(y_true) else float("nan"),
        "balanced_accuracy": float(np.nanmean(per_class)),
        "chance_accuracy": float(counts.max() / counts.sum()) if counts.sum() else float("nan"),
        "per_class_accuracy": per_class.tolist(),
        "support": support.tolist(),
        "confusion": cm.tolist(),
        "n_samples": int(len(y_true)),
    }


def evaluate_classifier(model_path: str, test_cache: str, out_metrics: str, out_predictions: str,
                        class_names: list[str] | None = None, threads: int = 2) -> dict:
    torch.set_num_threads(threads)
    model, blob = load_model(model_path)
    ds = FrameCacheDataset(test_cache)
    scores = predict(model, ds)
    y_pred = scores.argmax(1)
    y_true = ds.labels[ds.indices]
    n = blob["n_classes"]
    metrics = classification_metrics(y_true, y_pred, n)
    metrics["class_names"] = list(class_names) if class_names else [str(i) for i in range(n)]
    metrics["model_epoch"] = blob["epoch"]
    log.info("test accuracy %.4f on %d samples (chance %.4f)", metrics["accuracy"], len(y_true), metrics["chance_accuracy"])
    with atomic_path(out_predictions) as tmp:
        with open(tmp, "w", newline="") as fh:
            w = csv.writer(fh)
            w.writerow(["index", "trial", "label", "prediction", *[f"score_{i}" for i in range(n)]])
            for i, (t, p, s) in enumerate(zip(y_true, y_pred, scores)):
                trial = ds.trials[ds.trial[ds.indices[i]]]
                w.writerow([i, trial, int(t), int(p), *[f"{v:.5f}" for v in s]])
    write_json(out_metrics, metrics)
    return metrics


def evaluate(job) -> dict:
    """The task face's evaluate (``evsnn.tasks.EvalJob``): test metrics, predictions, the confusion matrix and the
    training curves of one gesture model."""
    import json

    from evsnn.plots import plot_confusion, plot_training_curves

    summary = json.loads(open(job.summary).read())
    # the class names of the frame cache (DVS128 Gesture's, or a labels CSV's) name the per-class accuracies too
    names = [n for n in str(summary["frames"].get("class_names", "")).split(",") if n] or None
    metrics = evaluate_classifier(job.model, job.test, job.out_metrics, job.outputs["predictions"],
                                  class_names=names, threads=job.threads)
    names = metrics["class_names"]
    plot_confusion(metrics["confusion"], names, job.outputs["confusion"],
                   title=f"{job.title}: test accuracy {100 * metrics['accuracy']:.1f} %")
    plot_training_curves(job.metrics_csv, job.outputs["curves"], title=job.title, best_epoch=summary["best_epoch"])
    if "clip_gif" in job.outputs:
        gesture_clip(job.test, job.outputs["predictions"], names, job.outputs["clip_gif"], job.outputs.get("clip"),
                     title=job.title)
    return metrics


def gesture_clip(test_cache: str, predictions_csv: str, names, gif_path, html_path=None, *, title: str = "",
                 n: int = 6) -> None:
    """A short clip of ``n`` test samples of different classes (spread over the test split) with their predicted
    classes."""
    import pandas as pd

    from evsnn.plots import plot_gesture_clip

    ds = FrameCacheDataset(test_cache)
    pred = pd.read_csv(predictions_csv)
    picks, seen = [], set()
    for i in np.linspace(0, len(pred) - 1, 4 * n).round().astype(int):  # different classes first
        if int(pred["label"].iloc[i]) not in seen:
            picks.append(int(i))
            seen.add(int(pred["label"].iloc[i]))
        if len(picks) == n:
            break
    frames = np.stack([ds[i][0].numpy() for i in picks]) if picks else np.zeros((0,))
    T, split_by = int(ds.attrs.get("T", frames.shape[1] if frames.ndim > 1 else 0)), str(ds.attrs.get("split_by", ""))
    # the cache keeps no per-step times: say what one step is (spikingjelly's split of a sample into T frames)
    step = {"number": f"each time step: 1/{T} of the sample's events (equal event counts, so its duration varies)",
            "time": f"each time step: 1/{T} of the sample's duration"}.get(split_by, f"each time step: 1 of {T}")
    plot_gesture_clip(frames, [int(pred["label"].iloc[i]) for i in picks], [int(pred["prediction"].iloc[i])
                      for i in picks], names, gif_path, html_path, title=f"{title}\n{step}" if title else step)
