"""DCGAN generator and discriminator (Radford et al. 2016, arXiv:1511.06434, Figure 1 and
Section 3), parametrised so that the convolutional variants of WGAN-GP Figure 2 (Gulrajani et
al. 2017) are the same two classes with different switches:

============================  ==================================  =============================
architecture                  generator                           discriminator
============================  ==================================  =============================
dcgan (baseline)              BN, ReLU, halving filters           LeakyReLU 0.2, BN except first
dcgan-nobn-const              no BN, constant `width` filters     DCGAN
nonorm                        no normalisation                    no normalisation
gated                         tanh(a)*sigmoid(b) everywhere, BN   tanh(a)*sigmoid(b), BN
tanh                          tanh everywhere, BN                 tanh everywhere, BN
============================  ==================================  =============================

Shapes, with S the internal size (32 for 28/32 px images, 64 for 64 px) and n = log2(S) - 2
up-samplings: z (N, latent_dim) is projected (a 4x4 transposed convolution of a 1x1 map, the
same as a linear layer) to (N, width * 2^(n-1), 4, 4): 4x4x(8*ngf) at 64 px as in the paper,
4x4x(4*ngf) at 32 px. Each stride-2 4x4 transposed convolution doubles the resolution and
halves the filters, the last one outputs `channels` maps and tanh. 28-px images are made at 32
and centre-cropped (the discriminator zero-pads them back to 32). The discriminator mirrors the
generator with stride-2 4x4 convolutions and a final 4x4 valid convolution to one raw score.
Weights are initialised N(0, 0.02) (Radford et al. 2016, Section 4).
"""

from __future__ import annotations

from torch import Tensor, nn

from advlab.models.gan.layers import (
    CenterCrop,
    PadTo,
    check_image_input,
    check_latent_input,
    expansion,
    init_dcgan_weights_,
    internal_size,
    n_resamplings,
    nonlinearity,
    norm2d,
)


def dcgan_widths(width: int, n: int, constant: bool = False) -> list[int]:
    """Filters per resolution from 4x4 upwards: width * [2^(n-1), ..., 2, 1] (constant: all
    `width`, the 'constant number of filters' generator of WGAN-GP Figure 2)."""
    return [width] * n if constant else [width * 2 ** (n - 1 - i) for i in range(n)]


class DCGANGenerator(nn.Module):
    """DCGAN generator (Radford et al. 2016, Figure 1): z (N, latent_dim) -> images
    (N, channels, image_size, image_size) in [-1, 1].

    norm: "batch" (the paper) | "layer" | "none"; activation: "relu" (the paper) | "tanh" |
    "gated" | "leaky_relu"; constant_width: every layer has `width` filters (WGAN-GP Fig. 2).
    """

    def __init__(
        self,
        *,
        image_size: int,
        channels: int,
        latent_dim: int = 100,
        width: int = 64,
        norm: str = "batch",
        activation: str = "relu",
        constant_width: bool = False,
    ) -> None:
        super().__init__()
        self.latent_dim, self.image_size, self.channels = latent_dim, image_size, channels
        n = n_resamplings(image_size)
        widths = dcgan_widths(width, n, constant_width)
        e = expansion(activation)  # the gate consumes 2 channels per output channel
        bias = norm == "none"  # a bias followed by normalisation is redundant (zero gradient)
        layers: list[nn.Module] = [
            # project and reshape: (N, latent, 1, 1) -> (N, widths[0], 4, 4)
            nn.ConvTranspose2d(latent_dim, widths[0] * e, 4, 1, 0, bias=bias),
            norm2d(norm, widths[0] * e),
            nonlinearity(activation),
        ]
        for c_in, c_out in zip(widths[:-1], widths[1:], strict=True):
            # (N, c_in, s, s) -> (N, c_out, 2s, 2s)
            layers += [
                nn.ConvTranspose2d(c_in, c_out * e, 4, 2, 1, bias=bias),
                norm2d(norm, c_out * e),
                nonlinearity(activation),
            ]
        # (N, widths[-1], S/2, S/2) -> (N, channels, S, S); no normalisation on the output layer
        layers += [nn.ConvTranspose2d(widths[-1], channels, 4, 2, 1), nn.Tanh()]
        if image_size != internal_size(image_size):
            layers.append(CenterCrop(image_size))  # (N, C, 32, 32) -> (N, C, 28, 28)
        self.net = nn.Sequential(*layers)
        init_dcgan_weights_(self)

    def forward(self, z: Tensor) -> Tensor:
        check_latent_input(z, self.latent_dim, type(self).__name__)
        return self.net(z[:, :, None, None])  # (N, latent, 1, 1) -> (N, C, S, S)


class DCGANDiscriminator(nn.Module):
    """DCGAN discriminator (Radford et al. 2016, Section 3): images (N, channels, S, S) in
    [-1, 1] -> (N,) raw scores (logits, or critic values for WGAN; no sigmoid).

    Stride-2 4x4 convolutions doubling the filters (width, 2*width, ...) down to 4x4, then a 4x4
    valid convolution to one output. norm: "batch" (the paper; never on the first layer) |
    "layer" (WGAN-GP's recommendation for critics) | "none"; activation: "leaky_relu" (slope
    0.2, the paper) | "tanh" | "gated" | "relu".
    """

    def __init__(
        self,
        *,
        image_size: int,
        channels: int,
        width: int = 64,
        norm: str = "batch",
        activation: str = "leaky_relu",
    ) -> None:
        super().__init__()
        self.image_size, self.channels = image_size, channels
        size = internal_size(image_size)
        widths = dcgan_widths(width, n_resamplings(image_size))[::-1]  # width, 2*width, ...
        e = expansion(activation)
        bias = norm == "none"
        layers: list[nn.Module] = []
        if image_size != size:
            layers.append(PadTo(size))  # (N, C, 28, 28) -> (N, C, 32, 32)
        # first layer: no normalisation (Radford et al. 2016, Section 3)
        layers += [nn.Conv2d(channels, widths[0] * e, 4, 2, 1), nonlinearity(activation)]
        for c_in, c_out in zip(widths[:-1], widths[1:], strict=True):
            # (N, c_in, s, s) -> (N, c_out, s/2, s/2)
            layers += [
                nn.Conv2d(c_in, c_out * e, 4, 2, 1, bias=bias),
                norm2d(norm, c_out * e),
                nonlinearity(activation),
            ]
        layers.append(nn.Conv2d(widths[-1], 1, 4, 1, 0))  # (N, widths[-1], 4, 4) -> (N, 1, 1, 1)
        self.net = nn.Sequential(*layers)
        init_dcgan_weights_(self)

    def forward(self, x: Tensor) -> Tensor:
        check_image_input(x, self.channels, self.image_size, type(self).__name__)
        return self.net(x).flatten()  # (N,)
