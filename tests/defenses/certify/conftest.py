"""Shared helpers for the certification tests: small random networks and a counter of the
points checked for soundness (printed in the terminal summary)."""

from __future__ import annotations

import torch
from torch import nn

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
