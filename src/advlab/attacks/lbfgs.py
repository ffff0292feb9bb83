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

from advlab.attacks.base import (
    Attack,
    finalize,
    flat_norm,
    model_logits,
    registered,
    validate_bounds,
    validate_eps,
    validate_inputs,
    validate_positive_int,
)
from advlab.types import AttackResult, Bounds, Norm


@registered("lbfgs")
@dataclass(frozen=True)
class LBFGS(Attack):
    """Szegedy et al. 2014, Section 4.1: for each sample, the smallest-norm r found by

        minimise_r  c * ||r||_2^2 + loss_f(x + r, l)   subject to  x + r in [low, high]^D

    for a per-sample c > 0 chosen by a search (the "line search over c"): start at
    ``c_init``; on success raise c (x10 until a failure is seen, then bisect), on failure
    lower it (/10 until a success is seen, then bisect); keep the smallest successful r.
    Targeted: loss_f = cross-entropy to the target l (passed as y). Untargeted:
    loss_f = -log(1 - p_y) (see `attack_loss`).

    Choices: the squared l2 norm (smooth at r = 0, as in foolbox/Carlini-Wagner; the same
    minimiser family as |r|) the box handled by the clipping reparametrisation x + r -> clip(x + r, low, high) inside
    the objective (a coordinate pushed past the box has zero gradient and stays at the
    bound). The minimiser is `batched_lbfgs`: per-sample L-BFGS with per-sample line
    searches, batched over samples. Two alternatives were measured and dropped:
    torch.optim.LBFGS on the summed objective (its one line search couples the samples:
    73% success at c = 1e-3 on LeNet/MNIST) and a tanh change of variables (its vanishing
    derivative at the box edges froze MNIST's many 0/1 pixels): the objective is the sum of the
    per-sample objectives, which are independent, so its minimiser is the per-sample one.

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

    def __call__(
        self,
        model: nn.Module,
        x: torch.Tensor,
        y: torch.Tensor,
        *,
        generator: torch.Generator | None = None,
    ) -> AttackResult:
        validate_inputs(x, y, self.bounds)
        x = x.detach()
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
            bisect = 0.5 * (c_low + c_high)
            c = torch.where(
                torch.isinf(c_high), c * 10, torch.where(c_low == 0, c / 10, bisect)
            )
        return finalize(
            model, x, best_x, y, norm="l2", eps=None, bounds=self.bounds,
            targeted=self.targeted, steps=self.search_steps,
        )

    def _minimise(
        self, model: nn.Module, x: torch.Tensor, y: torch.Tensor, c: torch.Tensor
    ) -> torch.Tensor:
        """Minimise, per sample, c_i ||clip(x_i + r_i) - x_i||^2 + loss_i over r; returns clip(x + r*)."""
        low, high = self.bounds

        def objective(r: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
            with torch.enable_grad():
                r = r.detach().requires_grad_(True)
                x_adv = (x + r).clamp(low, high)  # (N, *S) the box by clipping
                loss = attack_loss(model(x_adv), y, self.targeted)  # (N,)
                value = c * (x_adv - x).flatten(1).pow(2).sum(1) + loss  # (N,)
                # gradient w.r.t. r only: nothing is accumulated into model parameters
                (grad,) = torch.autograd.grad(value.sum(), r)
            return value.detach(), grad

        r = batched_lbfgs(objective, torch.zeros_like(x), self.max_iter)
        return (x + r).clamp(low, high)


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


def batched_lbfgs(
    objective: Callable[[torch.Tensor], tuple[torch.Tensor, torch.Tensor]],
    r0: torch.Tensor,
    max_iter: int,
    history: int = 10,
    backtracks: int = 12,
) -> torch.Tensor:
    """N independent L-BFGS minimisations run side by side (Nocedal & Wright, Algorithm 7.4/7.5).

    objective(r) returns per-sample values (N,) and their gradients (N, *S) for r (N, *S).
    Each sample has its own curvature pairs (s, y), two-loop recursion and backtracking
    (Armijo) step length, so one sample's scale never slows another's: unlike
    torch.optim.LBFGS on the summed objective, whose single line search couples the batch.
    """
    n = r0.shape[0]
    r = r0.clone()
    value, grad = objective(r)
    pairs: list[tuple[torch.Tensor, torch.Tensor, torch.Tensor]] = []  # (s, y, rho) (N, D)x2, (N,)
    flat_shape = (n, -1)
    for _ in range(max_iter):
        g = grad.reshape(flat_shape)  # (N, D)
        # two-loop recursion, batched over samples: d = -H_k g
        q = g.clone()
        alphas = []
        for s, yv, rho in reversed(pairs):
            a = rho * (s * q).sum(1)  # (N,)
            q -= a[:, None] * yv
            alphas.append(a)
        if pairs:
            s, yv, rho = pairs[-1]
            gamma = (s * yv).sum(1) / (yv * yv).sum(1).clamp_min(1e-20)  # (N,) H_0 scale
            # no usable curvature yet: a unit-length steepest-descent step
            gamma = torch.where(rho > 0, gamma, 1.0 / g.norm(dim=1).clamp_min(1e-12))
        else:
            gamma = 1.0 / g.norm(dim=1).clamp_min(1e-12)
        z = gamma[:, None] * q
        for (s, yv, rho), a in zip(pairs, reversed(alphas), strict=True):
            b = rho * (yv * z).sum(1)
            z += s * (a - b)[:, None]
        direction = -z  # (N, D)
        slope = (g * direction).sum(1)  # (N,) directional derivative
        not_descent = slope >= 0
        direction = torch.where(not_descent[:, None], -g, direction)
        slope = torch.where(not_descent, -(g * g).sum(1), slope)

        # per-sample backtracking line search (Armijo, c1 = 1e-4)
        step = torch.ones(n, dtype=r.dtype, device=r.device)
        accepted = torch.zeros(n, dtype=torch.bool, device=r.device)
        new_r, new_value, new_grad = r.clone(), value.clone(), grad.clone()
        for _ in range(backtracks):
            trial = r + (step[:, None] * direction).view_as(r)
            trial_value, trial_grad = objective(trial)
            ok = ~accepted & (trial_value <= value + 1e-4 * step * slope)  # (N,)
            mask = ok.view(-1, *[1] * (r.ndim - 1))
            new_r = torch.where(mask, trial, new_r)
            new_grad = torch.where(mask, trial_grad, new_grad)
            new_value = torch.where(ok, trial_value, new_value)
            accepted |= ok
            if bool(accepted.all()):
                break
            step = torch.where(accepted, step, step * 0.5)
        s_new = (new_r - r).reshape(flat_shape)
        y_new = (new_grad - grad).reshape(flat_shape)
        sy = (s_new * y_new).sum(1)
        rho_new = torch.where(sy > 1e-10, 1.0 / sy.clamp_min(1e-10), torch.zeros_like(sy))
        pairs.append((s_new, y_new, rho_new))  # rho 0 makes a pair inert for that sample
        if len(pairs) > history:
            pairs.pop(0)
        r, value, grad = new_r, new_value, new_grad
        if not bool(accepted.any()):
            break  # no sample can make progress
    return r
