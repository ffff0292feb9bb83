"""Figure 1 of Goodfellow, Shlens & Szegedy 2015 ("Explaining and harnessing adversarial
examples"): x, sign(grad_x J(theta, x, y)), and x + eps * sign(...), with the predicted labels
and confidences, on a classifier the experiment trains (quick: LeNet on mnist-5k; paper:
a torchvision ImageNet model such as GoogLeNet with eps = 0.007 when weights and data exist)."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

import torch

from advlab import data as datasets
from advlab.attacks import FGSM
from advlab.attacks.fgsm import fgsm_direction
from advlab.experiments.base import ExperimentConfig
from advlab.report.figures import pyplot, save_figure
from advlab.report.rendered import Figure, Rendered
from advlab.report.tables import Table
from advlab.train import TrainConfig
from advlab.zoo.cache import CLASSIFIER_TRAINING, DEMO_TRAINING, trained_classifier
from advlab.zoo.context import RunContext

if TYPE_CHECKING:
    import matplotlib.figure

NAME = "fgsm-figure"
TITLE = "Fast gradient sign method: x, sign of the gradient, x + eps * sign"
PAPER = "Goodfellow et al. 2015, Figure 1"
EXAMINED = 200  # test images FGSM is run on; the examples shown are chosen among them


@dataclass(frozen=True)
class Config(ExperimentConfig):
    """model@data: the classifier (trained here unless torchvision:); attack: the FGSM (its
    eps is the radius); examples: how many test images are shown: of the first 200 test
    images, those the model classifies correctly and FGSM fools, most confidently fooled first
    (the lecture's Figure 1 shows a confident correct prediction turned into a confident
    wrong one). training: the classifier's training, that of classifier-baselines (so the
    cached model is shared)."""

    row: str = "lenet@mnist-5k"
    attack: FGSM = FGSM(eps=0.2)
    examples: int = 4
    training: TrainConfig = CLASSIFIER_TRAINING
    seed: int = 0

    @classmethod
    def demo(cls) -> Config:
        """`make demo`: the LeNet trained for 2 epochs (shared with the other demos)."""
        return cls(training=DEMO_TRAINING)

    @classmethod
    def paper(cls) -> Config:
        return cls(row="torchvision:googlenet@folder:imagenet/val@224",
                   attack=FGSM(eps=0.007), examples=1)


@dataclass
class Example:
    """One figure row: the image x, sign(grad_x J) and x_adv as (C, H, W) nested lists, the
    true label, and the predictions with their confidences before and after FGSM."""

    x: list[list[list[float]]]
    sign: list[list[list[float]]]
    x_adv: list[list[list[float]]]
    label: str
    pred: str
    confidence: float
    pred_adv: str
    confidence_adv: float
    fooled: bool


@dataclass
class Result:
    eps: float = 0.0
    examples: list[Example] = field(default_factory=list)
    success_rate: float = 0.0  # over the test samples examined (up to 200)


def run(config: Config, ctx: RunContext) -> Result:
    """FGSM(eps) on the first 200 test images; keep the correctly classified ones it fools
    with the highest confidence in the wrong class (then, if too few are fooled, the rest)."""
    model_name, _, dataset = config.row.partition("@")
    if model_name.startswith("torchvision:"):
        from advlab import models

        model = models.create(model_name, pretrained=True).to(ctx.device).eval()
    else:
        model = trained_classifier(ctx, model_name, dataset, config.training)
    test = datasets.load(dataset, "test", root=ctx.data_root)
    x, y = datasets.as_tensors(test, limit=EXAMINED, seed=config.seed)
    x, y = x.to(ctx.device), y.to(ctx.device)
    result = config.attack(model, x, y)
    direction, _, clean_logits = fgsm_direction(model, x, y)
    clean_p, adv_p = clean_logits.softmax(1), result.logits.softmax(1)
    correct = clean_logits.argmax(1) == y  # (n,)
    # fooled first, by the confidence of the wrong prediction; then correct but not fooled
    score = torch.where(result.success, 1.0 + adv_p.amax(1), 0.0 - adv_p.amax(1))
    ranked = torch.where(correct, score, torch.full_like(score, -9.0))
    order = torch.argsort(ranked, descending=True)
    chosen = order[: min(config.examples, int(correct.sum()))]
    names = test.classes
    examples = []
    for i in chosen.tolist():  # a handful of figure panels, not an attack loop
        k, k_adv = int(clean_p[i].argmax()), int(adv_p[i].argmax())
        examples.append(Example(
            x=x[i].cpu().tolist(), sign=direction[i].cpu().tolist(),
            x_adv=result.x_adv[i].cpu().tolist(),
            label=names[int(y[i])], pred=names[k], confidence=float(clean_p[i, k]),
            pred_adv=names[k_adv], confidence_adv=float(adv_p[i, k_adv]),
            fooled=bool(result.success[i]),
        ))
    return Result(eps=config.attack.eps, examples=examples,
                  success_rate=float(result.success.float().mean()))


SIGN_LEGEND = (
    "sign(grad_x J): white +1, black -1, grey 0. Grey pixels have an exactly zero gradient: "
    "every path from them to the loss runs through conv-1 outputs that max-pooling discards "
    "(for LeNet on MNIST, strips along the right and bottom edge)."
)


def fgsm_figure(result: Result) -> matplotlib.figure.Figure:
    """Three panels per example: x with its prediction, the sign of the gradient (with a
    legend of its three shades), x + eps * sign with its prediction (grey title: not fooled)."""
    plt = pyplot()
    from matplotlib.patches import Patch

    n = max(len(result.examples), 1)
    fig, axes = plt.subplots(n, 3, figsize=(6.8, 2.2 * n + 0.6), squeeze=False)
    for r, ex in enumerate(result.examples):
        panels = [
            (ex.x, f"x: {ex.pred} ({100 * ex.confidence:.1f}%)"),
            (ex.sign, "sign(grad_x J)"),
            (ex.x_adv, f"x + {result.eps:g} sign: {ex.pred_adv} "
                       f"({100 * ex.confidence_adv:.1f}%)"),
        ]
        for c, (image, title) in enumerate(panels):
            img = torch.tensor(image)
            if c == 1:
                img = 0.5 + 0.5 * img  # sign in {-1, 0, 1} shown as black / grey / white
            pixels = img.permute(1, 2, 0).clamp(0, 1).numpy()
            ax = axes[r][c]
            ax.imshow(pixels.squeeze(-1) if pixels.shape[-1] == 1 else pixels, cmap="gray",
                      vmin=0, vmax=1)
            ax.set_title(title, fontsize=8, color="black" if c != 2 or ex.fooled else "grey")
            ax.axis("off")
    legend = [Patch(facecolor=shade, edgecolor="black", label=label)
              for shade, label in (("white", "+1"), ("black", "-1"), ("0.5", "0 (no gradient)"))]
    fig.legend(handles=legend, loc="lower center", ncol=3, fontsize=7, title="sign map",
               title_fontsize=7)
    fig.tight_layout(rect=(0, 0.08, 1, 1))
    return fig


def render(result: Result, out_dir: Path) -> Rendered:
    """The three-panel figure (one row per example: x with its prediction, the sign of the
    gradient with a legend, x + eps * sign with its prediction) and a table of labels and
    confidences."""
    # laid out by fgsm_figure, which leaves room for the legend below the panels
    save_figure(fgsm_figure(result), out_dir / "fgsm_figure.png", tight=False)
    fooled = sum(1 for ex in result.examples if ex.fooled)
    table = Table(
        TITLE,
        ["true label", "prediction", "confidence %", "prediction after FGSM", "confidence %"],
        [[ex.label, ex.pred, 100 * ex.confidence, ex.pred_adv, 100 * ex.confidence_adv]
         for ex in result.examples],
        caption=f"eps = {result.eps:g}; FGSM fools {100 * result.success_rate:.1f}% of the first "
        f"{EXAMINED} test images, and {fooled} of the {len(result.examples)} shown (correctly "
        "classified images, the most confidently fooled first). Paper: GoogLeNet, panda 57.7% -> "
        f"gibbon 99.3% at eps = 0.007. {SIGN_LEGEND}",
    )
    figure = Figure("fgsm_figure.png", "Goodfellow et al. Figure 1 on our model: x, the sign of "
                    f"the loss gradient, x + {result.eps:g} sign. {SIGN_LEGEND}")
    return Rendered([table], [figure])
