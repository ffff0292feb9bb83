"""Engstrom et al. (2019, Section 4)'s black canvas: images placed in the middle of a larger
canvas filled with the lower bound, so that rotations and translations lose no content; and
the crop back to the original size."""

from __future__ import annotations

import torch
import torch.nn.functional as F

from advlab.types import Bounds


def pad_canvas(x: torch.Tensor, pad: int, *, bounds: Bounds = (0.0, 1.0)) -> torch.Tensor:
    """x (N, C, H, W) centred on a (H + 2 pad, W + 2 pad) canvas of the lower bound (black)."""
    if isinstance(pad, bool) or not isinstance(pad, int) or pad < 0:
        raise ValueError(f"pad must be an integer >= 0 (pixels on each side), got {pad!r}")
    if pad == 0:
        return x
    return F.pad(x, (pad, pad, pad, pad), value=bounds[0])


def crop_center(x: torch.Tensor, height: int, width: int) -> torch.Tensor:
    """The central (height, width) window of x (N, C, H, W); the inverse of `pad_canvas`."""
    h, w = x.shape[-2:]
    if not (0 < height <= h and 0 < width <= w):
        raise ValueError(f"crop ({height}, {width}) must fit inside the image ({h}, {w})")
    top, left = (h - height) // 2, (w - width) // 2
    return x[..., top : top + height, left : left + width]
