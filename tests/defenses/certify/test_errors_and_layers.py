"""Clear errors for what the dual network cannot represent, and the supported layer zoo
(BatchNorm folded in eval mode, Normalize, AvgPool, Dropout/Identity) bound soundly."""

from __future__ import annotations

import pytest
import torch
from torch import nn

from advlab.defenses.certify import LinfBall, UnsupportedLayerError, dual_bounds, interval_bounds


def test_unsupported_layer_is_named_with_its_index() -> None:
    net = nn.Sequential(nn.Conv2d(1, 2, 3), nn.ReLU(), nn.MaxPool2d(2), nn.Flatten(), nn.Linear(8, 2))
    with pytest.raises(UnsupportedLayerError, match=r"layer 2 \(MaxPool2d\)"):
        dual_bounds(net, torch.rand(1, 1, 6, 6), LinfBall(0.1))
    with pytest.raises(UnsupportedLayerError, match=r"layer 1 \(Tanh\)"):
        interval_bounds(nn.Sequential(nn.Linear(3, 3), nn.Tanh()), torch.rand(2, 3), LinfBall(0.1))


def test_non_sequential_and_training_batchnorm_are_refused() -> None:
    with pytest.raises(UnsupportedLayerError, match="nn.Sequential"):
        dual_bounds(nn.Linear(3, 2), torch.rand(1, 3), LinfBall(0.1))
    net = nn.Sequential(nn.Conv2d(1, 2, 3), nn.BatchNorm2d(2), nn.ReLU())
    with pytest.raises(UnsupportedLayerError, match="eval mode.*inference_view"):
        dual_bounds(net.train(), torch.rand(2, 1, 5, 5), LinfBall(0.1))
    # Refused before the plan's shape pass could update the running statistics.
    assert int(net[1].num_batches_tracked) == 0 and float(net[1].running_mean.abs().sum()) == 0.0
    with pytest.raises(UnsupportedLayerError, match=r"layer 1 \(Dropout\).*eval mode"):
        dual_bounds(nn.Sequential(nn.Linear(3, 3), nn.Dropout(0.5)).train(), torch.rand(2, 3), LinfBall(0.1))


def test_bad_arguments() -> None:
    net = nn.Sequential(nn.Linear(3, 2))
    with pytest.raises(ValueError, match="eps"):
        LinfBall(-0.1)
    with pytest.raises(ValueError, match="spec must have shape"):
        dual_bounds(net, torch.rand(2, 3), LinfBall(0.1), spec=torch.rand(2, 1, 5))
    with pytest.raises(ValueError, match="projections"):
        dual_bounds(net, torch.rand(2, 3), LinfBall(0.1), projections=0)
    with pytest.raises(ValueError, match="above upper"):
        LinfBall(0.1, 0.0, 1.0).box(torch.full((1, 3), 2.0))


def test_layer_zoo_is_sound() -> None:
    from advlab.models.layers import Normalize

    torch.manual_seed(4)
    net = nn.Sequential(
        Normalize([0.5, 0.4], [0.2, 0.3]),
        nn.Conv2d(2, 4, 3, stride=2, padding=1), nn.BatchNorm2d(4), nn.ReLU(),
        nn.AvgPool2d(2), nn.Dropout(0.3), nn.Identity(),
        nn.Conv2d(4, 4, 3, padding=1, dilation=1), nn.ReLU(), nn.Flatten(),
        nn.Linear(4 * 4 * 4, 6), nn.BatchNorm1d(6), nn.ReLU(), nn.Linear(6, 3),
    ).double()  # fmt: skip
    with torch.no_grad():  # non-trivial running statistics
        for bn in (net[2], net[11]):
            bn.running_mean.uniform_(-0.5, 0.5)
            bn.running_var.uniform_(0.5, 2.0)
    net.eval()
    gen = torch.Generator().manual_seed(4)
    x = torch.rand(5, 2, 16, 16, generator=gen, dtype=torch.float64)
    ball = LinfBall(0.02, 0.0, 1.0)
    lower, upper = dual_bounds(net, x, ball)
    points = ball.project(x.expand(500, *x.shape), x + (torch.rand(500, *x.shape, generator=gen, dtype=torch.float64) * 2 - 1) * 0.02)
    with torch.no_grad():
        out = net(points.flatten(0, 1)).view(500, 5, 3)
    assert bool(((out >= lower - 1e-9) & (out <= upper + 1e-9)).all())
    with torch.no_grad():
        assert bool(((net(x) >= lower) & (net(x) <= upper)).all())
