"""Every registered GAN architecture: shapes, finite outputs in [-1, 1], gradients everywhere."""

from __future__ import annotations

import pytest
import torch
from torch import nn

from advlab.models.gan import GAN_ARCHS, build_gan, is_growing, set_lod_
from advlab.models.gan.resnet import BottleneckBlock
from advlab.registry import UnknownNameError

# resnet depth 14 = 1 + 3 * 4 blocks + 1: one plain block besides the 3 resampling ones at
# 28/32 px (at 64 px, 14 is the minimum: 4 resampling blocks)
SMALL = {"resnet": {"depth": 14}}
CASES = [(28, 1), (32, 3)]
CASES_64 = [("dcgan", 64, 3), ("resnet", 64, 1), ("gated", 64, 1), ("mlp512", 64, 1)]
# progressive networks need a power-of-two size (mnist-5k is padded to 32)
SIZES = {"progressive": [(32, 1), (16, 3)]}


def build_small(arch: str, image_size: int, channels: int, latent_dim: int = 16):
    kwargs = dict(SMALL.get(arch, {}))
    return build_gan(
        arch, image_size=image_size, channels=channels, latent_dim=latent_dim, width=4, **kwargs
    )


def test_registry_has_every_figure2_row() -> None:
    assert set(GAN_ARCHS.names()) == {
        "mlp", "dcgan", "dcgan-nobn-const", "mlp512", "nonorm", "gated", "tanh", "resnet",
        "progressive",
    }


@pytest.mark.parametrize(
    ("arch", "image_size", "channels"),
    [(arch, size, c) for arch in GAN_ARCHS.names() for size, c in SIZES.get(arch, CASES)]
    + CASES_64,
)
def test_shapes_range_and_gradients(arch: str, image_size: int, channels: int) -> None:
    torch.manual_seed(0)
    n = 4
    generator, discriminator = build_small(arch, image_size, channels)
    # a growing pair uses some of its layers at each level of detail: every parameter must get
    # a gradient at one of them (4x4, the fades and the stable phases up to the final size)
    levels = generator.levels if is_growing(generator) else 1
    lods = [k / 2 for k in range(2 * levels - 1)] if is_growing(generator) else [0.0]
    for lod in lods:
        set_lod_(generator, lod), set_lod_(discriminator, lod)
        fake = generator(torch.randn(n, 16))
        assert fake.shape == (n, channels, image_size, image_size)
        assert torch.isfinite(fake).all() and fake.std() > 0  # not a constant image
        if not is_growing(generator):  # tanh; the progressive output is linear (official)
            assert fake.abs().max() <= 1.0
        real = torch.rand(n, channels, image_size, image_size) * 2 - 1
        scores_fake, scores_real = discriminator(fake), discriminator(real)
        assert scores_fake.shape == (n,) and scores_real.shape == (n,)
        assert torch.isfinite(scores_fake).all() and torch.isfinite(scores_real).all()
        # a random weighting avoids losses whose gradient vanishes by symmetry (BN of a sum)
        weights = torch.randn(2, n)
        ((scores_fake * weights[0]).sum() + (scores_real * weights[1]).sum()).backward()
    for network in (generator, discriminator):
        for name, parameter in network.named_parameters():
            assert parameter.grad is not None, f"{arch}: no gradient reaches {name}"
            assert torch.isfinite(parameter.grad).all(), f"{arch}: non-finite gradient in {name}"
            assert parameter.grad.abs().sum() > 0, f"{arch}: zero gradient for {name}"


@pytest.mark.parametrize("arch", GAN_ARCHS.names())
def test_eval_mode_is_deterministic(arch: str) -> None:
    torch.manual_seed(0)
    generator, discriminator = build_small(arch, 32, 1)
    generator.eval(), discriminator.eval()
    z = torch.randn(3, 16)
    with torch.no_grad():
        assert torch.equal(generator(z), generator(z))
        x = generator(z)
        if not is_growing(discriminator):  # minibatch stddev couples samples by design
            assert torch.allclose(discriminator(x)[:1], discriminator(x[:1]), atol=1e-5)


def test_dcgan_follows_radford() -> None:
    generator, discriminator = build_gan("dcgan", image_size=64, channels=3, width=8)
    first = generator.net[0]
    assert isinstance(first, nn.ConvTranspose2d) and first.out_channels == 8 * 8  # 4x4x(8 ngf)
    assert isinstance(generator.net[1], nn.BatchNorm2d) and isinstance(generator.net[2], nn.ReLU)
    d_layers = list(discriminator.net)
    assert isinstance(d_layers[0], nn.Conv2d) and isinstance(d_layers[1], nn.LeakyReLU)
    assert d_layers[1].negative_slope == 0.2  # no BN after the first layer
    assert sum(isinstance(m, nn.BatchNorm2d) for m in d_layers) == 3
    convs = [m for m in generator.modules() if isinstance(m, nn.ConvTranspose2d)]
    std = torch.cat([m.weight.flatten() for m in convs]).std().item()
    assert std == pytest.approx(0.02, rel=0.05)  # N(0, 0.02) init


def test_critic_normalisation_switch() -> None:
    def norms(d: nn.Module) -> set[type]:
        return {type(m) for m in d.modules() if isinstance(m, nn.BatchNorm2d | nn.GroupNorm)}

    for arch in ("dcgan", "resnet"):
        kwargs = {"depth": 11} if arch == "resnet" else {}
        _, with_bn = build_gan(arch, image_size=32, channels=1, width=4, **kwargs)
        _, with_ln = build_gan(
            arch, image_size=32, channels=1, width=4, batchnorm_in_critic=False, **kwargs
        )
        _, plain = build_gan(arch, image_size=32, channels=1, width=4, critic_norm="none", **kwargs)
        assert norms(with_bn) == {nn.BatchNorm2d}
        assert norms(with_ln) == {nn.GroupNorm}  # layer norm (WGAN-GP Section 4)
        assert norms(plain) == set()
    g, d = build_gan("nonorm", image_size=32, channels=1, width=4)
    assert norms(g) == set() and norms(d) == set()
    g, _ = build_gan("dcgan-nobn-const", image_size=32, channels=1, width=4)
    assert norms(g) == set()
    assert {m.out_channels for m in g.modules() if isinstance(m, nn.ConvTranspose2d)} == {4, 1}


def test_resnet_depth() -> None:
    generator, discriminator = build_gan("resnet", image_size=32, channels=3, width=2, depth=101)
    for network in (generator, discriminator):
        blocks = [m for m in network.modules() if isinstance(m, BottleneckBlock)]
        assert len(blocks) == 33  # 1 + 3 * 33 + 1 = 101 weight layers on the main path
    with pytest.raises(ValueError, match="depth 8 is too small"):
        build_gan("resnet", image_size=32, channels=3, width=2, depth=8)


def test_bad_arguments_raise_clear_errors() -> None:
    with pytest.raises(UnknownNameError, match="dcgan"):
        build_gan("dcgan2", image_size=32, channels=1)
    with pytest.raises(ValueError, match="valid options"):
        build_gan("dcgan", image_size=32, channels=1, depth=3)
    with pytest.raises(ValueError, match="image_size"):
        build_gan("dcgan", image_size=48, channels=1)
    with pytest.raises(ValueError, match="critic_norm"):
        build_gan("dcgan", image_size=32, channels=1, width=4, critic_norm="instance")
    generator, discriminator = build_gan("dcgan", image_size=28, channels=1, width=4)
    with pytest.raises(ValueError, match=r"\(N, 100\)"):
        generator(torch.randn(2, 10))
    with pytest.raises(ValueError, match=r"\(N, 1, 28, 28\)"):
        discriminator(torch.randn(2, 1, 32, 32))
