"""The nearest-neighbour memorisation check of a trained GAN (Karras et al. 2018, Figure 10),
shared by `advlab gan memorisation` and the `memorisation` experiment: generated samples,
held-out real images and noisy copies of training images (the control) against their nearest
training images in a feature space (a classifier's, VGG-16's five layers, or pixels).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import torch
from torch import nn

from advlab.models.layers import CropBorder
from advlab.zoo.context import RunContext

FEATURES = ("classifier", "vgg16", "pixels")
COPY_NOISE = 0.02  # std of the noise on the training copies of the control


def classifier_for_padded(classifier: nn.Module | str, pad: int) -> nn.Module | str:
    """The feature classifier in front of which the padding is cropped (a spec string as is)."""
    if isinstance(classifier, str) or pad == 0:
        return classifier
    return nn.Sequential(CropBorder(pad), classifier).eval()


@dataclass
class Distances:
    """Distance to the nearest training image of each generated sample, each held-out test
    image, and each noisy copy of a training image (the control)."""

    generated: list[float] = field(default_factory=list)
    heldout: list[float] = field(default_factory=list)
    copies: list[float] = field(default_factory=list)


@dataclass
class Summary:
    """Medians of the `Distances`; ratio_*: median over the held-out median; closer_*: the
    fraction nearer than the held-out 5th percentile."""

    median_generated: float
    median_heldout: float
    median_copies: float
    ratio_generated: float
    ratio_copies: float
    closer_generated: float
    closer_copies: float


@dataclass
class MemorisationCheck:
    """run_dir: the checked GAN run; figure: the Figure 10 image grid (relative to the output
    folder); neighbours: indices of the shown samples' neighbours in the training set."""

    run_dir: str
    features: str
    distances: Distances
    summary: Summary
    figure: str
    neighbours: list[list[int]] = field(default_factory=list)


def embedding(spec: str, data: str, image_pad: int, ctx: RunContext) -> nn.Module | None:
    """The feature space of the check (module docstring); None = pixels."""
    if spec == "pixels":
        return None
    if spec == "vgg16":
        from advlab.gan.features import VGGLayerFeatures

        return VGGLayerFeatures().to(ctx.device)
    from advlab.gan.features import feature_extractor
    from advlab.zoo.gan_runs import feature_network

    if spec == "classifier":
        network = feature_network(ctx, data, "classifier")
        assert isinstance(network, nn.Module)
        padded = classifier_for_padded(network, image_pad)
        return feature_extractor(padded)  # type: ignore[arg-type]
    if spec.startswith("classifier:"):
        return feature_extractor(spec, device=ctx.device)
    raise ValueError(f"unknown features {spec!r}; valid: {', '.join(FEATURES)}, "
                     "classifier:<checkpoint>")


def check_run(run_dir: str | Path, features: str, ctx: RunContext, *, n_generated: int = 1000,
              n_heldout: int = 1000, shown: int = 8, k: int = 5, seed: int = 0) -> MemorisationCheck:
    """The memorisation check of one GAN run; writes the Figure 10 image grid (generated
    samples in the first row, their k nearest training images below) to
    ctx.out_dir / "memorisation_neighbours.png" and returns the numbers."""
    from advlab.gan.memorisation import memorisation_check
    from advlab.gan.metrics import generate_images, nearest_neighbours
    from advlab.gan.realdata import load_real_images
    from advlab.gan.sampling import save_grid
    from advlab.gan.state import load_generator

    if min(n_generated, n_heldout, shown, k) < 1 or shown > n_generated:
        raise ValueError(f"need n_generated, n_heldout, shown, k >= 1 and shown <= n_generated, "
                         f"got {n_generated}, {n_heldout}, {shown}, {k}")
    G, cfg = load_generator(run_dir, ctx.device)
    training = load_real_images(cfg).to(ctx.device)  # what the GAN was trained on
    heldout = load_real_images(cfg.replace(data_limit=None), "test")[:n_heldout].to(ctx.device)
    embed = embedding(features, cfg.data, cfg.image_pad, ctx)
    generated = generate_images(G, n_generated, latent_dim=cfg.latent_dim, seed=seed,
                                prior=cfg.latent_prior)  # type: ignore[arg-type]
    report = memorisation_check(generated, training, heldout, embed, k=k)
    # the control: what a generator that copies its training images looks like
    g = torch.Generator().manual_seed(seed + 1)
    pick = torch.randperm(training.shape[0], generator=g)[:n_generated].to(ctx.device)
    noise = torch.randn(training[pick].shape, generator=g).to(ctx.device) * COPY_NOISE
    copies = (training[pick] + noise).clamp(0, 1)
    copy_d = nearest_neighbours(copies, training, embed, k=1).distances[:, 0]
    fifth = torch.quantile(report.heldout_distances.double(), 0.05)
    neighbours = report.generated.indices[:shown]  # (shown, k)
    grid = torch.cat([generated[:shown], training[neighbours.T.flatten()]])  # ((k+1)*shown, ...)
    save_grid(grid, ctx.out_dir / "memorisation_neighbours.png", nrow=shown)
    median = {name: float(d.median()) for name, d in
              (("generated", report.generated_distances), ("heldout", report.heldout_distances),
               ("copies", copy_d))}
    summary = Summary(
        median_generated=median["generated"], median_heldout=median["heldout"],
        median_copies=median["copies"], ratio_generated=report.median_ratio,
        ratio_copies=median["copies"] / max(median["heldout"], 1e-12),
        closer_generated=report.closer_than_heldout,
        closer_copies=float((copy_d.double() < fifth).double().mean()),
    )
    return MemorisationCheck(
        run_dir=str(run_dir), features=features,
        distances=Distances(generated=report.generated_distances.tolist(),
                            heldout=report.heldout_distances.tolist(), copies=copy_d.tolist()),
        summary=summary, figure="memorisation_neighbours.png", neighbours=neighbours.tolist())
