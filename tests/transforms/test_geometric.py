"""Geometric transformations against closed forms (rot90, shifts) and a brute-force sampler."""

from __future__ import annotations

import math

import pytest
import torch

from advlab.transforms import affine, crop_center, pad_canvas, perspective, rotate_translate, warp
from advlab.transforms.geometric import placement_inverse, view_inverse


def reference_sample(image: torch.Tensor, source_of) -> torch.Tensor:
    """Brute-force bilinear resampling of image (C, H, W) with zero fill: output pixel (i, j)
    takes the value at source_of(x_c, y_c) (centred pixel coordinates, y down)."""
    c, h, w = image.shape
    out = torch.zeros_like(image)
    for i in range(h):
        for j in range(w):
            xs, ys = source_of(j + 0.5 - w / 2, i + 0.5 - h / 2)
            u, v = xs + w / 2 - 0.5, ys + h / 2 - 0.5  # back to array coordinates
            j0, i0 = math.floor(u), math.floor(v)
            for di in (0, 1):
                for dj in (0, 1):
                    ii, jj = i0 + di, j0 + dj
                    weight = (1 - abs(u - jj)) * (1 - abs(v - ii))
                    if 0 <= ii < h and 0 <= jj < w and weight > 0:
                        out[:, i, j] += weight * image[:, ii, jj]
    return out


def test_identity_and_right_angles_match_rot90() -> None:
    x = torch.rand(3, 2, 7, 7)
    torch.testing.assert_close(rotate_translate(x, torch.zeros(3, 3)), x, atol=1e-6, rtol=0)
    for k in (1, 2, 3):
        params = torch.tensor([[90.0 * k, 0.0, 0.0]]).expand(3, 3)
        for mode in ("nearest", "bilinear"):
            out = rotate_translate(x, params, interpolation=mode)
            # positive angles turn the content counter-clockwise on screen, like torch.rot90
            torch.testing.assert_close(out, torch.rot90(x, k, dims=(2, 3)), atol=1e-5, rtol=0)


def test_integer_translation_is_a_shift_filled_with_the_lower_bound() -> None:
    bounds = (-0.5, 1.5)
    x = bounds[0] + 2 * torch.rand(2, 1, 6, 8)
    out = rotate_translate(x, torch.tensor([[0.0, 2.0, 0.0], [0.0, 0.0, -1.0]]), bounds=bounds)
    right = torch.full_like(x[0], bounds[0])
    right[..., 2:] = x[0, ..., :-2]  # content moves right by 2
    up = torch.full_like(x[1], bounds[0])
    up[..., :-1, :] = x[1, ..., 1:, :]  # dy = -1 moves content up
    torch.testing.assert_close(out[0], right, atol=1e-5, rtol=0)
    torch.testing.assert_close(out[1], up, atol=1e-5, rtol=0)


def test_affine_matches_brute_force_on_a_non_square_image() -> None:
    torch.manual_seed(1)
    image = torch.rand(2, 5, 9, dtype=torch.float64)
    angle, dx, dy, scale = 23.0, 1.3, -0.7, 1.25
    out = affine(image[None], torch.tensor([[angle, dx, dy, scale]], dtype=torch.float64))[0]
    a = math.radians(angle)

    def source(xo: float, yo: float) -> tuple[float, float]:  # in = R(-angle) (out - t) / scale
        px, py = xo - dx, yo - dy
        return (math.cos(a) * px - math.sin(a) * py) / scale, (math.sin(a) * px + math.cos(a) * py) / scale

    torch.testing.assert_close(out, reference_sample(image, source), atol=1e-9, rtol=0)


def test_perspective_matches_brute_force_projection() -> None:
    torch.manual_seed(2)
    image = torch.rand(1, 8, 10, dtype=torch.float64)
    yaw, pitch, focal = 35.0, -20.0, 2.5
    out = perspective(image[None], torch.tensor([[yaw, pitch]], dtype=torch.float64), focal=focal)[0]
    f = focal * 10 / 2
    a, b = math.radians(yaw), math.radians(pitch)
    ry = torch.tensor([[math.cos(a), 0, math.sin(a)], [0, 1, 0], [-math.sin(a), 0, math.cos(a)]], dtype=torch.float64)
    rx = torch.tensor([[1, 0, 0], [0, math.cos(b), -math.sin(b)], [0, math.sin(b), math.cos(b)]], dtype=torch.float64)
    rot = rx @ ry

    def source(xo: float, yo: float) -> tuple[float, float]:
        # solve f * (R p)_xy / (f + (R p)_z) = (xo, yo) for the plane point p = (x, y, 0)
        system = torch.stack([f * rot[0, :2] - xo * rot[2, :2], f * rot[1, :2] - yo * rot[2, :2]])
        p = torch.linalg.solve(system, torch.tensor([xo * f, yo * f], dtype=torch.float64))
        return float(p[0]), float(p[1])

    torch.testing.assert_close(out, reference_sample(image, source), atol=1e-9, rtol=0)
    # no viewing angle is the identity
    torch.testing.assert_close(perspective(image[None], torch.zeros(1, 2, dtype=torch.float64))[0], image)


def test_many_transforms_per_image_equal_one_at_a_time() -> None:
    x = torch.rand(3, 2, 6, 5)
    params = torch.randn(3, 4, 3) * torch.tensor([20.0, 2.0, 2.0])
    many = rotate_translate(x, params)  # (N, T, C, H, W)
    assert many.shape == (3, 4, 2, 6, 5)
    for t in range(4):
        torch.testing.assert_close(many[:, t], rotate_translate(x, params[:, t]))
    # batched per-sample parameters equal the samples transformed alone
    for i in range(3):
        torch.testing.assert_close(rotate_translate(x[i : i + 1], params[i : i + 1, 0]), many[i : i + 1, 0])


def test_gradients_in_image_and_parameters() -> None:
    x = torch.rand(2, 1, 5, 6, dtype=torch.float64, requires_grad=True)
    # parameters away from pixel-aligned kinks of bilinear interpolation
    params = torch.tensor([[12.0, 0.31, -0.47, 1.1], [-7.0, 0.77, 0.13, 0.9]], dtype=torch.float64, requires_grad=True)
    assert torch.autograd.gradcheck(lambda a, p: affine(a, p, bounds=(-10, 10)), (x, params))
    view = torch.tensor([[20.0, 5.0], [-15.0, 10.0]], dtype=torch.float64, requires_grad=True)
    assert torch.autograd.gradcheck(lambda a, p: perspective(a, p, bounds=(-10, 10)), (x, view))


def test_dtype_device_and_bounds_are_kept() -> None:
    x = torch.rand(2, 3, 4, 4, dtype=torch.float64)
    out = rotate_translate(x, torch.tensor([[10.0, 1.0, 0.5], [-30.0, -3.0, 2.0]], dtype=torch.float64), interpolation="bicubic")
    assert out.dtype == torch.float64 and out.device == x.device
    assert float(out.min()) >= 0.0 and float(out.max()) <= 1.0  # bicubic overshoot is clamped


def test_composed_maps_render_in_one_pass() -> None:
    """Placement then view: one warp with the product of the inverses equals the brute force."""
    image = torch.rand(1, 7, 7, dtype=torch.float64)
    one = torch.ones(1, dtype=torch.float64)
    place = placement_inverse(30 * one, 1.0 * one, 0.0 * one, 1.2 * one, 7, 7)
    view = view_inverse(25 * one, 0 * one, 3.0, 7, 7)
    out = warp(image[None], place @ view, bounds=(0, 1))[0]
    f = 3.0 * 7 / 2
    a, r = math.radians(25), math.radians(30)

    def source(xo: float, yo: float) -> tuple[float, float]:
        # invert the view: screen (xo, yo) <- plane (x, y) with yaw a
        x = xo * f / (f * math.cos(a) + xo * math.sin(a))
        y = yo * (f - x * math.sin(a)) / f
        px, py = x - 1.0, y
        return (math.cos(r) * px - math.sin(r) * py) / 1.2, (math.sin(r) * px + math.cos(r) * py) / 1.2

    torch.testing.assert_close(out, reference_sample(image, source), atol=1e-9, rtol=0)


def test_canvas_round_trip() -> None:
    x = torch.rand(2, 1, 5, 4)
    canvas = pad_canvas(x, 3, bounds=(-1.0, 1.0))
    assert canvas.shape == (2, 1, 11, 10) and float(canvas[..., 0, 0].max()) == -1.0
    assert torch.equal(crop_center(canvas, 5, 4), x)  # padding then slicing: pure indexing, exact
    with pytest.raises(ValueError, match="pad must be an integer"):
        pad_canvas(x, -1)


def test_bad_arguments_are_named() -> None:
    x = torch.rand(2, 1, 4, 4)
    with pytest.raises(ValueError, match=r"params must have shape \(N, 3\)"):
        rotate_translate(x, torch.zeros(3, 3))
    with pytest.raises(ValueError, match="interpolation must be one of bilinear, nearest, bicubic"):
        rotate_translate(x, torch.zeros(2, 3), interpolation="cubic")  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="padding must be one of"):
        rotate_translate(x, torch.zeros(2, 3), padding="wrap")  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="scale must be > 0"):
        affine(x, torch.tensor([[0.0, 0, 0, 0], [0, 0, 0, 1]]))
    with pytest.raises(ValueError, match=r"\(-90, 90\)"):
        perspective(x, torch.tensor([[90.0, 0], [0, 0]]))


def test_sampling_grid_equals_affine_grid() -> None:
    """The two-pass grid equals torch's affine_grid (align_corners=False) for affine maps."""
    import torch.nn.functional as F

    from advlab.transforms.geometric import sampling_grid

    theta = torch.randn(5, 2, 3, dtype=torch.float64)
    inverse = torch.cat([theta, torch.tensor([0.0, 0.0, 1.0], dtype=torch.float64).expand(5, 1, 3)], 1)
    ours = sampling_grid(inverse, 7, 9, projective=False)
    torch.testing.assert_close(ours, F.affine_grid(theta, [5, 1, 7, 9], align_corners=False))
