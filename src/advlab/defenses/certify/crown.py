"""CROWN (Zhang, Weng, Chen, Hsieh & Daniel, NeurIPS 2018, "Efficient Neural Network Robustness
Certification with General Activation Functions", arXiv:1811.00866) and its special case Fast-Lin
(Weng et al. 2018), on the layers of the bound plan (plan.py, layers.py).

Each unstable ReLU (l < 0 < u) is bounded by two lines (CROWN, Section 3.2 and Table 1):

    alpha z_hat  <=  z  <=  d (z_hat - l),     d = u / (u - l),  alpha in [0, 1]

(z = 0 on I-, z = z_hat on I+). The upper line is Wong & Kolter's (layers.py keeps ``d`` and
``t = d l``); the lower slope alpha is chosen by a rule:

- ``"adaptive"`` (CROWN): alpha = 1 if u >= -l else 0, the line of least area;
- ``"fast-lin"``: alpha = d, the parallel lines of Fast-Lin, whose bound equals the
  Wong-Kolter dual bound J(c) (`dual_bounds`) (Wong & Kolter 2018, Section 3; CROWN, Sec. 3.3).

A lower bound of ``Lambda^T z_k`` is found by substituting those lines backwards (CROWN,
Theorem 3.2, eq. 5-7 with the paper's Omega for the lower bound): through an affine layer
``Lambda <- W^T Lambda`` collecting ``Lambda^T b``; through a ReLU a positive entry of Lambda
takes the lower line and a negative one the upper line,

    Lambda_in = [Lambda]_+ alpha + [Lambda]_- d,     bias += [Lambda]_-^T (-t),

and at the input box (centre x, radius r) ``Lambda^T x - |Lambda|^T r``. An upper bound is minus
the lower bound of ``-Lambda``. The pre-activation bounds l, u of every ReLU come from CROWN
itself, layer by layer (Section 3.2: each layer's bounds with the earlier layers relaxed), or
from interval arithmetic (CROWN-IBP, crown_ibp.py).

Speed: the bounds of a layer whose earlier layers are all convolutions, per-channel affine maps
and ReLUs (the conv part of a CNN) are computed on each unit's receptive field (patches.py, as
auto_LiRPA's patches mode), which gives the same numbers as the full pass; on wong-small the
1568 units of the second convolution dominated the full pass (CROWN at batch 20: 10.7 s, 2.6x
auto_LiRPA; windowed: ~0.4x auto_LiRPA, benchmarks/bench_certify_methods.py). No unit is
skipped: every unit's l, u is CROWN's own (auto_LiRPA back-substitutes for the units that its
reference interval bounds call unstable only and takes the rest from those interval bounds: a
unit that the interval calls stable but CROWN does not then gets another relaxation, so its
bounds can differ from CROWN's definition, tighter). The dual network's forward mode
(dual.py: all units from the input pixels at once) does not carry over: with alpha != d a
unit's backward map depends on the signs of its own Lambda, so it is not one linear map.

Memory: as dual.py, samples, units and specifications go in blocks so that no tensor created
here holds more than `dual.CHUNK_ELEMENTS` elements (dual.py's block helpers are reused).
"""

from __future__ import annotations

import math
from collections.abc import Callable

import torch
from torch import Tensor, nn

from advlab.defenses.certify import patches
from advlab.defenses.certify.ball import LinfBall
from advlab.defenses.certify.dual import (
    CHUNK_ELEMENTS,
    _basis,
    _blocks,
    _closed_form_block,
    _dot,
    _vectors_per_pass,
)
from advlab.defenses.certify.layers import BoundLayer, ReLULayer
from advlab.defenses.certify.plan import Plan, build_plan
from advlab.defenses.certify.result import CertifiedBounds, check_spec

PATCHES = "auto"
"""Intermediate bounds of a convolutional layer on receptive-field windows (patches.py):
"auto" when the windows are smaller than the activations, "always" where possible, "never"."""

Slopes = list[Tensor | None]
"""Lower slopes alpha per layer of a relaxed network: (N, *shape) or, per specification,
(N, K, *shape) on a ReLU; None on every other layer."""


def _adaptive(relu: ReLULayer) -> Tensor:
    """CROWN's adaptive lower slope (Zhang et al. 2018, Section 3.2): on I, 1 if u >= -l else 0."""
    assert relu.lower is not None and relu.upper is not None
    steep = (relu.upper >= -relu.lower).to(relu.d.dtype)
    return torch.where(relu.i_mixed, steep, relu.d)  # (N, *shape); d is 0 on I-, 1 on I+


def _fast_lin(relu: ReLULayer) -> Tensor:
    """Fast-Lin's lower slope (Weng et al. 2018): alpha = d = u / (u - l), parallel to the upper line."""
    return relu.d


SLOPE_RULES: dict[str, Callable[[ReLULayer], Tensor]] = {"adaptive": _adaptive, "fast-lin": _fast_lin}


def lower_slopes(layers: list[BoundLayer], rule: str) -> Slopes:
    """alpha of every bounded ReLU in `layers` by `rule` ("adaptive" or "fast-lin"), None elsewhere."""
    if rule not in SLOPE_RULES:
        raise ValueError(f"unknown slope rule {rule!r}; valid: {', '.join(SLOPE_RULES)}")
    return [SLOPE_RULES[rule](layer) if isinstance(layer, ReLULayer) else None for layer in layers]


def lower_pass(layers: list[BoundLayer], alphas: Slopes, Lambda: Tensor, centre: Tensor,
               radius: Tensor) -> Tensor:  # fmt: skip
    """Lower bound of ``Lambda^T z_out`` over the relaxed `layers` and the input box (CROWN,
    Zhang et al. 2018, Theorem 3.2: the backward substitution of eq. 5-7).

    Lambda: (M, K, *out_shape), M in {1, N}. alphas: lower slopes (`Slopes`) aligned with layers
    (ReLUs bounded, so that ``d`` and ``t = d l`` are known). centre, radius: (N, *in_shape), the
    box at the input of `layers`. Returns (N, K) (or (1, K) if nothing depends on the sample).
    """
    bias = Lambda.new_zeros(())
    for layer, alpha in zip(reversed(layers), reversed(alphas), strict=True):
        if isinstance(layer, ReLULayer):
            d, t = layer.d, layer.t  # (N, *shape): upper slope and d l (<= 0) on I
            if alpha is None:
                raise ValueError(f"{layer.name or 'ReLU'} has no lower slope alpha")
            if alpha.dim() < Lambda.dim():
                alpha = alpha.unsqueeze(1)  # (N, 1, *shape) against (M, K, *shape)
            bias = bias - _dot(Lambda.clamp_max(0), t)  # [Lambda]_-^T (-d l): the upper line's intercept
            # [Lambda]_+ alpha + [Lambda]_- d, exactly (one of the two terms is 0): (N, K, *shape)
            Lambda = torch.where(Lambda > 0, alpha, d.unsqueeze(1)) * Lambda
        else:
            if layer.offset_centre is not None:
                bias = bias + _dot(Lambda, layer.offset_centre)  # Lambda^T b
            Lambda = layer.transpose(Lambda)  # W^T Lambda: (M, K, *in_shape)
    return bias + _dot(Lambda, centre) - _dot(Lambda.abs(), radius)


def two_sided(layers: list[BoundLayer], alphas: Slopes, Lambda: Tensor, centre: Tensor,
              radius: Tensor) -> tuple[Tensor, Tensor]:  # fmt: skip
    """(lower, upper) of ``Lambda^T z_out``, each (N, K), in one pass over ``[Lambda, -Lambda]``
    (the upper bound is minus the lower bound of -Lambda)."""
    k = Lambda.shape[1]
    both = lower_pass(layers, alphas, torch.cat([Lambda, -Lambda], 1), centre, radius)  # (N, 2K)
    n = centre.shape[0]
    return both[:, :k].expand(n, k), -both[:, k:].expand(n, k)


def _unit_bounds(layers: list[BoundLayer], alphas: Slopes, shape: tuple[int, ...], centre: Tensor,
                 radius: Tensor, widest: int) -> tuple[Tensor, Tensor]:  # fmt: skip
    """l, u (N, *shape) of every unit at the output of the relaxed `layers` (CROWN, Section 3.2),
    in blocks of units; the first affine block (no ReLU yet) in closed form ``W x + b -/+ |W| r``."""
    if _closed_form_block(layers):
        c, r = centre, radius
        for layer in layers:
            c, r = layer.interval(c, r)
        return c - r, c + r
    levels = patches.windows(layers) if PATCHES != "never" else None
    if levels is not None and (PATCHES == "always" or patches.worthwhile(layers, levels)):
        return patches.unit_bounds(layers, alphas, levels, centre, radius, CHUNK_ELEMENTS)
    n, units = centre.shape[0], math.prod(shape)
    per_pass = max(1, _vectors_per_pass(n, widest) // 2)  # [E, -E]: two vectors per unit
    lows, ups = [], []
    for start, count in _blocks(units, per_pass):
        low, up = two_sided(layers, alphas, _basis(start, count, shape, centre), centre, radius)
        lows.append(low)
        ups.append(up)
    return torch.cat(lows, 1).view(n, *shape), torch.cat(ups, 1).view(n, *shape)


def relax(plan: Plan, centre: Tensor, radius: Tensor, rule: str,
          bounds: list[tuple[Tensor, Tensor]] | None = None) -> tuple[list[BoundLayer], Slopes]:  # fmt: skip
    """The plan's layers with every ReLU relaxed, and their lower slopes by `rule`.

    bounds None: each ReLU's pre-activation bounds l, u by CROWN itself over the earlier relaxed
    layers (Zhang et al. 2018, Section 3.2, layer by layer); otherwise the given (l, u) per ReLU
    in order, each (N, *shape) (CROWN-IBP uses interval bounds, Zhang et al. 2020, Section 3).
    """
    layers: list[BoundLayer] = []
    alphas: Slopes = []
    given = iter(bounds or [])
    for layer in plan.layers:
        if layer.needs_bounds:
            if bounds is None:
                low, up = _unit_bounds(layers, alphas, layer.in_shape, centre, radius, plan.widest)
            else:
                low, up = next(given)
            layer = layer.bounded(low, up)
        layers.append(layer)
        alphas.append(lower_slopes([layer], rule)[0])
    return layers, alphas


def spec_vectors(
    spec: Tensor | None, out_shape: tuple[int, ...], like: Tensor
) -> tuple[int, Callable[[int, int], Tensor]]:
    """(S, block) with ``block(start, count)`` the specifications c as Lambda (M, count, *out):
    the unit vectors of the outputs (M = 1) when spec is None, else spec (N, S, outputs)."""
    if spec is None:
        return math.prod(out_shape), lambda start, count: _basis(start, count, out_shape, like)
    n = spec.shape[0]
    return spec.shape[1], lambda start, count: spec[:, start : start + count].reshape(n, count, *out_shape)


def by_sample_blocks(bound: Callable[[Tensor, Tensor | None], CertifiedBounds], x: Tensor,
                     spec: Tensor | None, per_sample: int) -> CertifiedBounds:  # fmt: skip
    """`bound(x_block, spec_block)` over blocks of samples of at most ``CHUNK_ELEMENTS //
    per_sample`` (per_sample: elements one sample's largest tensor needs), concatenated."""
    if x.shape[0] == 0:
        raise ValueError("x is an empty batch: bounds need at least one sample")
    step = max(1, min(x.shape[0], CHUNK_ELEMENTS // max(per_sample, 1)))
    parts = [bound(x[s : s + c], None if spec is None else spec[s : s + c]) for s, c in _blocks(x.shape[0], step)]
    if len(parts) == 1:
        return parts[0]
    relu_bounds = [
        (torch.cat([p.relu_bounds[i][0] for p in parts]), torch.cat([p.relu_bounds[i][1] for p in parts]))
        for i in range(len(parts[0].relu_bounds))
    ]
    return CertifiedBounds(torch.cat([p.lower for p in parts]), torch.cat([p.upper for p in parts]), relu_bounds)


def relu_bounds_of(layers: list[BoundLayer]) -> list[tuple[Tensor, Tensor]]:
    """(l, u) of every relaxed ReLU in order, each (N, *shape)."""
    return [(layer.lower, layer.upper) for layer in layers
            if isinstance(layer, ReLULayer) and layer.lower is not None and layer.upper is not None]  # fmt: skip


def crown_bounds(model: nn.Module | Plan, x: Tensor, ball: LinfBall, spec: Tensor | None = None,
                 slope: str = "adaptive") -> CertifiedBounds:  # fmt: skip
    """Bounds of ``c^T f(x + delta)`` over the l_inf ball by CROWN (Zhang et al. 2018, Theorem 3.2
    with the adaptive lower slope of Section 3.2), or by Fast-Lin with ``slope="fast-lin"``,
    which equals `dual_bounds` (Wong & Kolter 2018, eq. 7) up to float rounding.

    model: nn.Sequential of supported layers (or its `Plan`). x: (N, *in_shape). ball: the
    threat model. spec: (N, S, outputs) specifications c (e.g. `margin_spec`), or None for
    bounds on every output. Differentiable (used by CROWN-IBP training).
    Returns `CertifiedBounds` with lower, upper (N, S) (or (N, outputs)) and every ReLU's l, u.
    Example: ``lo, hi = crown_bounds(net, x, LinfBall(0.1, 0.0, 1.0), margin_spec(y, 10))``.
    """
    plan = build_plan(model, x)
    spec = check_spec(spec, x, plan.out_shape)
    if slope not in SLOPE_RULES:
        raise ValueError(f"unknown slope rule {slope!r}; valid: {', '.join(SLOPE_RULES)}")

    def bound(xb: Tensor, sb: Tensor | None) -> CertifiedBounds:
        centre, radius = ball.centre_radius(xb)  # (n, *in_shape)
        layers, alphas = relax(plan, centre, radius, slope)
        total, block = spec_vectors(sb, plan.out_shape, xb)
        per_pass = max(1, _vectors_per_pass(xb.shape[0], plan.widest) // 2)
        parts = [two_sided(layers, alphas, block(s, c), centre, radius) for s, c in _blocks(total, per_pass)]
        lower, upper = (torch.cat(side, 1) for side in zip(*parts, strict=True))
        return CertifiedBounds(lower, upper, relu_bounds_of(layers))

    return by_sample_blocks(bound, x, spec, plan.widest)
