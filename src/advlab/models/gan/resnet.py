"""Residual generator and discriminator: the '101-layer ResNet G and D' row of WGAN-GP Figure 2
(Gulrajani et al. 2017, arXiv:1704.00028), with configurable depth.

Both networks are stacks of pre-activation bottleneck residual blocks (He et al. 2016,
"Identity mappings in deep residual networks"):
    out = shortcut(x) + residual_scale * branch(x),
    branch = norm -> ReLU -> 1x1 conv (c_in -> c_in/2) -> norm -> ReLU -> 3x3 conv (c_in/2 ->
             c_out/2, with the block's up/down-sampling) -> norm -> ReLU -> 1x1 conv (-> c_out).
The WGAN-GP authors' 64x64 ResNet uses the same 1x1-3x3-1x1 bottleneck with a single norm at
the end of the branch and scales the branch by 0.3 so that very deep stacks start close to the
identity; we keep the 0.3 but normalise before every ReLU, which keeps every ReLU alive at
initialisation even at the small widths of quick runs (with one norm at the end, narrow
branches can start with all-negative pre-activations and never receive a gradient).
Up-sampling is nearest-neighbour x2 before the 3x3 conv;
down-sampling is 2x2 average pooling after it; the shortcut is the identity, or the same
resampling followed by a 1x1 conv when the shape changes.

Depth counts the weight layers on the main path: 1 (input projection) + 3 per block + 1
(output layer), so depth=101 gives 33 blocks, the paper's 101 layers. The blocks are spread
evenly over the resolutions 4x4 ... S x S (S = 32 for 28/32 px, 64 for 64 px); log2(S) - 2 of
them change the resolution, so the minimum depth is 2 + 3 * (log2(S) - 2) (11 at 32 px).
Filters: width * 2^(n-1) at 4x4, halving with each doubling of resolution, and `width` at full
resolution, mirrored in the discriminator. Generator norm: batch norm; discriminator norm:
batch, layer or none (WGAN-GP recommends layer norm for a gradient-penalised critic).
PyTorch's default (He-uniform) initialisation.
"""

from __future__ import annotations

from torch import Tensor, nn

from advlab.models.gan.layers import (
    CenterCrop,
    PadTo,
    check_image_input,
    check_latent_input,
    internal_size,
    n_resamplings,
    norm2d,
)


class BottleneckBlock(nn.Module):
    """Bottleneck residual block (module docstring). resample: None | "up" | "down".
    (N, c_in, s, s) -> (N, c_out, s', s') with s' = 2s (up), s/2 (down) or s."""

    def __init__(
        self, c_in: int, c_out: int, *, resample: str | None, norm: str, residual_scale: float
    ) -> None:
        super().__init__()
        if resample not in (None, "up", "down"):
            raise ValueError(f"resample must be None, 'up' or 'down', got {resample!r}")
        self.residual_scale = residual_scale
        mid_in, mid_out = max(1, c_in // 2), max(1, c_out // 2)
        up = [nn.Upsample(scale_factor=2, mode="nearest")] if resample == "up" else []
        down = [nn.AvgPool2d(2)] if resample == "down" else []
        bias = norm == "none"  # a bias before a normalisation is redundant (zero gradient)
        self.branch = nn.Sequential(
            norm2d(norm, c_in),
            nn.ReLU(),
            nn.Conv2d(c_in, mid_in, 1, bias=bias),  # (N, c_in/2, s, s)
            norm2d(norm, mid_in),
            nn.ReLU(),
            *up,
            nn.Conv2d(mid_in, mid_out, 3, padding=1, bias=bias),  # (N, c_out/2, s', s')
            *down,
            norm2d(norm, mid_out),
            nn.ReLU(),
            nn.Conv2d(mid_out, c_out, 1),  # (N, c_out, s', s')
        )
        if resample is None and c_in == c_out:
            self.shortcut: nn.Module = nn.Identity()
        else:
            self.shortcut = nn.Sequential(*up, *down, nn.Conv2d(c_in, c_out, 1))

    def forward(self, x: Tensor) -> Tensor:
        return self.shortcut(x) + self.residual_scale * self.branch(x)


def blocks_per_level(depth: int, n: int) -> list[int]:
    """Plain (non-resampling) blocks at each of the n + 1 resolutions for a network of `depth`
    main-path weight layers with n resampling blocks; earlier levels get any remainder."""
    minimum = 2 + 3 * n
    if depth < minimum:
        raise ValueError(
            f"depth {depth} is too small: at least {minimum} layers are needed for {n} "
            "resolution changes (1 input + 3 per block + 1 output)"
        )
    plain = (depth - 2) // 3 - n  # total blocks minus the n resampling ones
    levels = n + 1
    return [plain // levels + (1 if i < plain % levels else 0) for i in range(levels)]


def level_widths(width: int, n: int) -> list[int]:
    """Filters at 4x4, 8x8, ..., S x S: width * [2^(n-1), ..., 2, 1, 1]."""
    return [width * 2 ** (n - 1 - i) for i in range(n)] + [width]


class ResNetGenerator(nn.Module):
    """Residual generator: z (N, latent_dim) -> linear to (N, width*2^(n-1), 4, 4) -> blocks
    with n up-sampling blocks -> BN, ReLU, 3x3 conv, tanh -> (N, channels, S, S) in [-1, 1]
    (centre-cropped to 28 for 28-px images)."""

    def __init__(
        self,
        *,
        image_size: int,
        channels: int,
        latent_dim: int = 100,
        width: int = 64,
        depth: int = 101,
        residual_scale: float = 0.3,
    ) -> None:
        super().__init__()
        self.latent_dim, self.image_size, self.channels = latent_dim, image_size, channels
        n = n_resamplings(image_size)
        widths, plain = level_widths(width, n), blocks_per_level(depth, n)
        self.project = nn.Linear(latent_dim, widths[0] * 4 * 4)
        blocks: list[nn.Module] = []
        for level, (c, count) in enumerate(zip(widths, plain, strict=True)):
            blocks += [
                BottleneckBlock(c, c, resample=None, norm="batch", residual_scale=residual_scale)
                for _ in range(count)
            ]
            if level < n:  # (N, c, s, s) -> (N, c_next, 2s, 2s)
                blocks.append(
                    BottleneckBlock(
                        c, widths[level + 1], resample="up", norm="batch",
                        residual_scale=residual_scale,
                    )
                )
        out: list[nn.Module] = [
            nn.BatchNorm2d(widths[-1]),
            nn.ReLU(),
            nn.Conv2d(widths[-1], channels, 3, padding=1),
            nn.Tanh(),
        ]
        if image_size != internal_size(image_size):
            out.append(CenterCrop(image_size))  # (N, C, 32, 32) -> (N, C, 28, 28)
        self.blocks = nn.Sequential(*blocks)
        self.out = nn.Sequential(*out)

    def forward(self, z: Tensor) -> Tensor:
        check_latent_input(z, self.latent_dim, type(self).__name__)
        h = self.project(z).view(z.shape[0], -1, 4, 4)  # (N, width*2^(n-1), 4, 4)
        return self.out(self.blocks(h))  # (N, C, S, S)


class ResNetDiscriminator(nn.Module):
    """Residual discriminator/critic: (N, channels, S, S) -> 3x3 conv to `width` filters ->
    blocks with n down-sampling blocks -> norm, ReLU -> linear on (N, width*2^(n-1)*4*4) -> (N,)
    raw scores. norm: "batch" | "layer" | "none" inside the blocks."""

    def __init__(
        self,
        *,
        image_size: int,
        channels: int,
        width: int = 64,
        depth: int = 101,
        residual_scale: float = 0.3,
        norm: str = "batch",
    ) -> None:
        super().__init__()
        self.image_size, self.channels = image_size, channels
        size = internal_size(image_size)
        n = n_resamplings(image_size)
        widths = level_widths(width, n)[::-1]  # S x S first: width, width, 2*width, ...
        plain = blocks_per_level(depth, n)
        layers: list[nn.Module] = [PadTo(size)] if image_size != size else []
        layers.append(nn.Conv2d(channels, widths[0], 3, padding=1))
        for level, (c, count) in enumerate(zip(widths, plain, strict=True)):
            layers += [
                BottleneckBlock(c, c, resample=None, norm=norm, residual_scale=residual_scale)
                for _ in range(count)
            ]
            if level < n:  # (N, c, s, s) -> (N, c_next, s/2, s/2)
                layers.append(
                    BottleneckBlock(
                        c, widths[level + 1], resample="down", norm=norm,
                        residual_scale=residual_scale,
                    )
                )
        layers += [
            norm2d(norm, widths[-1]),
            nn.ReLU(),
            nn.Flatten(),
            nn.Linear(widths[-1] * 4 * 4, 1),  # (N, widths[-1]*16) -> (N, 1)
        ]
        self.net = nn.Sequential(*layers)

    def forward(self, x: Tensor) -> Tensor:
        check_image_input(x, self.channels, self.image_size, type(self).__name__)
        return self.net(x).flatten()  # (N,)
