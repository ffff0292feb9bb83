"""The bound plan holds one layer object per operator, the ReLU included, with the same methods
(Wong & Kolter 2018, eq. 8-10 as a linear map with an interval offset); the output size K comes
from the plan, not from a forward pass of the model."""

from __future__ import annotations

import pytest
import torch
from torch import nn

from advlab.defenses.certify import LinfBall, build_plan, margin_bounds, robust_loss
from advlab.defenses.certify.layers import BoundLayer, ReLULayer

from .conftest import small_conv_net


def test_every_operator_is_a_layer_object_with_the_same_methods() -> None:
    plan = build_plan(small_conv_net(), torch.rand(2, 1, 12, 12))
    assert all(isinstance(layer, BoundLayer) for layer in plan.layers)
    relus = [layer for layer in plan.layers if isinstance(layer, ReLULayer)]
    assert len(relus) == 3 and all(layer.needs_bounds for layer in relus)
    assert not any(layer.needs_bounds for layer in plan.layers if not isinstance(layer, ReLULayer))
    assert [layer.name for layer in relus] == ["1 (ReLU)", "3 (ReLU)", "6 (ReLU)"]
    assert plan.out_shape == (3,) and plan.outputs == 3
    assert plan.widest == 4 * 6 * 6  # the first conv's output, larger than the 144 input pixels


def test_an_unbounded_relu_says_it_needs_bounds() -> None:
    relu = ReLULayer((4,), name="3 (ReLU)")
    with pytest.raises(RuntimeError, match=r"3 \(ReLU\) has no input bounds yet"):
        relu.linear(torch.rand(2, 4))
    centre, radius = relu.interval(torch.tensor([[-1.0, 0.5]]), torch.tensor([[0.5, 1.0]]))
    torch.testing.assert_close(centre - radius, torch.tensor([[0.0, 0.0]]))  # relu(c - r)
    torch.testing.assert_close(centre + radius, torch.tensor([[0.0, 1.5]]))  # relu(c + r)


def test_bounded_relu_relaxation_contains_the_relu_and_is_its_own_adjoint() -> None:
    """For z_hat in [l, u]: L z_hat + o_c - o_r <= relu(z_hat) <= L z_hat + o_c + o_r (the
    triangle of Figure 2), tight at l and u on I; and <L v, w> = <v, L^T w>."""
    gen = torch.Generator().manual_seed(0)
    lower = torch.randn(3, 50, generator=gen, dtype=torch.float64)
    upper = lower + torch.rand(3, 50, generator=gen, dtype=torch.float64) * 3
    relu = ReLULayer((50,)).bounded(lower, upper)
    mix = torch.rand(200, 3, 50, generator=gen, dtype=torch.float64)
    z_hat = lower + mix * (upper - lower)  # (200, 3, 50) points of [l, u]
    linear = relu.linear(z_hat.transpose(0, 1)).transpose(0, 1)  # (3, 200, 50): L per sample
    low_line = linear + relu.offset_centre - relu.offset_radius
    high_line = linear + relu.offset_centre + relu.offset_radius
    assert bool((low_line <= z_hat.clamp_min(0) + 1e-12).all())
    assert bool((z_hat.clamp_min(0) <= high_line + 1e-12).all())
    mixed = (lower < 0) & (upper > 0)
    for end in (lower, upper):  # the upper line passes through (l, 0) and (u, u)
        value = relu.affine(end) + relu.offset_radius
        torch.testing.assert_close(value[mixed], end.clamp_min(0)[mixed])
    v = torch.randn(3, 4, 50, generator=gen, dtype=torch.float64)
    w = torch.randn(3, 4, 50, generator=gen, dtype=torch.float64)
    torch.testing.assert_close((relu.linear(v) * w).sum(), (v * relu.transpose(w)).sum())
    shared = relu.linear(v[:1])  # one set of vectors for every sample -> (N, K, 50)
    assert shared.shape == (3, 4, 50)


class _NoForward(nn.Sequential):
    """A Sequential whose own forward must not be called (the bounds need only its layers)."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        raise AssertionError("the model's forward was called")


def test_the_number_of_classes_comes_from_the_plan() -> None:
    net = _NoForward(*small_conv_net(seed=4))
    x = torch.rand(4, 1, 12, 12, generator=torch.Generator().manual_seed(4))
    y = torch.tensor([0, 1, 2, 1])
    lower = margin_bounds(net, x, y, LinfBall(0.01, 0.0, 1.0))
    assert lower.shape == (4, 3)
    torch.testing.assert_close(lower.gather(1, y.unsqueeze(1)), torch.zeros(4, 1))  # c_y = 0
    loss, _ = robust_loss(net, x, y, LinfBall(0.01, 0.0, 1.0))
    assert bool(torch.isfinite(loss))
    with pytest.raises(ValueError, match=r"labels must be in \[0, 2\]"):
        margin_bounds(net, x, torch.tensor([0, 1, 3, 1]), LinfBall(0.01))
