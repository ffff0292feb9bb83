"""Theorem 2 of Gopalakrishnan et al. (arXiv 1810.10625 v1): how far an l_inf attack can travel.

If ``||e_0||_inf <= eps`` and every neuron i of layer j has ``||w_ij||_1 <= gamma_j``, then
the perturbation of layer j's output obeys ``||e_j||_inf <= eps * prod_{l<=j} gamma_l``:
|w . (a + e) - w . a| <= ||w||_1 ||e||_inf, and ReLU, max/average pooling and flattening do
not increase the l_inf norm of a difference. `theorem2_bounds` evaluates the bound of a
trained network with the budgets it actually has (the largest row l1 norm of each layer, which
is at most the gamma it was trained with); `layer_perturbations` measures ||e_j||_inf.
Fixed affine layers between weight layers multiply the bound by their own l_inf gain
(`Normalize`: 1/min(std); BatchNorm in eval: max |scale|; the two-class read-out: 1/2), so
the bound stays sound for the registry's models; other layers are refused by name.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import nn

from advlab.defenses.sparsity.l1 import WEIGHT_LAYERS, row_l1_norms
from advlab.models.layers import Normalize, sequential_layers
from advlab.models.sparsity_nets import TwoClassLogits

# Layers whose output difference is at most their input difference in l_inf (gain 1).
NON_EXPANSIVE = (
    nn.ReLU, nn.ReLU6, nn.Tanh, nn.Sigmoid, nn.Hardtanh, nn.MaxPool1d, nn.MaxPool2d, nn.MaxPool3d,
    nn.AvgPool1d, nn.AvgPool2d, nn.AvgPool3d, nn.AdaptiveAvgPool1d, nn.AdaptiveAvgPool2d,
    nn.AdaptiveMaxPool2d, nn.Flatten, nn.Identity, nn.Dropout,
)  # fmt: skip


@dataclass(frozen=True)
class LayerBound:
    """Theorem 2 at weight layer j: its name, its gamma_j (largest row l1 norm), and the bound
    eps * prod_{l<=j} gain_l on ||e_j||_inf at its output (gain: gamma of each weight layer
    and the l_inf gain of each fixed affine layer before it)."""

    index: int
    name: str
    kind: str
    gamma: float
    bound: float


def _gain(layer: nn.Module) -> float:
    """l_inf gain of one layer: max row l1 norm for weight layers; see the module docstring."""
    if isinstance(layer, WEIGHT_LAYERS):
        return float(row_l1_norms(layer).max())
    if isinstance(layer, NON_EXPANSIVE) or (isinstance(layer, nn.LeakyReLU) and abs(layer.negative_slope) <= 1):
        return 1.0
    if isinstance(layer, Normalize):
        return float(1.0 / layer.std.min())
    if isinstance(layer, TwoClassLogits):
        return 0.5
    if isinstance(layer, nn.BatchNorm1d | nn.BatchNorm2d) and not layer.training and layer.running_var is not None:
        scale = (layer.running_var + layer.eps).rsqrt()
        if layer.weight is not None:
            scale = scale * layer.weight.detach()
        return float(scale.abs().max())
    raise ValueError(
        f"Theorem 2 has no l_inf gain for layer {type(layer).__name__}; supported: Linear, Conv, "
        "ReLU-like activations, pooling, Flatten, Dropout, Normalize, BatchNorm (eval) "
        "(a sparsifying front end is not l_inf non-expansive: bound the classifier behind it)"
    )


def theorem2_bounds(model: nn.Module, eps: float) -> list[LayerBound]:
    """Per weight layer j of the sequential `model`: ``eps * prod_{l<=j} gamma_l`` (Theorem 2).

    gamma_l is measured from the weights (largest row / filter l1 norm), so the bound holds
    for the network as it is, whatever budget it was trained with. eps: the l_inf radius of
    the input perturbation (> 0)."""
    if not eps > 0:
        raise ValueError(f"eps must be > 0, got {eps!r}")
    names = {id(m): n for n, m in model.named_modules()}
    bounds: list[LayerBound] = []
    running = float(eps)
    for layer in sequential_layers(model):
        gain = _gain(layer)
        running *= gain
        if isinstance(layer, WEIGHT_LAYERS):
            bounds.append(LayerBound(len(bounds) + 1, names.get(id(layer), type(layer).__name__),
                                     type(layer).__name__, gain, running))  # fmt: skip
    if not bounds:
        raise ValueError("the model has no Linear or Conv layer: Theorem 2 bounds nothing")
    return bounds


def layer_perturbations(model: nn.Module, x: torch.Tensor, x_perturbed: torch.Tensor) -> torch.Tensor:
    """(L, N) measured ``||e_j||_inf``: the largest change of each weight layer's output
    (before its activation) between inputs x and x_perturbed (N, ...), layer by layer."""
    layers = [m for m in sequential_layers(model) if isinstance(m, WEIGHT_LAYERS)]
    outputs: list[torch.Tensor] = []

    def keep(_: nn.Module, __: tuple[torch.Tensor, ...], out: torch.Tensor) -> None:
        outputs.append(out.detach().flatten(1))

    hooks = [layer.register_forward_hook(keep) for layer in layers]
    try:
        with torch.no_grad():
            model(x)
            model(x_perturbed)
    finally:
        for hook in hooks:
            hook.remove()
    clean, perturbed = outputs[: len(layers)], outputs[len(layers) :]
    return torch.stack([(p - c).abs().amax(1) for c, p in zip(clean, perturbed, strict=True)])

