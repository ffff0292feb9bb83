"""The l1-ball projection (Duchi et al. 2008) against closed forms, and the l1 budget hook."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch
from torch import nn

from advlab.defenses.sparsity import L1Budget, project_l1_ball, row_l1_norms, satisfies
from advlab.models.layers import use_channels_last
from advlab.train import TrainConfig, fit


def _soft_threshold_by_bisection(v: torch.Tensor, z: float) -> torch.Tensor:
    """The projection's other closed form: w = sign(v) max(|v| - theta, 0) with theta >= 0 the
    root of sum max(|v| - theta, 0) = z, found by bisection (independent of the sort)."""
    low, high = torch.zeros(v.shape[0], dtype=v.dtype), v.abs().amax(1)
    for _ in range(200):
        mid = (low + high) / 2
        too_big = (v.abs() - mid[:, None]).clamp_min(0).sum(1) > z
        low, high = torch.where(too_big, mid, low), torch.where(too_big, high, mid)
    theta = torch.where(v.abs().sum(1) <= z, torch.zeros_like(low), (low + high) / 2)
    return v.sign() * (v.abs() - theta[:, None]).clamp_min(0)


def test_worked_example() -> None:
    # |v| sorted (3, 2, 1), prefix sums (3, 5, 6): rho = 2, theta = (5 - 3) / 2 = 1
    out = project_l1_ball(torch.tensor([[3.0, 1.0, -2.0]]), 3.0)
    torch.testing.assert_close(out, torch.tensor([[2.0, 0.0, -1.0]]))


def test_matches_bisection_is_idempotent_and_optimal() -> None:
    g = torch.Generator().manual_seed(0)
    v = torch.randn(64, 50, generator=g, dtype=torch.float64) * torch.rand(64, 1, generator=g, dtype=torch.float64) * 3
    z = 5.0
    w = project_l1_ball(v, z)
    torch.testing.assert_close(w, _soft_threshold_by_bisection(v, z), atol=1e-10, rtol=0)
    outside = v.abs().sum(1) > z
    assert outside.any() and (~outside).any()
    torch.testing.assert_close(w.abs().sum(1)[outside], torch.full((int(outside.sum()),), z, dtype=torch.float64))
    assert torch.equal(w[~outside], v[~outside])  # inside the ball: unchanged
    torch.testing.assert_close(project_l1_ball(w, z), w, atol=1e-12, rtol=0)  # idempotent
    # no point of the ball is closer: random feasible points y (scaled onto the ball's inside)
    y = torch.randn(64, 200, 50, generator=g, dtype=torch.float64)
    y = y / y.abs().sum(2, keepdim=True) * z * torch.rand(64, 200, 1, generator=g, dtype=torch.float64)
    assert bool(((v[:, None] - y).norm(dim=2) >= (v - w).norm(dim=1)[:, None] - 1e-12).all())


def test_per_row_radii_and_zero_radius() -> None:
    v = torch.tensor([[1.0, -1.0], [2.0, 2.0]])
    torch.testing.assert_close(project_l1_ball(v, torch.tensor([0.0, 2.0])), torch.tensor([[0.0, 0.0], [1.0, 1.0]]))
    with pytest.raises(ValueError, match="radius"):
        project_l1_ball(v, -1.0)


def test_budget_hook_keeps_every_row_in_its_ball_during_fit(tmp_path: Path) -> None:
    torch.manual_seed(0)
    net = nn.Sequential(nn.Conv2d(1, 4, 3), nn.ReLU(), nn.Flatten(), nn.Linear(4 * 6 * 6, 3))
    x, y = torch.rand(40, 1, 8, 8), torch.randint(0, 3, (40,))
    budget = L1Budget.parse("0.5,2")
    fit(net, (x, y), None, TrainConfig(epochs=2, batch_size=16, lr=0.5), tmp_path, after_step=budget)
    assert satisfies(net, [0.5, 2.0])
    assert float(row_l1_norms(net[0]).max()) == pytest.approx(0.5, rel=1e-5)  # the budget binds


def test_channels_last_conv_filters_are_projected_as_filters() -> None:
    torch.manual_seed(1)
    conv = nn.Conv2d(3, 5, 3)
    plain = nn.Sequential(conv)
    fast = use_channels_last(nn.Sequential(nn.Conv2d(3, 5, 3)))
    fast[0].load_state_dict(conv.state_dict())
    for net in (plain, fast):
        L1Budget((1.0,))(net)
    torch.testing.assert_close(fast[0].weight.contiguous(), plain[0].weight)
    assert satisfies(fast, [1.0])


def test_budget_errors_name_the_layers() -> None:
    net = nn.Sequential(nn.Linear(4, 3), nn.ReLU(), nn.Linear(3, 2))
    assert L1Budget.parse("2").per_layer(net) == [2.0, 2.0]
    assert L1Budget.parse("2, inf").per_layer(net) == [2.0, float("inf")]
    with pytest.raises(ValueError, match=r"3 values but the model has 2 weight layers: 0 \(Linear\), 2 \(Linear\)"):
        L1Budget.parse("1,2,3").per_layer(net)
    with pytest.raises(ValueError, match="GAMMA1,GAMMA2"):
        L1Budget.parse("a,b")
    with pytest.raises(ValueError, match="> 0"):
        L1Budget.parse("0")
