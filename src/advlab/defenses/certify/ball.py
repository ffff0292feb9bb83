"""The l_inf threat model of Wong & Kolter (ICML 2018): ``B(x, eps) = {x + delta : ||delta||_inf <= eps}``,
optionally intersected with the input box ``[lower, upper]`` (images live in [0, 1])."""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch
from torch import Tensor


@dataclass(frozen=True)
class LinfBall:
    """The l_inf ball of radius `eps` around each input, intersected with ``[lower, upper]``.

    The effective input set is the interval ``[max(x - eps, lower), min(x + eps, upper)]`` per
    pixel; the dual network sees it through its centre and radius (the input term
    ``-x^T nu_hat_1 - eps ||nu_hat_1||_1`` of Wong & Kolter 2018, eq. 7, becomes
    ``-centre^T nu_hat_1 - radius^T |nu_hat_1|``, which is the same when no box is given).

    eps: radius >= 0. lower, upper: optional scalar input bounds (for example 0.0 and 1.0).
    Example: ``LinfBall(0.1, 0.0, 1.0)``.
    """

    eps: float
    lower: float | None = None
    upper: float | None = None

    def __post_init__(self) -> None:
        if not (isinstance(self.eps, (int, float)) and math.isfinite(self.eps) and self.eps >= 0):
            raise ValueError(f"eps must be a finite number >= 0, got {self.eps!r}")
        if self.lower is not None and self.upper is not None and self.lower > self.upper:
            raise ValueError(f"lower={self.lower} must not exceed upper={self.upper}")

    def box(self, x: Tensor) -> tuple[Tensor, Tensor]:
        """Elementwise input interval (lo, hi), each shaped like x (N, *shape)."""
        lo, hi = x - self.eps, x + self.eps
        if self.lower is not None:
            if bool((x < self.lower).any()):
                raise ValueError(f"inputs below lower={self.lower}: min {float(x.min()):.4g}")
            lo = lo.clamp_min(self.lower)
        if self.upper is not None:
            if bool((x > self.upper).any()):
                raise ValueError(f"inputs above upper={self.upper}: max {float(x.max()):.4g}")
            hi = hi.clamp_max(self.upper)
        return lo, hi

    def centre_radius(self, x: Tensor) -> tuple[Tensor, Tensor]:
        """(centre, radius) of the input interval, each (N, *shape); radius >= 0."""
        lo, hi = self.box(x)
        return (lo + hi) / 2, (hi - lo) / 2

    def project(self, x: Tensor, x_adv: Tensor) -> Tensor:
        """Clip candidate points `x_adv` (N, *shape) into the set (for sampling and attacks)."""
        lo, hi = self.box(x)
        return torch.maximum(torch.minimum(x_adv, hi), lo)
