"""Sliced Wasserstein distance between real and generated images on Laplacian-pyramid patches
(Karras et al. 2018, Section 5), as the official code computes it
(tkarras/progressive_growing_of_gans, metrics/sliced_wasserstein.py):

1. each image (8-bit values) is decomposed into a Laplacian pyramid with the 5x5 binomial
   filter [1, 4, 6, 4, 1]^T [1, 4, 6, 4, 1] / 256 and mirrored borders (OpenCV's pyrDown /
   pyrUp), one level per resolution from the image size down to 16 (`min_resolution`);
2. at every level, 128 random 7x7 neighbourhoods per image are the descriptors (C * 49
   numbers), normalised per set and per channel to zero mean and unit standard deviation;
3. per level, the sliced Wasserstein distance between the real and generated descriptor sets:
   512 random unit directions (4 repeats of 128), the descriptors of both sets projected,
   sorted, and the mean absolute difference of the sorted projections (the 1-D Wasserstein-1
   distance between equal-size samples), averaged over directions;
4. reported x 1e3, per level (finest first) and averaged over the levels.

Everything is batched tensor code; randomness (patch positions, directions) comes from a
seeded torch.Generator. Grey images give C = 1 descriptors (the official code asserts RGB).
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import Tensor

BINOMIAL_5 = torch.tensor([1.0, 4.0, 6.0, 4.0, 1.0])


def _binomial_kernel(channels: int, scale: float, device: torch.device) -> Tensor:
    """The 5x5 binomial filter (sum 1) times `scale`, one copy per channel: (C, 1, 5, 5)."""
    k = torch.outer(BINOMIAL_5, BINOMIAL_5) / 256.0 * scale
    return k.to(device).expand(channels, 1, 5, 5).contiguous()


def pyramid_down(x: Tensor) -> Tensor:
    """Blur with the 5x5 binomial filter (mirrored borders) and keep every second pixel:
    OpenCV's pyrDown, the official `pyr_down`. (N, C, H, W) -> (N, C, ceil(H/2), ceil(W/2))."""
    c = x.shape[1]
    blurred = F.conv2d(F.pad(x, (2, 2, 2, 2), mode="reflect"), _binomial_kernel(c, 1.0, x.device),
                       groups=c)
    return blurred[:, :, ::2, ::2]


def pyramid_up(x: Tensor) -> Tensor:
    """Insert zeros between the pixels and blur with 4 x the binomial filter (mirrored
    borders): OpenCV's pyrUp, the official `pyr_up`. (N, C, H, W) -> (N, C, 2H, 2W)."""
    n, c, h, w = x.shape
    spread = x.new_zeros(n, c, 2 * h, 2 * w)
    spread[:, :, ::2, ::2] = x
    return F.conv2d(F.pad(spread, (2, 2, 2, 2), mode="reflect"),
                    _binomial_kernel(c, 4.0, x.device), groups=c)


def laplacian_pyramid(x: Tensor, levels: int) -> list[Tensor]:
    """The Laplacian pyramid of (N, C, H, W) images: `levels` tensors, finest first; every level
    but the last is the difference between its Gaussian level and the upsampled next one, the
    last is the coarsest Gaussian level (official `generate_laplacian_pyramid`)."""
    pyramid = [x.float()]
    for _ in range(1, levels):
        pyramid.append(pyramid_down(pyramid[-1]))
        pyramid[-2] = pyramid[-2] - pyramid_up(pyramid[-1])
    return pyramid


def reconstruct_laplacian_pyramid(pyramid: list[Tensor]) -> Tensor:
    """Invert `laplacian_pyramid` (official `reconstruct_laplacian_pyramid`)."""
    x = pyramid[-1]
    for level in pyramid[-2::-1]:
        x = pyramid_up(x) + level
    return x


def patch_descriptors(level: Tensor, per_image: int, size: int,
                      generator: torch.Generator | None = None) -> Tensor:
    """`per_image` random size x size neighbourhoods of every image (N, C, H, W), centres drawn
    uniformly where the whole patch fits, gathered by flat index as the official
    `get_descriptors_for_minibatch` does (memory: the patches only).
    Returns (N * per_image, C, size, size)."""
    n, c, h, w = level.shape
    half = size // 2
    if h < size or w < size:
        raise ValueError(f"{size}x{size} patches do not fit in {h}x{w} images")
    m = n * per_image
    cx = torch.randint(half, w - half, (m,), generator=generator)  # patch centres
    cy = torch.randint(half, h - half, (m,), generator=generator)
    image = torch.arange(n).repeat_interleave(per_image)  # (M,) the image of each patch
    offsets = torch.arange(-half, half + 1)  # (s,)
    rows, cols = cy[:, None] + offsets, cx[:, None] + offsets  # (M, s) each
    channel = torch.arange(c)
    index = (((image[:, None, None, None] * c + channel[None, :, None, None]) * h
              + rows[:, None, :, None]) * w + cols[:, None, None, :])  # (M, C, s, s)
    return level.reshape(-1)[index.to(level.device)]


def normalise_descriptors(descriptors: Tensor) -> Tensor:
    """Zero mean and unit (population) standard deviation per channel over all descriptors
    and pixels, flattened: (M, C, s, s) -> (M, C * s * s) (official `finalize_descriptors`)."""
    d = descriptors - descriptors.mean(dim=(0, 2, 3), keepdim=True)
    d = d / d.std(dim=(0, 2, 3), keepdim=True, unbiased=False)
    return d.flatten(1)


def sliced_wasserstein(a: Tensor, b: Tensor, directions: int = 512, chunk: int = 128,
                       generator: torch.Generator | None = None) -> Tensor:
    """Sliced Wasserstein-1 distance between two equal-size point sets a, b (M, D): the mean
    over `directions` random unit vectors v of (1/M) sum_i |sort(a v)_i - sort(b v)_i|, drawn
    `chunk` at a time (the official 4 repeats x 128). Returns a scalar."""
    if a.shape != b.shape or a.dim() != 2:
        raise ValueError(f"need two (M, D) sets of the same shape, got {tuple(a.shape)} and "
                         f"{tuple(b.shape)}")
    if directions % chunk:
        raise ValueError(f"directions ({directions}) must be a multiple of chunk ({chunk})")
    results = []
    for _ in range(directions // chunk):
        v = torch.randn(a.shape[1], chunk, generator=generator).to(a.device, a.dtype)  # (D, k)
        v = v / v.norm(dim=0, keepdim=True)
        # (k, M): each direction's projections contiguous, so the sort runs along rows
        projected_a = (v.T @ a.T).sort(dim=1).values
        projected_b = (v.T @ b.T).sort(dim=1).values
        results.append((projected_a - projected_b).abs().mean())
    return torch.stack(results).mean()


@dataclass(frozen=True)
class SWDResult:
    """SWD x 1e3 per pyramid level (`resolutions`, finest first) and their average."""

    resolutions: tuple[int, ...]
    per_level: tuple[float, ...]
    average: float


def pyramid_resolutions(image_size: int, min_resolution: int = 16) -> tuple[int, ...]:
    """The levels the official metric uses: image_size, image_size / 2, ... >= min_resolution."""
    levels = []
    res = image_size
    while res >= min_resolution:
        levels.append(res)
        res //= 2
    if not levels:
        raise ValueError(f"images of {image_size} px are smaller than min_resolution {min_resolution}")
    return tuple(levels)


@torch.no_grad()
def sliced_wasserstein_distance(
    real: Tensor, fake: Tensor, *, patches_per_image: int = 128, patch_size: int = 7,
    directions: int = 512, min_resolution: int = 16, quantize: bool = True, seed: int = 0,
) -> SWDResult:
    """The SWD of Karras et al. 2018 between real and generated images (module docstring).

    real, fake: (N, C, S, S) in [0, 1], the same N (the official metric uses 16,384 of each;
    the descriptor sets must have equal size). quantize: round to 8-bit values first, as the
    official pipeline feeds uint8 images. Returns per-level and average SWD x 1e3."""
    if real.shape != fake.shape or real.dim() != 4:
        raise ValueError(f"real and fake must be (N, C, S, S) batches of the same shape, got "
                         f"{tuple(real.shape)} and {tuple(fake.shape)}")
    resolutions = pyramid_resolutions(real.shape[-1], min_resolution)
    g = torch.Generator().manual_seed(seed)
    per_level: list[float] = []
    sets = []
    for images in (real, fake):
        x = (images * 255).round().clamp(0, 255) if quantize else images * 255
        pyramid = laplacian_pyramid(x, len(resolutions))
        sets.append([normalise_descriptors(patch_descriptors(level, patches_per_image,
                                                             patch_size, g))
                     for level in pyramid])
    for a, b in zip(*sets, strict=True):
        per_level.append(1e3 * float(sliced_wasserstein(a, b, directions, generator=g)))
    return SWDResult(resolutions, tuple(per_level), float(sum(per_level) / len(per_level)))


def swd_columns(result: SWDResult) -> dict[str, float]:
    """{"swd_32": ..., "swd_16": ..., "swd_avg": ...}: the official metric names
    (SWDx1e3_<res>, SWDx1e3_avg) as JSON-able keys."""
    out = {f"swd_{res}": value for res, value in zip(result.resolutions, result.per_level,
                                                      strict=True)}
    out["swd_avg"] = result.average
    return out
