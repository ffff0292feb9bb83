"""Projected gradient descent: iterative FGSM (Kurakin et al. 2017) and Madry et al. 2018's PGD
("Towards deep learning models resistant to adversarial attacks", eq. 2.1 and Section 2.1)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

import torch
from torch import nn

from advlab.attacks.base import (
    Attack,
    Proposal,
    check_logits,
    loss_gradient,
    per_sample_loss,
    registered,
)
from advlab.attacks.threat import (
    flat_norm,
    linf_box,
    project,
    random_in_ball,
    validate_bounds,
    validate_eps,
    validate_norm,
    validate_positive_int,
)
from advlab.types import Bounds, Norm


@registered("pgd")
@dataclass(frozen=True)
class PGD(Attack):
    """PGD: ``x_{t+1} = Proj_{B(x, eps) ∩ box}(x_t + alpha * s(grad_x L(x_t, y)))``.

    Madry et al. 2018, eq. (2.1). s = sign for linf (iterative FGSM), s(g) = g / ||g||_2 for
    l2. Random start: x_0 uniform in the eps-ball (Madry et al.); otherwise x_0 = x.
    ``restarts`` independent runs keep, per sample, the best one: a successful run beats an
    unsuccessful one, ties are broken by the higher attack loss. Targeted: descends the
    cross-entropy to the targets passed as y.

    Args: eps (> 0), step_size alpha (default 2.5 * eps / steps, Madry et al.), steps,
    norm ("linf" | "l2"), random_start, restarts, targeted, bounds.
    Call: ``PGD(eps=0.3)(model, x (N, C, H, W), y (N,), generator=g) -> AttackResult``.
    """

    eps: float
    step_size: float | None = None
    steps: int = 40
    norm: Norm = "linf"
    random_start: bool = True
    restarts: int = 1
    targeted: bool = False
    bounds: Bounds = (0.0, 1.0)

    ascends_per_sample_loss: ClassVar[bool] = True

    def __post_init__(self) -> None:
        validate_eps(self.eps)
        if self.step_size is not None:
            validate_eps(self.step_size, "step_size")
        validate_positive_int(self.steps, "steps")
        validate_positive_int(self.restarts, "restarts")
        validate_norm(self.norm)
        object.__setattr__(self, "bounds", validate_bounds(self.bounds))

    @property
    def alpha(self) -> float:
        """The step size actually used."""
        return self.step_size if self.step_size is not None else 2.5 * self.eps / self.steps

    def _run(
        self, model: nn.Module, x: torch.Tensor, y: torch.Tensor, generator: torch.Generator | None
    ) -> Proposal:
        best: tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor] | None = None
        for restart in range(self.restarts):
            x_adv, logits, loss = self._run_once(model, x, y, generator, check=restart == 0)
            success = logits.argmax(1) == y if self.targeted else logits.argmax(1) != y
            if best is None:
                best = (x_adv, logits, loss, success)
                continue
            b_x, b_logits, b_loss, b_success = best
            # (N,) this restart wins: success beats failure, then the higher attack loss
            better = (success & ~b_success) | ((success == b_success) & (loss > b_loss))
            mask = better.view(-1, *[1] * (x.ndim - 1))
            best = (
                torch.where(mask, x_adv, b_x),
                torch.where(better[:, None], logits, b_logits),
                torch.where(better, loss, b_loss),
                success | b_success,
            )
        assert best is not None
        return Proposal(best[0], steps=self.steps * self.restarts, logits=best[1])

    def _run_once(
        self,
        model: nn.Module,
        x: torch.Tensor,
        y: torch.Tensor,
        generator: torch.Generator | None,
        check: bool,
    ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """One PGD run: final iterate (N, *S), its logits (N, K) and attack loss (N,).

        Cost: ``steps`` forward + input-backward passes, then one forward at the final iterate
        (its success and loss decide between restarts; `finalize` reuses these logits because
        the iterate is already feasible). The update works in place on the iterate and the
        fresh gradient: for linf, sign, add and one clamp between the precomputed corners of
        the feasible box, i.e. three elementwise passes and no allocation per step.
        """
        alpha = self.alpha
        if self.norm == "linf":
            lower, upper = linf_box(x, self.eps, self.bounds)  # (N, *S) the feasible box
        if self.random_start:
            x_adv = project(x, x + random_in_ball(x, self.norm, self.eps, generator),
                            self.norm, self.eps, self.bounds)  # fmt: skip
        else:
            x_adv = x.clone()  # updated in place below: x itself is never written
        for step in range(self.steps):
            # direction: (N, *S), a fresh tensor owned here (the graph is freed)
            direction, logits, _ = loss_gradient(model, x_adv, y, self.targeted)
            if check and step == 0:
                check_logits(logits, y)
            if self.norm == "linf":
                x_adv.add_(direction.sign_(), alpha=alpha).clamp_(lower, upper)
            else:
                length = flat_norm(direction, "l2").clamp_min(1e-12)  # (N,)
                x_adv.add_(direction.div_(length.view(-1, *[1] * (x.ndim - 1))), alpha=alpha)
                x_adv = project(x, x_adv, self.norm, self.eps, self.bounds)
        with torch.no_grad():
            logits, loss = per_sample_loss(model, x_adv, y)  # (N, K), (N,) at the final iterate
        return x_adv, logits, (-loss if self.targeted else loss)
