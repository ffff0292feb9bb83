"""Interval bound propagation: the simplest sound outer bound, and the baseline the dual network
of Wong & Kolter (2018) must never be looser than."""

from __future__ import annotations

import torch
from torch import Tensor, nn

from advlab.defenses.certify.ball import LinfBall
from advlab.defenses.certify.layers import build_layers
from advlab.defenses.certify.result import CertifiedBounds, check_spec


def interval_bounds(
    model: nn.Module, x: Tensor, ball: LinfBall, spec: Tensor | None = None
) -> CertifiedBounds:
    """Bounds of ``c^T f(x + delta)`` by interval arithmetic, layer by layer.

    Each affine layer maps (centre, radius) to ``(W centre + b, |W| radius)``; each ReLU maps
    [l, u] to [relu(l), relu(u)]. Sound but looser than `dual_bounds`.

    model: nn.Sequential of supported layers. x: (N, *in_shape). spec: optional (N, S, outputs).
    Returns `CertifiedBounds` with lower/upper (N, S) or (N, outputs) and every ReLU's (l, u).
    """
    plan = build_layers(model, x)
    spec = check_spec(spec, x, plan.out_shape)
    centre, radius = ball.centre_radius(x)  # (N, *in_shape) each
    relu_bounds: list[tuple[Tensor, Tensor]] = []
    for layer in plan.layers:
        if layer == "relu":
            lo, hi = centre - radius, centre + radius
            relu_bounds.append((lo, hi))
            lo, hi = lo.clamp_min(0), hi.clamp_min(0)
            centre, radius = (lo + hi) / 2, (hi - lo) / 2
        else:
            centre, radius = layer.affine(centre), layer.linear_abs(radius)
    centre, radius = centre.flatten(1), radius.flatten(1)  # (N, outputs)
    if spec is None:
        return CertifiedBounds(centre - radius, centre + radius, relu_bounds)
    mid = torch.einsum("nso,no->ns", spec, centre)
    spread = torch.einsum("nso,no->ns", spec.abs(), radius)
    return CertifiedBounds(mid - spread, mid + spread, relu_bounds)
