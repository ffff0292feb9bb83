"""The trained models the dissection experiments share, cached by the content of their
settings under ctx.cache_dir (like `advlab.zoo.cache.trained_classifier`):

- the scene classifier (``scene-vgg`` on `scenes`), through `trained_classifier` itself;
- the segmenter (``scene-unet``) trained on the exact masks of the training scenes, which
  labels the concepts of generated images (Bau et al. 2020 use a segmentation network on
  GAN samples), with its pixel accuracy and per-concept IoU on held-out scenes;
- the scene GAN: advlab's GAN trainer (`advlab.gan.trainer.train`) with a `GANTrainConfig`
  on `scenes-32`, resumed when a cached run was interrupted. The DCGAN architecture is the
  default; a progressive generator plugs in through `GANTrainConfig.arch` once it is in
  `advlab.models.gan.GAN_ARCHS` (only `generator_layers` needs to know its layer names).
"""

from __future__ import annotations

import json
import logging
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from advlab.data.scenes import CONCEPTS, ScenesDataset, load_scenes
from advlab.gan.config import GANTrainConfig
from advlab.models import create_segmenter, load_segmenter, segment
from advlab.models.checkpoint import CHECKPOINT_FILE, CheckpointError
from advlab.train import BatchOutput, TrainConfig, fit
from advlab.zoo.cache import config_key, trained_classifier
from advlab.zoo.context import RunContext

log = logging.getLogger(__name__)

SCENE_CLASSIFIER_TRAINING = TrainConfig(epochs=6, lr=0.05, schedule="cosine", batch_size=64)
"""SGD with momentum 0.9, lr 0.05 decayed by a cosine, 6 epochs of batches of 64."""
SEGMENTER_TRAINING = TrainConfig(epochs=6, optimizer="adam", lr=3e-3, schedule="cosine",
                                 batch_size=32)
"""Adam, lr 3e-3 decayed by a cosine, 6 epochs of batches of 32."""


def scene_size(data: str) -> int:
    """Image side of a scenes dataset name (scenes: 64, scenes-32: 32)."""
    if data == "scenes":
        return 64
    if data == "scenes-32":
        return 32
    raise ValueError(f"not a scenes dataset: {data!r}; valid: scenes, scenes-32")


def trained_scene_classifier(ctx: RunContext, data: str, width: int,
                             training: TrainConfig = SCENE_CLASSIFIER_TRAINING) -> nn.Module:
    """``scene-vgg`` of `width` trained on `data`'s training scenes (cached)."""
    return trained_classifier(ctx, "scene-vgg", data, training, width=width)


def pixel_cross_entropy(model: nn.Module, x: Tensor, y: Tensor, progress: float) -> BatchOutput:
    """Mean cross-entropy over every pixel: logits (N, K, H, W) against labels (N, H, W)."""
    logits = model(x)
    return BatchOutput(F.cross_entropy(logits, y.long()), logits)


def trained_segmenter(ctx: RunContext, data: str = "scenes-32", width: int = 16,
                      images: int = 5000, training: TrainConfig = SEGMENTER_TRAINING) -> nn.Module:
    """``scene-unet`` trained on the exact masks of the first `images` training scenes of
    `data`, from the cache when it is there; eval mode, on ctx.device."""
    spec = {"v": 1, "model": "scene-unet", "width": width, "data": data, "images": images,
            "train": training.to_dict()}
    folder = ctx.cache_dir / f"segmenter-{data}-{config_key(spec)}"
    if (folder / CHECKPOINT_FILE).exists():
        try:
            return load_segmenter(folder, ctx.device)
        except CheckpointError as error:
            log.warning("cached segmenter unusable (%s); retraining", error)
    scenes = load_scenes(scene_size(data), "train", n=images)
    args = {"in_channels": 3, "num_classes": len(CONCEPTS), "width": width}
    torch.manual_seed(training.seed)
    net = create_segmenter("scene-unet", **args).to(ctx.device)
    fit(net, (scenes.images, scenes.masks), None, training, folder,
        batch_loss=pixel_cross_entropy, progress=ctx.reporter,
        meta={"model": "scene-unet", "model_args": args, "dataset": data, "cache_spec": spec})
    (folder / "spec.json").write_text(json.dumps(spec, indent=2))
    return net.eval()


@dataclass
class SegmenterQuality:
    """A segmenter measured on `images` scenes with exact masks: pixel accuracy, IoU per
    concept (None for a concept absent from both prediction and truth) and their mean."""

    pixel_accuracy: float
    iou: dict[str, float | None]
    mean_iou: float
    images: int


@torch.no_grad()
def segmenter_quality(net: nn.Module, scenes: ScenesDataset,
                      device: torch.device) -> SegmenterQuality:
    """Pixel accuracy and per-concept IoU (dataset-wide, |pred & truth| / |pred | truth|) of
    a segmenter on scenes with exact masks."""
    predicted = segment(net, scenes.images.to(device)).cpu()  # (N, H, W)
    truth = scenes.masks.long()
    k = len(CONCEPTS)
    pairs = torch.bincount((truth * k + predicted).flatten(), minlength=k * k).view(k, k).double()
    intersection = pairs.diag()
    union = pairs.sum(0) + pairs.sum(1) - intersection
    iou = {c: (float(intersection[i] / union[i]) if union[i] > 0 else None)
           for i, c in enumerate(CONCEPTS)}
    present = [v for v in iou.values() if v is not None]
    return SegmenterQuality(pixel_accuracy=float(intersection.sum() / pairs.sum()), iou=iou,
                            mean_iou=sum(present) / len(present), images=int(truth.shape[0]))


@dataclass(frozen=True)
class SceneGAN:
    """A trained scene generator: the module (eval mode), its config and run folder."""

    generator: nn.Module
    config: GANTrainConfig
    folder: str


def _gan_spec(cfg: GANTrainConfig) -> dict[str, Any]:
    return {"v": 1, **{k: v for k, v in cfg.to_json().items() if k != "device"}}


def scene_gan_folder(ctx: RunContext, cfg: GANTrainConfig) -> Path:
    """Where `trained_scene_gan` keeps the run of `cfg` (a hash of every field but device)."""
    return ctx.cache_dir / f"gan-{cfg.data}-{cfg.arch}-{cfg.loss}-{config_key(_gan_spec(cfg))}"


def trained_scene_gan(ctx: RunContext, cfg: GANTrainConfig) -> SceneGAN:
    """The generator of `cfg` (data should be a scenes dataset), trained once and cached
    under ctx.cache_dir by a hash of the config (device excluded); an interrupted cached
    run is resumed."""
    from advlab.gan.state import load_generator, read_gan_checkpoint
    from advlab.gan.trainer import train

    folder = scene_gan_folder(ctx, cfg)
    checkpoint = folder / CHECKPOINT_FILE
    done = False
    if checkpoint.is_file():
        try:
            done = int(read_gan_checkpoint(checkpoint)[1]["step"]) >= cfg.iters
        except CheckpointError as error:
            log.warning("cached GAN unusable (%s); retraining", error)
            checkpoint.unlink()
    if not done:
        train(cfg, folder, resume=checkpoint.is_file(), reporter=ctx.reporter, tensorboard=False)
        (folder / "spec.json").write_text(json.dumps(_gan_spec(cfg), indent=2, default=str))
    generator, saved = load_generator(folder, ctx.device)
    return SceneGAN(generator, saved, str(folder))


def generator_layers(generator: nn.Module) -> list[str]:
    """The hidden layers to dissect in a generator: the output of every activation that
    follows a (transposed) convolution, excluding the image output (DCGAN: the ReLUs after
    each block, ``net.2``, ``net.5``, ...)."""
    names: list[str] = []
    previous_conv = False
    for name, module in generator.named_modules():
        if isinstance(module, nn.Conv2d | nn.ConvTranspose2d):
            previous_conv = True
        elif isinstance(module, nn.ReLU | nn.LeakyReLU) and previous_conv:
            names.append(name)
            previous_conv = False
    if not names:
        raise ValueError(f"found no convolution + activation layers in {type(generator).__name__}")
    return names


SCENE_GAN = GANTrainConfig(
    loss="nonsaturating", arch="dcgan", data="scenes-32", width=32, iters=4000, batch_size=64,
    latent_prior="normal", ema_decay=0.999, eval_every=0, sample_every=500,
    checkpoint_every=250, collapse_patience=200, seed=0)
"""The scene generator of gan-dissection and gan-interventions (shared, so trained once):
DCGAN (Radford et al. 2016) at 32x32 with the non-saturating objective and its Adam
settings (2e-4, beta1 0.5), width 32 (4x4x128 -> 8x8x64 -> 16x16x32 -> 32x32x3), 4,000
generator iterations of batches of 64, samples from an exponential moving average of the
generator's weights (decay 0.999). The objective that trains fastest per CPU second;
WGAN-GP (`--gan.loss wgan-gp`) runs 5 critic steps per generator step."""


@dataclass
class GeneratorSummary:
    """The settings of a trained scene generator that a result reports."""

    arch: str
    loss: str
    width: int
    iters: int
    data: str

    @classmethod
    def of(cls, config: GANTrainConfig) -> GeneratorSummary:
        return cls(config.arch, config.loss, config.width, config.iters, config.data)


@dataclass(frozen=True)
class SceneGenerator:
    """What the GAN experiments work with: the generator, its latent settings, the segmenter
    as a `Segmenter` callable and its measured quality on held-out real scenes."""

    generator: nn.Module
    config: GANTrainConfig
    segmenter: nn.Module
    quality: SegmenterQuality

    def segment(self, images: Tensor) -> Tensor:
        """Concept labels (N, H, W) of [0, 1] images."""
        return segment(self.segmenter, images)

    def latents(self, n: int, seed: int, device: torch.device) -> Tensor:
        """n latents from the GAN's prior, seeded (the same on every device)."""
        from advlab.gan.sampling import sample_latent

        return sample_latent(n, self.config.latent_dim, self.config.latent_prior,
                             torch.Generator().manual_seed(seed), device)


def scene_generator(ctx: RunContext, gan: GANTrainConfig, segmenter_width: int,
                    segmenter_images: int, segmenter_training: TrainConfig,
                    quality_images: int = 1000) -> SceneGenerator:
    """Train or load the segmenter (on the GAN's dataset) and the GAN, and measure the
    segmenter on the first `quality_images` held-out scenes."""
    segmenter = trained_segmenter(ctx, gan.data, segmenter_width, segmenter_images,
                                  segmenter_training)
    held_out = load_scenes(scene_size(gan.data), "test", n=quality_images)
    quality = segmenter_quality(segmenter, held_out, ctx.device)
    trained = trained_scene_gan(ctx, gan.replace(device=str(ctx.device)))
    return SceneGenerator(trained.generator, trained.config, segmenter, quality)
