"""The robust training loss of Wong & Kolter (ICML 2018, Theorem 2 / eq. 14)."""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from advlab.defenses.certify.ball import LinfBall
from advlab.defenses.certify.dual import dual_bounds
from advlab.defenses.certify.result import margin_spec


def robust_loss(
    model: nn.Module,
    x: Tensor,
    y: Tensor,
    ball: LinfBall,
    projections: int | None = None,
    generator: torch.Generator | None = None,
) -> tuple[Tensor, Tensor]:
    """Robust cross-entropy and certified error (Wong & Kolter 2018, Theorem 2, eq. 14).

    With ``c_j = e_y - e_j`` and J_eps(x, c) the dual lower bound of ``c^T f(x + delta)``
    (`dual_bounds`), the loss is ``CE(-J_eps(x, c), y)``: the cross-entropy of the negated margin
    lower bounds (entry y is 0), an upper bound on the worst-case cross-entropy in the ball.
    A sample is certified when every margin lower bound ``J(c_j)``, j != y, is > 0.

    model: nn.Sequential classifier. x: (N, *in_shape). y: (N,) long labels. projections: None
    for exact bounds or k Cauchy projections (training at scale). Returns (loss scalar,
    robust_error scalar: the fraction of samples not certified, without gradient).
    """
    if y.dim() != 1 or y.shape[0] != x.shape[0]:
        raise ValueError(f"y must have shape (N={x.shape[0]},), got {tuple(y.shape)}")
    num_classes = int(model(x[:1]).shape[1]) if not hasattr(model, "num_classes") else int(
        model.num_classes  # type: ignore[arg-type]
    )
    spec = margin_spec(y, num_classes, x.dtype)  # (N, K, K)
    lower = dual_bounds(model, x, ball, spec, projections, generator).lower  # (N, K)
    negated = -lower  # (N, K): entry y is 0, others -J(c_j)
    loss = F.cross_entropy(negated, y)
    others = lower.scatter(1, y.unsqueeze(1), float("inf"))  # ignore the zero entry j = y
    robust_error = (others.min(dim=1).values <= 0).to(x.dtype).mean().detach()
    return loss, robust_error
