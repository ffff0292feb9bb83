"""WGAN-GP gradient penalty against critics with known input gradients; WGAN weight clipping;
the max-norm constraint (pylearn2 max_col_norm) on closed-form weights and after training steps."""

from __future__ import annotations

import pytest
import torch
from torch import nn

from advlab.gan.penalties import (
    clip_weights_,
    critic_gradient_norms,
    gradient_penalty,
    max_norm_,
    random_interpolates,
)


class LinearCritic(nn.Module):
    """D(x) = w . vec(x) + b: its input gradient is w everywhere, so ||grad|| = ||w||."""

    def __init__(self, dim: int) -> None:
        super().__init__()
        self.linear = nn.Linear(dim, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.linear(x.flatten(1)).flatten()


class QuadraticCritic(nn.Module):
    """D(x) = 1/2 ||x||^2: its input gradient is x."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return 0.5 * x.flatten(1).pow(2).sum(dim=1)


def test_linear_critic_penalty_is_closed_form() -> None:
    torch.manual_seed(0)
    critic = LinearCritic(2 * 3 * 3)
    real, fake = torch.rand(5, 2, 3, 3), torch.rand(5, 2, 3, 3)
    w = critic.linear.weight  # (1, 18)
    norm_w = w.norm()
    penalty = gradient_penalty(critic, real, fake, weight=10.0)
    assert penalty.item() == pytest.approx(10.0 * (norm_w.item() - 1.0) ** 2, rel=1e-5)
    # its gradient w.r.t. w is 20 (||w|| - 1) w / ||w||: the penalty trains the critic
    penalty.backward()
    expected = 20.0 * (norm_w - 1.0) * w / norm_w
    assert torch.allclose(w.grad, expected.detach(), rtol=1e-4, atol=1e-6)


def test_unit_norm_linear_critic_has_zero_penalty() -> None:
    critic = LinearCritic(4)
    with torch.no_grad():
        critic.linear.weight.copy_(torch.tensor([[0.6, 0.0, 0.8, 0.0]]))
    x = torch.rand(3, 1, 2, 2)
    assert gradient_penalty(critic, x, torch.rand(3, 1, 2, 2)).item() == pytest.approx(0, abs=1e-6)


def test_penalty_evaluates_at_interpolates() -> None:
    # real == fake: every interpolate is x itself whatever eps is; grad of 1/2||x||^2 is x
    x = torch.rand(4, 1, 3, 3) * 2
    expected = 10.0 * ((x.flatten(1).norm(dim=1) - 1.0) ** 2).mean()
    got = gradient_penalty(QuadraticCritic(), x, x.clone(), weight=10.0)
    assert got.item() == pytest.approx(expected.item(), rel=1e-5)
    assert gradient_penalty(QuadraticCritic(), x, x, weight=2.5).item() == pytest.approx(
        expected.item() / 4, rel=1e-5
    )


def test_interpolates_use_one_uniform_eps_per_sample() -> None:
    real, fake = torch.ones(64, 3, 4, 4), torch.zeros(64, 3, 4, 4)
    x_hat = random_interpolates(real, fake, torch.Generator().manual_seed(1))
    eps = x_hat[:, 0, 0, 0]  # eps * 1 + (1 - eps) * 0
    assert x_hat.requires_grad and x_hat.is_leaf
    assert torch.allclose(x_hat, eps.view(-1, 1, 1, 1).expand_as(x_hat))  # one eps per sample
    assert eps.min() >= 0 and eps.max() <= 1 and eps.std() > 0.15  # spread over [0, 1]
    again = random_interpolates(real, fake, torch.Generator().manual_seed(1))
    assert torch.equal(x_hat, again)  # seeded
    with pytest.raises(ValueError, match="same shape"):
        random_interpolates(real, fake[:3])


def test_penalty_does_not_train_the_generator() -> None:
    generator = nn.Linear(3, 4)
    fake = generator(torch.randn(6, 3)).view(6, 1, 2, 2)
    critic = LinearCritic(4)
    gradient_penalty(critic, torch.rand(6, 1, 2, 2), fake).backward()
    assert generator.weight.grad is None and critic.linear.weight.grad is not None


def test_gradient_norms_check_critic_output() -> None:
    x = torch.rand(3, 4, requires_grad=True)
    with pytest.raises(ValueError, match=r"\(N,\)"):
        critic_gradient_norms(nn.Linear(4, 1), x)  # returns (N, 1)


def test_clip_weights_in_place() -> None:
    torch.manual_seed(0)
    module = nn.Sequential(nn.Linear(5, 5), nn.BatchNorm1d(5))
    before = [p.detach().clone() for p in module.parameters()]
    assert clip_weights_(module, 0.01) is module
    for old, new in zip(before, module.parameters(), strict=True):
        assert new.abs().max() <= 0.01
        assert torch.equal(new, old.clamp(-0.01, 0.01))  # the same elementwise clamp: exact
    with pytest.raises(ValueError, match="positive"):
        clip_weights_(module, 0.0)


def test_max_norm_rescales_only_units_outside_the_ball() -> None:
    linear = nn.Linear(2, 3)
    with torch.no_grad():
        linear.weight.copy_(torch.tensor([[3.0, 4.0], [0.3, 0.4], [0.0, 0.0]]))  # norms 5, 0.5, 0
        linear.bias.fill_(10.0)
    assert max_norm_(linear, 1.0) is linear
    # row j of an nn.Linear weight (out, in) is unit j's incoming vector: pylearn2's column j
    assert torch.allclose(linear.weight[0], torch.tensor([0.6, 0.8]))
    assert torch.equal(linear.weight[1], torch.tensor([0.3, 0.4]))  # inside: untouched exactly
    assert torch.equal(linear.weight[2], torch.zeros(2))  # a zero row stays finite
    assert torch.equal(linear.bias, torch.full((3,), 10.0))  # biases are not constrained
    with pytest.raises(ValueError, match="positive"):
        max_norm_(linear, 0.0)


def test_max_norm_on_convolutions_and_maxout_pieces() -> None:
    from advlab.models.gan.mlp import MaxoutDiscriminator

    torch.manual_seed(0)
    conv = nn.Conv2d(3, 4, 3)  # weight (out=4, in=3, 3, 3): one kernel per output channel
    deconv = nn.ConvTranspose2d(3, 4, 3)  # weight (in=3, out=4, 3, 3): units along dim 1
    maxout = MaxoutDiscriminator(image_size=4, channels=1, units=3, pieces=2)
    for module in (conv, deconv, maxout):
        with torch.no_grad():
            for p in module.parameters():
                p.mul_(100.0)
        max_norm_(module, 0.5)
    assert torch.allclose(conv.weight.flatten(1).norm(dim=1), torch.full((4,), 0.5))
    per_output = deconv.weight.transpose(0, 1).flatten(1).norm(dim=1)  # (4,)
    assert torch.allclose(per_output, torch.full((4,), 0.5))
    for layer in maxout.modules():
        if isinstance(layer, nn.Linear):  # (units * pieces, in): every piece is a unit
            assert layer.weight.norm(dim=1).max() <= 0.5 + 1e-6


def test_steps_keep_both_networks_inside_the_max_norm_ball() -> None:
    from advlab.gan.losses import OBJECTIVES
    from advlab.gan.steps import d_step, g_step
    from advlab.models.gan.mlp import goodfellow_mlp

    torch.manual_seed(0)
    G, D = goodfellow_mlp(image_size=8, channels=1, latent_dim=4, width=4)
    # lr 10: one unconstrained SGD step would leave most units far outside a 0.2 ball
    rule = OBJECTIVES["minimax"].rule.override(lr=10.0, max_norm=0.2)
    objective = OBJECTIVES["minimax"].with_overrides(rule=rule)
    opt_g, opt_d = rule.make_optimizer(G.parameters(), "G"), rule.make_optimizer(D.parameters(), "D")
    real = torch.rand(6, 1, 8, 8) * 2 - 1
    d_step(G, D, opt_d, real, torch.rand(6, 4) * 2 - 1, objective)
    g_step(G, D, opt_g, torch.rand(6, 4) * 2 - 1, objective)
    for net in (G, D):
        for layer in net.modules():
            if isinstance(layer, nn.Linear):
                assert layer.weight.norm(dim=1).max() <= 0.2 + 1e-6
