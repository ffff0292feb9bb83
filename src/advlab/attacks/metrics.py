"""Robustness measures of Moosavi-Dezfooli et al. 2016 (DeepFool), eq. (15): rho_adv."""

from __future__ import annotations

import torch

from advlab.attacks.threat import flat_norm, validate_norm
from advlab.types import Norm


def relative_perturbation(x: torch.Tensor, x_adv: torch.Tensor, norm: Norm = "l2") -> torch.Tensor:
    """||x_adv - x||_p / ||x||_p per sample, (N,), for x, x_adv of shape (N, *S)."""
    validate_norm(norm)
    if x.shape != x_adv.shape:
        raise ValueError(f"x {tuple(x.shape)} and x_adv {tuple(x_adv.shape)} must have the same shape")
    return flat_norm(x_adv - x, norm) / flat_norm(x, norm).clamp_min(1e-12)


def rho_adv(x: torch.Tensor, x_adv: torch.Tensor, norm: Norm = "l2") -> float:
    """Average robustness rho_adv(f) = |D|^-1 sum_x ||r(x)||_p / ||x||_p (DeepFool, eq. 15).

    x, x_adv: (N, *S) clean and adversarial inputs (r = x_adv - x). ``norm="l2"`` is Table 1
    of the paper; ``norm="linf"`` is its Table 2 (linf DeepFool against FGSM).
    """
    if x.shape[0] == 0:
        raise ValueError("rho_adv needs at least one sample")
    return float(relative_perturbation(x, x_adv, norm).mean())
