"""Geometric transformations of image batches with per-sample parameters, one grid_sample each.

Every transformation is described by its INVERSE map (output pixel -> input pixel) as a 3x3
matrix in torch's normalised coordinates (``align_corners=False``: the image spans [-1, 1] on
both axes), so that in-plane placements (rotation, translation, scale: Engstrom et al. 2019's
spatial attack; Athalye et al. 2018's 2D EOT distribution) and viewing angles (a homography:
Eykholt et al. 2018's physical conditions) compose by matrix products and are rendered by
ONE `torch.nn.functional.grid_sample` call, differentiable in the image and in the
parameters.

Conventions (pixel units, y pointing down as images are displayed):
  angle  degrees, positive = counter-clockwise on screen, about the image centre;
  dx, dy pixels, positive = content moves right / down;
  scale  content magnification about the centre (0.5 = half size);
  yaw, pitch  degrees, the image plane turned about its vertical / horizontal axis and seen
         by a pinhole camera at distance ``focal`` half-widths (foreshortening).
Forward model: out = View(Place(in)) with Place(p) = scale * R(angle) p + (dx, dy).

Fill: with ``padding="zeros"`` pixels that come from outside the image take the lower bound
(black), Engstrom et al.'s black border; "border" and "reflection" are grid_sample's modes.
Outputs are clamped into ``bounds`` (bicubic interpolation overshoots; float rounding of the
fill shift can leave an ulp outside).

Shapes: x (N, C, H, W); per-sample matrices (N, 3, 3), or (N, T, 3, 3) for T transformations
of each image, rendered without copying x T times (the T sampling grids of one image are
stacked into one taller grid), returning (N, T, C, H, W).
"""

from __future__ import annotations

import math
from typing import Literal

import torch
import torch.nn.functional as F

from advlab.types import Bounds

Interpolation = Literal["bilinear", "nearest", "bicubic"]
Padding = Literal["zeros", "border", "reflection"]
INTERPOLATIONS: tuple[str, ...] = ("bilinear", "nearest", "bicubic")
PADDINGS: tuple[str, ...] = ("zeros", "border", "reflection")


def validate_sampling(interpolation: str, padding: str) -> None:
    """Check the interpolation and padding names (errors list the valid choices)."""
    if interpolation not in INTERPOLATIONS:
        raise ValueError(f"interpolation must be one of {', '.join(INTERPOLATIONS)}, got {interpolation!r}")
    if padding not in PADDINGS:
        raise ValueError(f"padding must be one of {', '.join(PADDINGS)}, got {padding!r}")


def _check_params(params: torch.Tensor, x: torch.Tensor, width: int, name: str) -> None:
    if x.ndim != 4:
        raise ValueError(f"{name}: x must be a batch (N, C, H, W), got shape {tuple(x.shape)}")
    if params.ndim not in (2, 3) or params.shape[0] != x.shape[0] or params.shape[-1] != width:
        raise ValueError(
            f"{name}: params must have shape (N, {width}) or (N, T, {width}) with N = {x.shape[0]}, "
            f"got {tuple(params.shape)}"
        )


def _to_normalised(pixel_map: torch.Tensor, height: int, width: int) -> torch.Tensor:
    """S M S^-1 for a map M (..., 3, 3) in centred pixel coordinates, S = diag(2/W, 2/H, 1)."""
    s = pixel_map.new_tensor([2.0 / width, 2.0 / height, 1.0])
    return pixel_map * s.view(-1, 1) / s.view(1, -1)


def placement_inverse(
    angle: torch.Tensor, dx: torch.Tensor, dy: torch.Tensor, scale: torch.Tensor, height: int, width: int
) -> torch.Tensor:
    """Inverse map (..., 3, 3), normalised coordinates, of out = scale * R(angle) in + (dx, dy).

    Inverse in centred pixels: in = R(-angle) (out - t) / scale. Each argument has the batch
    shape (...,); angle in degrees, dx, dy in pixels.
    """
    theta = angle * (math.pi / 180.0)
    cos, sin = torch.cos(theta) / scale, torch.sin(theta) / scale
    zero, one = torch.zeros_like(cos), torch.ones_like(cos)
    # R(-angle) / scale in (x right, y down) coordinates, and its translation -A t
    rows = [
        torch.stack([cos, -sin, -(cos * dx - sin * dy)], -1),
        torch.stack([sin, cos, -(sin * dx + cos * dy)], -1),
        torch.stack([zero, zero, one], -1),
    ]
    return _to_normalised(torch.stack(rows, -2), height, width)


def view_inverse(yaw: torch.Tensor, pitch: torch.Tensor, focal: float, height: int, width: int) -> torch.Tensor:
    """Inverse map (..., 3, 3), normalised coordinates, of viewing the image plane turned by
    (yaw, pitch) degrees from a pinhole camera ``focal`` half-widths away.

    A plane point p = (x, y, 0) (centred pixels) becomes P = R_x(pitch) R_y(yaw) p + (0, 0, f)
    with f = focal * W / 2 pixels, seen at f (P_x, P_y) / P_z: the homography
    [[R00, R01, 0], [R10, R11, 0], [R20 / f, R21 / f, 1]] (divided by f). Its inverse is
    returned (torch.linalg.inv of the batch of 3x3 matrices).
    """
    if not focal > 0:
        raise ValueError(f"focal must be > 0 (camera distance in half-widths), got {focal!r}")
    f = focal * width / 2.0
    a, b = yaw * (math.pi / 180.0), pitch * (math.pi / 180.0)
    ca, sa, cb, sb = torch.cos(a), torch.sin(a), torch.cos(b), torch.sin(b)
    zero, one = torch.zeros_like(ca), torch.ones_like(ca)
    # columns 0 and 1 of R = R_x(b) R_y(a): R_y(a) = [[ca, 0, sa], [0, 1, 0], [-sa, 0, ca]]
    rows = [
        torch.stack([ca, zero, zero], -1),
        torch.stack([sb * sa, cb, zero], -1),
        torch.stack([-cb * sa / f, sb / f, one], -1),
    ]
    forward = torch.stack(rows, -2)
    return _to_normalised(torch.linalg.inv(forward), height, width)


def warp(
    x: torch.Tensor,
    inverse: torch.Tensor,
    *,
    interpolation: Interpolation = "bilinear",
    padding: Padding = "zeros",
    bounds: Bounds = (0.0, 1.0),
    projective: bool | None = None,
    clamp: bool = True,
) -> torch.Tensor:
    """Resample x (N, C, H, W) through per-sample inverse maps, ONE grid_sample call.

    inverse: (N, 3, 3) -> output (N, C, H, W); or (N, T, 3, 3) -> (N, T, C, H, W), the T
    transformations of each image rendered from the one copy of it (the T grids are stacked
    into one (T*H, W) grid per image). Affine maps (last row 0, 0, 1) build their grid with
    `torch.nn.functional.affine_grid`; projective ones divide by the third homogeneous
    coordinate (``projective``: None decides from the matrices, one host sync).
    ``clamp`` False leaves the clamp into the bounds to the caller (a pipeline that clamps
    once after its last stage). Differentiable in x and in ``inverse``.
    """
    validate_sampling(interpolation, padding)
    n, c, h, w = x.shape
    many = inverse.ndim == 4
    if inverse.shape[0] != n or inverse.shape[-2:] != (3, 3) or inverse.ndim not in (3, 4):
        raise ValueError(f"inverse must be (N, 3, 3) or (N, T, 3, 3) with N = {n}, got {tuple(inverse.shape)}")
    t = inverse.shape[1] if many else 1
    flat = inverse.reshape(n * t, 3, 3).to(x.dtype)
    if projective is None:
        last = flat[:, 2]
        projective = bool((last[:, :2] != 0).any() or (last[:, 2] != 1).any())
    grid = sampling_grid(flat, h, w, projective).view(n, t * h, w, 2)  # T grids of an image stacked
    low, high = bounds
    fill = low if padding == "zeros" and low != 0 else 0.0
    source = x - fill if fill else x
    out = F.grid_sample(source, grid, mode=interpolation, padding_mode=padding, align_corners=False)
    if fill:
        out = out + fill
    if clamp:
        out = out.clamp(low, high)  # (N, C, T*H, W)
    if not many:
        return out
    return out.view(n, c, t, h, w).transpose(1, 2)  # (N, T, C, H, W)


def sampling_grid(inverse: torch.Tensor, height: int, width: int, projective: bool) -> torch.Tensor:
    """grid_sample's grid (M, H, W, 2) for inverse maps (M, 3, 3) in normalised coordinates.

    The output pixel centres (align_corners=False) are u_j = (2j + 1) / W - 1 and
    v_i = (2i + 1) / H - 1; each grid coordinate is a_k u_j + (b_k v_i + c_k), one multiply
    and one add over the full grid per coordinate (what `F.affine_grid` computes with a
    materialised base grid and a batched matrix product, at several times the cost), divided
    by the third homogeneous coordinate when ``projective``.
    """
    u = torch.arange(width, device=inverse.device, dtype=inverse.dtype).mul_(2.0 / width).add_(1.0 / width - 1)
    v = torch.arange(height, device=inverse.device, dtype=inverse.dtype).mul_(2.0 / height).add_(1.0 / height - 1)
    m, rows = inverse.shape[0], 3 if projective else 2
    a, b, c = (inverse[:, :rows, k].reshape(m, 1, 1, rows) for k in range(3))  # weights of u, v, 1
    column = torch.addcmul(c, b, v.view(1, height, 1, 1))  # (M, H, 1, rows)
    coords = torch.addcmul(column, a, u.view(1, 1, width, 1))  # (M, H, W, rows), contiguous
    return coords[..., :2] / coords[..., 2:] if projective else coords  # (M, H, W, 2): (x, y)


def rotate_translate(
    x: torch.Tensor,
    params: torch.Tensor,
    *,
    interpolation: Interpolation = "bilinear",
    padding: Padding = "zeros",
    bounds: Bounds = (0.0, 1.0),
) -> torch.Tensor:
    """Engstrom et al. (2019, Section 3) rotation-translation: params (N, 3) or (N, T, 3) of
    (angle degrees, dx pixels, dy pixels); rotation about the centre, then translation.
    Returns (N, C, H, W), or (N, T, C, H, W) for T transformations per image."""
    _check_params(params, x, 3, "rotate_translate")
    unit_scale = torch.ones_like(params[..., :1])
    return affine(x, torch.cat([params, unit_scale], -1), interpolation=interpolation, padding=padding, bounds=bounds)


def affine(
    x: torch.Tensor,
    params: torch.Tensor,
    *,
    interpolation: Interpolation = "bilinear",
    padding: Padding = "zeros",
    bounds: Bounds = (0.0, 1.0),
) -> torch.Tensor:
    """Rotation, translation and scale in one resampling: params (N, 4) or (N, T, 4) of
    (angle degrees, dx pixels, dy pixels, scale); out = scale * R(angle) in + (dx, dy)."""
    _check_params(params, x, 4, "affine")
    angle, dx, dy, scale = params.unbind(-1)
    if bool((scale <= 0).any()):
        raise ValueError(f"affine: scale must be > 0, got minimum {float(scale.min())}")
    inverse = placement_inverse(angle, dx, dy, scale, x.shape[2], x.shape[3])
    return warp(x, inverse, interpolation=interpolation, padding=padding, bounds=bounds, projective=False)


def perspective(
    x: torch.Tensor,
    params: torch.Tensor,
    *,
    focal: float = 3.0,
    interpolation: Interpolation = "bilinear",
    padding: Padding = "zeros",
    bounds: Bounds = (0.0, 1.0),
) -> torch.Tensor:
    """Viewing angle (Eykholt et al. 2018's angle conditions) as a homography: params (N, 2)
    or (N, T, 2) of (yaw, pitch) degrees, |angle| < 90; camera ``focal`` half-widths away."""
    _check_params(params, x, 2, "perspective")
    yaw, pitch = params.unbind(-1)
    if bool((yaw.abs() >= 90).any() or (pitch.abs() >= 90).any()):
        raise ValueError("perspective: yaw and pitch must be in (-90, 90) degrees")
    inverse = view_inverse(yaw, pitch, focal, x.shape[2], x.shape[3])
    return warp(x, inverse, interpolation=interpolation, padding=padding, bounds=bounds, projective=True)
