"""DVS128 Gesture: the classification adapter of the shared training loop (loss and accuracy)."""
from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F

from evsnn.data import cache_n_classes


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


def adapter(train_cfg: dict, train_ds, test_ds) -> ClassificationTask:
    """The loss / metric adapter the training loop uses for a gesture model (``train.loss``: mse or
    cross_entropy)."""
    return ClassificationTask(n_classes=cache_n_classes(train_ds, test_ds), loss_name=train_cfg.get("loss") or "mse")
