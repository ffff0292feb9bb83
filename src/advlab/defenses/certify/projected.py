"""Random Cauchy projections for the activation bounds (Wong, Schmidt, Metzen & Kolter 2018,
"Scaling provable adversarial defenses", Section 3.2).

The exact bound of unit j of a layer needs ``||nu_hat_1||_1`` (the l1 norm of row j of the linear
map A from the input to that layer, scaled by the radius) and, per earlier ReLU layer with map P
from its output to unit j, ``sum_{i in I} l_i [nu_i]_+``. With R a matrix of k i.i.d. standard
Cauchy vectors, ``(A R)_j`` is Cauchy with scale ``||A_j||_1``, so

    ||A_j||_1 ~= median(|A R|_j)                                   (median estimator)

and ``A R`` costs k forward passes of the linearised network instead of one backward pass per
unit. The ReLU term uses ``[v]_+ = (v + |v|) / 2``:

    sum_{i in I} l_i [nu_i]_+ = 1/2 (-(P t)_j) - 1/2 ||(P diag(t))_j||_1     (lower bound)
                              = 1/2 (-(P t)_j) + 1/2 ||(P diag(t))_j||_1     (upper bound)

with ``t = D l`` on I: one exact forward pass of t and k projected passes of ``t * R``.
"""

from __future__ import annotations

import torch
from torch import Tensor

from advlab.defenses.certify.layers import AffineLayer, ReLURelaxation


def _cauchy(like: Tensor, k: int, generator: torch.Generator | None) -> Tensor:
    """(N, k, *shape) i.i.d. standard Cauchy samples on like's device/dtype (like: (N, *shape))."""
    out = torch.empty((like.shape[0], k, *like.shape[1:]), dtype=like.dtype, device=like.device)
    return out.cauchy_(generator=generator)


class CauchyProjections:
    """Forward-mode estimate of Algorithm 1's bounds with k Cauchy projections.

    Keeps, through the linearised network (affine maps, and D at every ReLU):
    ``psi`` (N, *shape), the image of the input centre with all offsets b (psi of Algorithm 1);
    ``inputs`` (N, k, *shape), the image of ``radius * R``; and per ReLU layer the image of t
    (N, 1, *shape) and of ``t * R`` (N, k, *shape).
    """

    def __init__(self, centre: Tensor, radius: Tensor, k: int, generator: torch.Generator | None):
        self.k, self.generator = k, generator
        self.psi = centre  # (N, *shape)
        self.inputs = radius.unsqueeze(1) * _cauchy(centre, k, generator)  # (N, k, *shape)
        self.relus: list[tuple[Tensor, Tensor]] = []  # [(P t (N,1,*), P (t R) (N,k,*))]

    @staticmethod
    def _linear(layer: AffineLayer, v: Tensor) -> Tensor:
        n, k = v.shape[:2]
        return layer.linear(v.flatten(0, 1)).unflatten(0, (n, k))  # (N, k, *out_shape)

    def affine(self, layer: AffineLayer) -> None:
        """Push every term through ``z -> W z + b`` (b only on psi)."""
        self.psi = layer.affine(self.psi)
        self.inputs = self._linear(layer, self.inputs)
        self.relus = [(self._linear(layer, t), self._linear(layer, p)) for t, p in self.relus]

    def relu(self, relax: ReLURelaxation) -> None:
        """Multiply every term by D, then start the terms of this ReLU layer."""
        d = relax.d.unsqueeze(1)  # (N, 1, *shape)
        self.psi = relax.d * self.psi
        self.inputs = d * self.inputs
        self.relus = [(d * t, d * p) for t, p in self.relus]
        t = relax.t.unsqueeze(1)  # (N, 1, *shape)
        self.relus.append((t, t * _cauchy(relax.t, self.k, self.generator)))

    def bounds(self) -> tuple[Tensor, Tensor]:
        """Estimated (l, u) of the current layer, each (N, *shape)."""
        spread = self.inputs.abs().median(dim=1).values  # ~ r^T |nu_hat_1| per unit
        lower, upper = self.psi - spread, self.psi + spread
        for t, p in self.relus:
            half_exact = 0.5 * t[:, 0]  # 1/2 (P t)_j
            half_l1 = 0.5 * p.abs().median(dim=1).values  # 1/2 ||(P diag t)_j||_1
            lower = lower - half_exact - half_l1
            upper = upper - half_exact + half_l1
        return lower, upper
