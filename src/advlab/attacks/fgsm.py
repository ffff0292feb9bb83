"""Fast gradient sign method (Goodfellow, Shlens & Szegedy 2015, "Explaining and harnessing
adversarial examples", eq. 3 / Figure 1) and the minimal-eps protocol of DeepFool's Table 1."""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import ClassVar

import torch
from torch import nn

from advlab.attacks.base import Attack, Proposal, check_logits, per_sample_loss, registered
from advlab.attacks.threat import clip_to_bounds, validate_bounds, validate_eps, validate_inputs
from advlab.types import Bounds, Norm


@registered("fgsm")
@dataclass(frozen=True)
class FGSM(Attack):
    """FGSM: ``x_adv = clip(x + eps * sign(grad_x J(theta, x, y)))`` (Goodfellow et al. 2015, eq. 3).

    Threat model: linf ball of radius ``eps`` around x, intersected with ``bounds``.
    Targeted: ``x_adv = clip(x - eps * sign(grad_x J(theta, x, t)))`` with targets t passed as y.
    ``use_predicted_labels``: attack the model's own predictions instead of y, which avoids the
    "label leaking" of Kurakin et al. 2017 (untargeted only); success is still judged
    against the y passed, like every attack's.

    Args: eps (> 0), targeted, use_predicted_labels, bounds (low, high).
    Call: ``FGSM(eps=0.1)(model, x (N, C, H, W), y (N,)) -> AttackResult`` with steps = 1.
    """

    eps: float
    targeted: bool = False
    use_predicted_labels: bool = False
    bounds: Bounds = (0.0, 1.0)

    ascends_per_sample_loss: ClassVar[bool] = True

    @property
    def norm(self) -> Norm:
        """The threat model's norm (fixed for this attack)."""
        return "linf"

    def __post_init__(self) -> None:
        validate_eps(self.eps)
        object.__setattr__(self, "bounds", validate_bounds(self.bounds))
        if self.targeted and self.use_predicted_labels:
            raise ValueError("use_predicted_labels applies to untargeted FGSM only")

    def _run(
        self, model: nn.Module, x: torch.Tensor, y: torch.Tensor, generator: torch.Generator | None
    ) -> Proposal:
        direction, _, _ = fgsm_direction(
            model, x, y, targeted=self.targeted, use_predicted_labels=self.use_predicted_labels
        )
        return Proposal(x + self.eps * direction, steps=1)  # (N, *S), projected by finalize


def fgsm_direction(
    model: nn.Module,
    x: torch.Tensor,
    y: torch.Tensor,
    *,
    targeted: bool = False,
    use_predicted_labels: bool = False,
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """sign of the ascent direction (N, *S), the labels attacked (N,), and the clean logits (N, K).

    With ``use_predicted_labels`` the labels are the argmax of the same forward pass that
    gives the gradient (one forward + one input backward in all cases).
    """
    with torch.enable_grad():
        x_req = x.detach().requires_grad_(True)
        if use_predicted_labels:  # labels from the same forward pass that gives the gradient
            logits = model(x_req)  # (N, K)
            check_logits(logits.detach(), y)
            labels = logits.detach().argmax(1)
            loss = nn.functional.cross_entropy(logits, labels, reduction="sum")
        else:  # the shared objective (a model may supply its own: expectation over transformation)
            logits, losses = per_sample_loss(model, x_req, y, check=True)  # (N, K), (N,)
            labels, loss = y, losses.sum()
        (grad,) = torch.autograd.grad(loss, x_req)  # (N, *S), inputs only
    direction = -grad.sign() if targeted else grad.sign()
    return direction, labels, logits.detach()


def minimal_fgsm_eps(
    model: nn.Module,
    x: torch.Tensor,
    y: torch.Tensor,
    fraction: float = 0.9,
    *,
    bounds: Bounds = (0.0, 1.0),
    iterations: int = 20,
    batch_size: int | None = None,
) -> float:
    """Smallest FGSM eps that misclassifies ``fraction`` of (x, y): the FGSM protocol of
    Moosavi-Dezfooli et al. 2016 (DeepFool), Table 1, column [4].

    FGSM's direction sign(grad) does not depend on eps, so it is computed once; a bisection
    over eps in [0, high - low] then needs one batched forward pass per iteration. The
    misclassified fraction is treated as non-decreasing in eps (true up to rare non-monotone
    samples). Returns ``inf`` (after a full-range check) when even eps = high - low does not
    reach the fraction. x: (N, *S) in bounds, y: (N,) labels; precision (high-low) / 2**iterations.
    ``batch_size`` chunks the passes (memory), without changing the result.
    """
    bounds = validate_bounds(bounds)
    validate_inputs(x, y, bounds)
    if not 0.0 < fraction <= 1.0:
        raise ValueError(f"fraction must be in (0, 1], got {fraction!r}")
    size = batch_size or x.shape[0]
    chunks = [slice(i, i + size) for i in range(0, x.shape[0], size)]
    direction = torch.cat([fgsm_direction(model, x[c], y[c])[0] for c in chunks])  # (N, *S)

    def fooled_fraction(eps: float) -> float:
        with torch.no_grad():
            fooled = sum(
                int((model(clip_to_bounds(x[c] + eps * direction[c], bounds)).argmax(1) != y[c]).sum())
                for c in chunks
            )
        return fooled / x.shape[0]

    low, high = 0.0, bounds[1] - bounds[0]
    if fooled_fraction(low) >= fraction:
        return 0.0
    if fooled_fraction(high) < fraction:
        return math.inf
    for _ in range(iterations):
        mid = 0.5 * (low + high)
        if fooled_fraction(mid) >= fraction:
            high = mid
        else:
            low = mid
    return high
