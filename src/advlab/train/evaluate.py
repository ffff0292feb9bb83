"""Classifier evaluation: accuracy, loss and per-class accuracy, batched, without side effects."""

from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn

from advlab.data.base import ImageDataset, as_tensors


@dataclass
class EvalResult:
    """accuracy and loss over the set; per_class[k] = accuracy on samples of class k
    (NaN when class k is absent); counts[k] = number of samples of class k."""

    accuracy: float
    loss: float
    per_class: list[float]
    counts: list[int]
    n: int

    @property
    def error(self) -> float:
        return 1.0 - self.accuracy


@torch.no_grad()
def predict(model: nn.Module, x: torch.Tensor, batch_size: int = 500) -> torch.Tensor:
    """Logits (N, K) of `model` on x (N, C, H, W), in batches, on the model's device."""
    device = next(model.parameters()).device
    return torch.cat([model(x[i : i + batch_size].to(device)).cpu() for i in range(0, len(x), batch_size)])


def evaluate(
    model: nn.Module,
    data: ImageDataset | tuple[torch.Tensor, torch.Tensor],
    batch_size: int = 500,
    num_classes: int | None = None,
) -> EvalResult:
    """Accuracy, mean cross-entropy and per-class accuracy of `model` on `data`.

    The model is put in eval mode for the pass and its previous mode restored afterwards."""
    x, y = data if isinstance(data, tuple) else as_tensors(data)
    if len(x) == 0:
        raise ValueError("cannot evaluate on an empty dataset")
    was_training = model.training
    model.eval()
    try:
        logits = predict(model, x, batch_size)
    finally:
        model.train(was_training)
    k = num_classes or logits.shape[1]
    correct = logits.argmax(1) == y
    counts = torch.bincount(y, minlength=k)
    hits = torch.bincount(y[correct], minlength=k)
    per_class = (hits.double() / counts.clamp(min=1).double()).tolist()
    per_class = [p if c > 0 else float("nan") for p, c in zip(per_class, counts.tolist(), strict=True)]
    return EvalResult(
        accuracy=float(correct.double().mean()),
        loss=float(F.cross_entropy(logits, y)),
        per_class=per_class,
        counts=counts.tolist(),
        n=len(y),
    )
