"""Decision regions of several models around one image (Liu et al. 2017, Figure 3; the
lecture's Figure 3): the plane through the image x spanned by one model's gradient direction
(x-axis) and a random direction orthogonal to it (y-axis), and the label every model predicts
at every point of the plane, in the same colour for the same label in every panel.

Axes are in pixel values: both directions are scaled so that one unit changes the image by a
root-mean-square of 1 pixel value (1/255 in [0, 1] images); points of the plane are clipped to
the image bounds before they are classified. Where the regions of different models look alike
along the gradient direction of one of them, adversarial examples of that model transfer.

Quick scale: the five architectures of transfer-table on a mnist-5k test digit. Paper scale:
torchvision VGG-16 (gradient direction), ResNet-152, ResNet-101, ResNet-50 and GoogLeNet on an
ImageNet validation image (``pretrained=False``: random weights, offline).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

import torch
import torch.nn.functional as F

from advlab.attacks.threat import clip_to_bounds, flat_norm
from advlab.attacks.universal import predict
from advlab.experiments.base import ExperimentConfig
from advlab.report.figures import pyplot, save_figure
from advlab.report.rendered import Figure, Rendered
from advlab.report.tables import Table
from advlab.train import TrainConfig
from advlab.zoo.cache import CLASSIFIER_TRAINING
from advlab.zoo.context import RunContext
from advlab.zoo.model_sets import (
    DEMO_MODELS,
    DEMO_TRAINING,
    QUICK_MODELS,
    correct_by_all,
    load_classifier,
    load_samples,
)

if TYPE_CHECKING:
    import matplotlib.figure

NAME = "decision-regions"
TITLE = "Decision regions of several models on the plane of one model's gradient direction"
PAPER = "Liu et al. 2017, Figure 3 (the lecture's Figure 3)"
PIXEL_VALUE = 1 / 255  # one axis unit: a root-mean-square change of one 0-255 pixel value


@dataclass(frozen=True)
class Config(ExperimentConfig):
    """models: the classifiers (the first gives the gradient direction); image: which of the
    test images every model classifies correctly is used (0 = the first); extent: the plane
    spans [-extent, extent] pixel values on both axes, with ``grid`` points per axis."""

    models: tuple[str, ...] = QUICK_MODELS
    data: str = "mnist-5k"
    image: int = 0
    extent: float = 100.0
    grid: int = 101
    eval_batch: int = 1000
    training: TrainConfig = CLASSIFIER_TRAINING
    seed: int = 0
    pretrained: bool = True

    @classmethod
    def demo(cls) -> Config:
        return cls(models=DEMO_MODELS, data="digits", grid=41, training=DEMO_TRAINING)

    @classmethod
    def paper(cls) -> Config:
        return cls(models=("torchvision:vgg16", "torchvision:resnet152", "torchvision:resnet101",
                           "torchvision:resnet50", "torchvision:googlenet"),
                   data="folder:imagenet/val@224", extent=30.0, grid=61, eval_batch=64)


@dataclass
class ModelSummary:
    """One model on the plane: the fraction of the plane it gives the image's label, the
    fraction where it agrees with the first model, and the first label change along the
    gradient direction in pixel values (None: none within the plane)."""

    model: str
    same_as_first: float
    label_fraction: float
    boundary_along_gradient: float | None


@dataclass
class Result:
    models: list[str] = field(default_factory=list)
    label: int = 0
    extent: float = 0.0
    offsets: list[float] = field(default_factory=list)  # axis coordinates, pixel values
    labels: list[list[list[int]]] = field(default_factory=list)  # [model][row = y][column = x]
    summary: list[ModelSummary] = field(default_factory=list)
    data: str = ""  # the dataset the models were trained on and the image comes from


def plane_directions(
    gradient: torch.Tensor, generator: torch.Generator
) -> tuple[torch.Tensor, torch.Tensor]:
    """(u, w), each (*S): u along ``gradient`` (*S), w a random Gaussian direction made
    orthogonal to u (Gram-Schmidt), both scaled so that a unit step has a root-mean-square of
    PIXEL_VALUE per coordinate (l2 norm sqrt(D) * PIXEL_VALUE)."""
    size = gradient.numel() ** 0.5 * PIXEL_VALUE
    u = gradient / flat_norm(gradient[None], "l2").clamp_min(1e-12)[0]
    w = torch.randn(gradient.shape, generator=generator).to(gradient)
    w = w - (w * u).sum() * u
    w = w / flat_norm(w[None], "l2").clamp_min(1e-12)[0]
    return u * size, w * size


def run(config: Config, ctx: RunContext) -> Result:
    """Classify every point of the plane with every model."""
    models = [load_classifier(ctx, name, config.data, config.training, config.pretrained)
              for name in ctx.progress(config.models, "classifiers")]
    x, y = load_samples(ctx, config.data, "test", max(200, config.image + 1), config.seed)
    chosen = correct_by_all(models, x, y).nonzero().squeeze(1)
    if chosen.numel() <= config.image:
        raise ValueError(f"only {chosen.numel()} test images are classified correctly by every "
                         f"model; image must be below that, got {config.image}")
    image, label = x[chosen[config.image]], y[chosen[config.image]]
    with torch.enable_grad():
        x_req = image[None].clone().requires_grad_(True)
        loss = F.cross_entropy(models[0](x_req), label[None])
        (gradient,) = torch.autograd.grad(loss, x_req)  # ascent direction of the first model
    u, w = plane_directions(gradient[0], torch.Generator().manual_seed(config.seed))
    offsets = torch.linspace(-config.extent, config.extent, config.grid, device=image.device)
    # (G, G, *S) points; row r has y-offset offsets[r], column c has x-offset offsets[c]
    dy = offsets.view(-1, 1, *[1] * image.ndim) * w
    dx = offsets.view(1, -1, *[1] * image.ndim) * u
    points = clip_to_bounds(image + dx + dy, (0.0, 1.0)).reshape(-1, *image.shape)
    result = Result(models=list(config.models), label=int(label), extent=config.extent,
                    offsets=offsets.tolist(), data=config.data)
    centre = config.grid // 2
    for name, model in zip(config.models, models, strict=True):
        labels = predict(model, points, config.eval_batch).view(config.grid, config.grid)
        along = labels[centre, centre:]  # +x half-axis, from the image outwards
        changed = (along != label).nonzero()
        result.labels.append(labels.tolist())
        first = torch.tensor(result.labels[0], device=labels.device)  # (G, G)
        boundary = float(offsets[centre + int(changed[0])]) if changed.numel() else None
        result.summary.append(ModelSummary(
            model=name, same_as_first=float((labels == first).float().mean()),
            label_fraction=float((labels == label).float().mean()),
            boundary_along_gradient=boundary,
        ))
    return result


def regions_figure(result: Result) -> matplotlib.figure.Figure:
    """One panel per model: its predicted label on the plane (same colour = same label), the
    image marked with +, axes in pixel values, and a colour bar of the labels."""
    plt = pyplot()
    count = len(result.models)
    # constrained layout places the colour bar that spans every panel (tight_layout cannot)
    fig, axes = plt.subplots(1, count, figsize=(2.6 * count + 0.8, 3.1), squeeze=False,
                             layout="constrained")
    extent = (-result.extent, result.extent, -result.extent, result.extent)
    for ax, name, labels in zip(axes[0], result.models, result.labels, strict=True):
        image = ax.imshow(labels, origin="lower", extent=extent, cmap="tab10", vmin=-0.5,
                          vmax=9.5, interpolation="nearest")
        ax.plot(0, 0, "k+", markersize=8)
        ax.set_title(name, fontsize=8)
        ax.tick_params(labelsize=6)
    fig.supxlabel(f"gradient direction of {result.models[0]} (pixel values)", fontsize=8)
    axes[0][0].set_ylabel("random orthogonal direction\n(pixel values)", fontsize=7)
    bar = fig.colorbar(image, ax=axes, ticks=range(10), shrink=0.8)
    bar.set_label("predicted label", fontsize=7)
    bar.ax.tick_params(labelsize=7)
    fig.suptitle(f"decision regions around a test image of class {result.label} (+ = the image)",
                 fontsize=9)
    return fig


def render(result: Result, out_dir: Path) -> Rendered:
    """The regions of every model (one panel each) and a summary table."""
    save_figure(regions_figure(result), out_dir / "decision_regions.png")
    first = result.models[0]
    table = Table(
        "Decision regions: agreement between models on the plane",
        ["model", f"plane with label {result.label} %", f"same label as {first} %",
         "first label change along the gradient (pixel values)"],
        [[s.model, 100 * s.label_fraction, 100 * s.same_as_first, s.boundary_along_gradient]
         for s in result.summary],
        caption=f"Models trained on {result.data or 'the data'}; the plane goes through one of "
        f"its test images (label {result.label}). Plane of [-{result.extent:g}, "
        f"{result.extent:g}] pixel values (root-mean-square change per pixel) along the "
        f"gradient of {first}'s loss and a random orthogonal direction. Empty boundary: the "
        "label does not change within the plane.",
    )
    figure = Figure(
        "decision_regions.png",
        f"Figure 3: predicted label of every model ({result.data or 'the data'}) on the plane "
        f"spanned by the gradient direction of {first} (x-axis) and a random orthogonal "
        "direction (y-axis), same colour = same label; one unit = a root-mean-square change of "
        "one pixel value",
    )
    return Rendered([table], [figure])
