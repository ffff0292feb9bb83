"""Attacking and building classifiers behind the sparsifying front end (Gopalakrishnan et al. 2018).

The layer itself is `advlab.models.sparsifying.SparsifyingFrontEnd` (a model part, so that
checkpoints rebuild); here: choosing the gradient an attack sees through it, the
``BASIS:RHO[:LEVEL]`` spec of the command line, the registry arguments of a classifier behind
a front end, and the output distortion of a linear classifier (the paper's K/N result).
"""

from __future__ import annotations

import copy
import itertools
from dataclasses import dataclass
from typing import Any

import torch
from torch import nn

from advlab.models.sparse_basis import basis_names
from advlab.models.sparsifying import GRADIENT_MODES, GradientMode, SparsifyingFrontEnd


def front_ends(model: nn.Module) -> list[SparsifyingFrontEnd]:
    """Every `SparsifyingFrontEnd` inside `model` (in module order)."""
    return [m for m in model.modules() if isinstance(m, SparsifyingFrontEnd)]


def with_gradient(model: nn.Module, gradient: GradientMode) -> nn.Module:
    """A view of `model` whose front ends pass `gradient` ("exact" or "bpda") backwards.

    Attacks take the model at call time, so an evaluation chooses the gradient per attack:
    ``PGD(eps=0.1)(with_gradient(net, "bpda"), x, y)``. The view shares every parameter and
    buffer tensor with `model` (a copy of the module objects only) and evaluates to the same
    values; `model` itself is not changed. See `SparsifyingFrontEnd` for which to use (both,
    keeping the worse outcome per sample: Athalye et al. 2018). Raises ValueError when the
    model has no front end (a gradient choice would silently do nothing)."""
    if gradient not in GRADIENT_MODES:
        raise ValueError(f"unknown gradient {gradient!r}; valid: {', '.join(GRADIENT_MODES)}")
    if not front_ends(model):
        raise ValueError("the model has no SparsifyingFrontEnd; there is no front-end gradient to choose")
    shared = {id(t): t for t in itertools.chain(model.parameters(), model.buffers())}
    view = copy.deepcopy(model, memo=shared)
    for layer in front_ends(view):
        layer.gradient = gradient
    return view


@dataclass(frozen=True)
class FrontEndSpec:
    """A front end as given on the command line: ``BASIS:RHO[:LEVEL]``, e.g. ``coif1:0.035``
    (level 1), ``db5:0.03:2``, ``dct:0.1``. rho: fraction of coefficients kept, in (0, 1]."""

    basis: str = "coif1"
    rho: float = 0.035
    level: int = 1

    @classmethod
    def parse(cls, text: str) -> FrontEndSpec:
        """Parse ``BASIS:RHO[:LEVEL]``; errors name the option, the value and the valid forms."""
        parts = text.strip().split(":")
        form = "--front-end must look like BASIS:RHO[:LEVEL], e.g. coif1:0.035 or db5:0.03:2"
        if len(parts) not in (2, 3) or not parts[0]:
            raise ValueError(f"{form}; got {text!r}")
        basis = parts[0].strip().lower()
        if basis not in basis_names():
            raise ValueError(f"--front-end {text!r}: unknown basis {basis!r}; valid: {', '.join(basis_names())}")
        try:
            rho = float(parts[1])
            level = int(parts[2]) if len(parts) == 3 else 1
        except ValueError:
            raise ValueError(f"{form}; got {text!r}") from None
        if not 0.0 < rho <= 1.0:
            raise ValueError(f"--front-end {text!r}: RHO (fraction of coefficients kept) must be in (0, 1], got {rho}")
        if level < 1:
            raise ValueError(f"--front-end {text!r}: LEVEL must be >= 1, got {level}")
        return cls(basis, rho, level)

    def __str__(self) -> str:
        return f"{self.basis}:{self.rho:g}" + (f":{self.level}" if self.level != 1 else "")

    def model_args(self, classifier: str, classifier_args: dict[str, Any]) -> dict[str, Any]:
        """Registry arguments of ``create("sparsified", ...)``: `classifier` (a registry name)
        with its `classifier_args` (in_channels, num_classes, image_size and the rest)
        behind this front end. The result is what a checkpoint's "model_args" holds."""
        if classifier == "sparsified":
            raise ValueError("the model already has a front end ('sparsified'); pass the inner classifier")
        common = ("in_channels", "num_classes", "image_size")
        inner = {k: v for k, v in classifier_args.items() if k not in common}
        return {**{k: classifier_args[k] for k in common if k in classifier_args}, "classifier": classifier,
                "classifier_args": inner, "basis": self.basis, "level": self.level, "rho": self.rho}  # fmt: skip


def linear_output_distortion(front_end: SparsifyingFrontEnd, weight: torch.Tensor, x: torch.Tensor,
                             perturbation: torch.Tensor) -> torch.Tensor:
    """Output distortion ``w . (f(x + e) - f(x))`` of the linear score w . f(x) (N,).

    Gopalakrishnan et al. 2018 (arXiv 1803.03880, Section 2): without a front end an l_inf
    attack e = eps sign(w) moves the score by eps ||w||_1; through a front end f that keeps K
    of N coefficients it moves it by about (K/N) eps ||w||_1 (exactly K/N on average over
    supports, for an orthonormal basis, away from the clipping bounds). weight: (C, H, W) or
    (N, C, H, W); x, perturbation: (N, C, H, W)."""
    with torch.no_grad():
        change = front_end(x + perturbation) - front_end(x)  # (N, C, H, W)
        return (change * weight).flatten(1).sum(1)
