"""CROWN-IBP (crown_ibp.py, Zhang et al. 2020): the mixed bound's two ends, the schedules of
eps, kappa and beta, the training loss on a tiny problem, and ``--robust crown-ibp``."""

from __future__ import annotations

import pytest
import torch

from advlab.commands.train import RobustSpec
from advlab.defenses.certify import (
    CrownIbpBatchLoss,
    LinfBall,
    crown_ibp_bounds,
    interval_bounds,
    margin_spec,
)
from advlab.defenses.certify.crown import relax, two_sided
from advlab.defenses.certify.plan import build_plan
from advlab.train import BatchOutput

from .conftest import conv_net, mlp

BALL = LinfBall(0.1, 0.0, 1.0)


def _case(seed: int = 0):
    net = conv_net(seed)
    gen = torch.Generator().manual_seed(seed)
    x = torch.rand(3, 1, 8, 8, generator=gen, dtype=torch.float64)
    y = torch.randint(0, 3, (3,), generator=gen)
    return net, x, margin_spec(y, 3, torch.float64)


def test_beta_one_is_crown_over_interval_intermediate_bounds():
    net, x, spec = _case()
    ibp = interval_bounds(net, x, BALL)
    centre, radius = BALL.centre_radius(x)
    layers, alphas = relax(build_plan(net, x), centre, radius, "adaptive", ibp.relu_bounds)
    low, _ = two_sided(layers, alphas, spec.reshape(3, 3, 3), centre, radius)
    assert torch.allclose(crown_ibp_bounds(net, x, BALL, spec, beta=1.0).lower, low, atol=1e-12)


def test_beta_zero_is_ibp_with_the_specification_folded_in():
    net, x, spec = _case()
    folded = crown_ibp_bounds(net, x, BALL, spec, beta=0.0).lower
    plain = interval_bounds(net, x, BALL, spec).lower  # C applied after the last layer's box
    assert bool((folded >= plain - 1e-12).all())
    mixed = crown_ibp_bounds(net, x, BALL, spec, beta=0.25).lower
    crown = crown_ibp_bounds(net, x, BALL, spec, beta=1.0).lower
    assert torch.allclose(mixed, 0.25 * crown + 0.75 * folded, atol=1e-12)


def test_schedules_follow_the_papers_linear_ramps():
    loss = CrownIbpBatchLoss(eps=0.3, warmup=0.2, ramp=0.5, kappa_end=0.5)
    expected = {  # progress: (eps, kappa, beta); r = (progress - warmup) / ramp clipped to [0, 1]
        0.0: (0.0, 1.0, 1.0),
        0.2: (0.0, 1.0, 1.0),
        0.45: (0.15, 0.75, 0.5),  # r = 0.5
        0.6: (0.24, 0.6, 0.2),  # r = 0.8
        0.7: (0.3, 0.5, 0.0),
        1.0: (0.3, 0.5, 0.0),
    }
    for progress, values in expected.items():
        assert loss.schedule(progress) == pytest.approx(values), progress
    assert CrownIbpBatchLoss(eps=0.3, warmup=0.5, ramp=0.0).schedule(0.6) == pytest.approx((0.3, 0.0, 0.0))
    with pytest.raises(ValueError, match="warmup"):
        CrownIbpBatchLoss(eps=0.1, warmup=0.8, ramp=0.5)


def test_loss_decreases_on_a_tiny_problem():
    net = mlp(0, widths=(16,), inputs=4)
    gen = torch.Generator().manual_seed(0)
    x = torch.rand(64, 4, generator=gen, dtype=torch.float64)
    y = (x[:, 0] > x[:, 1]).long() + (x[:, 2] > 0.7).long()  # 3 classes
    batch_loss = CrownIbpBatchLoss(eps=0.03, warmup=0.0, ramp=0.0, kappa_end=0.5, beta_end=0.5)
    optimiser = torch.optim.Adam(net.parameters(), lr=0.02)
    losses = []
    for _ in range(60):
        out = batch_loss(net, x, y, 1.0)
        assert isinstance(out, BatchOutput) and set(out.metrics) == {"eps", "kappa", "beta", "robust_error"}
        optimiser.zero_grad()
        out.loss.backward()
        optimiser.step()
        losses.append(float(out.loss))
    assert losses[-1] < 0.6 * losses[0]
    assert float(out.metrics["robust_error"]) < 1.0


def test_warm_up_batch_is_plain_cross_entropy():
    net = mlp(1, inputs=4)
    x, y = torch.rand(5, 4, dtype=torch.float64), torch.tensor([0, 1, 2, 0, 1])
    out = CrownIbpBatchLoss(eps=0.1, warmup=0.5, ramp=0.5)(net, x, y, 0.1)
    assert torch.allclose(out.loss, torch.nn.functional.cross_entropy(net(x), y))
    assert float(out.metrics["robust_error"]) == float((net(x).argmax(1) != y).double().mean())


def test_robust_spec_accepts_crown_ibp():
    loss = RobustSpec("crown-ibp", 0.1, 0.4, None).batch_loss()
    assert isinstance(loss, CrownIbpBatchLoss) and loss.eps == 0.1 and loss.ramp == 0.4
    with pytest.raises(ValueError, match="projections"):
        RobustSpec("crown-ibp", 0.1, 0.4, 50).batch_loss()
    with pytest.raises(ValueError, match="wong, crown-ibp"):
        RobustSpec("ibp", 0.1, 0.4, None).batch_loss()
