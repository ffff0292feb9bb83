"""Random Cauchy projections for the activation bounds (Wong, Schmidt, Metzen & Kolter 2018,
"Scaling provable adversarial defenses", Section 3.2).

The exact bound of unit j of a layer needs, for every interval source of the relaxed network
(the input box with radius r, and every ReLU's offset ``[0, -t]`` with radius ``o_r = -t/2``,
layers.py), the l1 norm ``||(A diag(radius))_j||_1`` of row j of the linear map A from that
source to the layer. With R a matrix of k i.i.d. standard Cauchy vectors, ``(A diag(radius) R)_j``
is Cauchy with scale ``||(A diag(radius))_j||_1``, so

    ||(A diag(radius))_j||_1 ~= median(|A diag(radius) R|_j)          (median estimator)

and ``A diag(radius) R`` costs k forward passes of the linearised network instead of one
backward pass per unit. The centres (x and every offset centre: the biases b and -t/2) are
pushed forward exactly as psi. Bounds: ``psi -/+ sum over sources of the estimates``; for a
ReLU source that is the paper's ``1/2 (-(P t)_j) -/+ 1/2 ||(P diag(t))_j||_1``.
"""

from __future__ import annotations

import torch
from torch import Tensor

from advlab.defenses.certify.layers import BoundLayer


def _cauchy(like: Tensor, k: int, generator: torch.Generator | None) -> Tensor:
    """(1, k, *shape) i.i.d. standard Cauchy samples on like's device/dtype (like: (N, *shape)).

    One R for the whole batch, as convex_adversarial does for the input: each sample's
    estimate is still a median of k independent Cauchy variables, and drawing N times fewer
    random numbers matters (sampling was a quarter of a training step)."""
    out = torch.empty((1, k, *like.shape[1:]), dtype=like.dtype, device=like.device)
    return out.cauchy_(generator=generator)


class CauchyProjections:
    """Forward-mode estimate of Algorithm 1's bounds with k Cauchy projections.

    Keeps, through the relaxed network: ``psi`` (N, *shape), the image of the input centre with
    every offset centre; and ``sources`` (N, k, *shape) each, the images of ``radius * R`` of the
    input and of every layer with an offset radius (the ReLUs), with fresh R per source.
    """

    def __init__(self, centre: Tensor, radius: Tensor, k: int, generator: torch.Generator | None):
        self.k, self.generator = k, generator
        self.psi = centre  # (N, *shape)
        self.sources = [radius.unsqueeze(1) * _cauchy(centre, k, generator)]  # [(N, k, *shape)]

    def push(self, layer: BoundLayer) -> None:
        """Push every term through the (relaxed) layer ``z -> L z + o``; a layer with an offset
        radius (a bounded ReLU) starts a new projected source."""
        self.psi = layer.affine(self.psi)
        self.sources = [layer.linear(v) for v in self.sources]
        radius = layer.offset_radius
        if radius is not None:
            self.sources.append(radius.unsqueeze(1) * _cauchy(radius, self.k, self.generator))

    def bounds(self) -> tuple[Tensor, Tensor]:
        """Estimated (l, u) of the current layer, each (N, *shape)."""
        spread = sum((v.abs().median(dim=1).values for v in self.sources), torch.zeros_like(self.psi))
        return self.psi - spread, self.psi + spread
