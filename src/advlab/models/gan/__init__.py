"""GAN generators and discriminators by name: `build_gan(arch, ...)` and the `GAN_ARCHS`
registry (Goodfellow's `mlp`, Radford's `dcgan`, the WGAN-GP Figure 2 variants
`dcgan-nobn-const`, `mlp512`, `nonorm`, `gated`, `tanh`, `resnet`, and Karras et al.'s
`progressive`).

Generators map (N, latent_dim) to (N, C, H, W) images in [-1, 1] (tanh; the progressive
generator's output is linear, as in the official code, and is clamped where images are saved
or scored); discriminators map such images to (N,) raw scores.
"""

from advlab.models.gan.dcgan import DCGANDiscriminator, DCGANGenerator
from advlab.models.gan.layers import GatedTanh, init_dcgan_weights_
from advlab.models.gan.mlp import MaxoutDiscriminator, MLPGenerator
from advlab.models.gan.progressive import (
    ProgressiveDiscriminator,
    ProgressiveGenerator,
    ProgressiveSwitches,
    is_growing,
    set_lod_,
)
from advlab.models.gan.resnet import ResNetDiscriminator, ResNetGenerator
from advlab.models.gan.zoo import GAN_ARCHS, GanFactory, GanPair, build_gan

__all__ = [
    "GAN_ARCHS",
    "DCGANDiscriminator",
    "DCGANGenerator",
    "GanFactory",
    "GanPair",
    "GatedTanh",
    "MLPGenerator",
    "MaxoutDiscriminator",
    "ProgressiveDiscriminator",
    "ProgressiveGenerator",
    "ProgressiveSwitches",
    "ResNetDiscriminator",
    "ResNetGenerator",
    "build_gan",
    "init_dcgan_weights_",
    "is_growing",
    "set_lod_",
]
