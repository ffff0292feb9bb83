"""Network sparsity: l1 budgets on the weights of every neuron (Gopalakrishnan et al. 2018).

Theorem 2 of arXiv 1810.10625 (v1, "Toward robust neural networks via sparsification")
bounds the growth of an l_inf attack through a network whose rows satisfy
``||w_ij||_1 <= gamma_j`` (neuron i of layer j; a conv filter is one row over its
in_channels x kh x kw inputs). Training keeps the budgets by projected gradient descent:
after every optimiser step each row is projected onto its l1 ball (Duchi, Shalev-Shwartz,
Singer & Chandra 2008, "Efficient projections onto the l1-ball for learning in high
dimensions", Figure 1), all rows of a layer at once.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import torch
from torch import nn

WEIGHT_LAYERS = (nn.Linear, nn.Conv1d, nn.Conv2d, nn.Conv3d)


def project_l1_ball(v: torch.Tensor, radius: float | torch.Tensor) -> torch.Tensor:
    """Euclidean projection of every row of v (R, D) onto the l1 ball of `radius` (scalar or (R,)).

    Duchi et al. 2008, Figure 1 (sort-based, O(D log D) per row): rows inside the ball are
    returned unchanged; for the others, with u = |v| sorted decreasingly and its prefix sums
    s_j, rho = max{j : u_j - (s_j - z)/j > 0}, theta = (s_rho - z)/rho and
    w = sign(v) * max(|v| - theta, 0), so ||w||_1 = z. Batched over rows, no Python loop.
    """
    if v.ndim != 2:
        raise ValueError(f"project_l1_ball expects rows (R, D), got shape {tuple(v.shape)}")
    z = torch.as_tensor(radius, dtype=v.dtype, device=v.device).expand(v.shape[0])  # (R,)
    if bool((z < 0).any()):
        raise ValueError(f"the l1 radius must be >= 0, got {radius!r}")
    magnitude = v.abs()  # (R, D)
    u = magnitude.sort(dim=1, descending=True).values  # (R, D)
    prefix = u.cumsum(dim=1)  # (R, D): s_j
    j = torch.arange(1, v.shape[1] + 1, dtype=v.dtype, device=v.device)  # (D,)
    active = (u - (prefix - z[:, None]) / j) > 0  # (R, D): true on a prefix j <= rho
    count = active.sum(dim=1).clamp_min(1)  # (R,) rho (>= 1 whenever z > 0)
    theta = (prefix.gather(1, (count - 1)[:, None]).squeeze(1) - z) / count  # (R,)
    projected = v.sign() * (magnitude - theta[:, None]).clamp_min(0)
    inside = magnitude.sum(dim=1) <= z  # (R,) already feasible: unchanged
    return torch.where(inside[:, None], v, projected)


def weight_layers(model: nn.Module) -> list[tuple[str, nn.Module]]:
    """(name, module) of every Linear / Conv layer of `model`, in module order: the layers
    j = 1..L of Theorem 2 that an l1 budget constrains."""
    return [(name, m) for name, m in model.named_modules() if isinstance(m, WEIGHT_LAYERS)]


def row_l1_norms(layer: nn.Module) -> torch.Tensor:
    """(out_features,) l1 norm of each neuron's weights (each filter of a conv layer)."""
    weight = _weight(layer).detach()
    return weight.reshape(weight.shape[0], -1).abs().sum(1)


def _weight(layer: nn.Module) -> torch.Tensor:
    weight = layer.weight
    assert isinstance(weight, torch.Tensor)
    return weight


@dataclass(frozen=True)
class L1Budget:
    """Per-layer l1 budgets gamma_j on the rows of a network's weight layers.

    gammas: one value for every weight layer, or one per weight layer in module order
    (`weight_layers`); ``inf`` leaves a layer unconstrained. Call as ``budget(model, step)``:
    the `train.fit` after_step hook that projects every row onto its ball (projected SGD)."""

    gammas: tuple[float, ...]

    def __post_init__(self) -> None:
        if not self.gammas:
            raise ValueError("an l1 budget needs at least one gamma")
        for g in self.gammas:
            if not (g > 0 and not math.isnan(g)):
                raise ValueError(f"l1 budgets gamma must be > 0 (or inf), got {g!r}")

    @classmethod
    def parse(cls, text: str) -> L1Budget:
        """``"2"`` (every layer) or ``"4,2,1"`` (layer by layer; ``inf`` = unconstrained)."""
        try:
            gammas = tuple(float(part) for part in text.split(",") if part.strip())
        except ValueError:
            raise ValueError(
                f"--l1-budget must be GAMMA or GAMMA1,GAMMA2,... (numbers > 0, or inf), got {text!r}"
            ) from None
        return cls(gammas)

    def per_layer(self, model: nn.Module) -> list[float]:
        """The budget of each weight layer of `model`; errors name the layers when the count
        of gammas matches neither 1 nor the number of weight layers."""
        layers = weight_layers(model)
        if not layers:
            raise ValueError("the model has no Linear or Conv layer to put an l1 budget on")
        if len(self.gammas) == 1:
            return [self.gammas[0]] * len(layers)
        if len(self.gammas) != len(layers):
            names = ", ".join(f"{n} ({type(m).__name__})" for n, m in layers)
            raise ValueError(f"--l1-budget has {len(self.gammas)} values but the model has "
                             f"{len(layers)} weight layers: {names}; give 1 or {len(layers)}")  # fmt: skip
        return list(self.gammas)

    def __call__(self, model: nn.Module, step: int = 0) -> None:
        """Project every row of every weight layer onto its l1 ball, in place (no autograd)."""
        with torch.no_grad():
            for (_, layer), gamma in zip(weight_layers(model), self.per_layer(model), strict=True):
                if math.isinf(gamma):
                    continue
                weight = _weight(layer)
                rows = weight.reshape(weight.shape[0], -1)  # (out, fan_in); a copy if channels-last
                weight.copy_(project_l1_ball(rows, gamma).reshape(weight.shape))

    def describe(self) -> str:
        """A short name for cache keys and tables, e.g. ``l1[4,2]``."""
        return "l1[" + ",".join(f"{g:g}" for g in self.gammas) + "]"


def satisfies(model: nn.Module, gammas: Sequence[float], tolerance: float = 1e-5) -> bool:
    """Whether every row of every weight layer has l1 norm <= its gamma (relative tolerance)."""
    return all(bool((row_l1_norms(layer) <= g * (1 + tolerance)).all())
               for (_, layer), g in zip(weight_layers(model), gammas, strict=True))  # fmt: skip
