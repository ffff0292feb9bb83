"""Building blocks shared by the GAN architectures: nonlinearities (including the gated
multiplicative one of WGAN-GP Figure 2), normalisation by name, DCGAN weight init, and the
crop/pad that adapt the power-of-two convolutional stacks to 28-pixel images.
"""

from __future__ import annotations

import math
from typing import Literal

import torch
from torch import Tensor, nn

IMAGE_SIZES: tuple[int, ...] = (28, 32, 64)
NORMS: tuple[str, ...] = ("batch", "layer", "none")
NONLINEARITIES: tuple[str, ...] = ("relu", "leaky_relu", "tanh", "gated")

NormName = Literal["batch", "layer", "none"]
NonlinearityName = Literal["relu", "leaky_relu", "tanh", "gated"]


def internal_size(image_size: int) -> int:
    """The power-of-two size the convolutional stacks work at: 28 -> 32 (the generator makes a
    32x32 image and crops its centre 28x28; the discriminator pads a 28x28 input to 32x32),
    32 -> 32, 64 -> 64."""
    if image_size not in IMAGE_SIZES:
        raise ValueError(
            f"image_size {image_size} is not supported; valid: {', '.join(map(str, IMAGE_SIZES))}"
        )
    return 32 if image_size == 28 else image_size


def n_resamplings(image_size: int) -> int:
    """Number of x2 up/down-samplings between the 4x4 base and the internal size (3 for
    28/32 px, 4 for 64 px)."""
    return int(math.log2(internal_size(image_size))) - 2


class GatedTanh(nn.Module):
    """Gated multiplicative nonlinearity (the PixelCNN gate used in WGAN-GP Figure 2, 'gated
    multiplicative nonlinearities everywhere in G and D'): split the channels into halves a, b
    and return tanh(a) * sigmoid(b). (N, 2C, ...) -> (N, C, ...)."""

    def forward(self, x: Tensor) -> Tensor:
        if x.shape[1] % 2:
            raise ValueError(f"GatedTanh needs an even number of channels, got {x.shape[1]}")
        a, b = x.chunk(2, dim=1)  # (N, C, ...) each
        return torch.tanh(a) * torch.sigmoid(b)


def nonlinearity(name: str) -> nn.Module:
    """A fresh nonlinearity module: relu, leaky_relu (slope 0.2, DCGAN's discriminator), tanh,
    gated (`GatedTanh`, halves the channels)."""
    if name == "relu":
        return nn.ReLU()
    if name == "leaky_relu":
        return nn.LeakyReLU(0.2)
    if name == "tanh":
        return nn.Tanh()
    if name == "gated":
        return GatedTanh()
    raise ValueError(f"unknown nonlinearity {name!r}; valid: {', '.join(NONLINEARITIES)}")


def expansion(name: str) -> int:
    """How many channels a layer must produce per output channel of the nonlinearity `name`
    (2 for the gate, which consumes two halves; 1 otherwise)."""
    if name not in NONLINEARITIES:
        raise ValueError(f"unknown nonlinearity {name!r}; valid: {', '.join(NONLINEARITIES)}")
    return 2 if name == "gated" else 1


def norm2d(name: str, channels: int) -> nn.Module:
    """Normalisation for (N, C, H, W) feature maps: "batch" (BatchNorm2d), "layer" (layer norm
    over (C, H, W) per sample with a per-channel affine, i.e. GroupNorm with one group: the
    critic normalisation WGAN-GP Section 4 recommends, since the gradient penalty is per sample),
    or "none" (identity)."""
    if name == "batch":
        return nn.BatchNorm2d(channels)
    if name == "layer":
        return nn.GroupNorm(1, channels)
    if name == "none":
        return nn.Identity()
    raise ValueError(f"unknown normalisation {name!r}; valid: {', '.join(NORMS)}")


def critic_norm_name(batchnorm_in_critic: bool = True, critic_norm: str | None = None) -> str:
    """Resolve the discriminator's normalisation: an explicit `critic_norm` ("batch", "layer",
    "none") wins; otherwise batch norm, or layer norm when `batchnorm_in_critic=False`
    (Gulrajani et al. 2017, Section 4: "we recommend layer normalization as a drop-in
    replacement for batch normalization" in the critic)."""
    if critic_norm is not None:
        if critic_norm not in NORMS:
            raise ValueError(f"unknown critic_norm {critic_norm!r}; valid: {', '.join(NORMS)}")
        return critic_norm
    return "batch" if batchnorm_in_critic else "layer"


class CenterCrop(nn.Module):
    """Crop the centre `size` x `size` of (N, C, H, W) maps (32 -> 28 for MNIST-sized output)."""

    def __init__(self, size: int) -> None:
        super().__init__()
        self.size = size

    def forward(self, x: Tensor) -> Tensor:
        top = (x.shape[-2] - self.size) // 2
        left = (x.shape[-1] - self.size) // 2
        return x[..., top : top + self.size, left : left + self.size]


class PadTo(nn.Module):
    """Zero-pad (N, C, H, W) maps symmetrically to `size` x `size` (28 -> 32). Real and
    generated images get the same border, so the border carries no signal for D."""

    def __init__(self, size: int) -> None:
        super().__init__()
        self.size = size

    def forward(self, x: Tensor) -> Tensor:
        dh, dw = self.size - x.shape[-2], self.size - x.shape[-1]
        if dh < 0 or dw < 0:
            raise ValueError(f"input {tuple(x.shape[-2:])} is larger than {self.size}")
        return nn.functional.pad(x, (dw // 2, dw - dw // 2, dh // 2, dh - dh // 2))


def check_image_input(x: Tensor, channels: int, image_size: int, who: str) -> None:
    """Clear error for a discriminator input of the wrong shape (expects (N, C, S, S))."""
    if x.dim() != 4 or x.shape[1] != channels or x.shape[-2:] != (image_size, image_size):
        raise ValueError(
            f"{who} expects images of shape (N, {channels}, {image_size}, {image_size}), "
            f"got {tuple(x.shape)}"
        )


def check_latent_input(z: Tensor, latent_dim: int, who: str) -> None:
    """Clear error for a latent batch of the wrong shape (expects (N, latent_dim))."""
    if z.dim() != 2 or z.shape[1] != latent_dim:
        raise ValueError(f"{who} expects latents of shape (N, {latent_dim}), got {tuple(z.shape)}")


@torch.no_grad()
def init_dcgan_weights_(module: nn.Module) -> nn.Module:
    """DCGAN initialisation (Radford et al. 2016, Section 4): every convolution and linear
    weight ~ N(0, 0.02), biases 0; batch/layer-norm scales ~ N(1, 0.02), shifts 0. In place;
    returns the module."""
    for m in module.modules():
        if isinstance(m, nn.Conv2d | nn.ConvTranspose2d | nn.Linear):
            nn.init.normal_(m.weight, 0.0, 0.02)
            if m.bias is not None:
                nn.init.zeros_(m.bias)
        elif isinstance(m, nn.BatchNorm2d | nn.GroupNorm) and m.affine:
            nn.init.normal_(m.weight, 1.0, 0.02)
            nn.init.zeros_(m.bias)
    return module
