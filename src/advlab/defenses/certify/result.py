"""The result of a bounding method and the specification helpers shared by interval.py and dual.py."""

from __future__ import annotations

import math
from collections.abc import Iterator
from dataclasses import dataclass, field

import torch
from torch import Tensor


@dataclass(frozen=True)
class CertifiedBounds:
    """Lower and upper bounds of ``c^T f(x + delta)`` over the threat model.

    lower, upper: (N, S) for a specification tensor c (N, S, outputs), or (N, outputs) bounds on
    the logits when no specification was given. relu_bounds: the pre-activation bounds
    ``(l_i, u_i)`` of every ReLU in order, each (N, *shape) (Algorithm 1's output).
    Unpacks as ``lower, upper = bounds``.
    """

    lower: Tensor
    upper: Tensor
    relu_bounds: list[tuple[Tensor, Tensor]] = field(default_factory=list)

    def __iter__(self) -> Iterator[Tensor]:
        return iter((self.lower, self.upper))


def check_spec(spec: Tensor | None, x: Tensor, out_shape: tuple[int, ...]) -> Tensor | None:
    """Validate a specification tensor c (N, S, outputs) against the batch and the model output."""
    if spec is None:
        return None
    outputs = math.prod(out_shape)
    if spec.dim() != 3 or spec.shape[0] != x.shape[0] or spec.shape[2] != outputs:
        raise ValueError(
            f"spec must have shape (N={x.shape[0]}, S, outputs={outputs}), got {tuple(spec.shape)}"
        )
    return spec.to(dtype=x.dtype)


def margin_spec(y: Tensor, num_classes: int, dtype: torch.dtype = torch.float32) -> Tensor:
    """The specifications ``c_j = e_y - e_j`` for all classes j (Wong & Kolter 2018, Section 3):
    (N,) labels -> (N, K, K); row y is zero. ``c_j^T f >= 0`` for all j certifies label y."""
    eye = torch.eye(num_classes, dtype=dtype, device=y.device)
    return eye[y].unsqueeze(1) - eye.unsqueeze(0)  # (N, 1, K) - (1, K, K) -> (N, K, K)
