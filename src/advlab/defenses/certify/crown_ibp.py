"""CROWN-IBP certified training (Zhang, Chen, Xiao, Gowal, Stanforth, Li, Boning & Hsieh, ICLR 2020,
"Towards Stable and Efficient Training of Verifiably Robust Neural Networks", arXiv:1906.06316).

The margin lower bound ``m(x, eps)`` of ``c_j^T f = f_y - f_j`` mixes two bounds (Section 3, eq. 8):

    m = beta * m_CROWN-IBP + (1 - beta) * m_IBP

- m_IBP: interval bound propagation (Gowal et al. 2018) with the specification folded into the
  last affine layers (the box at the last ReLU's output, then ``C W`` at once);
- m_CROWN-IBP: the pre-activation bounds l, u of every ReLU from interval arithmetic, and one
  CROWN backward pass (crown.py, adaptive lower slopes) from the specification C to the input.

The loss (eq. 8) is ``kappa * CE(f(x), y) + (1 - kappa) * CE(-m, y)``. Schedules (Section 4 and
Appendix C): no perturbation for the first `warmup` of training, then over the next `ramp` eps grows
linearly from 0 to eps, kappa from kappa_start (1) to kappa_end, beta from beta_start (1) to
beta_end (0); after the ramp all stay at their final values.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from advlab.defenses.certify.ball import LinfBall
from advlab.defenses.certify.crown import by_sample_blocks, lower_pass, lower_slopes
from advlab.defenses.certify.interval import interval_bounds
from advlab.defenses.certify.layers import BoundLayer
from advlab.defenses.certify.loss import certified
from advlab.defenses.certify.plan import Plan, build_plan
from advlab.defenses.certify.result import CertifiedBounds, margin_spec


def _relaxed_by_interval(
    plan: Plan, x: Tensor, ball: LinfBall
) -> tuple[list[BoundLayer], list[tuple[Tensor, Tensor]]]:
    """The plan's layers with every ReLU relaxed over its interval bounds (l, u), and those bounds."""
    relu_bounds = interval_bounds(plan, x, ball).relu_bounds  # [(l, u)] each (N, *shape)
    given = iter(relu_bounds)
    layers = [layer.bounded(*next(given)) if layer.needs_bounds else layer for layer in plan.layers]
    return layers, relu_bounds


def crown_ibp_bounds(model: nn.Module | Plan, x: Tensor, ball: LinfBall, spec: Tensor,
                     beta: float = 1.0) -> CertifiedBounds:  # fmt: skip
    """Lower bounds of ``c^T f(x + delta)`` (N, S) for spec c (N, S, outputs) (Zhang et al. 2020,
    eq. 8): ``beta * CROWN-IBP + (1 - beta) * IBP`` (module docstring); the CROWN pass is skipped
    when beta = 0 and the IBP one when beta = 1. Differentiable. `upper` of the result is
    minus the same bound of -c (both sides, so the result can be checked for soundness)."""
    plan = build_plan(model, x)
    if not 0.0 <= beta <= 1.0:
        raise ValueError(f"beta must be in [0, 1], got {beta}")
    last_relu = max((i for i, layer in enumerate(plan.layers) if layer.needs_bounds), default=-1)

    def bound(xb: Tensor, sb: Tensor | None) -> CertifiedBounds:
        assert sb is not None
        c = sb.reshape(*sb.shape[:2], *plan.out_shape)  # (n, S, *out)
        Lambda = torch.cat([c, -c], 1)  # lower bounds of c and of -c
        layers, relu_bounds = _relaxed_by_interval(plan, xb, ball)
        both = xb.new_zeros(())
        if beta > 0:  # CROWN-IBP: the backward pass over all layers to the input box
            centre, radius = ball.centre_radius(xb)
            both = both + beta * lower_pass(layers, lower_slopes(layers, "adaptive"), Lambda, centre, radius)
        if beta < 1:  # IBP with the last affine layers and C folded together
            if last_relu >= 0:
                low, up = relu_bounds[-1]
                centre, radius = layers[last_relu].interval((low + up) / 2, (up - low) / 2)
            else:
                centre, radius = ball.centre_radius(xb)
            tail = layers[last_relu + 1 :]
            both = both + (1 - beta) * lower_pass(tail, [None] * len(tail), Lambda, centre, radius)
        s = sb.shape[1]
        return CertifiedBounds(both[:, :s], -both[:, s:], relu_bounds)

    return by_sample_blocks(bound, x, spec.to(x.dtype), plan.widest * 2 * spec.shape[1])


@dataclass(frozen=True)
class CrownIbpBatchLoss:
    """``batch_loss(model, x, y, progress) -> advlab.train.BatchOutput`` of CROWN-IBP training
    (Zhang et al. 2020, eq. 8) with the paper's schedules over `progress` in [0, 1] (the
    fraction of training done, as `fit` passes it).

    eps: final radius. warmup: fraction of training with eps = 0 (natural training; kappa and
    beta at their start values). ramp: fraction of training over which eps goes linearly from 0 to
    eps, kappa from kappa_start to kappa_end, and beta from beta_start to beta_end.
    lower, upper: the input box intersected with the ball.
    Example: ``fit(net, train, test, cfg, out, batch_loss=CrownIbpBatchLoss(0.1))``.
    Metrics logged: ``robust_error`` (fraction not certified by the mixed bound), ``eps``,
    ``kappa``, ``beta``.
    """

    eps: float
    warmup: float = 0.0
    ramp: float = 0.5
    kappa_start: float = 1.0
    kappa_end: float = 0.0
    beta_start: float = 1.0
    beta_end: float = 0.0
    lower: float | None = 0.0
    upper: float | None = 1.0

    def __post_init__(self) -> None:
        if not (0.0 <= self.warmup <= 1.0 and 0.0 <= self.ramp <= 1.0 and self.warmup + self.ramp <= 1.0):
            raise ValueError(f"need warmup, ramp in [0, 1] with warmup + ramp <= 1, got {self.warmup}, {self.ramp}")
        for name in ("kappa_start", "kappa_end", "beta_start", "beta_end"):
            if not 0.0 <= getattr(self, name) <= 1.0:
                raise ValueError(f"{name} must be in [0, 1], got {getattr(self, name)}")
        LinfBall(self.eps, self.lower, self.upper)  # validates eps and the box

    def ramp_done(self, progress: float) -> float:
        """Fraction of the ramp done at `progress`: 0 during warm-up, 1 after the ramp."""
        if self.ramp == 0.0:
            return 0.0 if progress < self.warmup else 1.0
        return min(max((progress - self.warmup) / self.ramp, 0.0), 1.0)

    def schedule(self, progress: float) -> tuple[float, float, float]:
        """(eps, kappa, beta) at `progress` (Zhang et al. 2020, Section 4: linear ramps)."""
        r = self.ramp_done(progress)
        return (self.eps * r, self.kappa_start + (self.kappa_end - self.kappa_start) * r,
                self.beta_start + (self.beta_end - self.beta_start) * r)  # fmt: skip

    def __call__(self, model: nn.Module, x: Tensor, y: Tensor, progress: float) -> Any:
        from advlab.train import BatchOutput  # lazy: train imports nothing from defenses

        eps, kappa, beta = self.schedule(progress)
        logits = model(x)  # (N, K)
        natural = F.cross_entropy(logits, y)
        metrics = {"eps": torch.tensor(eps), "kappa": torch.tensor(kappa), "beta": torch.tensor(beta)}
        spec = margin_spec(y, logits.shape[1], x.dtype)  # (N, K, K): c_j = e_y - e_j
        if kappa >= 1.0 and eps == 0.0:  # warm-up: no robust term; the exact margins f_y - f_j
            m = torch.einsum("nsk,nk->ns", spec, logits.detach())
            loss = natural
        else:
            m = crown_ibp_bounds(model, x, LinfBall(eps, self.lower, self.upper), spec, beta).lower
            loss = kappa * natural + (1 - kappa) * F.cross_entropy(-m, y)  # m: (N, K)
        metrics["robust_error"] = (~certified(m.detach(), y)).to(x.dtype).mean()
        return BatchOutput(loss, logits.detach(), metrics)

    def describe(self) -> str:
        """A stable string of the settings (for cache keys and run metadata)."""
        return (f"crown-ibp(eps={self.eps},warmup={self.warmup},ramp={self.ramp},"
                f"kappa={self.kappa_start}->{self.kappa_end},beta={self.beta_start}->{self.beta_end},"
                f"box=({self.lower},{self.upper}))")  # fmt: skip
