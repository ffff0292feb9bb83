"""Interval bound propagation: the simplest sound outer bound, and the baseline the dual network
of Wong & Kolter (2018) must never be looser than."""

from __future__ import annotations

import torch
from torch import Tensor, nn

from advlab.defenses.certify.ball import LinfBall
from advlab.defenses.certify.plan import Plan, build_plan
from advlab.defenses.certify.result import CertifiedBounds, check_spec


def interval_bounds(
    model: nn.Module | Plan, x: Tensor, ball: LinfBall, spec: Tensor | None = None
) -> CertifiedBounds:
    """Bounds of ``c^T f(x + delta)`` by interval arithmetic, layer by layer.

    Each affine layer maps (centre, radius) to ``(W centre + b, |W| radius)``; each ReLU maps
    [l, u] to [relu(l), relu(u)] (every layer's `interval`). Sound but looser than `dual_bounds`.

    model: nn.Sequential of supported layers (or its `Plan`). x: (N, *in_shape). spec: optional
    (N, S, outputs). Returns `CertifiedBounds` with lower/upper (N, S) or (N, outputs) and the
    input bounds (l, u) of every layer that needs them (the ReLUs).
    """
    plan = build_plan(model, x)
    spec = check_spec(spec, x, plan.out_shape)
    centre, radius = ball.centre_radius(x)  # (N, *in_shape) each
    relu_bounds: list[tuple[Tensor, Tensor]] = []
    for layer in plan.layers:
        if layer.needs_bounds:
            relu_bounds.append((centre - radius, centre + radius))
        centre, radius = layer.interval(centre, radius)
    centre, radius = centre.flatten(1), radius.flatten(1)  # (N, outputs)
    if spec is None:
        return CertifiedBounds(centre - radius, centre + radius, relu_bounds)
    mid = torch.einsum("nso,no->ns", spec, centre)
    spread = torch.einsum("nso,no->ns", spec.abs(), radius)
    return CertifiedBounds(mid - spread, mid + spread, relu_bounds)
