"""Photometric transformations with per-sample parameters: lighting, camera noise, defocus.

Athalye et al. (2018, Section 3 and their appendix's 2D distribution) lighten / darken and
add Gaussian noise; Eykholt et al. (2018, Section 4) vary lighting and the resolution a
sign is seen at from a distance, modelled here as a Gaussian blur. All are pure,
differentiable in the image and in the parameters, batched without a loop over samples,
and clamp into ``bounds`` (lighting and noise: unless ``clamp=False``, for a pipeline that
clamps once at its end, like a camera sensor saturating).

Shapes: x (N, C, H, W) or (M, C, H, W) with any leading batch; params (N, P).
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F

from advlab.types import Bounds


def _column(params: torch.Tensor, x: torch.Tensor, width: int, name: str) -> list[torch.Tensor]:
    """The params (N, width) as `width` tensors of shape (N, 1, 1, 1) that broadcast over x."""
    if params.ndim != 2 or params.shape != (x.shape[0], width):
        raise ValueError(f"{name}: params must have shape ({x.shape[0]}, {width}), got {tuple(params.shape)}")
    return [p.view(-1, *[1] * (x.ndim - 1)).to(x.dtype) for p in params.unbind(1)]


def brightness_contrast(
    x: torch.Tensor, params: torch.Tensor, *, bounds: Bounds = (0.0, 1.0), clamp: bool = True
) -> torch.Tensor:
    """Lighting: x' = low + contrast * (x - low) + brightness * (high - low), clamped.

    params (N, 2) = (brightness, contrast): brightness is additive in units of the range
    (Athalye et al.'s lighten / darken), contrast multiplicative about the lower bound
    (1 = unchanged; a darker scene scales every pixel towards black).
    """
    brightness, contrast = _column(params, x, 2, "brightness_contrast")
    low, high = bounds
    offset = low * (1 - contrast) + brightness * (high - low)  # (N, 1, 1, 1)
    out = torch.addcmul(offset, x, contrast)  # one pass: contrast * x + offset
    return out.clamp(low, high) if clamp else out


def additive_noise(
    x: torch.Tensor, params: torch.Tensor, noise: torch.Tensor, *, bounds: Bounds = (0.0, 1.0), clamp: bool = True
) -> torch.Tensor:
    """Camera noise: x' = clamp(x + sigma * (high - low) * noise) for params (N, 1) = (sigma,)
    and a standard-normal field ``noise`` shaped like x (drawn by the caller, so that this
    function stays pure and its randomness comes from the caller's generator)."""
    if noise.shape != x.shape:
        raise ValueError(f"additive_noise: noise must have x's shape {tuple(x.shape)}, got {tuple(noise.shape)}")
    (sigma,) = _column(params, x, 1, "additive_noise")
    low, high = bounds
    out = torch.addcmul(x, noise, sigma * (high - low))  # one pass
    return out.clamp(low, high) if clamp else out


BLUR_RADIUS_SIGMAS = 3.0  # kernel half-width in standard deviations (covers 99.7% of the mass)


def gaussian_blur(
    x: torch.Tensor, params: torch.Tensor, *, bounds: Bounds = (0.0, 1.0), clamp: bool = True
) -> torch.Tensor:
    """Defocus / resolution loss: a separable Gaussian blur with per-sample params (N, 1) =
    (sigma in pixels,); sigma 0 leaves the image unchanged.

    One grouped convolution per axis for the whole batch (each (sample, channel) plane gets
    its own kernel), replicate padding at the borders; the kernel is normalised to sum 1, so a
    constant image stays constant. Kernel width: 2 * ceil(3 * max sigma) + 1.
    """
    (sigma,) = _column(params, x, 1, "gaussian_blur")
    if bool((sigma < 0).any()):
        raise ValueError(f"gaussian_blur: sigma must be >= 0, got minimum {float(sigma.min())}")
    radius = math.ceil(BLUR_RADIUS_SIGMAS * float(sigma.detach().max()))
    if radius == 0:
        return x.clamp(bounds[0], bounds[1]) if clamp else x
    n, c, h, w = x.shape
    offsets = torch.arange(-radius, radius + 1, device=x.device, dtype=x.dtype)  # (K,)
    s = sigma.view(n, 1).clamp_min(1e-3)  # a tiny sigma is a delta kernel (exp(-k^2/2e-6) = 0)
    kernel = torch.exp(-0.5 * (offsets.view(1, -1) / s) ** 2)  # (N, K)
    kernel = kernel / kernel.sum(1, keepdim=True)
    kernel = kernel.repeat_interleave(c, dim=0)  # (N*C, K): one kernel per (sample, channel)
    planes = F.pad(x.reshape(1, n * c, h, w), (radius, radius, radius, radius), mode="replicate")
    planes = F.conv2d(planes, kernel.view(n * c, 1, 1, -1), groups=n * c)  # along W
    planes = F.conv2d(planes, kernel.view(n * c, 1, -1, 1), groups=n * c)  # along H
    out = planes.view(n, c, h, w)
    return out.clamp(bounds[0], bounds[1]) if clamp else out
