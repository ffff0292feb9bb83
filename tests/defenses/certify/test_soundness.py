"""Soundness (DESIGN.md 7): no sampled point of the threat model and no PGD point ever leaves the
certified interval [lower, upper] of the dual bounds (Wong & Kolter 2018, Theorem 1), on
hypothesis-generated networks and on a briefly trained one. Also: interval bounds are never
tighter than dual bounds."""

from __future__ import annotations

import torch
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from torch import nn

from advlab.defenses.certify import LinfBall, dual_bounds, interval_bounds

from .conftest import POINTS_CHECKED, outputs_inside, small_conv_net


def _sample_points(x: torch.Tensor, ball: LinfBall, count: int, gen: torch.Generator) -> torch.Tensor:
    """(count, N, *shape): half uniform in the ball, half vertices (+-eps per pixel), clipped."""
    shape = (count, *x.shape)
    uniform = (torch.rand(shape, generator=gen, dtype=x.dtype) * 2 - 1) * ball.eps
    vertices = torch.randint(0, 2, shape, generator=gen).to(x.dtype) * 2 * ball.eps - ball.eps
    delta = torch.cat([uniform[: count // 2], vertices[count // 2 :]])
    return ball.project(x.expand(count, *x.shape), x + delta)


def _pgd_extremes(net, x, spec, ball, steps=20) -> torch.Tensor:
    """(2, N, S): PGD (signed gradient, projected) minimising and maximising each c^T f(x')."""
    results = []
    for sign in (1.0, -1.0):
        n, s = spec.shape[:2]
        z = x.unsqueeze(1).expand(n, s, *x.shape[1:]).reshape(n * s, *x.shape[1:]).clone()
        centre = z.clone()
        c = spec.reshape(n * s, -1)
        step = 2.5 * ball.eps / steps
        for _ in range(steps):
            z.requires_grad_(True)
            value = (net(z).flatten(1) * c).sum()
            (grad,) = torch.autograd.grad(sign * value, z)
            z = ball.project(centre, z.detach() - step * grad.sign())
        with torch.no_grad():
            results.append((net(z).flatten(1) * c).sum(1).view(n, s))
    return torch.stack(results)


def _random_net(draw_convs, widths, in_ch, size, seed):
    torch.manual_seed(seed)
    layers: list[nn.Module] = []
    c, h = in_ch, size
    for out_ch, k, stride, pad in draw_convs:
        if h + 2 * pad < k:  # the kernel no longer fits: stop adding convolutions
            break
        layers += [nn.Conv2d(c, out_ch, k, stride=stride, padding=pad), nn.ReLU()]
        c, h = out_ch, (h + 2 * pad - k) // stride + 1
    layers.append(nn.Flatten())
    features = c * h * h
    for w in widths:
        layers += [nn.Linear(features, w), nn.ReLU()]
        features = w
    layers.append(nn.Linear(features, 3))
    return nn.Sequential(*layers).double()


conv_spec = st.tuples(st.integers(1, 3), st.integers(1, 3), st.integers(1, 2), st.integers(0, 1))


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    convs=st.lists(conv_spec, max_size=2),
    widths=st.lists(st.integers(1, 8), max_size=3),
    eps=st.floats(0.001, 0.3),
    boxed=st.booleans(),
    seed=st.integers(0, 10_000),
)
def test_random_networks_are_sound(convs, widths, eps, boxed, seed) -> None:
    net = _random_net(convs, widths, 1, 7, seed)
    gen = torch.Generator().manual_seed(seed)
    x = torch.rand(3, 1, 7, 7, generator=gen, dtype=torch.float64)
    ball = LinfBall(eps, 0.0, 1.0) if boxed else LinfBall(eps)
    spec = torch.randn(3, 2, 3, generator=gen, dtype=torch.float64)
    bounds = dual_bounds(net, x, ball, spec=spec)
    logits_bounds = dual_bounds(net, x, ball)
    points = _sample_points(x, ball, 64, gen)  # (P, N, 1, 7, 7)
    with torch.no_grad():
        out = net(points.flatten(0, 1)).view(64, 3, 3)  # (P, N, outputs)
    assert outputs_inside(out, logits_bounds.lower, logits_bounds.upper, 1e-9)
    assert outputs_inside(torch.einsum("pno,nso->pns", out, spec), bounds.lower, bounds.upper, 1e-9)
    assert outputs_inside(_pgd_extremes(net, x, spec, ball), bounds.lower, bounds.upper, 1e-9)
    POINTS_CHECKED["sampled"] += 64 * 3
    POINTS_CHECKED["pgd"] += 2 * 3 * 2
    # Ordering: with tighten=True (dual intersected with intervals, still sound) interval
    # arithmetic is never tighter, at the output and at every ReLU.
    tight = dual_bounds(net, x, ball, spec=spec, tighten=True)
    assert outputs_inside(_pgd_extremes(net, x, spec, ball), tight.lower, tight.upper, 1e-9)
    bounds = tight
    ibounds = interval_bounds(net, x, ball, spec=spec)
    assert bool((ibounds.lower <= bounds.lower + 1e-9).all())
    assert bool((ibounds.upper >= bounds.upper - 1e-9).all())
    for (il, iu), (dl, du) in zip(ibounds.relu_bounds, bounds.relu_bounds, strict=True):
        assert bool((il <= dl + 1e-9).all()) and bool((iu >= du - 1e-9).all())


def test_briefly_trained_network_is_sound() -> None:
    """A small conv net trained a few steps with the robust loss: dual bounds hold against
    2,000 sampled points per input and PGD on every margin."""
    from advlab.defenses.certify import robust_loss

    net = small_conv_net(seed=3)
    gen = torch.Generator().manual_seed(0)
    x = torch.rand(16, 1, 12, 12, generator=gen)
    y = torch.randint(0, 3, (16,), generator=gen)
    opt = torch.optim.Adam(net.parameters(), lr=1e-2)
    ball = LinfBall(0.05, 0.0, 1.0)
    first = None
    for _ in range(15):
        loss, _ = robust_loss(net, x, y, ball)
        first = float(loss.detach()) if first is None else first
        opt.zero_grad()
        loss.backward()
        opt.step()
    assert float(loss.detach()) < first  # training moved the robust loss down
    net = net.double()
    x = x.double()
    lower, upper = dual_bounds(net, x, ball)
    points = _sample_points(x, ball, 2000, gen)
    with torch.no_grad():
        out = net(points.flatten(0, 1)).view(2000, 16, 3)
    assert outputs_inside(out, lower, upper, 1e-9)
    eye = torch.eye(3, dtype=torch.float64)
    margins = (eye.unsqueeze(1) - eye.unsqueeze(0)).reshape(9, 3)  # all e_i - e_j
    spec = margins.unsqueeze(0).expand(16, 9, 3)
    bounds = dual_bounds(net, x, ball, spec=spec)
    assert outputs_inside(_pgd_extremes(net, x, spec, ball, steps=30), bounds.lower, bounds.upper, 1e-9)
    POINTS_CHECKED["sampled"] += 2000 * 16
    POINTS_CHECKED["pgd"] += 2 * 16 * 9


def test_paper_relaxation_can_be_looser_than_intervals_for_one_unit() -> None:
    """Why `tighten` exists: with one hidden unit in [-1, 1] the fixed slope u/(u-l) = 1/2 gives
    the lower line z >= z_hat / 2, so the dual lower bound of relu(z_hat) is -1/2 where interval
    arithmetic gives 0. Over whole layers the dual is far tighter (see the wong-small test)."""
    net = nn.Sequential(nn.Linear(1, 1), nn.ReLU(), nn.Linear(1, 1)).double()
    with torch.no_grad():
        for layer in (net[0], net[2]):
            layer.weight.fill_(1.0)
            layer.bias.zero_()
    x = torch.zeros(1, 1, dtype=torch.float64)
    ball = LinfBall(1.0)
    net.requires_grad_(False)
    assert float(dual_bounds(net, x, ball).lower) == -0.5
    assert float(interval_bounds(net, x, ball).lower) == 0.0
    assert float(dual_bounds(net, x, ball, tighten=True).lower) == 0.0


def test_dual_is_much_tighter_than_intervals_on_a_conv_net() -> None:
    net = small_conv_net(seed=5).double()
    x = torch.rand(8, 1, 12, 12, generator=torch.Generator().manual_seed(5), dtype=torch.float64)
    ball = LinfBall(0.05, 0.0, 1.0)
    dual, box = dual_bounds(net, x, ball), interval_bounds(net, x, ball)
    dual_width, box_width = (dual.upper - dual.lower).mean(), (box.upper - box.lower).mean()
    assert float(dual_width.detach()) < 0.8 * float(box_width.detach())
