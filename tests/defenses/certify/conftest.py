"""Shared helpers of the certification tests: small seeded networks (float32 and float64),
points of the ball, and a counter of the points checked for soundness (printed in the
terminal summary)."""

from __future__ import annotations

import torch
from torch import nn

from advlab.defenses.certify import LinfBall

POINTS_CHECKED = {"sampled": 0, "pgd": 0}


def pytest_terminal_summary(terminalreporter, exitstatus, config):  # noqa: ARG001
    if POINTS_CHECKED["sampled"] or POINTS_CHECKED["pgd"]:
        terminalreporter.write_line(
            f"certify soundness: {POINTS_CHECKED['sampled']} sampled points and "
            f"{POINTS_CHECKED['pgd']} PGD points checked, none outside the bounds"
        )


def small_conv_net(seed: int = 0, dtype: torch.dtype = torch.float32) -> nn.Sequential:
    """conv 4@3x3 s2 p1 on 1x12x12 -> ReLU -> conv 6@3x3 s1 p0 -> ReLU -> fc 10 -> ReLU -> fc 3."""
    torch.manual_seed(seed)
    return nn.Sequential(
        nn.Conv2d(1, 4, 3, stride=2, padding=1), nn.ReLU(),
        nn.Conv2d(4, 6, 3), nn.ReLU(), nn.Flatten(),
        nn.Linear(6 * 4 * 4, 10), nn.ReLU(), nn.Linear(10, 3),
    ).to(dtype)  # fmt: skip


def outputs_inside(out: torch.Tensor, lower: torch.Tensor, upper: torch.Tensor, tol: float) -> bool:
    """All outputs (P, N, S) inside [lower - tol, upper + tol] with lower, upper (N, S)."""
    scale = tol * (1 + lower.abs().max() + upper.abs().max())
    return bool(((out >= lower - scale) & (out <= upper + scale)).all())




def mlp(seed: int, widths: tuple[int, ...] = (8, 6), inputs: int = 4, outputs: int = 3) -> nn.Sequential:
    """Linear/ReLU network inputs -> widths -> outputs, float64, weights from `seed`."""
    torch.manual_seed(seed)
    layers: list[nn.Module] = []
    features = inputs
    for w in widths:
        layers += [nn.Linear(features, w), nn.ReLU()]
        features = w
    layers.append(nn.Linear(features, outputs))
    return nn.Sequential(*layers).double()


def conv_net(seed: int) -> nn.Sequential:
    """conv 4@3x3 s2 p1 on 1x8x8 -> ReLU -> avgpool 2 -> conv 5@2x2 -> ReLU -> fc 6 -> ReLU -> fc 3."""
    torch.manual_seed(seed)
    return nn.Sequential(
        nn.Conv2d(1, 4, 3, stride=2, padding=1), nn.ReLU(), nn.AvgPool2d(2),
        nn.Conv2d(4, 5, 2), nn.ReLU(), nn.Flatten(), nn.Linear(5, 6), nn.ReLU(), nn.Linear(6, 3),
    ).double()  # fmt: skip


def uniform_points(x: torch.Tensor, ball: LinfBall, count: int, gen: torch.Generator) -> torch.Tensor:
    """(count, N, *shape) points drawn uniformly from the ball (clipped to the input box)."""
    delta = (torch.rand((count, *x.shape), generator=gen, dtype=x.dtype) * 2 - 1) * ball.eps
    return ball.project(x.expand(count, *x.shape), x + delta)


def pgd_extremes(net: nn.Module, x: torch.Tensor, spec: torch.Tensor, ball: LinfBall,
                 steps: int = 30) -> torch.Tensor:  # fmt: skip
    """(2, N, S): signed-gradient PGD minimising and maximising every c^T f(x') in the ball."""
    n, s = spec.shape[:2]
    c = spec.reshape(n * s, -1)
    centre = x.unsqueeze(1).expand(n, s, *x.shape[1:]).reshape(n * s, *x.shape[1:])
    out = []
    for sign in (1.0, -1.0):
        z = centre.clone()
        for _ in range(steps):
            z.requires_grad_(True)
            (grad,) = torch.autograd.grad(sign * (net(z).flatten(1) * c).sum(), z)
            z = ball.project(centre, z.detach() - 2.5 * ball.eps / steps * grad.sign())
        with torch.no_grad():
            out.append((net(z).flatten(1) * c).sum(1).view(n, s))
    return torch.stack(out)
