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

from dataclasses import dataclass
from pathlib import Path

from advlab.experiments.base import ExperimentConfig
from advlab.report.memorisation_figures import render_memorisation
from advlab.report.rendered import Rendered
from advlab.zoo.context import RunContext
from advlab.zoo.memorisation import MemorisationCheck, check_run

NAME = "memorisation"
TITLE = "Nearest training images of generated samples (Karras et al. 2018, Figure 10)"
PAPER = "Karras et al. 2018 (arXiv:1710.10196), Figure 10"


@dataclass(frozen=True)
class Config(ExperimentConfig):
    """checkpoint: an advlab GAN run folder (or checkpoint file); "" = the progressive-gan
    generator at `gan_scale` ("demo" | "quick" | "paper") of its Table 1 row `gan_row`
    (default "pixelnorm", the full method; any of `progressive_gan.ROWS`). features:
    "classifier" (a LeNet trained on the run's data), "vgg16", "pixels" or
    "classifier:<checkpoint>". n_generated
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
    def paper(cls) -> Config:
        return cls(gan_scale="paper", features="vgg16", n_generated=10_000, n_heldout=10_000)


Result = MemorisationCheck  # the experiment's result is the check's (typed rows)


def run(config: Config, ctx: RunContext) -> Result:
    """Check `config.checkpoint`, or the progressive-gan generator (trained once, cached)."""
    run_dir = config.checkpoint
    if not run_dir:
        from advlab.experiments import progressive_gan
        from advlab.zoo.gan_runs import run_gan

        if config.gan_scale not in ("demo", "quick", "paper"):
            raise ValueError(f"gan_scale must be demo, quick or paper, got {config.gan_scale!r}")
        source = getattr(progressive_gan.Config, config.gan_scale)()
        cfg = progressive_gan.row_config(source, config.gan_row, ctx)  # validates the row
        with ctx.reporter.task("generator to check (progressive-gan, cached)", 1) as task:
            run_dir = run_gan(ctx, cfg, "progressive", None, cache=True).run_dir
            task.advance()
    return check_run(run_dir, config.features, ctx, n_generated=config.n_generated,
                     n_heldout=config.n_heldout, shown=config.shown, k=config.k,
                     seed=config.seed)


def render(result: Result, out_dir: Path) -> Rendered:
    """The Figure 10 layout, the distance distributions and a table of what they show."""
    return render_memorisation(result, out_dir)
