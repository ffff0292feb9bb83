"""The progressive-GAN metrics against the official formulas (written out here with numpy and
scipy, as tkarras/progressive_growing_of_gans computes them) and closed forms."""

from __future__ import annotations

import numpy as np
import pytest
import scipy.ndimage
import scipy.signal
import torch

from advlab.gan.ms_ssim import MS_SSIM_WEIGHTS, gaussian_window, generated_pairs_ms_ssim, ms_ssim
from advlab.gan.sliced_wasserstein import (
    laplacian_pyramid,
    normalise_descriptors,
    patch_descriptors,
    pyramid_down,
    pyramid_resolutions,
    pyramid_up,
    reconstruct_laplacian_pyramid,
    sliced_wasserstein,
    sliced_wasserstein_distance,
)

GAUSS = np.float32([[1, 4, 6, 4, 1], [4, 16, 24, 16, 4], [6, 24, 36, 24, 6],
                    [4, 16, 24, 16, 4], [1, 4, 6, 4, 1]]) / 256.0


def official_pyr_down(x: np.ndarray) -> np.ndarray:
    return scipy.ndimage.convolve(x, GAUSS[None, None], mode="mirror")[:, :, ::2, ::2]


def official_pyr_up(x: np.ndarray) -> np.ndarray:
    n, c, h, w = x.shape
    res = np.zeros((n, c, 2 * h, 2 * w), x.dtype)
    res[:, :, ::2, ::2] = x
    return scipy.ndimage.convolve(res, GAUSS[None, None] * 4.0, mode="mirror")


def test_pyramid_matches_the_official_scipy_formulas_and_inverts():
    x = torch.rand(3, 2, 16, 16, generator=torch.Generator().manual_seed(0)) * 255
    assert np.allclose(pyramid_down(x).numpy(), official_pyr_down(x.numpy()), atol=1e-4)
    small = x[:, :, :8, :8]
    assert np.allclose(pyramid_up(small).numpy(), official_pyr_up(small.numpy()), atol=1e-4)
    pyramid = laplacian_pyramid(x, 3)
    assert [p.shape[-1] for p in pyramid] == [16, 8, 4]
    assert torch.allclose(reconstruct_laplacian_pyramid(pyramid), x, atol=1e-3)
    # a constant image has no detail: every level but the coarsest is zero
    flat = laplacian_pyramid(torch.full((1, 1, 16, 16), 7.0), 3)
    assert all(level.abs().max() < 1e-4 for level in flat[:-1]) and torch.allclose(flat[-1], torch.full((1, 1, 4, 4), 7.0))


def test_patches_are_neighbourhoods_of_their_own_image():
    level = torch.arange(2 * 3 * 10 * 10, dtype=torch.float32).view(2, 3, 10, 10)
    patches = patch_descriptors(level, 5, 7, torch.Generator().manual_seed(1))  # (10, 3, 7, 7)
    assert patches.shape == (10, 3, 7, 7)
    for i, patch in enumerate(patches):  # a check over a handful of patches, not the metric
        image = level[i // 5]
        y, x = divmod(int(patch[0, 0, 0] - image[0, 0, 0]), 10)
        assert 0 <= y <= 3 and 0 <= x <= 3  # centre in [3, 7): the patch fits
        assert torch.equal(patch, image[:, y : y + 7, x : x + 7])
    normalised = normalise_descriptors(patches)
    per_channel = normalised.view(10, 3, 49)
    assert torch.allclose(per_channel.mean(dim=(0, 2)), torch.zeros(3), atol=1e-5)
    assert torch.allclose(per_channel.std(dim=(0, 2), unbiased=False), torch.ones(3), atol=1e-5)


def test_sliced_wasserstein_closed_forms():
    # 1-D: the only directions are +-1, so SWD = mean |sort(a) - sort(b)| = (1 + 2 + 3) / 3
    a, b = torch.tensor([[0.0], [1.0], [2.0]]), torch.tensor([[3.0], [1.0], [5.0]])
    assert float(sliced_wasserstein(a, b, directions=128)) == pytest.approx(2.0, abs=1e-6)
    # a translation by t moves every projection by v.t: SWD = E_v |v.t| = |t| E|v_1|, and for
    # v uniform on the circle E|cos| = 2/pi
    pts = torch.randn(500, 2, generator=torch.Generator().manual_seed(0))
    shift = torch.tensor([3.0, 4.0])
    got = float(sliced_wasserstein(pts, pts + shift, directions=4096, chunk=512,
                                   generator=torch.Generator().manual_seed(1)))
    assert got == pytest.approx(5.0 * 2 / np.pi, rel=0.03)
    assert float(sliced_wasserstein(pts, pts)) == 0.0  # the same projection of the same points twice: exact


def test_swd_of_images_is_zero_for_the_same_set_and_grows_with_difference():
    g = torch.Generator().manual_seed(0)
    real = torch.rand(64, 1, 32, 32, generator=g)
    # the same images: only the random patches differ (the metric's sampling noise)
    same = sliced_wasserstein_distance(real, real, seed=3)
    assert same.resolutions == (32, 16) == pyramid_resolutions(32)
    # each set is normalised by its own statistics: a brightness / contrast change is
    # invisible (the same patch positions and directions as `same`, so the same values)
    affine = sliced_wasserstein_distance(real, 0.5 * real + 0.25, quantize=False, seed=3)
    unquantised = sliced_wasserstein_distance(real, real, quantize=False, seed=3)
    assert affine.per_level == pytest.approx(unquantised.per_level, rel=1e-4)
    blurred = torch.nn.functional.avg_pool2d(real, 3, 1, 1)
    different = sliced_wasserstein_distance(real, blurred, seed=3)
    assert all(d > 3 * s for d, s in zip(different.per_level, same.per_level, strict=True))
    assert different.average == pytest.approx(sum(different.per_level) / 2)
    with pytest.raises(ValueError, match="same shape"):
        sliced_wasserstein_distance(real, real[:10])


def official_ms_ssim(img1: np.ndarray, img2: np.ndarray) -> float:
    """The official msssim (NHWC, 8-bit scale) written out with scipy's fftconvolve."""
    weights = np.array(MS_SSIM_WEIGHTS)
    im1, im2 = img1.astype(np.float64), img2.astype(np.float64)
    mssim, mcs = [], []
    for _ in range(5):
        _, h, w, _ = im1.shape
        size = min(11, h, w)
        sigma = size * 1.5 / 11
        offset, start, stop = 0.0, -(size // 2), size // 2 + 1
        if size % 2 == 0:
            offset, stop = 0.5, stop - 1
        x, y = np.mgrid[offset + start:stop, offset + start:stop]
        g = np.exp(-((x**2 + y**2) / (2.0 * sigma**2)))
        window = (g / g.sum()).reshape(1, size, size, 1)

        def conv(a: np.ndarray, window: np.ndarray = window) -> np.ndarray:
            return scipy.signal.fftconvolve(a, window, mode="valid")

        mu1, mu2 = conv(im1), conv(im2)
        s11, s22, s12 = conv(im1 * im1) - mu1**2, conv(im2 * im2) - mu2**2, conv(im1 * im2) - mu1 * mu2
        c1, c2 = (0.01 * 255) ** 2, (0.03 * 255) ** 2
        v1, v2 = 2.0 * s12 + c2, s11 + s22 + c2
        mssim.append(np.mean(((2 * mu1 * mu2 + c1) * v1) / ((mu1**2 + mu2**2 + c1) * v2), axis=(1, 2, 3)))
        mcs.append(np.mean(v1 / v2, axis=(1, 2, 3)))
        down = lambda a: (a[:, 0::2, 0::2] + a[:, 1::2, 0::2] + a[:, 0::2, 1::2] + a[:, 1::2, 1::2]) * 0.25  # noqa: E731
        im1, im2 = down(im1), down(im2)
    mssim_a, mcs_a = np.clip(np.asarray(mssim), 0, np.inf), np.clip(np.asarray(mcs), 0, np.inf)
    return float(np.mean(np.prod(mcs_a[:-1] ** weights[:-1, None], axis=0) * mssim_a[-1] ** weights[-1]))


def test_ms_ssim_matches_the_official_formula_on_small_images():
    g = torch.Generator().manual_seed(0)
    base = torch.rand(6, 3, 32, 32, generator=g)
    other = (base + 0.2 * torch.rand(6, 3, 32, 32, generator=g)).clamp(0, 1)
    a, b = (base * 255).round(), (other * 255).round()
    ours = float(ms_ssim(a, b).mean())
    official = official_ms_ssim(a.permute(0, 2, 3, 1).numpy(), b.permute(0, 2, 3, 1).numpy())
    assert ours == pytest.approx(official, rel=1e-6)
    # windows of even size (2 at the 2x2 scale of a 32-px image) are offset by half a pixel
    assert torch.allclose(gaussian_window(2, 2 * 1.5 / 11), torch.full((2, 2), 0.25, dtype=torch.float64), atol=1e-12)


def test_ms_ssim_closed_forms():
    # identical pairs: 1
    x = torch.rand(4, 1, 32, 32) * 255
    assert torch.allclose(ms_ssim(x, x), torch.ones(4, dtype=torch.float64))
    # constant images a and b: no variance, so CS = c2 / c2 = 1 at every scale and
    # MS-SSIM = SSIM_5^w5 with SSIM = (2ab + c1) / (a^2 + b^2 + c1)
    a, b, c1 = 50.0, 200.0, (0.01 * 255) ** 2
    expected = ((2 * a * b + c1) / (a * a + b * b + c1)) ** MS_SSIM_WEIGHTS[-1]
    got = ms_ssim(torch.full((1, 1, 32, 32), a), torch.full((1, 1, 32, 32), b))
    assert float(got) == pytest.approx(expected, rel=1e-12)
    # pairs are images 2i and 2i+1; an odd last image is left out
    pair_images = torch.stack([torch.zeros(1, 32, 32), torch.zeros(1, 32, 32), torch.ones(1, 32, 32)])
    assert generated_pairs_ms_ssim(pair_images) == pytest.approx(1.0)


def test_ms_ssim_refuses_images_its_five_scales_would_empty():
    """5 scales halve the image 4 times: 16 px is the smallest side (1 px at the last scale)."""
    assert ms_ssim(torch.rand(2, 1, 16, 16) * 255, torch.rand(2, 1, 16, 16) * 255).shape == (2,)
    with pytest.raises(ValueError, match="at least 16 px"):
        ms_ssim(torch.rand(2, 1, 8, 8) * 255, torch.rand(2, 1, 8, 8) * 255)
