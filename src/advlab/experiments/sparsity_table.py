"""Table 1 of Gopalakrishnan, Marzi, Madhow & Pedarsani (2018), "Combating adversarial attacks
using sparse representations" (ICLR workshop, arXiv 1803.03880): accuracy of a linear SVM on
MNIST 3 vs 7 and of the authors' four-layer CNN on 10-class MNIST, without and with the
sparsifying front end, under the paper's attacks; and the linear SVM's measured output
distortion ratio against K/N (the paper's linear result, Section 2).

The paper's settings (its Table 1 caption): linear SVM eps = 0.12, rho = 2%; CNN eps = 0.25,
rho = 3%, on [0, 1] pixels. Basis: bior4.4, level 1, periodised (the authors' workshop code,
PyWavelets `WaveletPacket2D`); the SVM is scikit-learn's LinearSVC (hinge loss, C = 1) on
images scaled to [-1, 1], trained on sparsified images when it has the front end. Attacks:
FGSM; the locally linear attack against the predicted label, in its semi-white-box form
(gradients that ignore the front end: our BPDA identity) and its white-box form (gradients
projected onto the input's top-K support: our exact gradient); PGD with both gradients and
the per-sample worse of the two, as the check against obfuscated gradients (Athalye et al.
2018) that the paper does not run; and the worst-case suite (`advlab.evaluate.robust_accuracy`,
Croce & Hein 2020; binary problems without APGD-T) on the first `suite_samples` test images
with both gradients and the worse of the two, its gradient-masking checks run on the model
with that gradient. The paper's Table 1 values are not part of this
reproduction, so its paper column is empty (None) and the report leaves it out.
Quick scale: the embedded mnist-5k (4,000 training digits). Paper scale: full MNIST.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch
from torch import nn

from advlab import data as datasets
from advlab import models
from advlab.attacks import FGSM, PGD, Attack, LocallyLinear
from advlab.defenses.sparsity import (
    FrontEndSpec,
    front_ends,
    linear_output_distortion,
    with_gradient,
)
from advlab.experiments.base import ExperimentConfig
from advlab.models.sparsifying import SparsifyingFrontEnd
from advlab.report.figures import pyplot, save_figure
from advlab.report.rendered import Figure, Rendered
from advlab.report.tables import Table
from advlab.train import TrainConfig
from advlab.train.svm import fit_linear_svm
from advlab.zoo.cache import CLASSIFIER_TRAINING, model_args_for, trained_classifier
from advlab.zoo.context import RunContext
from advlab.zoo.sparsity_eval import (
    WORST,
    accuracy,
    correct_under_attack,
    evaluation_set,
    robust_under_suite,
)
from advlab.zoo.worst_case import SUITE_DESCRIPTION, checks_sentence

NAME = "sparsity-table"
TITLE = "Sparsifying front end: accuracy under attack with and without the defence (Table 1)"
PAPER = "Gopalakrishnan et al. 2018 (arXiv 1803.03880), Table 1"
ROWS = ("svm", "cnn")
SUITE = "suite"  # the attack column of the worst-case suite's rows


@dataclass(frozen=True)
class Config(ExperimentConfig):
    """rows: "svm" (digits `svm_classes` with a linear SVM) and/or "cnn" (10 classes,
    `cnn_model`). *_rho / *_eps / basis / level: the front ends and attack radii (the
    paper's). pgd_steps: PGD iterations (random start, step 2.5 eps / steps). n_test: a seeded
    random subset of test samples per row (0 = all; the SVM's 3 vs 7 test split of mnist-5k
    has 200). distortion_rhos: the sparsity levels of the SVM's distortion-ratio sweep.
    cnn_training: the CNN's training, the shared quick-scale classifier training by default.
    suite_samples: the worst-case suite attacks the first this many of the n_test samples
    (0: no suite rows)."""

    rows: tuple[str, ...] = ROWS
    data: str = "mnist-5k"
    svm_classes: tuple[int, ...] = (3, 7)
    svm_rho: float = 0.02
    svm_eps: float = 0.12
    svm_c: float = 1.0
    cnn_model: str = "sparsity-cnn"
    cnn_rho: float = 0.03
    cnn_eps: float = 0.25
    basis: str = "bior4.4"
    level: int = 1
    pgd_steps: int = 40
    n_test: int = 500
    distortion_rhos: tuple[float, ...] = (0.01, 0.02, 0.05, 0.1, 0.2, 0.5)
    cnn_training: TrainConfig = CLASSIFIER_TRAINING
    attack_batch: int = 250
    seed: int = 0
    suite_samples: int = 100

    @classmethod
    def demo(cls) -> Config:
        return cls(rows=("svm",), pgd_steps=10, suite_samples=20)

    @classmethod
    def paper(cls) -> Config:
        return cls(data="mnist", pgd_steps=100, n_test=0, suite_samples=1000)


@dataclass
class Row:
    """Accuracy (%) of one model ("defence": "none" or the front end BASIS:RHO) on one
    problem, clean or under one attack, with one gradient through the front end ("-" without
    one, "bpda", "exact" or "worst"); paper_accuracy: the paper's value (None: not readable
    from the copies available here); n: test samples; warnings: for the suite, its checks that
    fired with this gradient (None for the other attacks)."""

    problem: str
    defence: str
    attack: str
    gradient: str
    accuracy: float
    paper_accuracy: float | None
    n: int
    warnings: list[str] | None = None


@dataclass
class Distortion:
    """The linear SVM's output distortion with the front end over without, at one rho (K/N
    coefficients kept): semi-white box, white box and with the support of x held fixed."""

    rho: float
    k_over_n: float
    semi_white_ratio: float
    white_ratio: float
    fixed_support_ratio: float


@dataclass
class FrontEndImages:
    """For the figure: a few test images (N, C, H, W) as nested lists, their top-K
    reconstructions, a white-box FGSM perturbation at `eps` and what the front end makes of
    it; front_end: "BASIS:RHO"."""

    image: list[Any]
    reconstruction: list[Any]
    perturbation: list[Any]
    after_front_end: list[Any]
    eps: float
    front_end: str


@dataclass
class Result:
    """rows: Table 1, ours with the paper's beside; distortion: the linear SVM's sweep;
    figure_images: the images of the figure (None: no row ran)."""

    rows: list[Row] = field(default_factory=list)
    distortion: list[Distortion] = field(default_factory=list)
    figure_images: FrontEndImages | None = None
    data: str = ""  # the dataset every row trains and tests on


def _spec(config: Config, rho: float) -> FrontEndSpec:
    return FrontEndSpec(config.basis, rho, config.level)


def _add(result: Result, problem: str, defence: str, attack: str,
         correct: dict[str, torch.Tensor] | float, n: int) -> None:
    items = correct.items() if isinstance(correct, dict) else [("-", correct)]
    for mode, value in items:
        acc = float(value.float().mean()) if isinstance(value, torch.Tensor) else float(value)
        result.rows.append(Row(problem, defence, attack, mode, 100 * acc, None, n))


def _evaluate(result: Result, ctx: RunContext, config: Config, problem: str, defence: str,
              model: nn.Module, attacks: dict[str, Attack], x: torch.Tensor,
              y: torch.Tensor, eps: float) -> None:
    _add(result, problem, defence, "clean", accuracy(model, x, y), len(y))
    for name, attack in attacks.items():
        correct = correct_under_attack(ctx, model, attack, x, y, config.seed, config.attack_batch,
                                       f"{problem} {defence} {name}")
        _add(result, problem, defence, name, correct, len(y))
    m = min(config.suite_samples, len(y))
    if m > 0:  # the first m images: the suite costs ~1,000 gradient steps and 5,000 queries each
        suite = robust_under_suite(ctx, model, eps, x[:m], y[:m], config.seed,
                                   config.attack_batch)
        for mode, (robust, warnings) in suite.items():
            result.rows.append(Row(problem, defence, SUITE, mode,
                                   100 * float(robust.float().mean()), None, m, warnings))


Shown = tuple[nn.Module, torch.Tensor, torch.Tensor]
"""The defended model of a row and its test set (x (N, C, H, W), y (N,)), for the figure."""


def _svm_row(result: Result, ctx: RunContext, config: Config) -> Shown:
    """Train the two SVMs (seconds: liblinear), attack them, and sweep the distortion ratio."""
    train = datasets.as_tensors(datasets.load(config.data, "train", root=ctx.data_root))
    x_train, y_train = datasets.select_classes(*train, config.svm_classes)
    x, y = evaluation_set(ctx, config.data, config.svm_classes, config.n_test, config.seed)
    args = model_args_for("linear-svm", config.data, num_classes=len(config.svm_classes))
    plain = fit_linear_svm(models.create("linear-svm", **args), x_train, y_train, config.svm_c,
                           config.seed)
    spec = _spec(config, config.svm_rho)
    defended = fit_linear_svm(models.create("sparsified", **spec.model_args("linear-svm", args)),
                              x_train, y_train, config.svm_c, config.seed)
    problem = f"SVM {config.svm_classes[0]} vs {config.svm_classes[1]}, eps {config.svm_eps:g}"
    attacks: dict[str, Attack] = {
        "FGSM": FGSM(eps=config.svm_eps),
        f"PGD-{config.pgd_steps}": PGD(eps=config.svm_eps, steps=config.pgd_steps),
    }
    for defence, model in (("none", plain), (f"{spec}", defended)):
        _evaluate(result, ctx, config, problem, defence, model.to(ctx.device), attacks, x, y,
                  config.svm_eps)
    result.distortion = _distortion_sweep(config, plain, x, y)
    return defended, x, y


def _distortion_sweep(config: Config, svm: nn.Module, x: torch.Tensor,
                      y: torch.Tensor) -> list[Distortion]:
    """Gopalakrishnan et al. 2018, Section 2: output distortion of the SAME linear SVM with and
    without a front end, for the l_inf attack toward the other class: semi-white box
    e = eps sign(w), white box e = eps sign(grad_x w.f(x)) (the weights projected onto x's
    support). Ratio: mean over test images of w.(f(x+e) - f(x)) / w.(x+e - x) (both clipped);
    "fixed support": the theory's linear model w.P_S(x) e, the support of x held fixed."""
    linear = [m for m in svm.modules() if isinstance(m, nn.Linear)][-1]
    # pixel-space w: the model's Normalize(0.5, 0.5) doubles the weights
    weight = (2.0 * linear.weight.detach()).view(x.shape[1:])  # (C, H, W)
    towards = (1 - 2 * y).to(x.dtype).view(-1, *[1] * (x.ndim - 1))  # to the other class
    semi = (x + config.svm_eps * towards * weight.sign()).clamp(0, 1) - x
    undefended = (semi * weight).flatten(1).sum(1)  # (N,)
    sweep = []
    for rho in config.distortion_rhos:
        front = SparsifyingFrontEnd(config.basis, config.level, rho,
                                    image_size=x.shape[-1]).to(x.device)
        x_req = x.clone().requires_grad_(True)
        (front(x_req) * weight).sum().backward()  # exact gradient: w projected onto x's support
        assert x_req.grad is not None
        white = (x + config.svm_eps * towards * x_req.grad.sign()).clamp(0, 1) - x
        k_over_n = front.kept(x[0].numel()) / x[0].numel()
        semi_ratio = linear_output_distortion(front, weight, x, semi) / undefended  # (N,)
        white_ratio = linear_output_distortion(front, weight, x, white) / undefended  # (N,)
        fixed = front.synthesise(front.coefficients(semi) * front.support(x))  # (N, C, H, W)
        fixed_ratio = (fixed * weight).flatten(1).sum(1) / undefended  # (N,)
        sweep.append(Distortion(rho=rho, k_over_n=k_over_n,
                                semi_white_ratio=float(semi_ratio.mean()),
                                white_ratio=float(white_ratio.mean()),
                                fixed_support_ratio=float(fixed_ratio.mean())))
    return sweep


def _cnn_row(result: Result, ctx: RunContext, config: Config) -> Shown:
    x, y = evaluation_set(ctx, config.data, None, config.n_test, config.seed)
    spec = _spec(config, config.cnn_rho)
    plain = trained_classifier(ctx, config.cnn_model, config.data, config.cnn_training)
    front_end_args: dict[str, Any] = spec.model_args(config.cnn_model, {})
    defended = trained_classifier(ctx, "sparsified", config.data, config.cnn_training,
                                  **front_end_args)
    problem = f"CNN {config.data}, eps {config.cnn_eps:g}"
    attacks: dict[str, Attack] = {
        "FGSM": FGSM(eps=config.cnn_eps),
        "locally linear": LocallyLinear(eps=config.cnn_eps, use_predicted_labels=True),
        f"PGD-{config.pgd_steps}": PGD(eps=config.cnn_eps, steps=config.pgd_steps),
    }
    _evaluate(result, ctx, config, problem, "none", plain, attacks, x, y, config.cnn_eps)
    _evaluate(result, ctx, config, problem, f"{spec}", defended, attacks, x, y, config.cnn_eps)
    return defended, x, y


def _figure_images(model: nn.Module, x: torch.Tensor, y: torch.Tensor, eps: float,
                   count: int = 6) -> FrontEndImages:
    """Images, their top-K reconstructions, and a white-box (exact-gradient) FGSM
    perturbation before and after the front end, for the figure."""
    (front,) = front_ends(model)
    x, y = x[:count], y[:count]
    x_adv = FGSM(eps=eps)(with_gradient(model, "exact"), x, y).x_adv
    with torch.no_grad():
        after = front(x_adv) - front(x)
        return FrontEndImages(
            image=x.cpu().tolist(), reconstruction=front(x).cpu().tolist(),
            perturbation=(x_adv - x).cpu().tolist(), after_front_end=after.cpu().tolist(),
            eps=eps, front_end=f"{front.basis}:{front.rho:g}")


def run(config: Config, ctx: RunContext) -> Result:
    """Evaluate the requested rows of Table 1 and the SVM's distortion sweep."""
    unknown = sorted(set(config.rows) - set(ROWS))
    if unknown:
        raise ValueError(f"unknown sparsity-table rows {unknown}; valid: {', '.join(ROWS)}")
    result = Result(data=config.data)
    shown: tuple[nn.Module, torch.Tensor, torch.Tensor, float] | None = None
    for row in ctx.progress(config.rows, "sparsity-table rows"):
        if row == "svm":
            shown = (*_svm_row(result, ctx, config), config.svm_eps)
        else:
            shown = (*_cnn_row(result, ctx, config), config.cnn_eps)
    if shown is not None:
        result.figure_images = _figure_images(*shown)
    return result


def distortion_figure(distortion: list[Distortion]) -> Any:
    """The matplotlib Figure of the linear SVM's distortion ratios against K/N (log-log),
    with K/N itself dotted."""
    fig, ax = pyplot().subplots(figsize=(4.6, 3.8))
    k = [d.k_over_n for d in distortion]
    ax.loglog(k, k, "k:", label="K/N")
    ax.loglog(k, [d.semi_white_ratio for d in distortion], "o-", label="semi-white box (sign w)")
    ax.loglog(k, [d.fixed_support_ratio for d in distortion], "^-.",
              label="semi-white, support of x fixed")
    ax.loglog(k, [d.white_ratio for d in distortion], "s--", label="white box (projected w)")
    ax.set_xlabel("K/N (fraction of coefficients kept)")
    ax.set_ylabel("output distortion ratio")
    ax.legend(fontsize=7)
    ax.grid(alpha=0.3, which="both")
    return fig


IMAGE_ROWS = (("image", "image"), ("reconstruction", "top-K reconstruction"),
              ("perturbation", "perturbation e"), ("after_front_end", "f(x+e) - f(x)"))
SIGNED = ("perturbation", "after_front_end")  # drawn in +-eps with a diverging colour map


def images_figure(images: FrontEndImages) -> Any:
    """The matplotlib Figure of the front end at work: one row per IMAGE_ROWS entry (images,
    reconstructions, perturbation, perturbation after the front end), one column per image."""
    data = {key: torch.tensor(getattr(images, key)) for key, _ in IMAGE_ROWS}  # (N, C, H, W)
    count = data["image"].shape[0]
    fig, axes = pyplot().subplots(len(IMAGE_ROWS), count, figsize=(1.5 * count, 6.4),
                                  squeeze=False)
    eps = float(images.eps)
    for r, (key, label) in enumerate(IMAGE_ROWS):
        signed = key in SIGNED
        for c in range(count):
            ax = axes[r][c]
            ax.imshow(data[key][c, 0].numpy(), cmap="RdBu_r" if signed else "gray",
                      vmin=-eps if signed else 0, vmax=eps if signed else 1)
            ax.set_xticks([])
            ax.set_yticks([])
            if c == 0:
                ax.set_ylabel(label, fontsize=7)
    fig.suptitle(f"front end {images.front_end}; white-box FGSM, eps {eps:g} "
                 "(colour range +-eps)", fontsize=9)
    return fig


def table_title(result: Result) -> str:
    """The table's title, naming only the problems that ran ("SVM 3 vs 7", "CNN mnist-5k")."""
    problems = dict.fromkeys(row.problem.split(",")[0] for row in result.rows)
    names = [("linear " + p if p.startswith("SVM") else p) for p in problems]
    data = f" ({result.data})" if result.data else ""
    return (f"Sparsifying front end{data}: {' and '.join(names) or 'no rows'}, accuracy under "
            "attack")


def render(result: Result, out_dir: Path) -> Rendered:
    """Table 1 (ours beside the paper's), the distortion-ratio table and two figures."""
    suite = [r for r in result.rows if r.attack == SUITE]
    table = Table(
        table_title(result), ["problem", "defence", "attack", "gradient", "accuracy % (ours)",
                              "accuracy % (paper)", "n"],
        [[r.problem, r.defence, r.attack, r.gradient, round(r.accuracy, 2), r.paper_accuracy, r.n]
         for r in result.rows],
        caption="defence: none, or the front end BASIS:RHO. Gradient through the front end: "
        "bpda = identity (with the locally linear attack: the paper's semi-white box), exact = "
        "through the top-K mask (white box), worst = wrong under either. For the SVM, FGSM is "
        "the locally linear attack. "
        + (f"suite: robust accuracy under the worst-case suite ({SUITE_DESCRIPTION}; the "
           "problems here are binary) at the problem's eps on the first n test images, with "
           "each gradient; worst = robust under both. " if suite else "")
        + checks_sentence([(f"{r.problem.split(',')[0]}, {r.defence}, {r.gradient}",
                            r.warnings or []) for r in suite if r.gradient != WORST])
        + "No paper column: the values of the paper's Table 1 (full MNIST) are not part of "
        "this reproduction.",
    )
    tables = [table]
    figures = []
    if result.distortion:
        tables.append(Table(
            "Linear SVM: output distortion with the front end / without, against K/N",
            ["rho", "K/N", "semi-white box ratio", "fixed-support ratio", "white box ratio"],
            [[d.rho, round(d.k_over_n, 4), round(d.semi_white_ratio, 4),
              round(d.fixed_support_ratio, 4), round(d.white_ratio, 4)]
             for d in result.distortion],
            caption="Mean over test images of w.(f(x+e) - f(x)) / w.e for the undefended SVM's "
            "w and e toward the other class, clipped to [0, 1]; fixed support: w.P_S(x) e with "
            "the support S of x held fixed (the linear model behind the paper's roughly-K/N "
            "result for the semi-white-box attack).",
        ))
        save_figure(distortion_figure(result.distortion), out_dir / "distortion_ratio.png")
        figures.append(Figure("distortion_ratio.png",
                              "Linear SVM output distortion ratio against K/N"))
    if result.figure_images is not None:
        images = result.figure_images
        save_figure(images_figure(images), out_dir / "front_end_images.png", dpi=110)
        figures.append(Figure(
            "front_end_images.png", f"Images, their top-K reconstructions ({images.front_end}), "
            f"and an eps = {images.eps:g} perturbation before and after the front end"))
    return Rendered(tables, figures)
