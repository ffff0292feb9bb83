"""The dual network of Wong & Kolter (ICML 2018): Algorithm 1 (activation bounds l, u layer by
layer) and the dual objective J(c) for a final linear specification c.

For a network ``z_hat_{i+1} = W_i z_i + b_i``, ``z_{i+1} = ReLU(z_hat_{i+1})`` and an input set
with centre x and radius r (the l_inf ball, possibly clipped to the input box), Theorem 1 / eq. 7
gives, for any c, the lower bound

    J(c) = - sum_i nu_{i+1}^T b_i - x^T nu_hat_1 - r^T |nu_hat_1| + sum_i sum_{j in I_i} l_ij [nu_ij]_+

of ``c^T z_hat_k``, where the dual network runs backwards from ``nu_k = -c`` through
``nu_hat_i = W_i^T nu_{i+1}`` and ``nu_i = D_i nu_hat_i`` (layers.py). The upper bound is
``-J(-c)``; both come from one backward pass because nu for -c is minus nu for c.

Algorithm 1 obtains l_{i+1}, u_{i+1} for every unit of layer i+1 as J(+-e_unit) given the bounds of
the earlier layers. We compute those J for all units of a layer at once, batched as
(N, K, *shape) "specifications", and pick the cheaper direction for the input terms:
backwards from the K units (nu = -I), or, when K exceeds the P input pixels, forwards from the
input identity as the paper's Algorithm 1 does (``nu_hat_1`` for all units from P forward
vectors), with only the ReLU terms taken backwards (they stop at the earliest ReLU). Both give
the same J. The first affine block (one mixing layer plus elementwise affine maps) is bounded
in closed form ``W x + b -/+ |W| r``, which is exact there.
"""

from __future__ import annotations

import math

import torch
from torch import Tensor, nn

from advlab.defenses.certify.ball import LinfBall
from advlab.defenses.certify.layers import AffineLayer, ReLURelaxation, build_layers
from advlab.defenses.certify.projected import CauchyProjections
from advlab.defenses.certify.result import CertifiedBounds, check_spec

CHUNK_ELEMENTS = 2**28
"""Largest number of elements of one (N, K, *shape) dual tensor; more units are done in chunks."""


def _dot(a: Tensor, v: Tensor) -> Tensor:
    """``sum_p a[m, k, p] v[n, p]`` for a (M, K, *shape) with M in {1, N}, v (N, *shape) -> (N, K).

    M == 1 (the dual variables are still the same for every sample) is one matrix product,
    avoiding an (N, K, P) copy that broadcasting would make.
    """
    flat_a, flat_v = a.flatten(2), v.flatten(1)  # (M, K, P), (N, P)
    if a.shape[0] == 1:
        return (flat_a[0] @ flat_v.T).T  # (K, P) @ (P, N) -> (N, K)
    return torch.bmm(flat_a, flat_v.unsqueeze(-1)).squeeze(-1)  # (N, K)


def dual_objective(
    layers: list[AffineLayer | ReLURelaxation], nu: Tensor, centre: Tensor, radius: Tensor
) -> tuple[Tensor, Tensor]:
    """Lower and upper bounds of ``c^T z`` at the output of `layers`, with ``nu = -c``.

    layers: affine layers and ReLU relaxations (whose l, u are known) in forward order.
    nu: (M, K, *out_shape) with M = 1 (the same c for every sample) or N. centre, radius:
    (N, *in_shape) input interval. Returns (J(c), -J(-c)), each (N, K) (Wong & Kolter 2018, eq. 7).
    """
    lower = upper = centre.new_zeros(())
    for layer in reversed(layers):
        if isinstance(layer, ReLURelaxation):
            # sum_{j in I} l_j [nu_j]_+ with nu = D nu_hat equals sum_j t_j [nu_hat_j]_+ (t = d l).
            pos = _dot(nu.clamp_min(0), layer.t)  # (N, K): sum t [nu_hat]_+
            whole = _dot(nu, layer.t)  # (N, K): sum t nu_hat
            lower = lower + pos
            upper = upper + whole - pos  # -sum t [-nu_hat]_+ = sum t nu_hat - sum t [nu_hat]_+
            nu = layer.apply(nu)  # nu_i = D_i nu_hat_i: (N, K, *shape)
        else:
            m, k = nu.shape[:2]
            gamma = layer.bias_dot(nu.flatten(0, 1))  # (M*K,): nu_{i+1}^T b_i
            if gamma is not None:
                lower = lower - gamma.view(m, k)
                upper = upper - gamma.view(m, k)
            nu = layer.transpose(nu.flatten(0, 1)).unflatten(0, (m, k))  # nu_hat_i = W_i^T nu_{i+1}
    # Input terms: -x^T nu_hat_1 -/+ r^T |nu_hat_1| (the l_inf ball's dual norm).
    linear, spread = _dot(nu, centre), _dot(nu.abs(), radius)  # (N, K) each
    return lower - linear - spread, upper - linear + spread


def _closed_form_block(layers: list[AffineLayer | ReLURelaxation]) -> bool:
    """True if `layers` has no ReLU and at most one mixing affine map, so that the interval
    ``W x + b -/+ |W| r`` is exactly the dual bound (eq. 7 with no ReLU terms)."""
    if any(isinstance(layer, ReLURelaxation) for layer in layers):
        return False
    return sum(layer.mixes for layer in layers) <= 1  # type: ignore[union-attr]


def _relu_terms(layers: list[AffineLayer | ReLURelaxation], nu: Tensor) -> tuple[Tensor, Tensor]:
    """Only the ReLU terms ``sum_i sum_{j in I_i} l_ij [nu_ij]_+`` of J (and of -J(-c)) for
    nu (M, K, *out_shape); the backward pass stops at the earliest ReLU (no offsets, no input
    term), for use with `_input_map`."""
    first = next(i for i, layer in enumerate(layers) if isinstance(layer, ReLURelaxation))
    lower = upper = nu.new_zeros(())
    for layer in reversed(layers[first:]):
        if isinstance(layer, ReLURelaxation):
            pos, whole = _dot(nu.clamp_min(0), layer.t), _dot(nu, layer.t)  # (N, K) each
            lower, upper = lower + pos, upper + whole - pos
            if layer is layers[first]:
                break
            nu = layer.apply(nu)
        else:
            m, k = nu.shape[:2]
            nu = layer.transpose(nu.flatten(0, 1)).unflatten(0, (m, k))
    return lower, upper


def _input_map(
    layers: list[AffineLayer | ReLURelaxation], centre: Tensor, radius: Tensor
) -> tuple[Tensor, Tensor]:
    """Forward mode of Algorithm 1 for the input terms: ``psi = x^T nu_hat_1 + sum gamma`` and
    ``r^T |nu_hat_1|`` for every unit at the output of `layers`, by pushing the identity over
    the P input pixels through the linearised network (as the paper's Algorithm 1 does).
    Cheaper than the backward pass when the layer has more units than the input has pixels.
    Returns (psi, spread), each (N, K)."""
    pixels = math.prod(centre.shape[1:])
    g = torch.eye(pixels, dtype=centre.dtype, device=centre.device).reshape(1, pixels, *centre.shape[1:])
    psi = centre  # (N, *shape): the centre through the affine maps and D (all offsets b)
    for layer in layers:
        if isinstance(layer, ReLURelaxation):
            g, psi = layer.apply(g), layer.d * psi  # (N, P, *shape)
        else:
            m = g.shape[0]
            g = layer.linear(g.flatten(0, 1)).unflatten(0, (m, pixels))  # (M, P, *out_shape)
            psi = layer.affine(psi)
    g = g.flatten(2).abs()  # (M, P, K): |nu_hat_1| for every unit
    r = radius.flatten(1).unsqueeze(1)  # (N, 1, P)
    spread = (r @ g).squeeze(1) if g.shape[0] > 1 else (r.squeeze(1) @ g[0])  # (N, K)
    return psi.flatten(1), spread


def _unit_bounds(
    layers: list[AffineLayer | ReLURelaxation], shape: tuple[int, ...], centre: Tensor,
    radius: Tensor,
) -> tuple[Tensor, Tensor]:
    """Exact l, u of every unit at the output of `layers` (Algorithm 1, one iteration):
    J(e_j) and -J(-e_j) for all K units, with nu = -I over the units, in chunks of units.

    When the layer has more units K than the input has pixels P, the input terms are computed
    forward (P vectors) and only the ReLU terms backward; otherwise everything is backward."""
    n, units, pixels = centre.shape[0], math.prod(shape), math.prod(centre.shape[1:])
    widest = max(math.prod(layer_shape(ly)) for ly in layers)
    eye = torch.eye(units, dtype=centre.dtype, device=centre.device)
    if pixels < units and n * pixels * max(widest, units) <= CHUNK_ELEMENTS:
        psi, spread = _input_map(layers, centre, radius)  # (N, K) each
        lower, upper = _relu_terms(layers, -eye.reshape(1, units, *shape))
        return (psi - spread + lower).view(n, *shape), (psi + spread + upper).view(n, *shape)
    chunk = max(1, min(units, CHUNK_ELEMENTS // max(n * max(pixels, widest), 1)))
    lows, ups = [], []
    for start in range(0, units, chunk):
        nu = -eye[start : start + chunk].reshape(1, -1, *shape)  # (1, K, *shape): nu = -c, c = e_j
        lo, up = dual_objective(layers, nu, centre, radius)
        lows.append(lo)
        ups.append(up)
    return torch.cat(lows, 1).view(n, *shape), torch.cat(ups, 1).view(n, *shape)


def layer_shape(layer: AffineLayer | ReLURelaxation) -> tuple[int, ...]:
    """Per-sample shape of a layer's input (the largest tensor the backward pass creates there)."""
    if isinstance(layer, ReLURelaxation):
        return tuple(layer.d.shape[1:])
    return tuple(layer.in_shape)


def dual_bounds(
    model: nn.Module,
    x: Tensor,
    ball: LinfBall,
    spec: Tensor | None = None,
    projections: int | None = None,
    generator: torch.Generator | None = None,
    tighten: bool = False,
) -> CertifiedBounds:
    """Bounds of ``c^T f(x + delta)`` over the l_inf ball by the dual network (Wong & Kolter 2018,
    Algorithm 1 for the activation bounds, then J(c) of eq. 7 for the specification).

    model: nn.Sequential of Linear, Conv2d, ReLU, Flatten, BatchNorm (eval), AvgPool2d, Normalize.
    x: (N, *in_shape) inputs. ball: the threat model. spec: (N, S, outputs) specifications c, or
    None for bounds on every output. projections: None for exact bounds, or k to estimate the
    l1 and ReLU terms of the intermediate bounds with k Cauchy random projections (Wong, Schmidt,
    Metzen & Kolter 2018, Section 3.2); these estimates are not guaranteed sound, the final J(c)
    is computed exactly given them. generator: random source for the projections.
    tighten: also intersect every layer's bounds (and the result) with interval arithmetic.
    Wong & Kolter's fixed ReLU slope u/(u-l) can be looser than interval bounds for single
    units (its lower line s*z_hat dips below 0); the intersection is still sound and never
    looser than `interval_bounds`, but it is not the paper's bound, so it is off by default.
    Returns `CertifiedBounds` with lower, upper of shape (N, S) (or (N, outputs)).
    Example: ``lo, hi = dual_bounds(net, x, LinfBall(0.1, 0.0, 1.0))``.
    """
    if projections is not None and (not isinstance(projections, int) or projections < 1):
        raise ValueError(f"projections must be None or an int >= 1, got {projections!r}")
    plan = build_layers(model, x)
    spec = check_spec(spec, x, plan.out_shape)
    centre, radius = ball.centre_radius(x)  # (N, *in_shape)
    estimator = (
        CauchyProjections(centre, radius, projections, generator) if projections else None
    )
    done: list[AffineLayer | ReLURelaxation] = []  # dual layers so far, in forward order
    relu_bounds: list[tuple[Tensor, Tensor]] = []
    shape = plan.in_shape
    box_c, box_r = centre, radius  # interval arithmetic alongside, used when tighten=True
    for layer in plan.layers:
        if layer != "relu":
            done.append(layer)
            shape = layer.out_shape
            if tighten:
                box_c, box_r = layer.affine(box_c), layer.linear_abs(box_r)
            if estimator is not None:
                estimator.affine(layer)
            continue
        # Algorithm 1: bounds of this ReLU's pre-activations given all earlier relaxations.
        if _closed_form_block(done):
            c, r = centre, radius
            for affine in done:
                c, r = affine.affine(c), affine.linear_abs(r)  # type: ignore[union-attr]
            low, up = c - r, c + r
        elif estimator is not None:
            low, up = estimator.bounds()
        else:
            low, up = _unit_bounds(done, shape, centre, radius)
        if tighten:
            low, up = torch.maximum(low, box_c - box_r), torch.minimum(up, box_c + box_r)
            box_lo, box_hi = low.clamp_min(0), up.clamp_min(0)
            box_c, box_r = (box_lo + box_hi) / 2, (box_hi - box_lo) / 2
        relax = ReLURelaxation(low, up, name=f"relu {len(relu_bounds)}")  # l_i, u_i
        relu_bounds.append((low, up))
        done.append(relax)
        if estimator is not None:
            estimator.relu(relax)
    n, outputs = x.shape[0], math.prod(plan.out_shape)
    if spec is None:  # bounds on every output: c = e_j, the same for every sample
        nu = -torch.eye(outputs, dtype=x.dtype, device=x.device).reshape(1, outputs, *plan.out_shape)
    else:
        nu = -spec.reshape(n, spec.shape[1], *plan.out_shape)  # (N, S, *out_shape)
    lower, upper = dual_objective(done, nu, centre, radius)
    if tighten:
        c_out = -nu.flatten(2)  # (M, S, outputs)
        mid = (c_out * box_c.flatten(1).unsqueeze(1)).sum(-1)  # (N, S)
        spread = (c_out.abs() * box_r.flatten(1).unsqueeze(1)).sum(-1)
        lower, upper = torch.maximum(lower, mid - spread), torch.minimum(upper, mid + spread)
    return CertifiedBounds(lower, upper, relu_bounds)
