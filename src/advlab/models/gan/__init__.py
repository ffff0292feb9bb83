"""GAN generators and discriminators by name: `build_gan(arch, ...)` and the `GAN_ARCHS`
registry (Goodfellow's `mlp`, Radford's `dcgan`, and the WGAN-GP Figure 2 variants
`dcgan-nobn-const`, `mlp512`, `nonorm`, `gated`, `tanh`, `resnet`).

Generators map (N, latent_dim) to (N, C, H, W) images in [-1, 1]; discriminators map such
images to (N,) raw scores.
"""

from advlab.models.gan.dcgan import DCGANDiscriminator, DCGANGenerator
from advlab.models.gan.layers import GatedTanh, init_dcgan_weights_
from advlab.models.gan.mlp import MaxoutDiscriminator, MLPGenerator
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
    "ResNetDiscriminator",
    "ResNetGenerator",
    "build_gan",
    "init_dcgan_weights_",
]
