"""The locally linear attack of Gopalakrishnan, Marzi, Madhow & Pedarsani (2018, arXiv
1803.03880 Section 3; arXiv 1810.10625 Section IV): an l_inf attack built on a first-order
model of every logit, targeting the most promising wrong class."""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import nn

from advlab.attacks.base import Proposal, check_logits, registered
from advlab.attacks.fgsm import FGSM
from advlab.attacks.threat import clip_to_bounds


@registered("locally-linear")
@dataclass(frozen=True)
class LocallyLinear(FGSM):
    """Locally linear attack: ``x_adv = clip(x + eps * sign(w_t - w_l))`` for the best target t.

    Around x each logit is modelled as linear, z_k(x + e) ~ z_k(x) + w_k . e with the
    "equivalent weights" w_k = grad_x z_k(x). To overtake the label l with class t the best
    l_inf step is e_t = eps sign(w_t - w_l); every t != l is tried and the attack keeps the
    candidate with the largest measured margin z_t - z_l at x + e_t (the authors' rule). With
    two classes it is FGSM on the decision score. Through a sparsifying front end the
    gradients decide the variant: exact gradients give the paper's white-box attack (the
    weights projected onto the input's top-K support), the BPDA identity its semi-white-box
    one (`advlab.defenses.sparsity.with_gradient`).

    Fields as FGSM's (targeted must stay False). use_predicted_labels: attack the model's own
    prediction at x (the authors' code) instead of y; success is still judged against y.
    Cost: one forward, K input-backward passes (one per class) and one forward of K
    candidates per sample. Threat model: linf ball of radius ``eps`` around x in ``bounds``.
    Call: ``LocallyLinear(eps=0.25)(model, x (N, C, H, W), y (N,)) -> AttackResult``.
    """

    def __post_init__(self) -> None:
        super().__post_init__()
        if self.targeted:
            raise ValueError("the locally linear attack is untargeted (it picks its own target class)")

    def _run(
        self, model: nn.Module, x: torch.Tensor, y: torch.Tensor, generator: torch.Generator | None
    ) -> Proposal:
        n = x.shape[0]
        with torch.enable_grad():
            x_req = x.detach().requires_grad_(True)
            logits = model(x_req)  # (N, K)
            check_logits(logits.detach(), y)
            k = logits.shape[1]
            # (K, N, *S) equivalent weights w_k = grad_x z_k, one input-backward per class
            weights = torch.stack([
                torch.autograd.grad(logits[:, c].sum(), x_req, retain_graph=c < k - 1)[0] for c in range(k)
            ])  # fmt: skip
        labels = logits.detach().argmax(1) if self.use_predicted_labels else y  # (N,)
        rows = torch.arange(n, device=x.device)
        source = weights[labels, rows]  # (N, *S) w_l
        candidates = clip_to_bounds(x[None] + self.eps * (weights - source[None]).sign(), self.bounds)  # (K, N, *S)
        with torch.no_grad():
            scores = model(candidates.flatten(0, 1)).view(k, n, k)  # (t, N, K) logits at x + e_t
        margin = scores.diagonal(dim1=0, dim2=2).T - scores[:, rows, labels]  # (t, N): z_t - z_l
        margin[labels, rows] = -torch.inf  # the label itself is no target
        target = margin.argmax(0)  # (N,)
        x_adv = candidates[target, rows]  # (N, *S)
        return Proposal(x_adv, steps=1, logits=scores[target, rows])
