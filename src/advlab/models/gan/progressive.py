"""The generator and discriminator of progressive GANs (Karras et al. 2018, arXiv:1710.10196,
Table 2 and Appendix A.1), written from the paper and the official code
(tkarras/progressive_growing_of_gans, networks.py: G_paper, D_paper).

Resolutions 4, 8, ..., S (a power of two). With r = log2(resolution), the feature maps at
resolution 2^r are nf(r - 1), nf(s) = min(width * 2^(log2(S) - 1 - s), max_width), so that the
final resolution has `width` maps (the official nf(s) = min(fmap_base / 2^s, fmap_max) with
fmap_base = width * S / 2: 8192 and 512 give the paper's 1024-px networks with width 16).

Generator (per resolution block): 4x4: pixelnorm(z) -> dense to nf(1) x 4 x 4 (gain
sqrt(2)/4) -> LReLU -> PN -> conv3x3 -> LReLU -> PN; 8x8 and up: nearest 2x upsampling ->
conv3x3 -> LReLU -> PN -> conv3x3 -> LReLU -> PN. toRGB: a 1x1 convolution (gain 1, linear
output, no tanh: the official network). Discriminator: fromRGB 1x1 conv -> LReLU; 8x8 and up:
conv3x3 -> LReLU -> conv3x3 (to the next-lower resolution's maps) -> LReLU -> 2x average
pooling; 4x4: minibatch stddev -> conv3x3 -> LReLU -> dense nf(0) -> LReLU -> dense 1 (gain 1).
LReLU slope 0.2 everywhere; every layer has the equalised learning rate.

Growth: both networks hold `lod`, the level of detail of the official code (a buffer, so it
is saved with the weights), set by the trainer from the growth schedule
(`advlab.gan.growth.phase_at`, `set_lod_`). They work at resolution S / 2^floor(lod); during a
fade-in (fractional lod, t = lod - floor(lod)) the generator outputs
    (1 - t) * toRGB_r(block_r(x)) + t * upsample(toRGB_{r-1}(x))
and the discriminator computes
    (1 - t) * block_r(fromRGB_r(img)) + t * fromRGB_{r-1}(avgpool(img)),
the official 'linear' structure (lerp_clip), evaluating only the blocks in use (its
'recursive' one). The generator always returns S x S images (nearest-upsampled from the
working resolution) and the discriminator takes S x S images (box-downsampled to the working
resolution), as the official networks do, so trainer, metrics and sampling see one shape.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from advlab.models.gan.layers import check_image_input, check_latent_input
from advlab.models.gan.progressive_layers import (
    HE_GAIN,
    EqualizedConv2d,
    EqualizedLinear,
    MinibatchStdDev,
    PixelNorm,
    pixel_norm,
)

LRELU_SLOPE = 0.2


@dataclass(frozen=True)
class ProgressiveSwitches:
    """The switches of the paper's Table 1 ablation on the progressive networks (all on: the
    paper's networks). max_width: cap on feature maps (None = 8 * width); pixel_norm:
    pixelwise normalisation in G (Section 4.2; latents are normalised either way, as in the
    official code); equalized_lr: equalised learning rate in G and D (Section 4.1);
    mbstd_group: minibatch stddev group size in D (Section 3; 0 = off)."""

    max_width: int | None = None
    pixel_norm: bool = True
    equalized_lr: bool = True
    mbstd_group: int = 4

    def __post_init__(self) -> None:
        if self.max_width is not None and self.max_width < 1:
            raise ValueError(f"max_width must be >= 1 or None, got {self.max_width}")
        if self.mbstd_group < 0:
            raise ValueError(f"mbstd_group must be >= 0 (0 = off), got {self.mbstd_group}")


def feature_maps(image_size: int, width: int, max_width: int | None) -> list[int]:
    """nf(0), nf(1), ..., nf(log2(S) - 1) (module docstring): the discriminator's last dense
    layer has nf(0) units and resolution 2^r has nf(r - 1) maps, with
    nf(s) = min(width * 2^(log2(S) - 1 - s), max_width) (max_width None: 8 * width)."""
    top = int(math.log2(image_size))
    if 2**top != image_size or image_size < 4:
        raise ValueError(f"progressive GANs need a power-of-two image_size >= 4, got {image_size} "
                         "(pad mnist-5k to 32 with image_pad 2)")
    cap = max_width if max_width is not None else 8 * width
    return [min(width * 2 ** (top - 1 - s), cap) for s in range(top)]


class _Growing(nn.Module):
    """What both networks share: the `lod` buffer and the working resolution it implies."""

    lod: Tensor

    def __init__(self, image_size: int) -> None:
        super().__init__()
        self.image_size = image_size
        self.levels = int(math.log2(image_size)) - 1  # resolutions 4 .. S
        self.register_buffer("lod", torch.zeros(()))
        self._lod = 0.0  # host copy of the buffer (no device sync per forward)
        self.register_load_state_dict_post_hook(lambda module, keys: module._sync_lod())

    def _sync_lod(self) -> None:
        self._lod = float(self.lod)

    @torch.no_grad()
    def set_lod_(self, lod: float) -> None:
        """Set the level of detail: 0 = the final resolution, levels - 1 = 4x4."""
        if not 0.0 <= lod <= self.levels - 1:
            raise ValueError(f"lod must be in [0, {self.levels - 1}], got {lod}")
        self.lod.fill_(lod)
        self._lod = float(lod)

    def _level(self) -> tuple[int, float]:
        """(index of the working resolution among 4, 8, ..., S; blend t toward the old path)."""
        floor = math.floor(self._lod)
        return self.levels - 1 - floor, self._lod - floor


class ProgressiveGenerator(_Growing):
    """z (N, latent_dim) -> images (N, channels, S, S) (linear output, about [-1, 1] once
    trained) at the current level of detail (module docstring).

    pixel_norm: PN after every convolution (Section 4.2); normalize_latents: PN on z (on in
    the official code whatever pixel_norm says); equalized: equalised learning rate."""

    def __init__(self, *, image_size: int, channels: int, latent_dim: int = 512,
                 width: int = 16, max_width: int | None = None, pixel_norm: bool = True,
                 normalize_latents: bool = True, equalized: bool = True) -> None:
        super().__init__(image_size)
        self.latent_dim, self.channels = latent_dim, channels
        self.normalize_latents = normalize_latents
        maps = feature_maps(image_size, width, max_width)[1:]  # at 4, 8, ..., S
        self.maps = maps
        eq = {"equalized": equalized}
        # 4x4: dense (gain sqrt(2)/4, official) to maps[0] x 4 x 4, bias per map after reshape
        self.dense = EqualizedLinear(latent_dim, maps[0] * 16, gain=HE_GAIN / 4, bias=False, **eq)
        self.dense_bias = nn.Parameter(torch.zeros(maps[0]))
        self.head_conv = EqualizedConv2d(maps[0], maps[0], 3, **eq)  # the 4x4 block's conv
        # the block at resolution 4 * 2^i (i >= 1) is up_convs0[i - 1] then up_convs1[i - 1]
        self.up_convs0 = nn.ModuleList(
            [EqualizedConv2d(c_in, c_out, 3, **eq) for c_in, c_out in zip(maps[:-1], maps[1:], strict=True)])
        self.up_convs1 = nn.ModuleList([EqualizedConv2d(c, c, 3, **eq) for c in maps[1:]])
        self.to_rgb = nn.ModuleList([EqualizedConv2d(c, channels, 1, gain=1.0, **eq) for c in maps])
        self.norm = PixelNorm(pixel_norm)

    def _act(self, x: Tensor) -> Tensor:
        return self.norm(F.leaky_relu(x, LRELU_SLOPE))

    def forward(self, z: Tensor) -> Tensor:
        check_latent_input(z, self.latent_dim, type(self).__name__)
        level, t = self._level()
        x = pixel_norm(z) if self.normalize_latents else z
        x = self.dense(x).view(z.shape[0], self.maps[0], 4, 4) + self.dense_bias.view(1, -1, 1, 1)
        x = self._act(x)
        x = self._act(self.head_conv(x))  # (N, nf, 4, 4)
        previous = x
        for conv0, conv1 in list(zip(self.up_convs0, self.up_convs1, strict=True))[:level]:
            previous = x
            x = F.interpolate(x, scale_factor=2, mode="nearest")
            x = self._act(conv1(self._act(conv0(x))))  # (N, maps[i], 4*2^i, 4*2^i)
        image = self.to_rgb[level](x)
        if t > 0 and level > 0:  # fading in: blend with the upsampled lower-resolution output
            old = F.interpolate(self.to_rgb[level - 1](previous), scale_factor=2, mode="nearest")
            image = torch.lerp(image, old, t)
        factor = self.image_size // image.shape[-1]
        if factor > 1:  # the official networks always output the final resolution
            image = F.interpolate(image, scale_factor=factor, mode="nearest")
        return image  # (N, C, S, S)


class ProgressiveDiscriminator(_Growing):
    """images (N, channels, S, S) -> (N,) raw critic scores at the current level of detail.

    mbstd_group: group size of the minibatch standard deviation layer (4, official; 0 = off);
    equalized: equalised learning rate."""

    def __init__(self, *, image_size: int, channels: int, width: int = 16,
                 max_width: int | None = None, mbstd_group: int = 4,
                 equalized: bool = True) -> None:
        super().__init__(image_size)
        self.channels = channels
        top, *maps = feature_maps(image_size, width, max_width)  # nf(0); maps at 4 .. S
        eq = {"equalized": equalized}
        self.from_rgb = nn.ModuleList([EqualizedConv2d(channels, c, 1, **eq) for c in maps])
        # the block at resolution 4 * 2^i (i >= 1): down_convs0[i - 1] (maps[i] -> maps[i]),
        # down_convs1[i - 1] (maps[i] -> maps[i - 1]), 2x average pooling
        self.down_convs0 = nn.ModuleList([EqualizedConv2d(c, c, 3, **eq) for c in maps[1:]])
        self.down_convs1 = nn.ModuleList(
            [EqualizedConv2d(c_in, c_out, 3, **eq) for c_in, c_out in zip(maps[1:], maps[:-1], strict=True)])
        self.mbstd = MinibatchStdDev(mbstd_group)
        self.head_conv = EqualizedConv2d(maps[0] + self.mbstd.extra_channels, maps[0], 3, **eq)
        self.head_dense = EqualizedLinear(maps[0] * 16, top, **eq)
        self.head_out = EqualizedLinear(top, 1, gain=1.0, **eq)

    def forward(self, images: Tensor) -> Tensor:
        check_image_input(images, self.channels, self.image_size, type(self).__name__)
        level, t = self._level()
        working = 4 * 2**level
        factor = self.image_size // working
        img = F.avg_pool2d(images, factor) if factor > 1 else images  # (N, C, r, r)
        x = F.leaky_relu(self.from_rgb[level](img), LRELU_SLOPE)
        for i in range(level, 0, -1):
            conv0, conv1 = self.down_convs0[i - 1], self.down_convs1[i - 1]
            x = F.leaky_relu(conv0(x), LRELU_SLOPE)
            x = F.avg_pool2d(F.leaky_relu(conv1(x), LRELU_SLOPE), 2)  # (N, maps[i-1], r/2, r/2)
            if i == level and t > 0:  # fading in: blend with the old path on the pooled image
                old = F.leaky_relu(self.from_rgb[i - 1](F.avg_pool2d(img, 2)), LRELU_SLOPE)
                x = torch.lerp(x, old, t)
        x = self.mbstd(x)  # (N, maps[0] + 1, 4, 4)
        x = F.leaky_relu(self.head_conv(x), LRELU_SLOPE)
        x = F.leaky_relu(self.head_dense(x.flatten(1)), LRELU_SLOPE)
        return self.head_out(x).flatten()  # (N,)


def set_lod_(module: nn.Module, lod: float) -> bool:
    """Set the level of detail of every growing network inside `module` (a generator, a
    discriminator, a DDP wrapper, an EMA copy); returns whether there was one."""
    found = False
    for m in module.modules():
        if isinstance(m, _Growing):
            m.set_lod_(lod)
            found = True
    return found


def is_growing(module: nn.Module) -> bool:
    """Whether `module` contains a progressive network (which the growth schedule drives)."""
    return any(isinstance(m, _Growing) for m in module.modules())


def progressive_pair(*, image_size: int, channels: int, latent_dim: int, width: int,
                     switches: ProgressiveSwitches) -> tuple[nn.Module, nn.Module]:
    """(ProgressiveGenerator, ProgressiveDiscriminator) with the given switches."""
    g = ProgressiveGenerator(image_size=image_size, channels=channels, latent_dim=latent_dim,
                             width=width, max_width=switches.max_width,
                             pixel_norm=switches.pixel_norm, equalized=switches.equalized_lr)
    d = ProgressiveDiscriminator(image_size=image_size, channels=channels, width=width,
                                 max_width=switches.max_width, mbstd_group=switches.mbstd_group,
                                 equalized=switches.equalized_lr)
    return g, d
