"""The sparsifying front end as a layer, and "sparsified": any registry classifier behind it.

Gopalakrishnan, Marzi, Madhow & Pedarsani (2018), "Combating adversarial attacks using sparse
representations" (arXiv 1803.03880, Section 2) and "Robust adversarial learning via
sparsifying front ends" (arXiv 1810.10625): project the input onto the span of its K = rho*N
largest-magnitude coefficients in a basis where images are sparse, then reconstruct and clip.
For a linear classifier this attenuates the output distortion of an l_inf attack by roughly
K/N. The algorithms around it (the gradient an attack takes through it, the l1 weight budgets
and the Theorem 2 bound) live in `advlab.defenses.sparsity`; this layer lives here so that
`advlab.models.load_checkpoint` rebuilds a classifier trained behind a front end from its
checkpoint metadata ({"model": "sparsified", "model_args": {...}}).
"""

from __future__ import annotations

import math
from collections import OrderedDict
from typing import Literal

import torch
from torch import nn

from advlab.models.sparse_basis import separable_basis

GradientMode = Literal["exact", "bpda"]
GRADIENT_MODES: tuple[str, ...] = ("exact", "bpda")


def _pair(size: int | tuple[int, int] | list[int]) -> tuple[int, int]:
    if isinstance(size, int):
        return size, size
    h, w = size
    return int(h), int(w)


class SparsifyingFrontEnd(nn.Module):
    """x -> clip(S_H [top-K of (A_H x A_W^T)] S_W^T): keep each image's K largest coefficients.

    Gopalakrishnan et al. 2018 (arXiv 1803.03880, eq. 2; arXiv 1810.10625, Section III). Per
    channel, the 2-D coefficients of an (H, W) image are ``A_H X A_W^T`` (`sparse_basis`:
    a periodised wavelet packet of `level`, or the DCT; PyWavelets' own transform, built once
    as 1-D matrices). The K = floor(rho * N) largest-magnitude coefficients of each image
    (N = C*H*W, selected jointly over its channels; the authors' floor) are kept, the rest
    zeroed, the image synthesised and clipped to `bounds`.

    gradient: what backward passes through the layer.
      "exact" (default): the true derivative, almost everywhere: the top-K support is locally
        constant, so the layer is piecewise linear with Jacobian S D A (D the 0/1 mask of the
        kept coefficients; the clip's own mask after it). This is the locally linear model
        of the paper's white-box attack (the gradient projected onto the input's support).
      "bpda": the identity (Athalye, Carlini & Wagner 2018, "Obfuscated gradients give a
        false sense of security", Backward Pass Differentiable Approximation with g(x) = x),
        the authors' choice in their code ("BPDA of 1"); the paper's semi-white-box attack.
      An evaluation should attack with BOTH and report, per sample, the worse outcome: the
      exact gradient is the real gradient of the defended model (nothing is obfuscated: no
      randomness, no shattering beyond a piecewise-linear map), and BPDA is the check that a
      gradient which vanishes or misleads through the mask is not mistaken for robustness.
      Pick a mode for an attack with `advlab.defenses.sparsity.with_gradient(model, mode)`.

    Input (N, C, H, W) with (H, W) = `image_size`; output the same shape. Forward values do
    not depend on `gradient`.
    """

    analysis_h: torch.Tensor
    synthesis_h: torch.Tensor
    analysis_w: torch.Tensor
    synthesis_w: torch.Tensor

    def __init__(
        self,
        basis: str = "coif1",
        level: int = 1,
        rho: float = 0.035,
        image_size: int | tuple[int, int] = 28,
        bounds: tuple[float, float] = (0.0, 1.0),
        gradient: GradientMode = "exact",
    ) -> None:
        super().__init__()
        if not (isinstance(rho, int | float) and 0.0 < float(rho) <= 1.0):
            raise ValueError(
                f"rho (the fraction of coefficients kept) must be in (0, 1], got {rho!r}"
            )
        if gradient not in GRADIENT_MODES:
            raise ValueError(f"unknown gradient {gradient!r}; valid: {', '.join(GRADIENT_MODES)}")
        low, high = (float(b) for b in bounds)
        if not low < high:
            raise ValueError(f"bounds must satisfy low < high, got {bounds!r}")
        self.basis, self.level, self.rho = basis, level, float(rho)
        self.bounds = (low, high)
        self.gradient: GradientMode = gradient
        self.image_size = _pair(image_size)
        h, w = self.image_size
        for side, size in (("h", h), ("w", w)):
            b = separable_basis(basis, size, level)
            # non-persistent: rebuilt from (basis, level, image_size), never stored in checkpoints
            self.register_buffer(
                f"analysis_{side}", torch.tensor(b.analysis, dtype=torch.float32), persistent=False
            )
            self.register_buffer(
                f"synthesis_{side}",
                torch.tensor(b.synthesis, dtype=torch.float32),
                persistent=False,
            )
        self.orthonormal = (
            separable_basis(basis, h, level).orthonormal
            and separable_basis(basis, w, level).orthonormal
        )

    def kept(self, n: int) -> int:
        """K = floor(rho * n) coefficients kept of an image with n values (at least 1)."""
        return max(1, math.floor(self.rho * n + 1e-9))

    def coefficients(self, x: torch.Tensor) -> torch.Tensor:
        """Analysis: (N, C, H, W) images -> (N, C, H, W) coefficients A_H X A_W^T."""
        self._check(x)
        return self.analysis_h.to(x.dtype) @ x @ self.analysis_w.to(x.dtype).T

    def synthesise(self, coefficients: torch.Tensor) -> torch.Tensor:
        """Synthesis: (N, C, H, W) coefficients -> images S_H C S_W^T (not clipped)."""
        dtype = coefficients.dtype
        return self.synthesis_h.to(dtype) @ coefficients @ self.synthesis_w.to(dtype).T

    def support(self, x: torch.Tensor) -> torch.Tensor:
        """(N, C, H, W) 0/1 mask of the K largest-magnitude coefficients of each image."""
        return self._top_k_mask(self.coefficients(x))

    def _top_k_mask(self, coefficients: torch.Tensor) -> torch.Tensor:
        with torch.no_grad():  # a constant: the support is locally constant in x
            flat = coefficients.detach().flatten(1)  # (N, C*H*W)
            index = flat.abs().topk(self.kept(flat.shape[1]), dim=1).indices  # (N, K)
            mask = torch.zeros_like(flat).scatter_(1, index, 1.0)
        return mask.view(coefficients.shape)

    def forward(self, x: torch.Tensor) -> torch.Tensor:  # (N, C, H, W) -> (N, C, H, W)
        coefficients = self.coefficients(x)  # (N, C, H, W)
        mask = self._top_k_mask(coefficients)  # (N, C, H, W) 0/1
        image = self.synthesise(coefficients * mask).clamp(*self.bounds)
        if self.gradient == "bpda":
            return x + (image - x).detach()  # value of the front end, gradient of the identity
        return image

    def _check(self, x: torch.Tensor) -> None:
        if x.ndim != 4 or tuple(x.shape[-2:]) != self.image_size:
            raise ValueError(
                f"the sparsifying front end was built for (N, C, {self.image_size[0]}, "
                f"{self.image_size[1]}) images, got shape {tuple(x.shape)}"
            )

    def extra_repr(self) -> str:
        return (
            f"basis={self.basis!r}, level={self.level}, rho={self.rho}, "
            f"image_size={self.image_size}, "
            f"bounds={self.bounds}, gradient={self.gradient!r}"
        )


def behind_front_end(classifier: nn.Module, front_end: SparsifyingFrontEnd) -> nn.Sequential:
    """``Sequential(front_end=<front_end>, classifier=<classifier>)``: the registry's
    ``sparsified`` model (Gopalakrishnan et al. 2018). The front end has no parameters, so the
    classifier learns on sparsified images; the state dict keys are ``classifier.*``."""
    return nn.Sequential(OrderedDict(front_end=front_end, classifier=classifier))
