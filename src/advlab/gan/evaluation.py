"""Evaluation during a GAN run: FID / KID / IS of the generator at fixed latents."""

from __future__ import annotations

import torch
from torch import nn

from advlab.gan.config import GANTrainConfig
from advlab.gan.realdata import load_real_images


class RunEvaluator:
    """FID / KID / IS of the generator on `eval_samples` fixed latents against as many test
    images (prepared as the run prepares its training images); the real features are
    extracted once (`advlab.gan.metrics.GenerativeScores`)."""

    def __init__(self, cfg: GANTrainConfig, extractor: nn.Module | None, device: torch.device):
        from advlab.gan.metrics import GenerativeScores

        if extractor is None and cfg.eval_features == "auto":
            raise ValueError(
                "eval_every > 0 needs features: set eval_features to 'classifier:<checkpoint>' "
                "or 'inception', or pass an extractor (`advlab gan train` resolves 'auto')")
        spec = extractor if extractor is not None else cfg.eval_features
        self.cfg = cfg
        self.scores = GenerativeScores(spec, seed=cfg.seed)
        self.scores.extractor.to(device).eval()
        real = load_real_images(cfg, "test")[: cfg.eval_samples]  # (n, C, H, W) in [0, 1]
        self.scores.add_real(real.to(device))

    def __call__(self, generator: nn.Module) -> dict[str, float]:
        was_training = generator.training
        generator.eval()  # BN running statistics; nothing is updated
        try:
            return self.scores.score_generator(
                generator, self.cfg.eval_samples, latent_dim=self.cfg.latent_dim,
                seed=self.cfg.seed, prior=self.cfg.latent_prior)  # type: ignore[arg-type]
        finally:
            generator.train(was_training)
