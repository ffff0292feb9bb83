"""alpha-CROWN (Xu, Zhang, Wang, Wang, Jana, Lin & Hsieh, ICLR 2021, "Fast and Complete: Enabling
Complete Neural Network Verification with Rapid and Massively Parallel Incomplete Verifiers",
arXiv:2011.13824, Section 3.1): CROWN's lower ReLU slopes alpha in [0, 1] (crown.py) are free
parameters; every alpha gives a sound bound, so they are optimised by projected gradient ascent
on the bound (Adam, as the paper), one set of alphas per specification (the bound of
specification j is a function of its own alphas only).

Here only the alphas of the final specification pass are optimised: the intermediate bounds
l, u of every ReLU are CROWN's (crown.py), not re-optimised (the paper also optimises the alphas
of intermediate layers jointly, which is tighter and costlier).
"""

from __future__ import annotations

import math

import torch
from torch import Tensor, nn

from advlab.defenses.certify.ball import LinfBall
from advlab.defenses.certify.crown import (
    Slopes,
    by_sample_blocks,
    lower_pass,
    relax,
    relu_bounds_of,
    spec_vectors,
)
from advlab.defenses.certify.dual import _blocks, _vectors_per_pass
from advlab.defenses.certify.layers import BoundLayer, ReLULayer
from advlab.defenses.certify.plan import Plan, build_plan
from advlab.defenses.certify.result import CertifiedBounds, check_spec


def graph_elements(plan: Plan) -> int:
    """Elements per sample and per specification that one differentiable backward pass keeps for
    autograd: ``[Lambda]_+``, ``[Lambda]_-`` and alpha at every ReLU, Lambda at other layers."""
    per_layer = (math.prod(layer.out_shape) * (3 if layer.needs_bounds else 1) for layer in plan.layers)
    return sum(per_layer) + math.prod(plan.in_shape)


def optimise_slopes(layers: list[BoundLayer], alphas: Slopes, Lambda: Tensor, centre: Tensor,
                    radius: Tensor, steps: int = 20, lr: float = 0.1) -> Tensor:  # fmt: skip
    """max over alpha in [0, 1] of the lower bound of ``Lambda^T z_out`` (Xu et al. 2021, eq. 4-5:
    projected gradient ascent with Adam), starting from `alphas` (N, *shape) per ReLU, with one
    alpha (N, K, *shape) per specification. Lambda: (M, K, *out_shape).

    Returns the best bound seen for every specification (N, K), without gradient; step 0 is the
    bound of the starting alphas, so the result is never looser than it.
    """
    n, k = centre.shape[0], Lambda.shape[1]
    free = [
        a.detach().unsqueeze(1).expand(n, k, *a.shape[1:]).clone().requires_grad_(True)
        if isinstance(layer, ReLULayer) and a is not None else None
        for layer, a in zip(layers, alphas, strict=True)
    ]  # fmt: skip
    params = [a for a in free if a is not None]
    optimiser = torch.optim.Adam(params, lr=lr) if params else None
    best: Tensor | None = None
    for step in range(steps + 1):
        with torch.enable_grad():
            lower = lower_pass(layers, free, Lambda, centre, radius).expand(n, k)  # (N, K)
            objective = -lower.sum()  # ascent on every bound; specifications are independent
        best = lower.detach() if best is None else torch.maximum(best, lower.detach())
        if optimiser is None or step == steps:
            break
        grads = torch.autograd.grad(objective, params)  # the model's .grad stays untouched
        for alpha, grad in zip(params, grads, strict=True):
            alpha.grad = grad
        optimiser.step()
        with torch.no_grad():
            for alpha in params:
                alpha.clamp_(0.0, 1.0)  # projection onto [0, 1]
    assert best is not None
    return best


def alpha_crown_bounds(model: nn.Module | Plan, x: Tensor, ball: LinfBall, spec: Tensor | None = None,
                       steps: int = 20, lr: float = 0.1) -> CertifiedBounds:  # fmt: skip
    """Bounds of ``c^T f(x + delta)`` over the l_inf ball by alpha-CROWN (Xu et al. 2021,
    Section 3.1): CROWN's intermediate bounds (Zhang et al. 2018), then the final lower slopes
    alpha optimised per specification (and per side: the upper bound is minus the optimised
    lower bound of -c) for `steps` Adam steps of learning rate `lr` from CROWN's adaptive slopes,
    keeping the best bound seen, so every bound is at least as tight as `crown_bounds`.

    model, x, ball, spec: as `crown_bounds`. Returns `CertifiedBounds` (N, S) (or (N, outputs)),
    without gradient. Memory: specifications go in blocks so that the autograd graph of one
    pass stays within `dual.CHUNK_ELEMENTS` elements (`graph_elements` per sample and spec).
    """
    if isinstance(steps, bool) or not isinstance(steps, int) or steps < 0:
        raise ValueError(f"steps must be an int >= 0, got {steps!r}")
    plan = build_plan(model, x)
    spec = check_spec(spec, x, plan.out_shape)
    per_vector = graph_elements(plan)

    def bound(xb: Tensor, sb: Tensor | None) -> CertifiedBounds:
        centre, radius = ball.centre_radius(xb)
        with torch.no_grad():
            layers, alphas = relax(plan, centre, radius, "adaptive")
        total, block = spec_vectors(sb, plan.out_shape, xb)
        per_pass = max(1, _vectors_per_pass(xb.shape[0], per_vector) // 2)
        lows, ups = [], []
        for start, count in _blocks(total, per_pass):
            c = block(start, count)  # (M, count, *out)
            both = optimise_slopes(layers, alphas, torch.cat([c, -c], 1), centre, radius, steps, lr)
            lows.append(both[:, :count])
            ups.append(-both[:, count:])
        return CertifiedBounds(torch.cat(lows, 1), torch.cat(ups, 1), relu_bounds_of(layers))

    with torch.no_grad():
        return by_sample_blocks(bound, x, spec, per_vector)
