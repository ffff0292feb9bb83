"""Engstrom et al. 2019, Figure 3: the loss landscape of random test examples over left-right
translations and rotations, with the grid adversary's worst point marked.

For each example the cross-entropy of the true label is evaluated on a dense (rotation,
x-translation) plane (y-translation 0), in one batched pass per example chunk; the paper's
coarse grid (31 rotations x 5 translations, dy = 0) picks its worst point by the grid
attack's rule. The table counts the strict local maxima of each landscape (the
non-concavity that defeats first-order adversaries) and compares the grid's worst loss with
the dense plane's maximum. Quick scale: the shared cached LeNet on mnist-5k, +-30 degrees,
+-3 pixels.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

import torch
import torch.nn.functional as F

from advlab import data as datasets
from advlab.attacks.spatial import SpatialGrid, WorstTransforms
from advlab.experiments.base import ExperimentConfig
from advlab.report.figures import pyplot, save_figure
from advlab.report.rendered import Figure, Rendered
from advlab.report.tables import Cell, Table
from advlab.train import TrainConfig
from advlab.transforms import Grid
from advlab.zoo.cache import CLASSIFIER_TRAINING, row_classifier
from advlab.zoo.context import RunContext

if TYPE_CHECKING:
    import matplotlib.figure

NAME = "spatial-landscape"
TITLE = "Loss landscape over rotations and left-right translations, with the grid's worst point"
PAPER = "Engstrom et al. 2019 (Exploring the landscape of spatial robustness), Figure 3"


@dataclass(frozen=True)
class Config(ExperimentConfig):
    """row: "model@dataset" (trained here, the shared classifier-baselines model); examples:
    seeded random test images; grid: the grid adversary, whose max_rotation (degrees) and
    max_translation (pixels) also bound the dense plane, and whose rotations x translations
    coarse grid (dy = 0 here) gives the marked worst point; rotation_steps x
    translation_steps: the dense plane's resolution."""

    row: str = "lenet@mnist-5k"
    examples: int = 4
    grid: SpatialGrid = SpatialGrid(max_rotation=30.0, max_translation=3.0, rotations=31,
                                    translations=5)
    rotation_steps: int = 121
    translation_steps: int = 61
    training: TrainConfig = CLASSIFIER_TRAINING
    batch_size: int = 4096
    seed: int = 0

    @classmethod
    def demo(cls) -> Config:
        return cls(examples=3, rotation_steps=61, translation_steps=31)

    @classmethod
    def paper(cls) -> Config:
        return cls(row="resnet18-cifar@cifar10", examples=6)


@dataclass
class Example:
    """One test image (x: (C, H, W) nested lists) and its landscape: loss[rotation][dx] on the
    dense plane, the loss at the identity and the plane's maximum (max_at: [degrees, px]), the
    coarse grid's worst point and loss and whether it fools the model, and the number of
    strict local maxima (all, and those above FOOLING_LOSS)."""

    label: str
    x: list[list[list[float]]]
    loss: list[list[float]]
    clean_loss: float
    max_loss: float
    max_at: list[float]
    grid_worst: list[float]
    grid_worst_loss: float
    grid_fooled: bool
    local_maxima: int
    fooling_maxima: int


@dataclass
class Result:
    rotations: list[float] = field(default_factory=list)
    translations: list[float] = field(default_factory=list)
    examples: list[Example] = field(default_factory=list)


def strict_local_maxima(surface: torch.Tensor, above: float = float("-inf")) -> int:
    """Number of points of surface (R, T) strictly above all of their (up to 8) neighbours
    and above ``above``."""
    r, t = surface.shape
    padded = F.pad(surface[None, None], (1, 1, 1, 1), value=float("-inf"))[0, 0]  # (R+2, T+2)
    shifts = [padded[1 + di : r + 1 + di, 1 + dj : t + 1 + dj]
              for di in (-1, 0, 1) for dj in (-1, 0, 1) if (di, dj) != (0, 0)]
    return int(((surface > torch.stack(shifts).amax(0)) & (surface > above)).sum())


FOOLING_LOSS = math.log(2.0)
"""Cross-entropy above which the true class has probability < 1/2 (likely misclassified)."""


def run(config: Config, ctx: RunContext) -> Result:
    """Dense landscapes of `examples` test images and the coarse grid's worst point on them."""
    model = row_classifier(ctx, config.row, config.training)
    dataset = config.row.partition("@")[2]
    test = datasets.load(dataset, "test", root=ctx.data_root)
    x, y = datasets.as_tensors(test, limit=config.examples, seed=config.seed)
    x, y = x.to(ctx.device), y.to(ctx.device)
    attack = config.grid
    limits = (attack.max_rotation, attack.max_translation, 0.0)
    plane = Grid.symmetric(limits, (config.rotation_steps, config.translation_steps, 1))
    coarse = Grid.symmetric(limits, (attack.rotations, attack.translations, 1))
    result = Result(rotations=list(plane.axes[0]), translations=list(plane.axes[1]))
    n = x.shape[0]
    with torch.no_grad():
        losses = []
        # (n, P, 3) plane points, the same for every image
        points = plane.points(device=x.device, dtype=x.dtype).unsqueeze(0).expand(n, -1, -1)
        step = max(1, config.batch_size // n)
        for start in ctx.progress(range(0, points.shape[1], step), "landscape"):
            losses.append(attack.transformed_loss(model, x, y, points[:, start : start + step])[0])
        shape = (n, config.rotation_steps, config.translation_steps)
        surface = torch.cat(losses, 1).view(shape)  # (n, R, T)
        coarse_points = coarse.points(device=x.device, dtype=x.dtype).unsqueeze(0).expand(n, -1, -1)
        loss, success, logits = attack.transformed_loss(model, x, y, coarse_points)
        worst = WorstTransforms.empty(n, 3, x)
        worst.update(coarse_points, loss, success)
        clean = F.cross_entropy(model(x), y, reduction="none").clamp_min(0.0)
    for i in range(n):  # a handful of figure panels
        s = surface[i]
        top = int(s.argmax())
        result.examples.append(Example(
            label=test.classes[int(y[i])], x=x[i].cpu().tolist(), loss=s.cpu().tolist(),
            clean_loss=float(clean[i]), max_loss=float(s.max()),
            max_at=[float(plane.axes[0][top // s.shape[1]]),
                    float(plane.axes[1][top % s.shape[1]])],
            grid_worst=[float(worst.params[i, 0]), float(worst.params[i, 1])],
            grid_worst_loss=float(worst.loss[i]), grid_fooled=bool(worst.success[i]),
            local_maxima=strict_local_maxima(s),
            fooling_maxima=strict_local_maxima(s, FOOLING_LOSS),
        ))
    return result


def landscape_figure(result: Result) -> matplotlib.figure.Figure:
    """Per example, the image (top) and a heat map of its loss over (x-translation, rotation)
    on a log colour scale (bottom), with the grid's worst point (red x) and the identity."""
    plt = pyplot()
    from matplotlib.colors import LogNorm

    k = len(result.examples)
    fig, axes = plt.subplots(2, k, figsize=(3.0 * k, 5.4), squeeze=False,
                             gridspec_kw={"height_ratios": [1, 2.2]})
    t, r = result.translations, result.rotations
    for i, ex in enumerate(result.examples):
        image = torch.tensor(ex.x).permute(1, 2, 0).squeeze(-1).numpy()
        axes[0][i].imshow(image, cmap="gray", vmin=0, vmax=1)
        axes[0][i].set_title(f"label {ex.label}", fontsize=8)
        axes[0][i].axis("off")
        ax = axes[1][i]
        # log colour scale: the flat region has structure too
        loss = torch.tensor(ex.loss).clamp_min(1e-4)
        im = ax.imshow(loss.numpy(), origin="lower", aspect="auto", cmap="viridis",
                       norm=LogNorm(vmin=1e-4, vmax=max(float(loss.max()), 1e-3)),
                       extent=(t[0], t[-1], r[0], r[-1]))
        ax.plot(*ex.grid_worst[::-1], marker="x", color="red", markersize=9, mew=2,
                label="grid's worst", clip_on=False)
        ax.plot(0, 0, marker="o", color="white", markersize=4, label="identity")
        ax.set_xlabel("x-translation (px)", fontsize=8)
        if i == 0:
            ax.set_ylabel("rotation (degrees)", fontsize=8)
            ax.legend(fontsize=6, loc="lower left")
        bar = fig.colorbar(im, ax=ax, fraction=0.046, pad=0.02)
        bar.set_label("cross-entropy (log scale)", fontsize=7)
        ax.set_title(f"{ex.local_maxima} local maxima, {ex.fooling_maxima} with loss > log 2",
                     fontsize=7)
    return fig


def render(result: Result, out_dir: Path) -> Rendered:
    """Heat maps of each landscape (worst grid point marked) and the table of its summary."""
    save_figure(landscape_figure(result), out_dir / "landscape.png")
    rows: list[list[Cell]] = [
        [i, ex.label, ex.clean_loss, ex.max_loss, f"{ex.max_at[0]:g} deg, {ex.max_at[1]:g} px",
         ex.grid_worst_loss, f"{ex.grid_worst[0]:g} deg, {ex.grid_worst[1]:g} px",
         ex.grid_fooled, ex.local_maxima, ex.fooling_maxima]
        for i, ex in enumerate(result.examples)
    ]
    r, t = result.rotations, result.translations
    plane = (f"{len(r)} rotations in [{r[0]:g}, {r[-1]:g}] degrees x {len(t)} translations in "
             f"[{t[0]:g}, {t[-1]:g}] px")
    table = Table(
        "Loss landscape over rotation and x-translation",
        ["example", "label", "loss at identity", "max loss (dense plane)", "argmax",
         "grid's worst loss", "grid's worst point", "grid fooled", "strict local maxima",
         "local maxima with loss > log 2"],
        rows,
        caption=f"Cross-entropy of the true label on a dense plane ({plane}, y-translation 0) "
        "and on the paper's coarse grid (31 rotations x 5 translations, y-translation 0, worst "
        "point by the grid attack's rule: misclassified first, then highest loss). Local maxima: "
        "points above their 8 neighbours; those with loss > log 2 (true-class probability < 1/2) "
        "are the ones an adversary wants. Several of them: first-order ascent from one start "
        "climbs one, the grid finds the worst.",
    )
    figure = Figure("landscape.png", f"Loss landscapes ({plane}); red x: the grid's worst point")
    return Rendered([table], [figure])
