"""Lighting, noise and blur against closed forms; uniform and grid distributions; the
condition pipeline (one rendering of all stages, shapes, randomness from the generator)."""

from __future__ import annotations

import math

import pytest
import torch

from advlab.transforms import (
    IDENTITY,
    PARAMETERS,
    Grid,
    TransformDistribution,
    Uniform,
    additive_noise,
    brightness_contrast,
    gaussian_blur,
    rotate_translate,
)


def test_brightness_contrast_closed_form() -> None:
    x = torch.rand(2, 3, 4, 4)
    out = brightness_contrast(x, torch.tensor([[0.1, 0.8], [-0.2, 1.5]]))
    torch.testing.assert_close(out[0], (0.8 * x[0] + 0.1).clamp(0, 1))
    torch.testing.assert_close(out[1], (1.5 * x[1] - 0.2).clamp(0, 1))
    bounds = (-1.0, 1.0)  # brightness in units of the range, contrast about the lower bound
    y = torch.rand(1, 1, 2, 2) * 2 - 1
    torch.testing.assert_close(brightness_contrast(y, torch.tensor([[0.25, 0.5]]), bounds=bounds),
                               (-1 + 0.5 * (y + 1) + 0.5).clamp(-1, 1))  # fmt: skip


def test_additive_noise_uses_the_given_field() -> None:
    x = torch.full((2, 1, 3, 3), 0.5)
    noise = torch.randn(2, 1, 3, 3)
    out = additive_noise(x, torch.tensor([[0.1], [0.0]]), noise)
    torch.testing.assert_close(out[0], (0.5 + 0.1 * noise[0]).clamp(0, 1))
    torch.testing.assert_close(out[1], x[1])
    with pytest.raises(ValueError, match="noise must have x's shape"):
        additive_noise(x, torch.zeros(2, 1), noise[:1])


def test_gaussian_blur_impulse_response_and_constants() -> None:
    x = torch.zeros(2, 1, 15, 15, dtype=torch.float64)
    x[:, :, 7, 7] = 1.0
    sigma = torch.tensor([[1.3], [0.0]], dtype=torch.float64)
    out = gaussian_blur(x, sigma)
    k = torch.arange(-7, 8, dtype=torch.float64)
    radius = math.ceil(3 * 1.3)
    g = torch.exp(-0.5 * (k / 1.3) ** 2) * (k.abs() <= radius)
    g = g / g.sum()
    torch.testing.assert_close(out[0, 0], torch.outer(g, g))  # separable Gaussian
    torch.testing.assert_close(out[1], x[1])  # sigma 0 changes nothing
    constant = torch.full((1, 2, 6, 5), 0.3, dtype=torch.float64)
    torch.testing.assert_close(gaussian_blur(constant, torch.tensor([[2.0]], dtype=torch.float64)), constant)
    # per-sample sigmas in a batch equal each sample blurred alone
    z = torch.rand(3, 2, 8, 8)
    s = torch.tensor([[0.5], [1.5], [0.0]])
    batch = gaussian_blur(z, s)
    for i in range(3):
        alone = gaussian_blur(z[i : i + 1], s[i : i + 1])
        torch.testing.assert_close(crop(batch[i]), crop(alone[0]))


def crop(t: torch.Tensor) -> torch.Tensor:
    """The interior, away from the replicate padding of the widest kernel."""
    return t[..., 5:-5, 5:-5] if t.shape[-1] > 10 else t


def test_uniform_draws_reproducibly_inside_the_box() -> None:
    box = Uniform((-30.0, -3.0, 0.5), (30.0, 3.0, 0.5))
    a = box.sample(1000, generator=torch.Generator().manual_seed(0), dtype=torch.float64)
    b = box.sample(1000, generator=torch.Generator().manual_seed(0), dtype=torch.float64)
    assert a.dtype == torch.float64 and a.shape == (1000, 3) and torch.equal(a, b)
    assert bool(box.contains(a).all()) and bool((a[:, 2] == 0.5).all())
    assert float(a[:, 0].min()) < -25 and float(a[:, 0].max()) > 25  # covers the range
    torch.testing.assert_close(box.clamp(torch.tensor([[40.0, -5.0, 0.0]])), torch.tensor([[30.0, -3.0, 0.5]]))
    with pytest.raises(ValueError, match="low <= high"):
        Uniform((1.0,), (0.0,))


def test_engstrom_grid_has_775_points_in_product_order() -> None:
    grid = Grid.symmetric((30.0, 3.0, 3.0), (31, 5, 5))
    points = grid.points()
    assert grid.size == 775 and points.shape == (775, 3)
    torch.testing.assert_close(points[0], torch.tensor([-30.0, -3.0, -3.0]))
    torch.testing.assert_close(points[1], torch.tensor([-30.0, -3.0, -1.5]))  # last axis fastest
    torch.testing.assert_close(points[-1], torch.tensor([30.0, 3.0, 3.0]))
    assert torch.unique(points[:, 0]).numel() == 31 and torch.unique(points[:, 1]).numel() == 5
    assert Grid.symmetric((5.0,), (1,)).points().tolist() == [[0.0]]
    with pytest.raises(ValueError, match="integers >= 1"):
        Grid.symmetric((1.0,), (0,))


def test_pipeline_identity_shapes_and_stages() -> None:
    x = torch.rand(2, 1, 8, 8)
    dist = TransformDistribution()
    ident = torch.tensor([IDENTITY, IDENTITY])
    assert torch.equal(dist.apply(x, ident), x)
    # a pure rotation row renders exactly like rotate_translate
    rows = TransformDistribution.conditions([{"angle": 90.0}, {"angle": -20.0, "dx": 1.5}])
    torch.testing.assert_close(dist.apply(x, rows), rotate_translate(x, rows[:, :3]))
    # lighting alone is brightness_contrast
    light = TransformDistribution.conditions([{"brightness": 0.1, "contrast": 0.9}, {}])
    torch.testing.assert_close(dist.apply(x, light), brightness_contrast(x, light[:, 7:9]))
    with pytest.raises(ValueError, match="unknown condition 'angel'; valid: angle"):
        TransformDistribution.conditions([{"angel": 3.0}])
    # each condition name sets its own column of PARAMETERS and leaves the rest at IDENTITY
    assert len(IDENTITY) == len(PARAMETERS)
    for name in ("angle", "yaw", "brightness", "contrast"):
        row = TransformDistribution.conditions([{name: 0.5}])[0]
        changed = [p for p, value, identity in zip(PARAMETERS, row.tolist(), IDENTITY, strict=True)
                   if value != identity]
        assert changed == [name], (name, changed)


def test_pipeline_samples_per_image_and_noise_from_the_generator() -> None:
    dist = TransformDistribution(rotation=(-20, 20), translation=(-2, 2), scale=(0.9, 1.1), yaw=(-30, 30),
                                 blur=(0, 1), brightness=(-0.1, 0.1), contrast=(0.8, 1.2), noise=(0, 0.05))  # fmt: skip
    x = torch.rand(3, 2, 10, 10)

    def draw(seed: int) -> torch.Tensor:
        g = torch.Generator().manual_seed(seed)
        return dist.apply(x, dist.uniform.sample(12, generator=g).view(3, 4, -1), generator=g)

    out = draw(0)
    assert out.shape == (3, 4, 2, 10, 10) and float(out.min()) >= 0 and float(out.max()) <= 1
    assert torch.equal(out, draw(0)) and not torch.equal(out, draw(1))
    # the S conditions of an image equal that image rendered alone with them (noise off)
    quiet = TransformDistribution(rotation=(-20, 20), yaw=(-30, 30), blur=(0, 1), contrast=(0.8, 1.2))
    params = quiet.uniform.sample(12, generator=torch.Generator().manual_seed(3)).view(3, 4, -1)
    many = quiet.apply(x, params)
    for t in range(4):
        torch.testing.assert_close(many[:, t], quiet.apply(x, params[:, t]), atol=1e-6, rtol=0)


def test_pipeline_is_differentiable_in_image_and_parameters() -> None:
    dist = TransformDistribution()
    x = torch.rand(2, 1, 6, 6, dtype=torch.float64, requires_grad=True)
    rows = TransformDistribution.conditions([{"angle": 13.0, "dx": 0.3, "scale": 1.1, "yaw": 20.0, "blur": 0.7,
                                              "brightness": 0.05, "contrast": 0.9, "noise": 0.02},
                                             {"angle": -8.0, "dy": 0.2, "pitch": 15.0, "blur": 0.4, "noise": 0.01}],
                                            dtype=torch.float64).requires_grad_(True)  # fmt: skip

    def render(a: torch.Tensor, p: torch.Tensor) -> torch.Tensor:  # the same noise field at every call
        return dist.apply(a, p, bounds=(-10, 10), generator=torch.Generator().manual_seed(0))

    assert torch.autograd.gradcheck(render, (x, rows))


def test_distribution_validates_its_ranges() -> None:
    with pytest.raises(ValueError, match="rotation must be a finite range with low <= high"):
        TransformDistribution(rotation=(10, -10))
    with pytest.raises(ValueError, match="yaw must lie in"):
        TransformDistribution(yaw=(-95, 0))
    with pytest.raises(ValueError, match="scale must be > 0"):
        TransformDistribution(scale=(0, 1))
    with pytest.raises(ValueError, match="interpolation must be one of"):
        TransformDistribution(interpolation="lanczos")  # type: ignore[arg-type]
