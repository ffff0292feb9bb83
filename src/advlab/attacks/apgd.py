"""Auto-PGD (Croce & Hein 2020, "Reliable evaluation of adversarial robustness with an ensemble of
diverse parameter-free attacks", ICML, arXiv 2003.01690): PGD with momentum and a step size that
halves at checkpoints chosen from the progress of the loss (Algorithm 1), with the cross-entropy
or the Difference-of-Logits-Ratio loss (eq. 6; targeted eq. 7).

Shapes: x (N, *S), labels (N,), logits (N, K).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Literal

import torch
import torch.nn.functional as F
from torch import nn

from advlab.attacks.base import Attack, Proposal, model_logits, registered
from advlab.attacks.threat import (
    flat_norm,
    project,
    validate_bounds,
    validate_eps,
    validate_norm,
    validate_positive_int,
)
from advlab.types import Bounds, Norm

ApgdLoss = Literal["ce", "dlr"]
# objective(logits (n, K), labels (n,), targets (n,) or None) -> (n,) loss to maximise
Objective = Callable[[torch.Tensor, torch.Tensor, torch.Tensor | None], torch.Tensor]
# goal(logits (n, K), labels (n,), targets (n,) or None) -> (n,) bool: the attack succeeded
Goal = Callable[[torch.Tensor, torch.Tensor, torch.Tensor | None], torch.Tensor]

DLR_DENOMINATOR_FLOOR = 1e-12  # as in the authors' code: avoids 0 / 0 on tied logits


# --------------------------------------------------------------------------- losses


def dlr_loss(logits: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
    """DLR(x, y) = -(z_y - max_{i != y} z_i) / (z_pi1 - z_pi3), Croce & Hein 2020, eq. (6).

    pi orders the logits decreasingly; the ratio makes the loss invariant to shifting and
    rescaling the logits. Needs K >= 3. logits (n, K), labels (n,) -> (n,).
    """
    _need_classes(logits, 3, "DLR")
    ordered = logits.sort(dim=1, descending=True).values  # (n, K)
    z_y = logits.gather(1, labels[:, None]).squeeze(1)  # (n,)
    top_is_y = logits.argmax(1) == labels
    best_other = torch.where(top_is_y, ordered[:, 1], ordered[:, 0])  # (n,) max_{i != y} z_i
    return -(z_y - best_other) / (ordered[:, 0] - ordered[:, 2] + DLR_DENOMINATOR_FLOOR)


def targeted_dlr_loss(logits: torch.Tensor, labels: torch.Tensor, targets: torch.Tensor) -> torch.Tensor:
    """Targeted DLR = -(z_y - z_t) / (z_pi1 - (z_pi3 + z_pi4) / 2), Croce & Hein 2020, eq. (7).

    Maximising it pushes z_t above z_y. Needs K >= 4. logits (n, K), labels, targets (n,) -> (n,).
    """
    _need_classes(logits, 4, "targeted DLR")
    ordered = logits.sort(dim=1, descending=True).values  # (n, K)
    z_y = logits.gather(1, labels[:, None]).squeeze(1)
    z_t = logits.gather(1, targets[:, None]).squeeze(1)
    scale = ordered[:, 0] - 0.5 * (ordered[:, 2] + ordered[:, 3]) + DLR_DENOMINATOR_FLOOR
    return -(z_y - z_t) / scale


def _need_classes(logits: torch.Tensor, k: int, name: str) -> None:
    if logits.shape[1] < k:
        raise ValueError(f"the {name} loss needs at least {k} classes, the model outputs {logits.shape[1]}")


def _other_than_targets(logits: torch.Tensor, targets: torch.Tensor) -> torch.Tensor:
    """(n,) the class with the highest logit other than the target: the class a targeted
    attack given only targets must overtake (it plays y in eq. 7)."""
    masked = logits.detach().scatter(1, targets[:, None], float("-inf"))
    return masked.argmax(1)


def objective_for(loss: ApgdLoss, mode: Literal["untargeted", "towards", "targets-only"]) -> Objective:
    """The loss APGD maximises.

    "untargeted": CE(z, y) or DLR (eq. 6). "towards" a target t with y known (APGD-T): -CE(z, t)
    or targeted DLR (eq. 7). "targets-only" (``APGD(targeted=True)``, y holds the targets):
    -CE(z, t), or eq. 7 with the highest non-target class in the role of y.
    """
    if mode == "untargeted":
        if loss == "ce":
            return lambda z, y, t: F.cross_entropy(z, y, reduction="none")
        return lambda z, y, t: dlr_loss(z, y)
    if loss == "ce":
        return lambda z, y, t: -F.cross_entropy(z, t, reduction="none")  # type: ignore[arg-type]
    if mode == "towards":
        return lambda z, y, t: targeted_dlr_loss(z, y, t)  # type: ignore[arg-type]
    return lambda z, y, t: targeted_dlr_loss(z, _other_than_targets(z, t), t)  # type: ignore[arg-type]


def misclassified(logits: torch.Tensor, labels: torch.Tensor, targets: torch.Tensor | None) -> torch.Tensor:
    """Untargeted goal (APGD, APGD-T): argmax != y. (n,) bool."""
    return logits.argmax(1) != labels


def hits_target(logits: torch.Tensor, labels: torch.Tensor, targets: torch.Tensor | None) -> torch.Tensor:
    """Targeted goal: argmax == t. (n,) bool."""
    assert targets is not None
    return logits.argmax(1) == targets


# --------------------------------------------------------------------------- the algorithm


def checkpoint_lengths(steps: int) -> tuple[int, int, int]:
    """(first window, decrease, minimal window) in iterations: the checkpoints
    p_0 = 0, p_1 = 0.22, p_{j+1} = p_j + max(p_j - p_{j-1} - 0.03, 0.06) of Algorithm 1, as
    the authors' code rounds them (``int(0.22 N)``, ``int(0.03 N)``, ``int(0.06 N)``, each >= 1)."""
    return max(int(0.22 * steps), 1), max(int(0.03 * steps), 1), max(int(0.06 * steps), 1)


def random_start(x: torch.Tensor, norm: Norm, eps: float, bounds: Bounds,
                 generator: torch.Generator | None) -> torch.Tensor:  # fmt: skip
    """The authors' random start: x + eps * t / ||t|| with t uniform in [-1, 1]^D, clipped. (N, *S)."""
    t = 2 * torch.rand(x.shape, generator=generator, device=x.device, dtype=x.dtype) - 1
    scale = eps / flat_norm(t, norm).clamp_min(1e-12)  # (N,)
    return (x + t * scale.view(-1, *[1] * (x.ndim - 1))).clamp(*bounds)


def _loss_and_gradient(model: nn.Module, x: torch.Tensor, labels: torch.Tensor, targets: torch.Tensor | None,
                       objective: Objective) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:  # fmt: skip
    """(logits (n, K), loss (n,), gradient (n, *S)) by one forward and one input backward."""
    with torch.enable_grad():
        x_req = x.detach().requires_grad_(True)
        logits = model(x_req)
        loss = objective(logits, labels, targets)
        (grad,) = torch.autograd.grad(loss.sum(), x_req)
    return logits.detach(), loss.detach(), grad


def apgd_run(model: nn.Module, x: torch.Tensor, labels: torch.Tensor, targets: torch.Tensor | None,
             x_start: torch.Tensor, *, objective: Objective, goal: Goal, norm: Norm, eps: float, steps: int,
             bounds: Bounds, rho: float = 0.75, momentum: float = 0.75,
             ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:  # fmt: skip
    """One run of Algorithm 1 of Croce & Hein 2020 from x_start (N, *S).

    Update (eq. 3): z = P(x_k + eta_k s(grad)), x_{k+1} = P(x_k + alpha (z - x_k) + (1 - alpha)
    (x_k - x_{k-1})), alpha = 0.75 (1 at the first step); s = sign (linf) or g / ||g||_2 (l2);
    P the projection onto the ball and the bounds; eta_0 = 2 eps. At each checkpoint the step of
    a sample halves, and the sample restarts from its best point, when (condition 1) its loss
    rose in fewer than rho of the iterations since the last checkpoint, or (condition 2) its
    step was not halved and its best loss did not improve at the last checkpoint.
    A sample leaves the work as soon as it reaches ``goal``; its first goal-reaching point is
    kept. Returns (x_out (N, *S): goal point, else highest-loss point; reached (N,) bool;
    iterations used (N,) long).
    """
    n, view = x.shape[0], (-1,) + (1,) * (x.ndim - 1)
    x_cur = x_start.clone()  # (N, *S) x_k
    logits, loss, grad = _loss_and_gradient(model, x_cur, labels, targets, objective)
    grad = grad.clone()  # (N, *S) written per row below: autograd may hand back an expanded tensor
    found = goal(logits, labels, targets)  # (N,) bool
    x_found = x_cur.clone()  # (N, *S) first point that reached the goal
    x_best, loss_best, grad_best = x_cur.clone(), loss.clone(), grad.clone()  # highest loss so far
    x_prev = x_cur.clone()  # (N, *S) x_{k-1}, for the momentum term
    step = torch.full((n,), 2.0 * eps, device=x.device, dtype=x.dtype)  # (N,) eta, per sample
    loss_prev = loss.clone()  # (N,) f(x_k), to count increases
    increases = torch.zeros(n, device=x.device)  # (N,) increases since the last checkpoint
    loss_best_at_check = loss_best.clone()
    halved_at_check = torch.ones(n, dtype=torch.bool, device=x.device)
    used = torch.zeros(n, dtype=torch.long, device=x.device)
    window, decrease, min_window = checkpoint_lengths(steps)
    since_check = 0
    for k in range(steps):
        idx = (~found).nonzero().squeeze(1)  # (n_active,) samples still working
        if idx.numel() == 0:
            break
        x_k, x_clean, g = x_cur[idx], x[idx], grad[idx]
        if norm == "linf":
            direction = g.sign()
        else:
            direction = g / flat_norm(g, "l2").clamp_min(1e-12).view(view)
        z = project(x_clean, x_k + step[idx].view(view) * direction, norm, eps, bounds)
        alpha = 1.0 if k == 0 else momentum
        x_next = project(x_clean, x_k + alpha * (z - x_k) + (1 - alpha) * (x_k - x_prev[idx]), norm, eps, bounds)
        x_prev[idx], x_cur[idx] = x_k, x_next
        t = None if targets is None else targets[idx]
        logits_k, loss_k, grad_k = _loss_and_gradient(model, x_next, labels[idx], t, objective)
        grad[idx] = grad_k
        used[idx] += 1
        hit = goal(logits_k, labels[idx], t)  # (n_active,)
        x_found[idx[hit]] = x_next[hit]
        found[idx[hit]] = True
        increases[idx] += (loss_k > loss_prev[idx]).float()
        loss_prev[idx] = loss_k
        better = loss_k > loss_best[idx]
        x_best[idx[better]], grad_best[idx[better]] = x_next[better], grad_k[better]
        loss_best[idx[better]] = loss_k[better]
        since_check += 1
        if since_check == window:  # a checkpoint w_j: decide per sample whether to halve
            oscillating = increases < rho * window  # condition 1
            stalled = ~halved_at_check & (loss_best_at_check >= loss_best)  # condition 2
            halve = oscillating | stalled  # (N,)
            step = torch.where(halve, step / 2, step)
            x_cur = torch.where(halve.view(view), x_best, x_cur)  # restart from the best point
            grad = torch.where(halve.view(view), grad_best, grad)
            halved_at_check, loss_best_at_check = halve, loss_best.clone()
            increases.zero_()
            since_check, window = 0, max(window - decrease, min_window)
    return torch.where(found.view(view), x_found, x_best), found, used


# --------------------------------------------------------------------------- the attacks


@dataclass(frozen=True)
class _ApgdFields(Attack):
    eps: float
    norm: Norm = "linf"
    steps: int = 100
    restarts: int = 1
    random_start: bool = True
    rho: float = 0.75
    bounds: Bounds = (0.0, 1.0)

    def _validate(self) -> None:
        validate_eps(self.eps)
        validate_norm(self.norm)
        validate_positive_int(self.steps, "steps")
        validate_positive_int(self.restarts, "restarts")
        if not 0.0 < self.rho <= 1.0:
            raise ValueError(f"rho must be in (0, 1], got {self.rho!r}")
        loss = getattr(self, "loss", "ce")
        if loss not in ("ce", "dlr"):
            raise ValueError(f"loss must be 'ce' or 'dlr', got {loss!r}")
        object.__setattr__(self, "bounds", validate_bounds(self.bounds))

    def _start(self, x: torch.Tensor, restart: int, generator: torch.Generator | None) -> torch.Tensor:
        """x itself for the first run without random start; otherwise the authors' random start."""
        if restart == 0 and not self.random_start:
            return x.clone()
        return random_start(x, self.norm, self.eps, self.bounds, generator)

    def _runs(self, model: nn.Module, x: torch.Tensor, labels: torch.Tensor, targets: torch.Tensor | None,
              todo: torch.Tensor, state: tuple[torch.Tensor, torch.Tensor, torch.Tensor], objective: Objective,
              goal: Goal, generator: torch.Generator | None) -> None:  # fmt: skip
        """``restarts`` runs, each on the samples of ``todo`` (N,) bool that are still not
        successful; updates state = (x_out (N, *S), success (N,), iterations (N,)) in place."""
        x_out, success, used = state
        for restart in range(self.restarts):
            idx = (todo & ~success).nonzero().squeeze(1)
            if idx.numel() == 0:
                return
            t = None if targets is None else targets[idx]
            x_run, hit, steps = apgd_run(
                model, x[idx], labels[idx], t, self._start(x[idx], restart, generator), objective=objective,
                goal=goal, norm=self.norm, eps=self.eps, steps=self.steps, bounds=self.bounds, rho=self.rho,
            )  # fmt: skip
            x_out[idx], used[idx] = x_run, used[idx] + steps
            success[idx] = hit


@registered("apgd")
@dataclass(frozen=True)
class APGD(_ApgdFields):
    """APGD-CE / APGD-DLR: Algorithm 1 of Croce & Hein 2020 (arXiv 2003.01690).

    Momentum 0.75, initial step 2 eps, step halving at the checkpoints of `checkpoint_lengths`
    (conditions 1 and 2 of Section 3.2), restart from the best point after halving. loss: "ce"
    or "dlr" (eq. 6). ``restarts`` runs, each on the samples the previous ones did not break.
    Only correctly classified samples are attacked. Returns, per sample, the first point that
    reaches the goal, else the highest-loss point.
    targeted: y holds targets t (success = argmax equals t); loss -CE(z, t), or eq. 7 with the
    best non-target class in the role of y. For AutoAttack's APGD-T (targets chosen among the
    top classes, success = misclassified) use `APGDT`.
    Call: ``APGD(eps=8/255)(model, x (N, C, H, W), y (N,), generator=g) -> AttackResult``.
    """

    loss: ApgdLoss = "ce"
    targeted: bool = False

    def __post_init__(self) -> None:
        self._validate()

    def _run(self, model: nn.Module, x: torch.Tensor, y: torch.Tensor, generator: torch.Generator | None) -> Proposal:
        clean = model_logits(model, x, y)  # (N, K)
        goal = hits_target if self.targeted else misclassified
        targets = y if self.targeted else None
        success = goal(clean, y, targets)  # (N,) already fooled: not attacked
        state = (x.clone(), success.clone(), torch.zeros(x.shape[0], dtype=torch.long, device=x.device))
        todo = torch.ones_like(success)
        mode: Literal["targets-only", "untargeted"] = "targets-only" if self.targeted else "untargeted"
        self._runs(model, x, y, targets, todo, state, objective_for(self.loss, mode), goal, generator)
        return Proposal(state[0], steps=state[2])


@registered("apgd-t")
@dataclass(frozen=True)
class APGDT(_ApgdFields):
    """APGD-T: targeted APGD as AutoAttack runs it (Croce & Hein 2020, Section 4).

    For each of the ``n_target_classes`` classes ranked 2nd, 3rd, ... by the clean logits, runs
    APGD with the targeted DLR loss (eq. 7; or -CE to the target with loss="ce") on the points
    still correctly classified. Untargeted in outcome: success = misclassified w.r.t. y (y holds
    true labels), like every untargeted attack. AutoAttack's standard version: 9 targets,
    100 steps, 1 restart.
    Call: ``APGDT(eps=8/255)(model, x (N, C, H, W), y (N,)) -> AttackResult``.
    """

    loss: ApgdLoss = "dlr"
    n_target_classes: int = 9

    def __post_init__(self) -> None:
        self._validate()
        validate_positive_int(self.n_target_classes, "n_target_classes")

    def _run(self, model: nn.Module, x: torch.Tensor, y: torch.Tensor, generator: torch.Generator | None) -> Proposal:
        clean = model_logits(model, x, y)  # (N, K)
        ranked = clean.argsort(dim=1, descending=True)  # (N, K) classes by clean logit
        success = misclassified(clean, y, None)
        state = (x.clone(), success.clone(), torch.zeros(x.shape[0], dtype=torch.long, device=x.device))
        objective = objective_for(self.loss, "towards")
        todo = torch.ones_like(success)
        for rank in range(1, min(self.n_target_classes, clean.shape[1] - 1) + 1):
            # robust points have their true class first, so rank >= 1 is never y
            self._runs(model, x, y, ranked[:, rank], todo, state, objective, misclassified, generator)
        return Proposal(state[0], steps=state[2])
