"""The robust training loss of Wong & Kolter (ICML 2018, Theorem 2 / eq. 14) and the margin
certificate it is built on."""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from advlab.defenses.certify.ball import LinfBall
from advlab.defenses.certify.dual import dual_bounds
from advlab.defenses.certify.plan import Plan, build_plan
from advlab.defenses.certify.result import margin_spec


def margin_bounds(
    model: nn.Module | Plan,
    x: Tensor,
    y: Tensor,
    ball: LinfBall,
    projections: int | None = None,
    generator: torch.Generator | None = None,
    method: str = "wong",
) -> Tensor:
    """Lower bounds ``J_eps(x, c_j)`` of the margins ``c_j^T f = f_y - f_j`` over the ball for
    every class j (Wong & Kolter 2018, Section 3, ``c_j = e_y - e_j``): (N, K), entry y is 0.

    K is the plan's output size (no extra forward pass). model: nn.Sequential classifier (or its
    `Plan`) with outputs (N, K). x: (N, *in_shape). y: (N,) long labels in [0, K).
    projections / generator: as in `dual_bounds`. method: a name of `methods.METHODS` (the
    bound of c_j by that method; projections and generator belong to "wong" only).
    """
    plan = build_plan(model, x)
    if len(plan.out_shape) != 1:
        raise ValueError(f"a classifier must output (N, K) logits, this one outputs (N, *{plan.out_shape})")
    num_classes = plan.outputs
    if y.dim() != 1 or y.shape[0] != x.shape[0]:
        raise ValueError(f"y must have shape (N={x.shape[0]},), got {tuple(y.shape)}")
    if y.numel() and (int(y.min()) < 0 or int(y.max()) >= num_classes):
        raise ValueError(f"labels must be in [0, {num_classes - 1}], got [{int(y.min())}, {int(y.max())}]")
    spec = margin_spec(y, num_classes, x.dtype)  # (N, K, K)
    if method == "wong":
        return dual_bounds(plan, x, ball, spec, projections, generator).lower
    if projections is not None:
        raise ValueError(f"projections are an option of method 'wong', not {method!r}")
    from advlab.defenses.certify.methods import certified_bounds  # methods imports dual

    return certified_bounds(plan, x, ball, method, spec).lower


def certified(lower: Tensor, y: Tensor) -> Tensor:
    """(N,) bool: every margin lower bound ``J(e_y - e_j)``, j != y, of `margin_bounds` (N, K)
    is > 0, so no point of the ball changes the prediction away from y."""
    others = lower.scatter(1, y.unsqueeze(1), float("inf"))  # ignore the zero entry j = y
    return others.min(dim=1).values > 0


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
    (`margin_bounds`), the loss is ``CE(-J_eps(x, c), y)``: the cross-entropy of the negated
    margin lower bounds (entry y is 0), an upper bound on the worst-case cross-entropy in the
    ball. A sample is certified when every margin lower bound ``J(c_j)``, j != y, is > 0.

    model: nn.Sequential classifier. x: (N, *in_shape). y: (N,) long labels. projections: None
    for exact bounds or k Cauchy projections (training at scale). Returns (loss scalar,
    robust_error scalar: the fraction of samples not certified, without gradient).
    """
    lower = margin_bounds(model, x, y, ball, projections, generator)  # (N, K)
    loss = F.cross_entropy(-lower, y)  # -lower: entry y is 0, others -J(c_j)
    robust_error = (~certified(lower, y)).to(x.dtype).mean().detach()
    return loss, robust_error
