"""Assertions shared by the attack tests."""

from __future__ import annotations

import torch
from torch import nn


def assert_fgsm_signs_agree(model: nn.Module, x: torch.Tensor, y: torch.Tensor, a: torch.Tensor,
                             b: torch.Tensor) -> None:
    """Two FGSM-like steps from x agree except in pixels where the loss gradient at x is within
    rounding of zero (two computations: such a coordinate may take the other sign on other
    CPU kernels); elsewhere they agree to float32 rounding."""
    differ = (a - b).abs() > 1e-5
    if not bool(differ.any()):
        return
    x = x.clone().requires_grad_(True)
    (grad,) = torch.autograd.grad(nn.functional.cross_entropy(model(x), y, reduction="sum"), x)
    scale = grad.abs().flatten(1).amax(1).view(-1, *[1] * (x.ndim - 1))  # (N, 1, ...) per sample
    tiny = grad.abs() <= 1e-5 * scale
    assert bool(tiny[differ].all()), f"{int((differ & ~tiny).sum())} pixels with a clear gradient differ"
