"""Soundness of every bounding method (methods.METHODS) and of the CROWN-IBP bound: on random
float64 networks, 10^5 points drawn uniformly from the ball and PGD's extreme points of every
specification never leave [lower, upper]."""

from __future__ import annotations

import pytest
import torch

from advlab.defenses.certify import (
    METHODS,
    LinfBall,
    certified_bounds,
    crown_ibp_bounds,
    margin_spec,
)

from .conftest import conv_net, mlp, pgd_extremes, uniform_points

POINTS = 100_000
TOL = 1e-9


def _case(make, seed: int):
    net = make(seed)
    gen = torch.Generator().manual_seed(100 + seed)
    shape = (1, 8, 8) if make is conv_net else (4,)
    x = torch.rand((4, *shape), generator=gen, dtype=torch.float64)
    y = torch.randint(0, 3, (4,), generator=gen)
    return net, x, margin_spec(y, 3, torch.float64), gen


def _values(net, x, spec, ball, gen) -> torch.Tensor:
    """(POINTS // N + 2, N, S): c^T f at uniform points of the ball and at PGD's extremes."""
    n = x.shape[0]
    with torch.no_grad():
        points = uniform_points(x, ball, POINTS // n, gen)  # (P, N, *shape)
        out = net(points.flatten(0, 1)).view(POINTS // n, n, -1)  # (P, N, K)
        sampled = torch.einsum("nsk,pnk->pns", spec, out)
    return torch.cat([sampled, pgd_extremes(net, x, spec, ball)])


def _inside(values: torch.Tensor, lower: torch.Tensor, upper: torch.Tensor) -> bool:
    return bool(((values >= lower - TOL) & (values <= upper + TOL)).all())


@pytest.mark.parametrize("make,seed", [(mlp, 0), (mlp, 1), (conv_net, 0), (conv_net, 1)])
def test_no_point_of_the_ball_leaves_any_methods_bounds(make, seed):
    net, x, spec, gen = _case(make, seed)
    ball = LinfBall(0.1, 0.0, 1.0)
    values = _values(net, x, spec, ball, gen)
    for method in METHODS:
        with torch.no_grad():
            bounds = certified_bounds(net, x, ball, method, spec)
        assert _inside(values, bounds.lower, bounds.upper), method
    for beta in (0.0, 0.5, 1.0):
        with torch.no_grad():
            bounds = crown_ibp_bounds(net, x, ball, spec, beta)
        assert _inside(values, bounds.lower, bounds.upper), f"crown-ibp beta={beta}"
