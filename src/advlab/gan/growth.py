"""The growth schedule of progressive GANs (Karras et al. 2018, Section 3) as a pure function of
the number of real images the discriminator has seen, and the fading of real images between
two resolutions.

Training starts at `initial_resolution`; every phase first stabilises at its resolution for
`stable_images` images, then fades in the next one over `fade_images` images, until the final
resolution, where it stays. In the official code (tkarras/progressive_growing_of_gans,
train.py, `TrainingSchedule`; stable = lod_training_kimg, fade = lod_transition_kimg) the
level of detail is

    phase = floor(images / (stable + fade)),   t = images - phase * (stable + fade),
    lod   = max(log2(final) - log2(initial) - phase - max(t - stable, 0) / fade, 0),

the networks work at resolution final / 2^floor(lod), and lod - floor(lod) is the weight of the
old (upsampled, lower-resolution) path during a fade; alpha = 1 - (lod - floor(lod)) is the
weight of the new layers. Everything else the trainer does per resolution (minibatch size,
resetting the optimisers' state when lod's floor or ceiling changes: `reset_opt_for_new_lod`,
the fade of real images, `process_reals`) follows from this one function, so a run resumed
mid-fade computes exactly what the uninterrupted run computed.

The official code re-evaluates the schedule every `minibatch_repeats` = 4 minibatches; here it
is evaluated before every generator iteration (the official '-norepeat' setting).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import Tensor

# Karras et al.'s minibatch per resolution (official config.py, preset-v2-1gpu: {4: 128,
# 8: 128, 16: 128, 32: 64, 64: 32, 128: 16, 256: 8, 512: 4}, base 4 at 1024)
OFFICIAL_BATCH_SIZES: tuple[int, ...] = (128, 128, 128, 64, 32, 16, 8, 4, 4)


@dataclass(frozen=True)
class GrowthSchedule:
    """When the networks grow (Karras et al. 2018, Section 3 and Appendix A.1).

    initial_resolution: where training starts (4 in the paper; the final resolution = no
        growing). stable_images / fade_images: real images per stabilisation and per fade-in
        (the paper: 800k each; official code: 600k each). batch_sizes: minibatch size at
        resolutions 4, 8, 16, ... (empty: the run's batch_size everywhere; the last entry
        repeats for higher resolutions). reset_optimizer: reset both optimisers' state (Adam
        moments) when a fade starts and when it ends (official reset_opt_for_new_lod=True).
    """

    initial_resolution: int = 4
    stable_images: int = 600_000
    fade_images: int = 600_000
    batch_sizes: tuple[int, ...] = ()
    reset_optimizer: bool = True

    def __post_init__(self) -> None:
        if self.initial_resolution < 4 or not _is_power_of_two(self.initial_resolution):
            raise ValueError(f"initial_resolution must be a power of two >= 4, got "
                             f"{self.initial_resolution}")
        if self.stable_images < 0 or self.fade_images < 0:
            raise ValueError(f"stable_images and fade_images must be >= 0, got "
                             f"{self.stable_images} and {self.fade_images}")
        object.__setattr__(self, "batch_sizes", tuple(int(b) for b in self.batch_sizes))
        if any(b < 1 for b in self.batch_sizes):
            raise ValueError(f"batch_sizes must be positive, got {self.batch_sizes}")

    def batch_size(self, resolution: int, default: int) -> int:
        """The minibatch size at `resolution` (`default` when batch_sizes is empty)."""
        if not self.batch_sizes:
            return default
        index = int(math.log2(resolution)) - 2
        return self.batch_sizes[min(index, len(self.batch_sizes) - 1)]

    def images_to_final(self, final_resolution: int) -> int:
        """Real images until the last fade-in has finished (training then stays at the final
        resolution)."""
        steps = _growth_steps(self.initial_resolution, final_resolution)
        return steps * (self.stable_images + self.fade_images)

    def iterations_to(self, images: int, final_resolution: int, default_batch: int,
                      n_critic: int = 1) -> int:
        """Generator iterations (each `n_critic` discriminator steps) until the discriminator
        has seen at least `images` real images under this schedule."""
        seen = iterations = 0
        while seen < images:
            resolution = phase_at(self, seen, final_resolution).resolution
            seen += n_critic * self.batch_size(resolution, default_batch)
            iterations += 1
        return iterations


@dataclass(frozen=True)
class GrowthPhase:
    """Where training is: lod (level of detail, 0 = final resolution), the resolution the
    networks work at, alpha (weight of the newest layers: 1 - frac(lod); 1 when stable),
    whether a fade is under way, and `stage`, which changes exactly when the official code
    resets the optimisers (at the start and at the end of every fade)."""

    lod: float
    resolution: int
    alpha: float
    fading: bool
    stage: int


def phase_at(schedule: GrowthSchedule, images_seen: int, final_resolution: int) -> GrowthPhase:
    """The growth phase after the discriminator has seen `images_seen` real images (the module
    docstring gives the official formula; a pure function of its arguments)."""
    if images_seen < 0:
        raise ValueError(f"images_seen must be >= 0, got {images_seen}")
    steps = _growth_steps(schedule.initial_resolution, final_resolution)
    stable, fade = schedule.stable_images, schedule.fade_images
    duration = stable + fade
    phase = images_seen // duration if duration > 0 else 0
    into = images_seen - phase * duration
    lod = float(steps - phase)
    fading = False
    if fade > 0 and into > stable:
        lod -= (into - stable) / fade
        fading = True
    if lod <= 0.0:
        lod, fading = 0.0, False
    resolution = final_resolution // 2 ** math.floor(lod)
    alpha = 1.0 - (lod - math.floor(lod))
    stage = min(2 * phase + int(fading), 2 * steps)
    return GrowthPhase(lod=lod, resolution=resolution, alpha=alpha, fading=fading, stage=stage)


def fade_reals(images: Tensor, lod: float) -> Tensor:
    """Real images (N, C, S, S) as the networks see them at level of detail `lod` (official
    train.py `process_reals`): box-downsampled to the working resolution S / 2^floor(lod),
    blended with their own 2x box-down / nearest-up copy by lod - floor(lod) during a fade,
    and nearest-upsampled back to S. Returns (N, C, S, S)."""
    level = math.floor(lod)
    factor = 2**level
    x = F.avg_pool2d(images, factor) if factor > 1 else images  # (N, C, S/f, S/f)
    blend = lod - level
    if blend > 0:
        coarse = F.interpolate(F.avg_pool2d(x, 2), scale_factor=2, mode="nearest")
        x = torch.lerp(x, coarse, blend)
    return F.interpolate(x, scale_factor=factor, mode="nearest") if factor > 1 else x


def _growth_steps(initial: int, final: int) -> int:
    if not _is_power_of_two(final) or final < initial:
        raise ValueError(f"progressive growing needs a power-of-two final resolution >= "
                         f"{initial}, got {final}")
    return int(math.log2(final)) - int(math.log2(initial))


def _is_power_of_two(n: int) -> bool:
    return n > 0 and n & (n - 1) == 0
