"""Box-constrained L-BFGS attack of Szegedy et al. 2014, "Intriguing properties of neural
networks", Section 4.1: minimise c*|r| + loss_f(x + r, l) subject to x + r in the box, with a
line search over c > 0 for the minimal perturbation."""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn

from advlab.attacks.base import Attack, Proposal, model_logits, registered
from advlab.attacks.threat import flat_norm, validate_bounds, validate_eps, validate_positive_int
from advlab.types import Bounds, Norm

# Armijo's sufficient-decrease constant c1 (Nocedal & Wright, eq. 3.4).
ARMIJO = 1e-4


@registered("lbfgs")
@dataclass(frozen=True)
class LBFGS(Attack):
    """Szegedy et al. 2014, Section 4.1: for each sample, the smallest-norm r found by

        minimise_r  c * ||r||_2^2 + loss_f(x + r, l)   subject to  x + r in [low, high]^D

    for a per-sample c > 0 chosen by a search (the "line search over c"): start at
    ``c_init``; on success raise c (x10 until a failure is seen, then bisect geometrically),
    on failure lower it (/10 until a success is seen, then bisect); keep the smallest
    successful r. The largest successful c puts x + r just past the decision boundary.
    Targeted: loss_f = cross-entropy to the target l (passed as y). Untargeted:
    loss_f = -log(1 - p_y) (see `attack_loss`).

    The inner problem is solved as the paper does, by box-constrained L-BFGS (`box_lbfgs`:
    per-sample L-BFGS on the coordinates not pinned at a bound, projected onto the box, with
    per-sample line searches, batched over samples). The penalty is the squared l2 norm
    (smooth at r = 0, the same minimiser family as |r|). How close to minimal: on affine
    classifiers with 60% of the pixels at the bounds, where the minimal perturbation has a
    closed form, the defaults land 1-4% above it on average (worst sample 27%: the untargeted
    loss pulls towards the likeliest classes, not necessarily the nearest boundary); on
    LeNet and FC500-150-10 (mnist-5k, 50 test digits, 6 values of c x 15 iterations) rho_adv
    is within 5% of DeepFool's.

    Alternatives measured and dropped: clipping inside the objective (x + r -> clip(x + r),
    unconstrained r): the clamp has zero gradient at the bounds, so the pixels that sit
    exactly at 0 or 1 (82% of MNIST's) never moved and rho_adv was 0.20 against DeepFool's
    0.12 on FC500-150-10 (0.24 against 0.17 on LeNet); torch.optim.LBFGS on the summed
    objective (its one line search couples the samples: 73% success at c = 1e-3 on LeNet); a
    tanh change of variables (its vanishing derivative at the box edges freezes the same 0/1
    pixels).

    Args: c_init (> 0), search_steps (values of c tried per sample), max_iter (L-BFGS
    iterations per c), targeted, bounds.
    Call: ``LBFGS()(model, x (N, C, H, W), y (N,)) -> AttackResult`` (norm: l2; steps: number
    of c values tried; unsuccessful samples are returned unchanged).
    """

    c_init: float = 1.0
    search_steps: int = 8
    max_iter: int = 20
    targeted: bool = False
    bounds: Bounds = (0.0, 1.0)

    @property
    def norm(self) -> Norm:
        """The threat model's norm (fixed for this attack)."""
        return "l2"

    def __post_init__(self) -> None:
        validate_eps(self.c_init, "c_init")
        validate_positive_int(self.search_steps, "search_steps")
        validate_positive_int(self.max_iter, "max_iter")
        object.__setattr__(self, "bounds", validate_bounds(self.bounds))

    def _run(
        self, model: nn.Module, x: torch.Tensor, y: torch.Tensor, generator: torch.Generator | None
    ) -> Proposal:
        n = x.shape[0]
        model_logits(model, x, y)  # shape/label checks and the probabilities warning
        c = torch.full((n,), self.c_init, dtype=x.dtype, device=x.device)
        c_low = torch.zeros_like(c)  # largest c that succeeded (0: none yet)
        c_high = torch.full_like(c, math.inf)  # smallest c that failed (inf: none yet)
        best_x = x.clone()
        best_norm = torch.full_like(c, math.inf)
        for _ in range(self.search_steps):
            x_adv = self._minimise(model, x, y, c)  # (N, *S)
            with torch.no_grad():
                pred = model(x_adv).argmax(1)
            success = pred == y if self.targeted else pred != y  # (N,)
            norm = flat_norm(x_adv - x, "l2")
            improved = success & (norm < best_norm)
            best_norm = torch.where(improved, norm, best_norm)
            best_x = torch.where(improved.view(-1, *[1] * (x.ndim - 1)), x_adv, best_x)
            # success -> a larger c (smaller r) may still succeed; failure -> smaller c
            c_low = torch.where(success, torch.maximum(c_low, c), c_low)
            c_high = torch.where(success, c_high, torch.minimum(c_high, c))
            # geometric bisection: the bracket spans a factor of 10 or more and what matters
            # is the relative distance to the critical c (measured on affine classifiers with
            # 6 values of c: worst norm / minimal norm 3.0 -> 1.7 against the arithmetic mean)
            bisect = (c_low * c_high).sqrt()
            c = torch.where(
                torch.isinf(c_high), c * 10, torch.where(c_low == 0, c / 10, bisect)
            )
        return Proposal(best_x, steps=self.search_steps)

    def _minimise(
        self, model: nn.Module, x: torch.Tensor, y: torch.Tensor, c: torch.Tensor
    ) -> torch.Tensor:
        """Minimise, per sample, c_i ||r_i||^2 + loss_i(x_i + r_i) over the box; returns x + r*."""
        low, high = self.bounds

        def objective(r: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
            with torch.enable_grad():
                r = r.detach().requires_grad_(True)
                loss = attack_loss(model(x + r), y, self.targeted)  # (N,)
                value = c * r.flatten(1).pow(2).sum(1) + loss  # (N,)
                # gradient w.r.t. r only: nothing is accumulated into model parameters
                (grad,) = torch.autograd.grad(value.sum(), r)
            return value.detach(), grad

        r = box_lbfgs(objective, torch.zeros_like(x), low - x, high - x, self.max_iter)
        return (x + r).clamp(low, high)  # a no-op up to float rounding: r is feasible


def attack_loss(logits: torch.Tensor, labels: torch.Tensor, targeted: bool) -> torch.Tensor:
    """Szegedy's loss_f per sample (N,) from logits (N, K).

    Targeted: cross-entropy to the target, -log p_t. Untargeted: -log(1 - p_y), the
    cross-entropy to "any class but y", computed stably as logsumexp(z) - logsumexp(z_{j!=y}).
    Unlike -CE(y) it does not saturate when p_y rounds to 1 (its gradient -(e_y - p) would
    vanish for confidently classified samples and stall the minimisation).
    """
    if targeted:
        return F.cross_entropy(logits, labels, reduction="none")
    others = logits.scatter(1, labels[:, None], float("-inf"))  # (N, K) z with z_y removed
    return torch.logsumexp(logits, 1) - torch.logsumexp(others, 1)


def box_lbfgs(
    objective: Callable[[torch.Tensor], tuple[torch.Tensor, torch.Tensor]],
    r0: torch.Tensor,
    lower: torch.Tensor,
    upper: torch.Tensor,
    max_iter: int,
    history: int = 10,
    backtracks: int = 12,
) -> torch.Tensor:
    """N independent box-constrained L-BFGS minimisations run side by side.

    Minimises objective(r)_i subject to lower_i <= r_i <= upper_i for every sample i, where
    objective(r) returns per-sample values (N,) and their gradients (N, *S) for r (N, *S) and
    lower, upper are (N, *S). Each iteration:

    1. active set (as in L-BFGS-B, Byrd, Lu, Nocedal & Zhu 1995): a coordinate at a bound
       whose gradient points out of the box is held fixed; the others are free;
    2. direction: the L-BFGS two-loop recursion (Nocedal & Wright, Algorithm 7.4) on the free
       part of the gradient, with that sample's own curvature pairs (s, y);
    3. step: backtracking along the projected path P(r + t d), accepting the first t with the
       projected Armijo decrease f(P(r + t d)) <= f(r) + c1 g.(P(r + t d) - r) (Bertsekas 1982).

    Every sample has its own pairs, scaling and step length, so one sample's scale never
    slows another's (torch.optim.LBFGS on the summed objective couples them in one line
    search). Iterates stay feasible, so the objective never sees a point outside the box.
    Returns the final r (N, *S).
    """
    n = r0.shape[0]
    flat = (n, -1)
    lower, upper = lower.reshape(flat), upper.reshape(flat)  # (N, D)
    r = torch.clamp(r0.reshape(flat), lower, upper)  # (N, D) feasible start
    value, grad = objective(r.view_as(r0))  # (N,), (N, *S)
    grad = grad.reshape(flat)
    pairs: list[tuple[torch.Tensor, torch.Tensor, torch.Tensor]] = []  # (s, y, rho): (N, D)x2, (N,)
    for _ in range(max_iter):
        # 1. free coordinates (N, D): not pinned at a bound by an outward-pointing gradient
        free = ~(((r <= lower) & (grad > 0)) | ((r >= upper) & (grad < 0)))
        g = grad * free  # (N, D)
        # 2. two-loop recursion, batched over samples: d = -H g on the free coordinates
        q = g.clone()
        alphas = []
        for s, yv, rho in reversed(pairs):
            a = rho * (s * q).sum(1)  # (N,)
            q -= a[:, None] * yv
            alphas.append(a)
        unit = 1.0 / g.norm(dim=1).clamp_min(1e-12)  # (N,) H_0 scale of a unit-length step
        if pairs:
            s, yv, rho = pairs[-1]
            gamma = (s * yv).sum(1) / (yv * yv).sum(1).clamp_min(1e-20)  # (N,) H_0 scale
            gamma = torch.where(rho > 0, gamma, unit)  # no usable curvature: steepest descent
        else:
            gamma = unit
        z = gamma[:, None] * q
        for (s, yv, rho), a in zip(pairs, reversed(alphas), strict=True):
            b = rho * (yv * z).sum(1)
            z += s * (a - b)[:, None]
        direction = -z * free  # (N, D)
        not_descent = (g * direction).sum(1) >= 0  # (N,) stale curvature: fall back to -g
        direction = torch.where(not_descent[:, None], -g, direction)

        # 3. per-sample backtracking along the projected path (projected Armijo)
        step = torch.ones(n, dtype=r.dtype, device=r.device)
        accepted = torch.zeros(n, dtype=torch.bool, device=r.device)
        new_r, new_value, new_grad = r, value, grad
        for _ in range(backtracks):
            trial = torch.clamp(r + step[:, None] * direction, lower, upper)  # (N, D)
            trial_value, trial_grad = objective(trial.view_as(r0))
            predicted = ((grad * (trial - r)).sum(1)).clamp(max=0.0)  # (N,) first-order change
            ok = ~accepted & (trial_value <= value + ARMIJO * predicted)  # (N,)
            new_r = torch.where(ok[:, None], trial, new_r)
            new_grad = torch.where(ok[:, None], trial_grad.reshape(flat), new_grad)
            new_value = torch.where(ok, trial_value, new_value)
            accepted |= ok
            if bool(accepted.all()):
                break
            step = torch.where(accepted, step, step * 0.5)
        s_new = new_r - r  # (N, D), 0 on fixed coordinates and for rejected samples
        y_new = (new_grad - grad) * free  # curvature seen by the free coordinates
        sy = (s_new * y_new).sum(1)
        rho_new = torch.where(sy > 1e-10, 1.0 / sy.clamp_min(1e-10), torch.zeros_like(sy))
        pairs.append((s_new, y_new, rho_new))  # rho 0 makes a pair inert for that sample
        if len(pairs) > history:
            pairs.pop(0)
        r, value, grad = new_r, new_value, new_grad
        if not bool(accepted.any()):
            break  # no sample can make progress
    return r.view_as(r0)
