"""Task adapters: what the shared training / evaluation loop needs to know about a task.

A task turns a model output and a target into a loss and metrics, names the metric used for model
selection and whether larger is better. Classification (DVS128 Gesture) is the first; pose and depth add
their own adapters without touching the loop.
"""
from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F


@dataclass
class ClassificationTask:
    n_classes: int
    loss_name: str = "mse"
    selection_metric: str = "acc"
    higher_is_better: bool = True
    metric_names: tuple = ("acc",)

    def loss(self, out: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        if self.loss_name == "mse":
            # spikingjelly/PLIF convention: MSE between output firing rates and one-hot labels
            return F.mse_loss(out.float(), F.one_hot(y, self.n_classes).float())
        if self.loss_name == "cross_entropy":
            return F.cross_entropy(out.float(), y)
        raise ValueError(f"loss must be 'mse' or 'cross_entropy', not {self.loss_name!r}")

    def batch_stats(self, out: torch.Tensor, y: torch.Tensor) -> dict[str, float]:
        """Sums over the batch (averaged by the loop over the number of samples)."""
        return {"acc": float((out.argmax(1) == y).sum())}

    def reduce(self, name: str, total: float, n: int) -> float:
        """Turn a summed batch statistic into the epoch value."""
        return total / n


def make_task(task: str, n_classes: int | None = None, loss: str = "mse"):
    if task == "gesture":
        return ClassificationTask(n_classes=n_classes or 11, loss_name=loss)
    raise ValueError(f"unknown task {task!r}")
