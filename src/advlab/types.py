"""Value types shared across advlab: input bounds, norms and the result of an attack."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

import torch

Bounds = tuple[float, float]
"""Valid input range (low, high) of every pixel; images are in [0, 1] by default."""

Norm = Literal["linf", "l2"]
NORMS: tuple[str, ...] = ("linf", "l2")


@dataclass(frozen=True)
class AttackResult:
    """What every attack returns, for a batch of N inputs.

    x_adv:   (N, C, H, W) adversarial inputs, inside the threat model and the bounds.
    success: (N,) bool, the attack's goal is reached (misclassified; target hit if targeted).
    norm:    (N,) perturbation norm ||x_adv - x|| in the attack's norm.
    steps:   (N,) int, iterations each sample used (1 for single-step attacks).
    logits:  (N, K) model output at x_adv (saves the caller a forward pass).
    params:  (N, P) per-sample parameters of the threat model's choice: the transformation
             that produced x_adv (spatial attacks: angle degrees, dx, dy pixels), the 0 / 1
             mask the perturbation is confined to (RP2: H * W), None for lp attacks.

    ``success`` means the same for every attack: the prediction at x_adv differs from the
    ``y`` passed to the attack (targeted: equals it), whatever the attack stopped on.
    """

    x_adv: torch.Tensor
    success: torch.Tensor
    norm: torch.Tensor
    steps: torch.Tensor
    logits: torch.Tensor
    params: torch.Tensor | None = None

    @property
    def success_rate(self) -> float:
        return float(self.success.float().mean().item()) if self.success.numel() else 0.0
