"""Progressive growing (Karras et al. 2018) against the official code's formulas
(tkarras/progressive_growing_of_gans, written out here with numpy): minibatch stddev, pixel
norm, equalised learning rate, the growth schedule and the fade of real images, and the
networks' fade-in."""

from __future__ import annotations

import math
from fractions import Fraction

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from advlab.gan.growth import GrowthSchedule, fade_reals, phase_at
from advlab.gan.penalties import drift_penalty
from advlab.models.gan import build_gan, set_lod_
from advlab.models.gan.progressive import ProgressiveSwitches, feature_maps
from advlab.models.gan.progressive_layers import (
    EqualizedConv2d,
    EqualizedLinear,
    minibatch_stddev,
    pixel_norm,
)


def official_minibatch_stddev(x: np.ndarray, group_size: int = 4) -> np.ndarray:
    """networks.py minibatch_stddev_layer, with numpy for tf."""
    group = min(group_size, x.shape[0])
    s = x.shape
    y = x.reshape(group, -1, s[1], s[2], s[3])  # [GMCHW]
    y = y - y.mean(axis=0, keepdims=True)
    y = (y**2).mean(axis=0)  # [MCHW]
    y = np.sqrt(y + 1e-8)
    y = y.mean(axis=(1, 2, 3), keepdims=True)  # [M111]
    y = np.tile(y, [group, 1, s[2], s[3]])  # [N1HW]
    return np.concatenate([x, y], axis=1)


def gan_zoo_minibatch_stddev(x: torch.Tensor, group_size: int = 4) -> torch.Tensor:
    """The PyTorch GAN zoo's miniBatchStdDev: consecutive groups, unbiased variance."""
    n, c, h, w = x.shape
    groups = n // group_size
    y = x.view(-1, group_size, c, h, w).var(1)  # unbiased
    y = (y + 1e-8).sqrt().view(groups, -1).mean(1).view(groups, 1)
    y = y.expand(groups, h * w).view(groups, 1, 1, h, w).expand(groups, group_size, -1, -1, -1)
    return torch.cat([x, y.reshape(-1, 1, h, w)], dim=1)


def test_minibatch_stddev_is_the_official_layer_not_the_gan_zoo_variant():
    x = torch.randn(8, 3, 4, 4, generator=torch.Generator().manual_seed(0), dtype=torch.float64)
    ours = minibatch_stddev(x, 4)
    assert ours.shape == (8, 4, 4, 4) and torch.equal(ours[:, :3], x)  # one extra map
    assert np.allclose(ours.numpy(), official_minibatch_stddev(x.numpy(), 4), atol=1e-12)
    # strided groups: samples 0, 2, 4, 6 share a statistic, 1, 3, 5, 7 the other
    stat = ours[:, 3, 0, 0]
    assert torch.allclose(stat[0::2], stat[0].expand(4)) and torch.allclose(stat[1::2], stat[1].expand(4))
    by_hand = x[0::2].var(dim=0, unbiased=False).add(1e-8).sqrt().mean()  # population variance
    assert torch.allclose(stat[0], by_hand)
    zoo = gan_zoo_minibatch_stddev(x)
    assert not torch.allclose(zoo[:, 3], ours[:, 3])  # consecutive groups, Bessel-corrected
    assert minibatch_stddev(x[:3], 4)[:, 3].unique().numel() == 1  # N < 4: one group of N
    with pytest.raises(ValueError, match="divisible"):
        minibatch_stddev(x[:6], 4)


def test_pixel_norm_gives_unit_root_mean_square_per_pixel():
    x = torch.randn(5, 7, 3, 3) * 4
    rms = pixel_norm(x).pow(2).mean(dim=1).sqrt()
    assert torch.allclose(rms, torch.ones(5, 3, 3), atol=1e-5)
    z = torch.randn(6, 16) * 9
    assert torch.allclose(pixel_norm(z).pow(2).mean(dim=1), torch.ones(6), atol=1e-5)


def test_equalised_layers_scale_unit_normal_weights_by_the_he_constant():
    torch.manual_seed(0)
    conv = EqualizedConv2d(64, 32, 3)
    assert conv.weight.std().item() == pytest.approx(1.0, rel=0.05)  # N(0, 1) storage
    assert conv.scale == pytest.approx(math.sqrt(2) / math.sqrt(64 * 9))  # gain / sqrt(fan_in)
    x = torch.randn(2, 64, 5, 5)
    assert torch.allclose(conv(x), F.conv2d(x, conv.weight * conv.scale, conv.bias, padding=1), atol=1e-5)
    plain = EqualizedConv2d(64, 32, 3, equalized=False)  # He init, used as is
    assert plain.scale == 1.0 and plain.weight.std().item() == pytest.approx(math.sqrt(2 / 576), rel=0.05)
    linear = EqualizedLinear(128, 4, gain=1.0)
    assert linear.scale == pytest.approx(1 / math.sqrt(128))
    # the official gains: sqrt(2)/4 for G's first dense, 1 for toRGB and D's last dense
    G, D = build_gan("progressive", image_size=16, channels=1, latent_dim=32, width=8)
    assert G.dense.scale == pytest.approx(math.sqrt(2) / 4 / math.sqrt(32))
    assert all(t.scale == pytest.approx(1 / math.sqrt(t.weight.shape[1])) for t in G.to_rgb)
    assert D.head_out.scale == pytest.approx(1 / math.sqrt(D.head_out.weight.shape[1]))
    assert D.head_conv.weight.shape[1] == G.maps[0] + 1  # the minibatch-stddev map


def test_feature_maps_follow_the_official_nf():
    # fmap_base 8192, fmap_max 512 at 1024 px is width 16 (the paper's networks)
    nf = feature_maps(1024, 16, 512)
    assert nf == [min(int(8192 / 2**s), 512) for s in range(10)]
    assert feature_maps(32, 16, None)[1:] == [128, 64, 32, 16]  # at 4, 8, 16, 32 px


def official_schedule(kimg: Fraction, log2_res: int, initial: int, training: Fraction,
                      transition: Fraction):
    """train.py TrainingSchedule: (lod, resolution), in exact arithmetic (the official float
    kimg puts e.g. lod at 1.9999999999999998 instead of 2 on phase boundaries)."""
    phase_dur = training + transition
    phase_idx = math.floor(kimg / phase_dur) if phase_dur > 0 else 0
    phase_kimg = kimg - phase_idx * phase_dur
    lod = log2_res - int(math.log2(initial)) - phase_idx
    if transition > 0:
        lod -= max(phase_kimg - training, 0) / transition
    lod = max(lod, 0)
    return float(lod), 2 ** (log2_res - math.floor(lod))


def test_growth_schedule_is_the_official_function_of_images_seen():
    schedule = GrowthSchedule(initial_resolution=4, stable_images=600, fade_images=400,
                              batch_sizes=(16, 16, 8, 4))
    previous: float | None = None
    stage = -1
    resets = []
    for images in range(0, 4500, 25):
        phase = phase_at(schedule, images, 32)
        lod, resolution = official_schedule(Fraction(images, 1000), 5, 4, Fraction(6, 10),
                                            Fraction(4, 10))
        assert phase.lod == pytest.approx(lod, abs=1e-12) and phase.resolution == resolution
        assert phase.alpha == pytest.approx(1 - (lod - math.floor(lod)))
        assert phase.fading == (lod != math.floor(lod))
        if previous is not None:  # official reset_opt_for_new_lod condition
            changed = (math.floor(lod) != math.floor(previous) or math.ceil(lod) != math.ceil(previous))
            assert changed == (phase.stage != stage)
            resets += [images] if changed else []
        previous, stage = lod, phase.stage
    assert phase_at(schedule, 10**7, 32).resolution == 32 and phase_at(schedule, 10**7, 32).lod == 0
    # a reset at the start and at the end of each of the 3 fades
    assert len(resets) == 6
    assert [schedule.batch_size(r, 64) for r in (4, 8, 16, 32, 64)] == [16, 16, 8, 4, 4]
    assert GrowthSchedule().batch_size(32, 64) == 64  # no batch_sizes: the run's
    # no growing: the final resolution from the first image (the paper's Table 1 (a))
    flat = GrowthSchedule(initial_resolution=32, stable_images=0, fade_images=0)
    assert phase_at(flat, 0, 32).resolution == 32 and phase_at(flat, 5000, 32).stage == 0
    assert schedule.images_to_final(32) == 3000
    same_batch = GrowthSchedule(stable_images=600, fade_images=400, batch_sizes=(16,))
    assert same_batch.iterations_to(3000, 32, 64) == math.ceil(3000 / 16)
    assert same_batch.iterations_to(3000, 32, 64, n_critic=2) == math.ceil(3000 / 32)


def test_fade_reals_is_the_official_process_reals():
    x = torch.rand(2, 1, 16, 16, generator=torch.Generator().manual_seed(0))
    # lod 2 (stable at 4 px): box-downsampled by 4 and nearest-upsampled back
    low = fade_reals(x, 2.0)
    assert torch.allclose(low, F.interpolate(F.avg_pool2d(x, 4), scale_factor=4, mode="nearest"))
    # mid-fade from 8 to 16 px (lod 0.25): lerp with the blurred copy by lod - floor(lod)
    mid = fade_reals(x, 0.25)
    coarse = F.interpolate(F.avg_pool2d(x, 2), scale_factor=2, mode="nearest")
    assert torch.allclose(mid, x + (coarse - x) * 0.25, atol=1e-6)
    assert torch.equal(fade_reals(x, 0.0), x)  # lod 0: no pooling, no blend, the images themselves


def test_networks_fade_in_the_new_resolution_with_alpha():
    torch.manual_seed(0)
    G, D = build_gan("progressive", image_size=16, channels=1, latent_dim=8, width=4,
                     switches=ProgressiveSwitches(mbstd_group=0))
    z = torch.randn(4, 8)
    with torch.no_grad():
        set_lod_(G, 2.0)  # 4x4 only, upsampled to 16
        out4 = G(z)
        assert torch.equal(out4, F.interpolate(out4[:, :, ::4, ::4], scale_factor=4))  # nearest: pure copies
        set_lod_(G, 1.0)
        out8 = G(z)
        set_lod_(G, 1.25)  # a quarter of the way back toward 4 px: t = 0.25 on the old path
        blended = G(z)
        assert torch.allclose(blended, 0.75 * out8 + 0.25 * out4, atol=1e-5)
        # the discriminator at 8 px sees only the 8-px box average of its input
        set_lod_(D, 1.0)
        x = torch.randn(4, 1, 16, 16)
        box = F.interpolate(F.avg_pool2d(x, 2), scale_factor=2)
        assert torch.allclose(D(x), D(box), atol=1e-5)
        set_lod_(D, 1.5)  # mid-fade: a blend of the 8-px and the 4-px paths
        set_lod_(D, 1.0)
        s8 = D(x)
        set_lod_(D, 2.0)
        s4 = D(x)
        set_lod_(D, 1.5)
        assert not torch.allclose(D(x), s8) and not torch.allclose(D(x), s4)
    with pytest.raises(ValueError, match="lod must be in"):
        G.set_lod_(3.0)
    with pytest.raises(ValueError, match="power-of-two image_size"):
        build_gan("progressive", image_size=28, channels=1)


def test_drift_penalty_is_a_thousandth_of_the_mean_squared_real_score():
    scores = torch.tensor([1.0, -3.0, 2.0])
    assert float(drift_penalty(scores)) == pytest.approx(0.001 * (1 + 9 + 4) / 3)


def test_trainer_grows_and_resets_the_optimisers_when_a_fade_starts_and_ends(tmp_path):
    """16 -> 32 px with 16 images a step: stable for 2 steps, fading for 2, stable again;
    Adam's step counts restart with each stage (official reset_opt_for_new_lod)."""
    from advlab.gan.config import GANTrainConfig
    from advlab.gan.records import read_metrics
    from advlab.gan.trainer import train

    torch.set_num_threads(1)
    cfg = GANTrainConfig(loss="wgan-gp-drift", arch="progressive", image_pad=2, latent_dim=16,
                         width=4, data_limit=64, iters=6, sample_every=0, checkpoint_every=0,
                         device="cpu").with_options(
        initial_resolution=16, stable_images=32, fade_images=32, batch_sizes=(16,))
    adam_steps = []

    def record(step, parts):
        state = parts["opt_d"].state
        adam_steps.append(int(max(float(s["step"]) for s in state.values())))

    train(cfg, tmp_path, on_step=record, tensorboard=False)
    rows = read_metrics(tmp_path)
    assert [r["lod"] for r in rows] == [1.0, 1.0, 1.0, 0.5, 0.0, 0.0]
    assert [r["images_seen"] for r in rows] == [16.0 * k for k in range(1, 7)]
    assert adam_steps == [1, 2, 3, 1, 1, 2]  # fresh moments at the fade and after it
    # the checkpoint samples at its level of detail (restored with the weights): 32-px images
    from PIL import Image

    from advlab.commands.gan import sample_command
    from advlab.gan.state import load_generator

    G, _ = load_generator(tmp_path)
    assert float(G.lod) == 0.0 and G._level() == (3, 0.0)
    grid = Image.open(sample_command(tmp_path, 4, tmp_path / "grid.png"))
    assert grid.size == (2 + 2 * 34, 2 + 2 * 34)  # 2x2 images of 32 px, 2 px padding
