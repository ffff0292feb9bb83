"""Masks for physical perturbations (Eykholt et al. 2018, Section 4.1 and 5): where on the
object a sticker may go, chosen from where an l1 attack put its perturbation, and the
non-printability score of its colours.

Shapes: saliency and masks (N, 1, H, W); palettes (K, C).
"""

from __future__ import annotations

import torch
import torch.nn.functional as F


def sticker_size_pixels(size: tuple[float, float], height: int, width: int) -> tuple[int, int]:
    """A sticker's (height, width) in pixels from fractions of the image side (at least 1)."""
    h, w = size
    if not (0 < h <= 1 and 0 < w <= 1):
        raise ValueError(f"sticker_size must be fractions of the image side in (0, 1], got {size!r}")
    return max(1, round(h * height)), max(1, round(w * width))


def sticker_mask(saliency: torch.Tensor, stickers: int, size: tuple[int, int]) -> torch.Tensor:
    """Binary mask (N, 1, H, W) of ``stickers`` axis-aligned rectangles of ``size`` pixels,
    placed greedily where ``saliency`` (N, 1, H, W) has the most mass (Eykholt et al. 2018:
    the l1 attack's perturbation shows the vulnerable regions; the mask keeps those as
    printable stickers).

    Each pick is the rectangle with the largest saliency sum (box filter, first maximum);
    the saliency under it is then zeroed so the next sticker goes where mass remains. Loops
    over stickers, never over samples.
    """
    n, _, h, w = saliency.shape
    sh, sw = size
    if sh > h or sw > w:
        raise ValueError(f"stickers of {size} pixels do not fit in {h}x{w} images")
    rows = torch.arange(h, device=saliency.device).view(1, h, 1)
    cols = torch.arange(w, device=saliency.device).view(1, 1, w)
    remaining = saliency.detach().clone()
    mask = torch.zeros_like(remaining)
    for _ in range(stickers):
        mass = F.avg_pool2d(remaining, (sh, sw), stride=1)  # (N, 1, h-sh+1, w-sw+1)
        best = mass.flatten(1).argmax(1)  # (N,) top-left corner, row-major
        top, left = (best // mass.shape[-1]).view(n, 1, 1), (best % mass.shape[-1]).view(n, 1, 1)
        inside = (rows >= top) & (rows < top + sh) & (cols >= left) & (cols < left + sw)  # (N, H, W)
        rect = inside.unsqueeze(1).to(remaining.dtype)
        mask = torch.maximum(mask, rect)
        remaining = remaining * (1 - rect)
    return mask


def non_printability(x: torch.Tensor, mask: torch.Tensor, palette: torch.Tensor) -> torch.Tensor:
    """Non-printability score (Eykholt et al. 2018, eq. 4 after Sharif et al. 2016) of the
    colours of x (N, C, H, W) inside mask (N, 1, H, W): per sample, the mean over masked
    pixels of prod_{p in palette} ||x_pixel - p||_2; palette (K, C) of printable colours.
    0 when every masked pixel has a printable colour. Returns (N,)."""
    if palette.ndim != 2 or palette.shape[1] != x.shape[1]:
        raise ValueError(f"palette must be (K, C) with C = {x.shape[1]} channels, got {tuple(palette.shape)}")
    diff = x.unsqueeze(1) - palette.view(1, *palette.shape, 1, 1).to(x.dtype)  # (N, K, C, H, W)
    # sqrt of a sum of squares, kept differentiable at exact palette colours
    distance = (diff.pow(2).sum(2) + 1e-12).sqrt()  # (N, K, H, W)
    score = distance.prod(1, keepdim=True) * mask  # (N, 1, H, W)
    return score.flatten(1).sum(1) / mask.flatten(1).sum(1).clamp_min(1.0)
