"""Multi-scale structural similarity between pairs of generated images, the variation measure
of Karras et al. 2018 (Section 5 and Table 1; Odena et al. 2017 used it first), as the official
code computes it (tkarras/progressive_growing_of_gans, metrics/ms_ssim.py, adapted from
TensorFlow's image_encoder/msssim.py, after Wang et al. 2003):

- images on the 8-bit scale (max_val 255, c1 = (0.01 * 255)^2, c2 = (0.03 * 255)^2);
- a Gaussian window of size min(11, H, W) with sigma 1.5 * size / 11 (the SMALL-IMAGE
  variant: the window shrinks with the image instead of being fixed), 'valid' convolution;
- at each of 5 scales, per image pair, SSIM = mean[(2 mu1 mu2 + c1)(2 s12 + c2) /
  ((mu1^2 + mu2^2 + c1)(s1^2 + s2^2 + c2))] and CS = mean[(2 s12 + c2) / (s1^2 + s2^2 + c2)]
  over pixels and channels, then 2x2 averaging to the next scale;
- values clipped at 0, MS-SSIM = prod_{j<5} CS_j^w_j * SSIM_5^w_5 with Wang et al.'s
  weights (0.0448, 0.2856, 0.3001, 0.2363, 0.1333), averaged over pairs.

`generated_pairs_ms_ssim` pairs images 2i and 2i + 1 as the official metric does; lower means
more varied samples (the paper's Table 1 lists the training set's value beside the models').
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor

MS_SSIM_WEIGHTS = (0.0448, 0.2856, 0.3001, 0.2363, 0.1333)
MIN_SIZE = 2 ** (len(MS_SSIM_WEIGHTS) - 1)  # 16 px: the coarsest of the 5 scales is then 1 px


def gaussian_window(size: int, sigma: float) -> Tensor:
    """MATLAB's fspecial('gaussian', size, sigma) as the official `_FSpecialGauss`: (size, size),
    sums to 1; for an even size the grid is offset by half a pixel."""
    coords = torch.arange(size, dtype=torch.float64) - (size - 1) / 2
    g = torch.exp(-(coords[:, None] ** 2 + coords[None, :] ** 2) / (2 * sigma**2))
    return g / g.sum()


def ssim_and_cs(a: Tensor, b: Tensor, max_val: float = 255.0, filter_size: int = 11,
                filter_sigma: float = 1.5, k1: float = 0.01, k2: float = 0.03) -> tuple[Tensor, Tensor]:
    """Per-pair SSIM and contrast-structure terms of images a, b (N, C, H, W) (official
    `_SSIMForMultiScale`, window shrunk to min(filter_size, H, W)). Returns two (N,)."""
    if a.shape != b.shape or a.dim() != 4:
        raise ValueError(f"need two (N, C, H, W) batches of the same shape, got {tuple(a.shape)} "
                         f"and {tuple(b.shape)}")
    n, c, h, w = a.shape
    size = min(filter_size, h, w)
    sigma = size * filter_sigma / filter_size
    window = gaussian_window(size, sigma).to(a.device, torch.float64).expand(c, 1, size, size)

    def blur(x: Tensor) -> Tensor:
        return F.conv2d(x, window, groups=c)  # 'valid'; the window is symmetric

    a, b = a.double(), b.double()
    mu1, mu2 = blur(a), blur(b)
    s11, s22, s12 = blur(a * a) - mu1 * mu1, blur(b * b) - mu2 * mu2, blur(a * b) - mu1 * mu2
    c1, c2 = (k1 * max_val) ** 2, (k2 * max_val) ** 2
    v1, v2 = 2.0 * s12 + c2, s11 + s22 + c2
    ssim = (((2.0 * mu1 * mu2 + c1) * v1) / ((mu1 * mu1 + mu2 * mu2 + c1) * v2)).mean(dim=(1, 2, 3))
    cs = (v1 / v2).mean(dim=(1, 2, 3))
    return ssim, cs


def ms_ssim(a: Tensor, b: Tensor, *, max_val: float = 255.0,
            weights: tuple[float, ...] = MS_SSIM_WEIGHTS) -> Tensor:
    """MS-SSIM of each pair (a_i, b_i) of (N, C, H, W) images on the [0, max_val] scale (module
    docstring; the official `msssim` before its final average). Returns (N,)."""
    smallest = 2 ** (len(weights) - 1)
    if min(a.shape[-2:]) < smallest:
        raise ValueError(f"MS-SSIM with {len(weights)} scales needs images of at least {smallest} px "
                         f"(each scale halves them), got {tuple(a.shape[-2:])}")
    w = torch.tensor(weights, dtype=torch.float64, device=a.device)
    mssim, mcs = [], []
    x, y = a.double(), b.double()
    for level in range(len(weights)):
        if level:
            # 2x2 averaging (official _HoxDownsample)
            x, y = F.avg_pool2d(x, 2), F.avg_pool2d(y, 2)
        ssim, cs = ssim_and_cs(x, y, max_val=max_val)
        mssim.append(ssim)
        mcs.append(cs)
    s = torch.stack(mssim).clamp_min(0.0)  # (levels, N); clipped at 0 (no NaN)
    cs_all = torch.stack(mcs).clamp_min(0.0)
    return (cs_all[:-1] ** w[:-1, None]).prod(dim=0) * s[-1] ** w[-1]


@torch.no_grad()
def generated_pairs_ms_ssim(images: Tensor, quantize: bool = True) -> float:
    """Mean MS-SSIM over the pairs (images[2i], images[2i + 1]) of (N, C, S, S) images in [0, 1]
    (the official metric pairs consecutive images of each minibatch; it uses 10,000 pairs).
    quantize: round to 8-bit values first, as the official pipeline feeds uint8 images."""
    if images.shape[0] < 2:
        raise ValueError(f"need at least 2 images for one pair, got {images.shape[0]}")
    n = images.shape[0] // 2 * 2
    x = images[:n] * 255
    if quantize:
        x = x.round().clamp(0, 255)
    return float(ms_ssim(x[0::2], x[1::2]).mean())
