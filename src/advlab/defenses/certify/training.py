"""Certified training (Wong & Kolter 2018, Section 4): the robust loss as the training loop's
pluggable batch loss, with eps ramped up from a small value (starting at the full eps stalls
training)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import torch
from torch import Tensor, nn

from advlab.defenses.certify.ball import LinfBall
from advlab.defenses.certify.loss import robust_loss


@dataclass(frozen=True)
class RobustBatchLoss:
    """``batch_loss(model, x, y, progress) -> advlab.train.BatchOutput`` minimising the robust
    cross-entropy of Wong & Kolter (2018, eq. 14) at the current eps.

    eps: target radius. eps_start: radius at the start of training. warmup_fraction: fraction
    of training (progress in [0, 1]) over which eps grows linearly from eps_start to eps, as in
    the authors' schedule; 0 means full eps from the first batch. projections: None (exact) or
    k Cauchy projections (Wong et al. 2018, "Scaling provable adversarial defenses").
    lower, upper: input box intersected with the ball (None: unbounded).
    Example: ``fit(net, train, test, cfg, out, batch_loss=RobustBatchLoss(0.1))``.
    Metrics logged: ``robust_error`` (fraction not certified at the current eps) and ``eps``.
    """

    eps: float
    eps_start: float = 0.001
    warmup_fraction: float = 0.5
    projections: int | None = None
    lower: float | None = 0.0
    upper: float | None = 1.0

    def __post_init__(self) -> None:
        if not 0.0 <= self.warmup_fraction <= 1.0:
            raise ValueError(f"warmup_fraction must be in [0, 1], got {self.warmup_fraction}")
        if not 0.0 <= self.eps_start <= self.eps:
            raise ValueError(f"need 0 <= eps_start ({self.eps_start}) <= eps ({self.eps})")
        LinfBall(self.eps, self.lower, self.upper)  # validates eps and the box

    def eps_at(self, progress: float) -> float:
        """Linear ramp: eps_start at progress 0, eps from progress >= warmup_fraction."""
        if self.warmup_fraction == 0.0:
            return self.eps
        ramp = min(max(progress / self.warmup_fraction, 0.0), 1.0)
        return self.eps_start + (self.eps - self.eps_start) * ramp

    def __call__(self, model: nn.Module, x: Tensor, y: Tensor, progress: float) -> Any:
        from advlab.train import BatchOutput  # lazy: train imports nothing from defenses

        eps = self.eps_at(progress)
        loss, robust_error = robust_loss(
            model, x, y, LinfBall(eps, self.lower, self.upper), self.projections
        )
        with torch.no_grad():
            logits = model(x)  # (N, K) clean logits for the loop's accuracy
        metrics = {"robust_error": robust_error, "eps": torch.tensor(eps)}
        return BatchOutput(loss, logits, metrics)

    def describe(self) -> str:
        """A stable string of the settings (for cache keys and run metadata)."""
        return (
            f"wong-kolter(eps={self.eps},eps_start={self.eps_start},warmup={self.warmup_fraction},"
            f"projections={self.projections},box=({self.lower},{self.upper}))"
        )
