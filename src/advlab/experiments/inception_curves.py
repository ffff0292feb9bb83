"""WGAN-GP Figure 3 (Gulrajani et al. 2017): Inception score against generator iterations and
against wall-clock time for WGAN with weight clipping, WGAN-GP with RMSProp, WGAN-GP with Adam
(to control for the optimiser) and DCGAN, all with the DCGAN architecture.

Quick scale scores with a classifier trained on the same data (a LeNet on mnist-5k: IS is then
at most 10, the number of classes); paper scale uses Inception-v3 features on CIFAR-10.
Wall-clock time is the training time recorded in metrics.csv (evaluation excluded). Every
curve starts at the untrained generator (step 0). The result also holds the real-data floor
(FID of training images against test images with the same features and sample count) and, with
classifier features, how many of the ten classes each method's samples cover: together with
the sample grids, that is the quality check of WGAN-GP with the DCGAN architecture.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from advlab.experiments.base import ExperimentConfig
from advlab.gan.config import GANTrainConfig
from advlab.report.figures import pyplot, save_figure
from advlab.report.gan_figures import save_sample_mosaic
from advlab.report.rendered import Figure, Rendered
from advlab.report.tables import Table
from advlab.zoo.context import RunContext
from advlab.zoo.gan_runs import GANRun, feature_network, real_data_floor, run_gan

NAME = "inception-curves"
TITLE = "Inception score over generator iterations and wall-clock time (WGAN-GP Figure 3)"
PAPER = "Gulrajani et al. 2017 (WGAN-GP), Figure 3 and Table 3"

# method -> (objective, optimizer overrides); the paper's four curves
METHODS: dict[str, tuple[str, dict[str, Any]]] = {
    "WGAN (clipping)": ("wgan", {}),
    "WGAN-GP (RMSProp)": ("wgan-gp", {"optimizer": "rmsprop", "lr": 5e-5}),
    "WGAN-GP (Adam)": ("wgan-gp", {}),
    "DCGAN": ("nonsaturating", {}),
}
# CIFAR-10 unsupervised Inception scores of WGAN-GP: Figure 3, DCGAN architecture, read from
# the plot (about 6.6; the paper gives no value for the other methods' curves) and Table 3
# (ResNet 7.86 +- 0.07, a row of the paper only)
PAPER_IS: dict[str, float | None] = {
    "WGAN (clipping)": None, "WGAN-GP (RMSProp)": None, "WGAN-GP (Adam)": 6.6, "DCGAN": None,
}
PAPER_RESNET_LABEL = "WGAN-GP ResNet (Table 3)"
PAPER_RESNET_IS = 7.86


@dataclass(frozen=True)
class Config(ExperimentConfig):
    """Each method trains `iters` generator iterations (each with its objective's n_critic
    critic steps) of the `arch` networks at `width` filters, with its paper's optimiser
    settings (METHODS); FID/KID/IS every `eval_every` iterations on `eval_samples` samples."""

    data: str = "mnist-5k"
    methods: tuple[str, ...] = tuple(METHODS)
    arch: str = "dcgan"
    width: int = 16
    iters: int = 2500
    batch_size: int = 32
    eval_every: int = 250
    eval_samples: int = 500
    features: str = "classifier"
    seed: int = 0

    @classmethod
    def demo(cls) -> Config:
        # what `make demo` shows: the four curves over 100 iterations at width 8 (tens of
        # seconds on 2 CPU cores; the methods cannot be told apart this early)
        return cls(width=8, iters=100, eval_every=50, eval_samples=200)

    @classmethod
    def paper(cls) -> Config:
        return cls(data="cifar10", width=64, iters=200_000, batch_size=64, eval_every=2_000,
                   eval_samples=50_000, features="inception")


@dataclass(kw_only=True)
class MethodRun(GANRun):
    """One method's run: the `GANRun` summary and its evaluations (step 0 = the untrained
    generator) with their wall-clock training seconds; paper_inception_score: the paper's
    CIFAR-10 score of this method (None where it gives none)."""

    method: str
    step: list[float]
    wall_seconds: list[float]
    inception_score: list[float]
    fid: list[float | None]
    paper_inception_score: float | None = None


@dataclass
class Result:
    """runs: one per method; floor: the scores of real training images against the test
    images (the best reachable at this n)."""

    runs: list[MethodRun] = field(default_factory=list)
    floor: dict[str, float] = field(default_factory=dict)
    data: str = ""  # the training (and feature-classifier) data
    features: str = ""  # "classifier" or "inception"
    eval_samples: int = 0  # generated samples per evaluation


def run(config: Config, ctx: RunContext) -> Result:
    """Train the four methods and record IS at every evaluation with its wall-clock time."""
    unknown = [m for m in config.methods if m not in METHODS]
    if unknown:
        raise ValueError(f"unknown methods {unknown}; valid: {', '.join(METHODS)}")
    features = feature_network(ctx, config.data, config.features)
    result = Result(data=config.data, features=config.features,
                    eval_samples=config.eval_samples)
    for method in ctx.progress(config.methods, "Figure 3 runs"):
        loss, overrides = METHODS[method]
        cfg = GANTrainConfig(
            loss=loss, arch=config.arch, data=config.data, width=config.width,
            iters=config.iters, batch_size=config.batch_size, eval_every=config.eval_every,
            eval_samples=config.eval_samples, sample_every=0, checkpoint_every=config.eval_every,
            seed=config.seed, device=str(ctx.device),
        ).with_options(**overrides)
        slug = method.lower().replace(" ", "-").replace("(", "").replace(")", "")
        summary = run_gan(ctx, cfg, slug, features)
        curves = summary.curves
        evaluated = [i for i, v in enumerate(curves.get("inception_score", [])) if v is not None]
        # the metrics.csv rows with an evaluation, per column
        at_evaluations: dict[str, Any] = {
            column: [curves[column][i] for i in evaluated]
            for column in ("step", "wall_seconds", "inception_score", "fid")
        }
        result.runs.append(MethodRun(**summary.summary_fields(), method=method, **at_evaluations,
                                     paper_inception_score=PAPER_IS.get(method)))
    result.floor = real_data_floor(ctx, config.data, features, config.eval_samples, config.seed)
    return result


X_AXES = {"step": "generator iterations", "wall_seconds": "wall-clock time (s)"}


def curves_figure(result: Result, x_key: str) -> Any:
    """The matplotlib Figure of Inception score against `x_key` ("step" or "wall_seconds"),
    one line per method."""
    fig, ax = pyplot().subplots(figsize=(5.2, 3.6))
    for r in result.runs:
        ax.plot(getattr(r, x_key), r.inception_score, marker="o", ms=3, label=r.method)
    ax.set_xlabel(X_AXES[x_key])
    ax.set_ylabel(f"Inception score ({result.features or 'feature'} features)")
    ax.legend(fontsize=8)
    return fig


def _features(result: Result) -> str:
    if result.features == "classifier":
        return f"a classifier trained on {result.data or 'the same data'}"
    return f"{result.features} features" if result.features else "the feature network"


def render(result: Result, out_dir: Path) -> Rendered:
    """IS vs generator iterations, IS vs wall-clock seconds, and a table of final scores."""
    figures = []
    for x_key, filename in (("step", "is_vs_iterations.png"), ("wall_seconds", "is_vs_time.png")):
        save_figure(curves_figure(result, x_key), out_dir / filename)
        figures.append(Figure(filename, f"Inception score against {X_AXES[x_key]} "
                                        "(WGAN-GP Figure 3)"))
    cells = [(r.samples, r.method) for r in result.runs]
    figures.append(Figure(
        save_sample_mosaic(out_dir, cells, ncols=len(cells),
                           filename="inception_curves_samples.png"),
        "Samples after the last iteration (same latents in every panel)"))
    floor = result.floor.get("fid")
    rows: list[list[Any]] = []
    for r in result.runs:
        rows.append([
            r.method, r.status, r.inception_score[-1] if r.inception_score else None,
            r.paper_inception_score, r.fid[0] if r.fid else None,
            r.fid[-1] if r.fid else None, floor,
            sum(c > 0 for c in r.classes) if r.classes else None,
            r.wall_seconds[-1] if r.wall_seconds else None,
        ])
    rows.append([PAPER_RESNET_LABEL, "paper only", None, PAPER_RESNET_IS,
                 None, None, None, None, None])
    table = Table(
        "Final Inception score and FID per method",
        ["method", "status", "IS (ours)", "IS CIFAR-10 (paper)", "FID untrained G (ours)",
         "FID final (ours)", "FID real data (floor)", "classes covered", "train seconds"],
        rows,
        caption=f"Ours: trained on {result.data or 'the data'}, scored with {_features(result)}, "
        f"{result.eval_samples or 'all'} generated samples per evaluation. With classifier "
        "features IS is at most 10 (the number of classes) and is not comparable in value with "
        "the paper's CIFAR-10 Inception scores; compare the ordering and the curves' shapes. "
        "FID untrained G is the step-0 generator; the floor is FID of as many real training "
        "images against the test images; classes covered: classes the feature classifier "
        "assigns to at least one of 1,000 samples. Paper: WGAN-GP Table 3 (ResNet 7.86) and "
        "Figure 3 (DCGAN architecture, about 6.6, read from the plot; the other three curves "
        "have no stated value).",
    )
    return Rendered([table], figures)
