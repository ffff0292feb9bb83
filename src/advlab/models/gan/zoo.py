"""The GAN architecture registry: one factory per row of WGAN-GP Figure 2 plus Goodfellow's
MLP and Karras et al.'s progressive networks, each returning a (generator, discriminator)
pair, and `build_gan`, the single entry point.

Every factory takes the keyword-only arguments image_size, channels, latent_dim, width, and
the discriminator switches batchnorm_in_critic / critic_norm (accepted everywhere so a trainer
can pass them uniformly; architectures without normalisation in D ignore them), plus its own
options (mlp: dropout; resnet: depth, residual_scale; progressive: switches).
"""

from __future__ import annotations

import inspect
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from torch import nn

from advlab.models.gan.dcgan import DCGANDiscriminator, DCGANGenerator
from advlab.models.gan.layers import critic_norm_name, init_dcgan_weights_
from advlab.models.gan.mlp import MLPGenerator, goodfellow_mlp
from advlab.models.gan.progressive import ProgressiveSwitches, progressive_pair
from advlab.models.gan.resnet import ResNetDiscriminator, ResNetGenerator
from advlab.registry import Registry

GanPair = tuple[nn.Module, nn.Module]
GanFactory = Callable[..., GanPair]

GAN_ARCHS: Registry[GanFactory] = Registry("GAN architecture")


def _dcgan_d(
    image_size: int,
    channels: int,
    width: int,
    batchnorm_in_critic: bool,
    critic_norm: str | None,
    activation: str = "leaky_relu",
) -> DCGANDiscriminator:
    norm = critic_norm_name(batchnorm_in_critic, critic_norm)
    return DCGANDiscriminator(
        image_size=image_size, channels=channels, width=width, norm=norm, activation=activation
    )


@GAN_ARCHS.register("mlp")
def mlp(
    *,
    image_size: int,
    channels: int,
    latent_dim: int = 100,
    width: int = 64,
    dropout: bool = True,
    batchnorm_in_critic: bool = True,
    critic_norm: str | None = None,
) -> GanPair:
    """Goodfellow et al. 2014: ReLU MLP generator (1200, 1200) and maxout discriminator
    (240x5, 240x5, dropout), hidden sizes scaled by width/64. D has no normalisation, so
    batchnorm_in_critic / critic_norm are ignored."""
    return goodfellow_mlp(
        image_size=image_size, channels=channels, latent_dim=latent_dim, width=width,
        dropout=dropout,
    )


def _dcgan_g(**switches: Any) -> Callable[..., nn.Module]:
    """A generator builder (image_size, channels, latent_dim, width) -> `DCGANGenerator` with
    the given switches (norm, activation, constant_width)."""
    return lambda **shape: DCGANGenerator(**shape, **switches)


def _mlp512_g(*, image_size: int, channels: int, latent_dim: int, width: int) -> nn.Module:
    """'G: 4-layer 512-dim ReLU MLP': hidden size 8 * width (512 at the default width 64),
    PyTorch's default initialisation."""
    return MLPGenerator(image_size=image_size, channels=channels, latent_dim=latent_dim,
                        hidden=[8 * width] * 4)


@dataclass(frozen=True)
class Figure2Row:
    """One row of WGAN-GP Figure 2 whose discriminator is DCGAN's (or a variant of it): how
    to build the generator, the discriminator's nonlinearity, and `critic_norm_off` for rows
    that remove normalisation from D whatever the trainer asks for."""

    doc: str
    generator: Callable[..., nn.Module] = field(default_factory=_dcgan_g)
    critic_activation: str = "leaky_relu"
    critic_norm_off: bool = False


FIGURE2_ROWS: dict[str, Figure2Row] = {
    "dcgan": Figure2Row(
        "Radford et al. 2016 DCGAN (WGAN-GP Figure 2 baseline): BN + ReLU generator, LeakyReLU "
        "discriminator with BN except on its first layer; batchnorm_in_critic=False gives the "
        "critic layer norm instead (critic_norm='none' for none), as WGAN-GP recommends."),
    "dcgan-nobn-const": Figure2Row(
        "WGAN-GP Figure 2, row 2: 'G: No BN and a constant number of filters, D: DCGAN'. Every "
        "generator layer has `width` filters and no normalisation.",
        _dcgan_g(norm="none", constant_width=True)),
    "mlp512": Figure2Row(
        "WGAN-GP Figure 2, row 3: 'G: 4-layer 512-dim ReLU MLP, D: DCGAN'. The hidden size is "
        "8 * width (512 at the default width 64); PyTorch's default init in G, N(0, 0.02) in D.",
        _mlp512_g),
    "nonorm": Figure2Row(
        "WGAN-GP Figure 2, row 4: 'No normalization in either G or D' (DCGAN otherwise); "
        "batchnorm_in_critic / critic_norm are ignored.",
        _dcgan_g(norm="none"), critic_norm_off=True),
    "gated": Figure2Row(
        "WGAN-GP Figure 2, row 5: 'Gated multiplicative nonlinearities everywhere in G and D': "
        "every hidden layer makes 2x the filters and applies tanh(a) * sigmoid(b); DCGAN "
        "otherwise (BN kept; the output layer stays tanh, D's last layer linear).",
        _dcgan_g(activation="gated"), critic_activation="gated"),
    "tanh": Figure2Row(
        "WGAN-GP Figure 2, row 6: 'tanh nonlinearities everywhere in G and D' (DCGAN otherwise).",
        _dcgan_g(activation="tanh"), critic_activation="tanh"),
}


def _figure2_factory(row: Figure2Row) -> GanFactory:
    """The (generator, discriminator) factory of a `Figure2Row` (the keyword signature every
    factory of the registry has)."""

    def factory(
        *,
        image_size: int,
        channels: int,
        latent_dim: int = 100,
        width: int = 64,
        batchnorm_in_critic: bool = True,
        critic_norm: str | None = None,
    ) -> GanPair:
        g = row.generator(image_size=image_size, channels=channels, latent_dim=latent_dim,
                          width=width)
        if row.critic_norm_off:
            batchnorm_in_critic, critic_norm = True, "none"
        d = _dcgan_d(image_size, channels, width, batchnorm_in_critic, critic_norm,
                     row.critic_activation)
        return g, d

    factory.__doc__ = row.doc
    return factory


for _name, _row in FIGURE2_ROWS.items():
    GAN_ARCHS.add(_name, _figure2_factory(_row))


@GAN_ARCHS.register("resnet")
def resnet(
    *,
    image_size: int,
    channels: int,
    latent_dim: int = 100,
    width: int = 64,
    depth: int = 101,
    residual_scale: float = 0.3,
    batchnorm_in_critic: bool = True,
    critic_norm: str | None = None,
) -> GanPair:
    """WGAN-GP Figure 2, row 7: '101-layer ResNet G and D' (bottleneck residual blocks; see
    `advlab.models.gan.resnet`). depth = weight layers on the main path of each network."""
    g = ResNetGenerator(
        image_size=image_size, channels=channels, latent_dim=latent_dim, width=width,
        depth=depth, residual_scale=residual_scale,
    )
    d = ResNetDiscriminator(
        image_size=image_size, channels=channels, width=width, depth=depth,
        residual_scale=residual_scale, norm=critic_norm_name(batchnorm_in_critic, critic_norm),
    )
    return g, d


@GAN_ARCHS.register("progressive")
def progressive(
    *,
    image_size: int,
    channels: int,
    latent_dim: int = 512,
    width: int = 16,
    switches: ProgressiveSwitches | None = None,
    batchnorm_in_critic: bool = True,
    critic_norm: str | None = None,
) -> GanPair:
    """Karras et al. 2018: the progressively growing generator and discriminator
    (`advlab.models.gan.progressive`; equalised lr, pixel norm, minibatch stddev, no batch
    norm, so batchnorm_in_critic / critic_norm are ignored). image_size: a power of two;
    width: feature maps at the final resolution; switches: the Table 1 ablation."""
    return progressive_pair(image_size=image_size, channels=channels, latent_dim=latent_dim,
                            width=width, switches=switches or ProgressiveSwitches())


def build_gan(
    arch: str,
    *,
    image_size: int,
    channels: int,
    latent_dim: int = 100,
    width: int = 64,
    **kwargs: Any,
) -> GanPair:
    """Build the (generator, discriminator) pair registered as `arch` (see `GAN_ARCHS.names()`).

    generator: (N, latent_dim) -> (N, channels, image_size, image_size) in [-1, 1] (tanh).
    discriminator: (N, channels, image_size, image_size) in [-1, 1] -> (N,) raw scores
    (logits for the GAN objectives, critic values for WGAN; no sigmoid).
    image_size: 28, 32 or 64 for the fixed architectures (28 is made at 32 and centre-cropped by convolutional generators,
    zero-padded back to 32 by convolutional discriminators), any power of two for
    `progressive`; channels: 1 or 3 (any positive
    number works); width: base number of filters (ngf = ndf); kwargs: architecture options,
    e.g. batchnorm_in_critic=False (layer norm in the critic, for WGAN-GP), depth=... (resnet).
    Unknown names raise `UnknownNameError`, unknown options ValueError listing the valid ones.
    """
    factory = GAN_ARCHS.get(arch)
    for name, value in (("channels", channels), ("latent_dim", latent_dim), ("width", width)):
        if not isinstance(value, int) or value < 1:
            raise ValueError(f"{name} must be a positive integer, got {value!r}")
    options = [
        p for p in inspect.signature(factory).parameters
        if p not in ("image_size", "channels", "latent_dim", "width")
    ]
    unknown = sorted(set(kwargs) - set(options))
    if unknown:
        raise ValueError(
            f"GAN architecture {arch!r} has no option(s) {', '.join(unknown)}; "
            f"valid options: {', '.join(options)}"
        )
    return factory(
        image_size=image_size, channels=channels, latent_dim=latent_dim, width=width, **kwargs
    )


__all__ = ["GAN_ARCHS", "GanFactory", "GanPair", "build_gan", "init_dcgan_weights_"]
