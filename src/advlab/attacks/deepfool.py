"""DeepFool (Moosavi-Dezfooli, Fawzi & Frossard 2016, "DeepFool: a simple and accurate method to
fool deep neural networks"), Algorithm 2 (multi-class), for the l2 and linf norms (Section 3.3)."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass

import torch
from torch import nn

from advlab.attacks.base import Attack, Proposal, check_logits, registered
from advlab.attacks.threat import (
    clip_to_bounds,
    validate_bounds,
    validate_norm,
    validate_positive_int,
)
from advlab.types import Bounds, Norm

# Added to the step length as in the authors' code (r_i = (pert + 1e-4) * w / ||w||): makes
# the linearised step land strictly beyond the boundary instead of on it.
STEP_SLACK = 1e-4
# Guards the divisions by ||w'_k|| when a gradient difference vanishes.
NORM_FLOOR = 1e-8
# Up to this many (active samples x candidate classes) rows, the candidate gradients come from
# one forward and one backward pass of the inputs replicated once per candidate instead of
# K-1 vector-Jacobian products through the step's forward graph: a handful of samples leaves
# the per-call overhead of K-1 backward calls dominant (about 2.5x slower on LeNet at 1
# sample, 10 candidates), while large batches are cheaper with the K-1 products.
REPLICATED_ROWS = 64


@registered("deepfool")
@dataclass(frozen=True)
class DeepFool(Attack):
    """DeepFool, Algorithm 2 of Moosavi-Dezfooli et al. 2016 (multi-class case).

    Starting from x_0 = x with predicted class k0 = argmax f(x_0), each step linearises the
    classifier at x_i and moves to the nearest linearised boundary among the candidate classes:

        w'_k = grad f_k(x_i) - grad f_k0(x_i),   f'_k = f_k(x_i) - f_k0(x_i)
        l = argmin_k |f'_k| / ||w'_k||_q
        r_i = (|f'_l| / ||w'_l||_q + 1e-4) * u(w'_l),   u(w) = w / ||w||_2 (l2) or sign(w) (linf)

    (q = 2 for l2, q = 1 for linf, eq. 8-9 with p = inf). As in the authors' code the
    overshoot multiplies the accumulated perturbation: x_{i+1} = clip(x_0 + (1 + overshoot) *
    sum_j r_j). A sample stops at the first i where argmax f(x_i) != k0, as in Algorithm 2;
    ``success`` is judged against the y passed, like every attack's (so an input already
    misclassified that DeepFool pushes into class y is not a success). Candidate classes are
    the ``candidates`` largest logits at x_0 (k0 included).

    Batched: every step takes one forward pass of the still-active samples and K-1 input-space
    vector-Jacobian products (one per candidate class, reusing the forward graph); samples that
    have crossed leave the active set, and the graph is rebuilt for the survivors whenever
    that is cheaper than backpropagating through the finished ones.

    Args: steps (max iterations), overshoot, candidates (>= 2), norm ("l2" | "linf"), bounds.
    Call: ``DeepFool()(model, x (N, C, H, W), y (N,)) -> AttackResult`` (steps = iterations
    used per sample; norm = ||x_adv - x|| in ``norm``).
    """

    steps: int = 50
    overshoot: float = 0.02
    candidates: int = 10
    norm: Norm = "l2"
    bounds: Bounds = (0.0, 1.0)

    def __post_init__(self) -> None:
        validate_positive_int(self.steps, "steps")
        validate_norm(self.norm)
        if isinstance(self.candidates, bool) or not isinstance(self.candidates, int) or self.candidates < 2:
            raise ValueError(f"candidates must be an integer >= 2, got {self.candidates!r}")
        if not (isinstance(self.overshoot, int | float) and 0 <= self.overshoot < float("inf")):
            raise ValueError(f"overshoot must be a finite number >= 0, got {self.overshoot!r}")
        object.__setattr__(self, "bounds", validate_bounds(self.bounds))

    def _run(
        self, model: nn.Module, x: torch.Tensor, y: torch.Tensor, generator: torch.Generator | None
    ) -> Proposal:
        n = x.shape[0]

        with torch.enable_grad():
            x_active = x.clone().requires_grad_(True)
            out = model(x_active)  # (N, K) graph for the first step
        check_logits(out.detach(), y)
        num_candidates = min(self.candidates, out.shape[1])
        # (N, Kc) candidate classes, largest logit first; column 0 is the predicted class k0
        classes = out.detach().topk(num_candidates, dim=1).indices
        k0 = classes[:, 0]

        active = torch.arange(n, device=x.device)  # indices of samples not yet adversarial
        r_total = torch.zeros_like(x)  # (N, *S) accumulated sum_i r_i
        x_current = x.clone()  # (N, *S) current iterate x_i of every sample
        logits = out.detach().clone()  # (N, K) logits at each sample's current iterate
        steps = torch.zeros(n, dtype=torch.long, device=x.device)

        for step in range(self.steps + 1):
            logits[active] = out.detach()
            still = out.detach().argmax(1) == k0[active]  # (n_active,) not yet crossed
            if step == self.steps or not bool(still.any()):
                break
            if not bool(still.all()):
                finished = int((~still).sum())
                kept = still.nonzero().squeeze(1)
                active = active[kept]
                # Backpropagating K-1 times through finished rows costs ~ (K-1) * finished
                # backward rows; a fresh forward of the survivors costs ~ len(kept) rows.
                if finished * (num_candidates - 1) > kept.numel():
                    with torch.enable_grad():
                        x_active = x_current[active].requires_grad_(True)
                        out = model(x_active)
                    kept = None  # graph now holds exactly the active rows
            else:
                kept = None
            r_step = self._step(model, out, x_active, classes[active], kept)  # (n_active, *S)
            r_total[active] += r_step
            # overshoot on the accumulated perturbation, as in the authors' code
            x_current[active] = clip_to_bounds(
                x[active] + (1.0 + self.overshoot) * r_total[active], self.bounds
            )
            steps[active] += 1
            with torch.enable_grad():
                x_active = x_current[active].requires_grad_(True)
                out = model(x_active)  # (n_active, K) at x_{i+1}

        return Proposal(x_current, steps=steps, logits=logits)

    def _step(
        self,
        model: nn.Module,
        out: torch.Tensor,
        x_active: torch.Tensor,
        classes: torch.Tensor,
        kept: torch.Tensor | None,
    ) -> torch.Tensor:
        """r_i for the active samples (Algorithm 2, lines 6-11).

        out: (m, K) logits whose graph leads to x_active (m, *S); classes: (n, Kc) candidate
        classes of the n active samples; kept: (n,) rows of the graph that are active, or None
        when all m rows are. Returns (n, *S).
        """
        rows = torch.arange(out.shape[0], device=out.device)
        if kept is None:
            kept = rows
        num_candidates = classes.shape[1]
        k0 = classes[:, 0]
        f = out.detach()[kept]  # (n, K)
        best_dist = torch.full((kept.numel(),), float("inf"), device=out.device, dtype=out.dtype)
        best_w: torch.Tensor | None = None
        best_wnorm: torch.Tensor | None = None
        differences: Iterator[torch.Tensor]
        if kept.numel() * num_candidates <= REPLICATED_ROWS:
            grads = class_gradients(model, x_active.detach()[kept], classes)  # (n, Kc, *S)
            differences = (grads[:, j] - grads[:, 0] for j in range(1, num_candidates))
        else:
            differences = _logit_difference_gradients(out, x_active, classes, kept)
        for j, w in enumerate(differences, start=1):  # w: (n, *S) w'_k, k = classes[:, j]
            k = classes[:, j]  # (n,)
            f_diff = f.gather(1, k[:, None]).squeeze(1) - f.gather(1, k0[:, None]).squeeze(1)
            flat = w.flatten(1)
            w_norm = flat.norm(dim=1) if self.norm == "l2" else flat.abs().sum(dim=1)  # (n,)
            dist = f_diff.abs() / (w_norm + NORM_FLOOR)  # (n,) distance to boundary k
            if best_w is None:
                best_dist, best_w, best_wnorm = dist, w, w_norm
                continue
            assert best_wnorm is not None
            closer = dist < best_dist  # (n,)
            best_dist = torch.where(closer, dist, best_dist)
            best_wnorm = torch.where(closer, w_norm, best_wnorm)
            best_w = torch.where(closer.view(-1, *[1] * (w.ndim - 1)), w, best_w)
        assert best_w is not None and best_wnorm is not None
        scale = (best_dist + STEP_SLACK).view(-1, *[1] * (best_w.ndim - 1))
        if self.norm == "l2":
            l2 = best_w.flatten(1).norm(dim=1).view_as(scale)
            return scale * best_w / (l2 + NORM_FLOOR)
        return scale * best_w.sign()


def class_gradients(model: nn.Module, x: torch.Tensor, classes: torch.Tensor) -> torch.Tensor:
    """grad_x f_k(x) for every class k in classes[i] of every sample x[i]: (n, Kc, *S).

    One forward and one backward pass of the inputs x (n, *S) replicated Kc times (row
    (i, j) back-propagates only the logit classes[i, j]); gradients flow to the inputs only.
    """
    n, num_candidates = classes.shape
    with torch.enable_grad():
        replicated = x.repeat_interleave(num_candidates, dim=0).requires_grad_(True)  # (n*Kc, *S)
        logits = model(replicated)  # (n*Kc, K)
        chosen = logits.gather(1, classes.reshape(-1, 1)).sum()
        (grads,) = torch.autograd.grad(chosen, replicated)
    return grads.view(n, num_candidates, *x.shape[1:])


def _logit_difference_gradients(
    out: torch.Tensor, x_active: torch.Tensor, classes: torch.Tensor, kept: torch.Tensor
) -> Iterator[torch.Tensor]:
    """grad (f_k - f_k0) for k = classes[:, 1], classes[:, 2], ...: one (n, *S) tensor per
    candidate, each from one vector-Jacobian product through the forward graph of ``out``
    (m, K) -> ``x_active`` (m, *S); rows outside ``kept`` (n,) get a zero cotangent."""
    num_candidates = classes.shape[1]
    k0 = classes[:, 0]
    cotangent = torch.zeros_like(out)  # (m, K) rows of finished samples stay 0
    for j in range(1, num_candidates):
        # v = e_k - e_k0 per row: grad of f_k - f_k0 by one vector-Jacobian product
        cotangent.zero_()
        cotangent[kept, classes[:, j]] = 1.0
        cotangent[kept, k0] = -1.0
        (w,) = torch.autograd.grad(out, x_active, cotangent, retain_graph=j < num_candidates - 1)
        yield w[kept] if kept.numel() != out.shape[0] else w
