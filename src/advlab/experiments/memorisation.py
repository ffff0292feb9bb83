"""The nearest-neighbour memorisation check of Karras et al. 2018, Figure 10 (the lecture's
"examples of synthetic faces"): generated samples above their nearest training images in a
feature space, and the distribution of nearest-training-image distances of generated samples
against that of held-out real images (`advlab.gan.memorisation`).

It works for any advlab GAN run (`checkpoint`, also `advlab gan memorisation --checkpoint
DIR`); by default it checks the progressive-gan generator (the full method of that
experiment, trained or taken from the model cache). Features: the penultimate layer of a LeNet
trained on the same digits at quick scale, five VGG-16 layers at paper scale (as the paper,
after Chen & Koltun 2017), or raw pixels. A control shows what memorising looks like: copies
of training images with faint noise (std 0.02) as "samples".
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch
from torch import nn

from advlab.experiments.base import Figure, Rendered, RunContext
from advlab.tables import Table

NAME = "memorisation"
TITLE = "Nearest training images of generated samples (Karras et al. 2018, Figure 10)"
PAPER = "Karras et al. 2018 (arXiv:1710.10196), Figure 10"
FEATURES = ("classifier", "vgg16", "pixels")
COPY_NOISE = 0.02  # std of the noise on the training copies of the control


@dataclass(frozen=True)
class Config:
    """checkpoint: an advlab GAN run folder (or checkpoint file); "" = the progressive-gan
    generator at `gan_scale` ("demo" | "quick" | "paper") of its Table 1 row `gan_row`
    (default "pixelnorm", the full method; any of `progressive_gan.ROWS`). features: "classifier" (a LeNet
    trained on the run's data), "vgg16", "pixels" or "classifier:<checkpoint>". n_generated
    samples and n_heldout test images are searched in the run's training set; `shown`
    samples with their k nearest neighbours make the figure."""

    checkpoint: str = ""
    gan_scale: str = "quick"
    gan_row: str = "pixelnorm"
    features: str = "classifier"
    n_generated: int = 1000
    n_heldout: int = 1000
    shown: int = 8
    k: int = 5
    seed: int = 0

    @classmethod
    def demo(cls) -> Config:
        return cls(gan_scale="demo", n_generated=500, n_heldout=500)

    @classmethod
    def quick(cls) -> Config:
        return cls()

    @classmethod
    def paper(cls) -> Config:
        return cls(gan_scale="paper", features="vgg16", n_generated=10_000, n_heldout=10_000)


@dataclass
class Result:
    """run_dir: the checked GAN run; distances: {"generated", "heldout", "copies"} nearest-
    training-image distances; summary: medians, the generated / held-out median ratio and the
    fractions nearer than the held-out 5th percentile; figure: the Figure 10 image grid
    (relative to the output folder); neighbours: indices of the shown samples' neighbours."""

    run_dir: str = ""
    features: str = ""
    distances: dict[str, list[float]] = field(default_factory=dict)
    summary: dict[str, float] = field(default_factory=dict)
    figure: str = ""
    neighbours: list[list[int]] = field(default_factory=list)


def embedding(spec: str, data: str, image_pad: int, ctx: RunContext) -> nn.Module | None:
    """The feature space of the check (module docstring); None = pixels."""
    if spec == "pixels":
        return None
    if spec == "vgg16":
        from advlab.gan.features import VGGLayerFeatures

        return VGGLayerFeatures().to(ctx.device)
    from advlab.experiments.gan_runs import feature_network
    from advlab.experiments.progressive_gan import classifier_for_padded
    from advlab.gan.features import feature_extractor

    if spec == "classifier":
        network = feature_network(ctx, data, "classifier")
        assert isinstance(network, nn.Module)
        return feature_extractor(classifier_for_padded(network, image_pad))  # type: ignore[arg-type]
    if spec.startswith("classifier:"):
        return feature_extractor(spec, device=ctx.device)
    raise ValueError(f"unknown features {spec!r}; valid: {', '.join(FEATURES)}, classifier:<checkpoint>")


def check_run(run_dir: str | Path, features: str, ctx: RunContext, *, n_generated: int = 1000,
              n_heldout: int = 1000, shown: int = 8, k: int = 5, seed: int = 0) -> Result:
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
    summary = {
        "median_generated": median["generated"], "median_heldout": median["heldout"],
        "median_copies": median["copies"], "ratio_generated": report.median_ratio,
        "ratio_copies": median["copies"] / max(median["heldout"], 1e-12),
        "closer_generated": report.closer_than_heldout,
        "closer_copies": float((copy_d.double() < fifth).double().mean()),
    }
    return Result(
        run_dir=str(run_dir), features=features,
        distances={"generated": report.generated_distances.tolist(),
                   "heldout": report.heldout_distances.tolist(), "copies": copy_d.tolist()},
        summary=summary, figure="memorisation_neighbours.png", neighbours=neighbours.tolist())


def run(config: Config, ctx: RunContext) -> Result:
    """Check `config.checkpoint`, or the progressive-gan generator (trained once, cached)."""
    run_dir = config.checkpoint
    if not run_dir:
        from advlab.experiments import progressive_gan
        from advlab.experiments.gan_runs import run_gan

        if config.gan_scale not in ("demo", "quick", "paper"):
            raise ValueError(f"gan_scale must be demo, quick or paper, got {config.gan_scale!r}")
        source = getattr(progressive_gan.Config, config.gan_scale)()
        cfg = progressive_gan.row_config(source, config.gan_row, ctx)  # validates the row
        with ctx.reporter.task("generator to check (progressive-gan, cached)", 1) as task:
            run_dir = run_gan(ctx, cfg, "progressive", None, cache=True)["run_dir"]
            task.advance()
    return check_run(run_dir, config.features, ctx, n_generated=config.n_generated,
                     n_heldout=config.n_heldout, shown=config.shown, k=config.k,
                     seed=config.seed)


def render(result: Result, out_dir: Path) -> Rendered:
    """The Figure 10 layout, the distance distributions and a table of what they show."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.image as mpimg
    import matplotlib.pyplot as plt

    k = len(result.neighbours[0]) if result.neighbours else 0
    fig, ax = plt.subplots(figsize=(6, 0.8 * (k + 1) + 0.6))
    ax.imshow(mpimg.imread(out_dir / result.figure), cmap="gray", interpolation="nearest")
    ax.set_yticks([(i + 0.5) * ax.get_ylim()[0] / (k + 1) for i in range(k + 1)])
    ax.set_yticklabels(["generated", *[f"nearest {i + 1}" for i in range(k)]], fontsize=7)
    ax.set_xticks([])
    ax.set_title(f"Generated samples (top) and their nearest training images ({result.features} "
                 "features)", fontsize=8)
    fig.tight_layout()
    fig.savefig(out_dir / "memorisation_figure10.png", dpi=130)
    plt.close(fig)
    fig, ax = plt.subplots(figsize=(5.2, 3.4))
    labels = {"generated": "generated samples", "heldout": "held-out real images",
              "copies": f"copies of training images (+noise {COPY_NOISE})"}
    for key, label in labels.items():
        values = result.distances.get(key, [])
        if values:
            ax.hist(values, bins=40, alpha=0.55, label=label)
    ax.set_xlabel(f"distance to the nearest training image ({result.features} features)")
    ax.set_ylabel("images")
    ax.legend(fontsize=7)
    fig.tight_layout()
    fig.savefig(out_dir / "memorisation_distances.png", dpi=120)
    plt.close(fig)
    s = result.summary
    rows = [
        ["generated samples", s.get("median_generated"), s.get("ratio_generated"),
         s.get("closer_generated")],
        ["held-out real images", s.get("median_heldout"), 1.0, 0.05],
        [f"copies of training images (+noise {COPY_NOISE})", s.get("median_copies"),
         s.get("ratio_copies"), s.get("closer_copies")],
    ]
    verdict = _verdict(s)
    table = Table(
        "Nearest-training-image distances (Karras et al. 2018, Figure 10 check)",
        ["images", "median distance", "ratio to held-out", "nearer than 5% of held-out"], rows,
        caption=f"{verdict} A generator that memorises sits closer to its training set than "
        "held-out images of the same distribution (ratio well below 1, a large fraction nearer "
        "than the held-out 5th percentile, like the copies); the held-out row is the "
        f"reference by definition. Run: {result.run_dir}.")
    return Rendered([table], [
        Figure("memorisation_figure10.png", f"Top: generated samples; below: their {k} nearest "
               "training images (the paper's Figure 10 layout)"),
        Figure("memorisation_distances.png", "Distances to the nearest training image"),
    ])


def _verdict(summary: dict[str, Any]) -> str:
    """One sentence on what the distances show (thresholds: a copying generator has ratio
    near 0 and nearly all samples nearer than the held-out 5th percentile)."""
    ratio, closer = summary.get("ratio_generated"), summary.get("closer_generated")
    if ratio is None or closer is None:
        return ""
    facts = (f"generated samples are {ratio:.2f}x as far from the training set as held-out "
             f"images, {100 * closer:.1f}% nearer than the held-out 5th percentile")
    if ratio < 0.5 or closer > 0.5:
        return f"Memorisation: {facts}."
    if ratio < 0.9 or closer > 0.15:
        return f"Some samples sit close to training images: {facts}."
    return f"No sign of memorisation: {facts}."
