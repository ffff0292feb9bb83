"""Layers of progressive GANs (Karras et al. 2018, Section 4 and Appendix A.1), written from the
paper and the official code (tkarras/progressive_growing_of_gans, networks.py):

- `EqualizedConv2d`, `EqualizedLinear`: equalised learning rate (Section 4.1). Weights are
  drawn from N(0, 1) and multiplied at run time by the He constant c = gain / sqrt(fan_in)
  (official `get_weight(..., use_wscale=True)`); with `equalized=False` they are drawn from
  N(0, c^2) instead and used as they are. Biases start at 0 and are not scaled. The official
  gains: sqrt(2) everywhere, except sqrt(2) / 4 for the generator's first dense layer
  ("to match the original Theano implementation") and 1 for toRGB and for the
  discriminator's last dense layer.
- `PixelNorm`: pixelwise feature vector normalisation (Section 4.2),
  b = a / sqrt(mean_j a_j^2 + 1e-8) over the channels of every pixel (also applied to the
  latent vector).
- `MinibatchStdDev`: the minibatch standard deviation layer (Section 3), exactly as the
  official `minibatch_stddev_layer`.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import Tensor, nn

HE_GAIN = math.sqrt(2.0)


class EqualizedConv2d(nn.Module):
    """A k x k convolution with 'same' padding and the equalised learning rate.

    (N, c_in, H, W) -> (N, c_out, H, W). weight: (c_out, c_in, k, k) ~ N(0, 1) scaled by
    gain / sqrt(c_in * k * k) in forward (equalized), or ~ N(0, (gain / sqrt(fan_in))^2)
    used unscaled (equalized=False)."""

    def __init__(self, c_in: int, c_out: int, kernel: int, *, gain: float = HE_GAIN,
                 equalized: bool = True) -> None:
        super().__init__()
        if kernel % 2 != 1:
            raise ValueError(f"kernel must be odd ('same' padding), got {kernel}")
        std = gain / math.sqrt(c_in * kernel * kernel)  # He's constant c
        self.scale = std if equalized else 1.0
        self.padding = kernel // 2
        self.weight = nn.Parameter(torch.randn(c_out, c_in, kernel, kernel) * (1.0 if equalized else std))
        self.bias = nn.Parameter(torch.zeros(c_out))

    def forward(self, x: Tensor) -> Tensor:
        weight = self.weight * self.scale if self.scale != 1.0 else self.weight
        return F.conv2d(x, weight, self.bias, padding=self.padding)


class EqualizedLinear(nn.Module):
    """A dense layer with the equalised learning rate: (N, f_in) -> (N, f_out); weight
    (f_out, f_in) ~ N(0, 1) scaled by gain / sqrt(f_in) in forward (see `EqualizedConv2d`).
    bias=False leaves the bias to the caller (the generator's first layer adds one per
    channel after reshaping to 4x4 maps, as the official code does)."""

    def __init__(self, f_in: int, f_out: int, *, gain: float = HE_GAIN, equalized: bool = True,
                 bias: bool = True) -> None:
        super().__init__()
        std = gain / math.sqrt(f_in)
        self.scale = std if equalized else 1.0
        self.weight = nn.Parameter(torch.randn(f_out, f_in) * (1.0 if equalized else std))
        self.bias = nn.Parameter(torch.zeros(f_out)) if bias else None

    def forward(self, x: Tensor) -> Tensor:
        weight = self.weight * self.scale if self.scale != 1.0 else self.weight
        return F.linear(x, weight, self.bias)


def pixel_norm(x: Tensor, eps: float = 1e-8) -> Tensor:
    """Karras et al. 2018, Eq. in Section 4.2: b_{x,y} = a_{x,y} / sqrt(1/C sum_j (a^j_{x,y})^2
    + eps), over dim 1 of (N, C, ...) (the channels of each pixel, or a latent's entries)."""
    return x * torch.rsqrt(x.pow(2).mean(dim=1, keepdim=True) + eps)


class PixelNorm(nn.Module):
    """`pixel_norm` as a module (identity when disabled, for the ablation)."""

    def __init__(self, enabled: bool = True) -> None:
        super().__init__()
        self.enabled = enabled

    def forward(self, x: Tensor) -> Tensor:
        return pixel_norm(x) if self.enabled else x


def minibatch_stddev(x: Tensor, group_size: int = 4) -> Tensor:
    """The minibatch standard deviation layer of Karras et al. 2018 (Section 3), as the official
    `minibatch_stddev_layer`: (N, C, H, W) -> (N, C + 1, H, W).

    The minibatch is split into M = N / G groups of G = min(group_size, N) samples with a
    STRIDED assignment (the official reshape to [G, M, C, H, W]: sample n belongs to group
    n mod M); per group it takes the POPULATION variance over its G samples of every feature
    at every pixel (mean of squared deviations, no Bessel correction), sqrt(var + 1e-8), the
    average over C, H, W, and appends that number as one constant extra feature map to every
    sample of the group. (The PyTorch GAN zoo's variant, consecutive groups n // G with the
    unbiased variance, is a different function; tests/gan compares both.)"""
    n, c, h, w = x.shape
    group = min(group_size, n)
    if n % group:
        raise ValueError(f"minibatch stddev: the minibatch ({n}) must be divisible by the "
                         f"group size ({group})")
    y = x.float().reshape(group, n // group, c, h, w)  # (G, M, C, H, W): y[g, m] = x[g*M + m]
    y = y - y.mean(dim=0, keepdim=True)
    y = (y.pow(2).mean(dim=0) + 1e-8).sqrt()  # (M, C, H, W)
    y = y.mean(dim=(1, 2, 3)).to(x.dtype)  # (M,)
    stat = y.repeat(group).view(n, 1, 1, 1).expand(n, 1, h, w)  # sample n gets y[n mod M]
    return torch.cat([x, stat], dim=1)


class MinibatchStdDev(nn.Module):
    """`minibatch_stddev` as a module; group_size 0 (or 1) disables it (no extra map)."""

    def __init__(self, group_size: int = 4) -> None:
        super().__init__()
        self.group_size = group_size

    @property
    def extra_channels(self) -> int:
        return 1 if self.group_size > 1 else 0

    def forward(self, x: Tensor) -> Tensor:
        return minibatch_stddev(x, self.group_size) if self.group_size > 1 else x
