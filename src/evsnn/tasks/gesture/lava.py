"""DVS128 Gesture in Lava: which cached test samples run, and the accuracy (%) of the Lava outputs."""
from __future__ import annotations

import numpy as np
import torch


def read_extra(test_cache) -> dict | None:
    return None


def select_samples(ds, n: int, extra) -> np.ndarray:
    """``n`` samples spread evenly over the cache (all classes and recordings)."""
    pick = np.linspace(0, len(ds) - 1, min(n, len(ds))).round().astype(int)
    return np.unique(pick)


def lava_metrics(lava_out: torch.Tensor, torch_out: torch.Tensor, ds, sel, labels, extra, manifest) -> dict:
    """Accuracy (%) of the Lava and the PyTorch outputs on the same samples, and how often (%) their classes
    agree."""
    y = torch.as_tensor(labels)
    lp, tp = lava_out.argmax(1), torch_out.argmax(1)
    pct = lambda hits: round(100 * float(hits.float().mean()), 4)  # noqa: E731
    return {"metric": "acc_pct", "unit": "%", "lava": pct(lp == y), "pytorch": pct(tp == y),
            "prediction_agreement_pct": pct(lp == tp)}
