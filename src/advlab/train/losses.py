"""The pluggable "loss on a batch" of the training loop.

`fit` calls `batch_loss(model, x, y, progress)` for every training batch, where `progress`
in [0, 1] is the fraction of training done (so that a robust loss can ramp its eps). Standard
training is `cross_entropy_loss`; adversarial training (PGD, FGSM) and certified training
(Wong-Kolter robust loss) are other callables with the same signature.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Protocol

import torch
import torch.nn.functional as F
from torch import nn


@dataclass
class BatchOutput:
    """loss: scalar to minimise; logits: (N, K) clean logits for accuracy; metrics: extra
    scalar tensors to log (e.g. robust_error, eps)."""

    loss: torch.Tensor
    logits: torch.Tensor
    metrics: dict[str, torch.Tensor] = field(default_factory=dict)


class BatchLoss(Protocol):
    def __call__(
        self, model: nn.Module, x: torch.Tensor, y: torch.Tensor, progress: float
    ) -> BatchOutput: ...


def cross_entropy_loss(model: nn.Module, x: torch.Tensor, y: torch.Tensor, progress: float) -> BatchOutput:
    """Empirical risk: mean cross-entropy of the model's logits (N, K) against labels (N,)."""
    logits = model(x)
    return BatchOutput(F.cross_entropy(logits, y), logits)
