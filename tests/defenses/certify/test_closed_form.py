"""Closed forms: for a single affine layer the dual bound is ``W x + b -/+ eps ||W||_1`` row-wise
(Wong & Kolter 2018, Algorithm 1 initialisation), and the layers' transposes are adjoints."""

from __future__ import annotations

import pytest
import torch
from torch import nn

from advlab.defenses.certify import LinfBall, dual_bounds, interval_bounds
from advlab.defenses.certify.plan import build_plan


def test_single_linear_layer_matches_closed_form() -> None:
    torch.manual_seed(0)
    layer = nn.Linear(7, 5).double()
    net = nn.Sequential(layer)
    x = torch.rand(4, 7, dtype=torch.float64)
    eps = 0.13
    lower, upper = dual_bounds(net, x, LinfBall(eps))
    centre = x @ layer.weight.T + layer.bias  # (4, 5)
    spread = eps * layer.weight.abs().sum(dim=1)  # (5,): ||W||_1 per row
    torch.testing.assert_close(lower, centre - spread)
    torch.testing.assert_close(upper, centre + spread)
    ilower, iupper = interval_bounds(net, x, LinfBall(eps))
    torch.testing.assert_close(ilower, centre - spread)
    torch.testing.assert_close(iupper, centre + spread)


def test_single_linear_layer_with_spec_matches_closed_form() -> None:
    torch.manual_seed(1)
    layer = nn.Linear(6, 4).double()
    x = torch.rand(3, 6, dtype=torch.float64)
    c = torch.randn(3, 2, 4, dtype=torch.float64)  # (N, S, outputs)
    eps = 0.05
    lower, upper = dual_bounds(nn.Sequential(layer), x, LinfBall(eps), spec=c)
    value = torch.einsum("nso,no->ns", c, x @ layer.weight.T + layer.bias)
    spread = eps * (c @ layer.weight).abs().sum(-1)  # ||W^T c||_1
    torch.testing.assert_close(lower, value - spread)
    torch.testing.assert_close(upper, value + spread)


def test_box_intersection_uses_clipped_interval() -> None:
    layer = nn.Linear(2, 1, bias=False).double()
    with torch.no_grad():
        layer.weight.copy_(torch.tensor([[1.0, -2.0]]))
    x = torch.tensor([[0.05, 0.95]], dtype=torch.float64)
    lower, upper = dual_bounds(nn.Sequential(layer), x, LinfBall(0.1, 0.0, 1.0))
    # x1 in [0, 0.15], x2 in [0.85, 1]: min = 0 - 2, max = 0.15 - 1.7
    torch.testing.assert_close(lower, torch.tensor([[-2.0]], dtype=torch.float64))
    torch.testing.assert_close(upper, torch.tensor([[0.15 - 1.7]], dtype=torch.float64))


@pytest.mark.parametrize(
    "module,shape",
    [
        (nn.Conv2d(1, 3, 3, stride=2, padding=1), (1, 28, 28)),  # 3x3 stride 2 on 28x28
        (nn.Conv2d(2, 3, 4, stride=2, padding=1), (2, 9, 9)),
        (nn.Conv2d(2, 4, 3, stride=3, padding=2, dilation=2), (2, 11, 10)),
        (nn.Conv2d(4, 4, 3, padding="same", groups=2), (4, 6, 6)),
        (nn.AvgPool2d(2), (3, 7, 7)),
        (nn.AvgPool2d(3, stride=2, padding=1), (2, 8, 8)),
        (nn.Flatten(), (2, 3, 3)),
    ],
)
def test_transpose_is_adjoint_and_single_layer_is_exact(module: nn.Module, shape: tuple) -> None:
    torch.manual_seed(2)
    module = module.double()
    x = torch.rand(2, *shape, dtype=torch.float64)
    (layer,) = build_plan(nn.Sequential(module), x).layers
    out = module(x)
    v = torch.randn_like(out)
    # <W x, v> == <x, W^T v>; bias_dot accounts for the offset.
    lhs = (layer.linear(x) * v).flatten(1).sum(1)
    rhs = (x * layer.transpose(v)).flatten(1).sum(1)
    torch.testing.assert_close(lhs, rhs)
    torch.testing.assert_close(layer.affine(x), out)
    # The dual bound of a single layer equals the exact range W x + b -/+ eps |W| 1.
    eps = 0.07
    lower, upper = dual_bounds(nn.Sequential(module), x, LinfBall(eps))
    jac = torch.autograd.functional.jacobian(lambda z: module(z.unsqueeze(0)).flatten(), x[0])
    spread = eps * jac.reshape(out[0].numel(), -1).abs().sum(1)
    torch.testing.assert_close(lower[0], out[0].flatten() - spread)
    torch.testing.assert_close(upper[0], out[0].flatten() + spread)
