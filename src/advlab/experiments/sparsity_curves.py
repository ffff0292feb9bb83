"""The lecture's Figure 6 (Gopalakrishnan et al. 2018, arXiv 1810.10625 v1, "Toward robust
neural networks via sparsification"): binary classification accuracy against the l_inf radius
eps for (a) no defence, (b) the sparsifying front end and (c) network sparsity (l1 budgets on
every neuron's weights), under FGSM and PGD.

Through the front end every attack runs twice, with the BPDA identity gradient (the authors'
choice) and with the exact gradient through the top-K mask, and the curve "worst" counts a
sample as correct only if it survives both (Athalye et al. 2018). The worst-case suite
(`advlab.evaluate.robust_accuracy`, Croce & Hein 2020; without APGD-T, whose loss needs 4
classes) runs the same way on the first `suite_samples` test images, its gradient-masking checks
on the model with each gradient. Several rho (panel b) and
gamma budgets (panel c) are drawn. Quick scale: digits 3 vs 7 of the embedded mnist-5k with the
authors' binary network (fc 10, ReLU, one score). Paper scale: a Fashion-MNIST pair through
torchvision's FashionMNIST; the stored copies of the paper available here do not name its pair,
so `classes` defaults to (5, 7) (sandal vs sneaker): set it to the paper's pair when known.
The paper shows curves, not numbers, so there are no paper values to set beside ours.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from torch import Tensor, nn

from advlab.attacks import FGSM, PGD, Attack
from advlab.defenses.sparsity import FrontEndSpec, L1Budget, theorem2_bounds
from advlab.experiments.base import ExperimentConfig
from advlab.report.figures import pyplot, save_figure
from advlab.report.rendered import Figure, Rendered
from advlab.report.tables import Table
from advlab.train import TrainConfig
from advlab.zoo.cache import trained_classifier
from advlab.zoo.context import RunContext
from advlab.zoo.sparsity_eval import (
    WORST,
    accuracy,
    correct_under_attack,
    evaluation_set,
    robust_under_suite,
)
from advlab.zoo.worst_case import SUITE_DESCRIPTION, checks_sentence

NAME = "sparsity-curves"
TITLE = "Binary accuracy against eps: no defence, sparsifying front end, network sparsity"
PAPER = "Gopalakrishnan et al. 2018 (arXiv 1810.10625 v1), Figure 6"
ATTACKS = ("fgsm", "pgd")
SUITE = "suite"  # the attack of the worst-case suite's curves
ATTACK_TITLES = {"fgsm": "FGSM", "pgd": "PGD", SUITE: "worst-case suite"}
TRAINING = TrainConfig(epochs=30, lr=0.05, schedule="cosine")


@dataclass(frozen=True)
class Config(ExperimentConfig):
    """data / classes: the binary problem (classes relabelled 0, 1); model: the classifier of
    every panel. basis / level / rhos: the front ends of panel (b), one model each, trained
    behind its front end. budgets: the l1 budgets of panel (c), "GAMMA" or "G1,G2" (one per
    weight layer), each trained by projected SGD. eps: the radii of the curves (0 is added).
    pgd_steps: PGD iterations (step 2.5 eps / steps, random start). n_test: test samples
    (0 = all of the pair's test split). suite_samples: the worst-case suite attacks the first
    this many of them (0: no suite curves); suite_eps: the radii of `eps` it runs at (empty:
    every one)."""

    data: str = "mnist-5k"
    classes: tuple[int, ...] = (3, 7)
    model: str = "sparsity-mlp"
    basis: str = "db5"
    level: int = 1
    rhos: tuple[float, ...] = (0.02, 0.035, 0.05)
    budgets: tuple[str, ...] = ("1,2", "2,2", "4,4")
    eps: tuple[float, ...] = (0.05, 0.1, 0.15, 0.2, 0.25, 0.3)
    pgd_steps: int = 20
    n_test: int = 0
    training: TrainConfig = TRAINING
    attack_batch: int = 500
    seed: int = 0
    suite_samples: int = 100
    suite_eps: tuple[float, ...] = ()

    @classmethod
    def demo(cls) -> Config:
        return cls(rhos=(0.035,), budgets=("2,2",), eps=(0.1, 0.2, 0.3), pgd_steps=10,
                   training=replace(TRAINING, epochs=10), suite_samples=20, suite_eps=(0.3,))

    @classmethod
    def paper(cls) -> Config:
        return cls(data="fashion-mnist", classes=(5, 7), pgd_steps=100, suite_samples=1000)


@dataclass
class Curve:
    """One curve: accuracy (fraction) at every eps of the result (0 first) of one model
    ("defence": "none", "front end" or "network sparsity"; "setting": its rho or gamma) under
    one attack, with one gradient through the front end ("-" without a front end, "bpda",
    "exact" or "worst": wrong under either); None where it did not run (the suite outside
    suite_eps). n: images of the curve (None: all n_test; the suite's: the first n); warnings: the suite's checks that fired, "eps E: ..." (None for
    the other attacks)."""

    defence: str
    setting: str
    attack: str
    gradient: str
    accuracy: list[float | None]
    n: int | None = None
    warnings: list[str] | None = None


@dataclass
class TrainedModel:
    """Clean accuracy (fraction) of one trained model and its Theorem 2 numbers: the largest
    row l1 norm per weight layer (`gammas`) and the bound on the output per unit eps (None for
    front-end models: the front end is not l_inf non-expansive, no bound)."""

    defence: str
    setting: str
    clean_accuracy: float
    gammas: list[float] | None = None
    bound_per_eps: float | None = None


@dataclass
class Result:
    """eps: radii of every curve (0 first); n_test: test images; curves and models: above.
    The paper's Figure 6 gives curves, not values: there are no paper values to hold."""

    eps: list[float] = field(default_factory=list)
    n_test: int = 0
    curves: list[Curve] = field(default_factory=list)
    models: list[TrainedModel] = field(default_factory=list)
    problem: str = ""  # "mnist-5k 3 vs 7, sparsity-mlp": the binary problem and classifier


def _attack(name: str, eps: float, steps: int) -> Attack:
    return FGSM(eps=eps) if name == "fgsm" else PGD(eps=eps, steps=steps)


def _models(config: Config, ctx: RunContext) -> list[tuple[str, str, nn.Module]]:
    """(defence, setting, trained model) of every curve family, from the cache when there."""
    def train(model: str, **kwargs: Any) -> nn.Module:
        return trained_classifier(ctx, model, config.data, training=config.training,
                                  classes=config.classes, **kwargs)

    out = [("none", "", train(config.model))]
    for rho in config.rhos:
        args = FrontEndSpec(config.basis, rho, config.level).model_args(config.model, {})
        out.append(("front end", f"rho {rho:g}", train("sparsified", **args)))
    for text in config.budgets:
        budget = L1Budget.parse(text)
        net = train(config.model, after_step=budget, loss_name=budget.describe())
        out.append(("network sparsity", f"gamma {text}", net))
    return out


def run(config: Config, ctx: RunContext) -> Result:
    """Train (or load) every model, then attack each at every eps with FGSM and PGD."""
    outside = sorted(set(config.suite_eps) - set(config.eps))
    if outside:
        raise ValueError(f"suite_eps {outside} are not among eps {list(config.eps)}")
    x, y = evaluation_set(ctx, config.data, config.classes, config.n_test, config.seed)
    problem = f"{config.data} {' vs '.join(map(str, config.classes))}, {config.model}"
    result = Result(eps=[0.0, *config.eps], n_test=len(y), problem=problem)
    for defence, setting, model in ctx.progress(_models(config, ctx), "sparsity-curves models"):
        clean = accuracy(model, x, y)
        entry = TrainedModel(defence, setting, clean)
        if defence != "front end":
            bounds = theorem2_bounds(model, 1.0)
            entry.gammas, entry.bound_per_eps = [b.gamma for b in bounds], bounds[-1].bound
        result.models.append(entry)
        for name in ATTACKS:
            by_mode: dict[str, list[float | None]] = {}
            for eps in config.eps:
                attack = _attack(name, eps, config.pgd_steps)
                correct = correct_under_attack(ctx, model, attack, x, y, config.seed,
                                               config.attack_batch,
                                               f"{name} eps {eps:g} {setting or defence}")
                for mode, flags in correct.items():
                    by_mode.setdefault(mode, [clean]).append(float(flags.float().mean()))
            for mode, values in by_mode.items():
                result.curves.append(Curve(defence, setting, name, mode, values))
        if config.suite_samples > 0:
            result.curves += _suite_curves(config, ctx, defence, setting, model, x, y)
    return result


def _suite_curves(config: Config, ctx: RunContext, defence: str, setting: str,
                  model: nn.Module, x: Tensor, y: Tensor) -> list[Curve]:
    """The suite's curves of one model on the first suite_samples of (x (N, C, H, W), y (N,)):
    one per gradient, accuracy at eps 0 (clean, on those images) and at every config eps of
    suite_eps (None at the others)."""
    m = min(config.suite_samples, len(y))
    xs, ys = x[:m], y[:m]
    by_mode: dict[str, list[float | None]] = {}
    fired: dict[str, list[str]] = {}
    for eps in config.eps:
        if config.suite_eps and eps not in config.suite_eps:
            for values in by_mode.values():
                values.append(None)
            continue
        suite = robust_under_suite(ctx, model, eps, xs, ys, config.seed, config.attack_batch)
        for mode, (robust, warnings) in suite.items():
            if mode not in by_mode:  # clean on these images, then None where it did not run
                by_mode[mode] = [accuracy(model, xs, ys)]
                by_mode[mode] += [None] * (config.eps.index(eps))
            by_mode[mode].append(float(robust.float().mean()))
            fired.setdefault(mode, []).extend(f"eps {eps:g}: {w}" for w in warnings)
    return [Curve(defence, setting, SUITE, mode, values, n=m, warnings=fired[mode])
            for mode, values in by_mode.items()]


PANELS = ("none", "front end", "network sparsity")
PANEL_TITLES = {"none": "(a) no defence", "front end": "(b) sparsifying front end",
                "network sparsity": "(c) network sparsity"}
STYLES = {"-": "-", "bpda": "-", "exact": "--", WORST: ":"}


def _points(eps: list[float], accuracy: list[float | None]) -> tuple[list[float], list[float]]:
    """A curve's (eps, accuracy %) where it was measured (the suite may skip some eps)."""
    kept = [(e, 100 * a) for e, a in zip(eps, accuracy, strict=True) if a is not None]
    return [e for e, _ in kept], [a for _, a in kept]


def curves_figure(result: Result) -> Any:
    """The matplotlib Figure of Figure 6: rows FGSM / PGD (and the suite when it ran), columns
    the three defences, the undefended model in grey in every defended panel for reference."""
    plt = pyplot()
    attacks = [*ATTACKS, *([SUITE] if any(k.attack == SUITE for k in result.curves) else [])]
    fig, axes = plt.subplots(len(attacks), len(PANELS), figsize=(12, 3.2 * len(attacks)),
                             sharex=True, sharey=True, squeeze=False)
    for r, attack in enumerate(attacks):
        undefended = [k for k in result.curves if k.attack == attack and k.defence == "none"]
        for c, panel in enumerate(PANELS):
            ax = axes[r][c]
            curves = [k for k in result.curves if k.attack == attack and k.defence == panel]
            if panel != "none":
                for k in undefended:
                    ax.plot(*_points(result.eps, k.accuracy), color="0.7", lw=1,
                            label="no defence")
            settings = sorted({k.setting for k in curves})
            colours = {s: plt.get_cmap("viridis")(i / max(len(settings), 1))
                       for i, s in enumerate(settings)}
            for k in curves:
                gradient = k.gradient if k.gradient != "-" else ""
                label = " ".join(p for p in (k.setting, gradient) if p)
                ax.plot(*_points(result.eps, k.accuracy), STYLES[k.gradient], marker="o",
                        ms=3, color=colours[k.setting], label=label or "standard training")
            ax.set_title(f"{PANEL_TITLES[panel]}, {ATTACK_TITLES[attack]}", fontsize=9)
            ax.set_ylim(0, 101)
            ax.grid(alpha=0.3)
            if curves:
                ax.legend(fontsize=6, handlelength=3)
            if r == len(attacks) - 1:
                ax.set_xlabel("eps (l_inf, pixels in [0, 1])")
            if c == 0:
                ax.set_ylabel("accuracy (%)")
    problem = f", {result.problem}" if result.problem else ""
    suite_n = next((k.n for k in result.curves if k.attack == SUITE), None)
    subset = f"; suite: the first {suite_n}" if suite_n else ""
    fig.suptitle(f"Binary classification accuracy against eps{problem} ({result.n_test} test "
                 f"images{subset})",
                 fontsize=10)
    return fig


def render(result: Result, out_dir: Path) -> Rendered:
    """The figure (rows FGSM / PGD and the suite, columns the three defences) and the table of
    its values."""
    save_figure(curves_figure(result), out_dir / "sparsity_curves.png")
    columns = ["defence", "setting", "attack", "gradient", "n",
               *[f"eps {e:g}" for e in result.eps]]
    rows: list[list[Any]] = [
        [k.defence, k.setting, k.attack, k.gradient, k.n or result.n_test,
         *[round(100 * a, 1) if a is not None else None for a in k.accuracy]]
        for k in result.curves
    ]
    suite = [k for k in result.curves if k.attack == SUITE]
    values = Table(f"{TITLE} (accuracy %, ours)", columns, rows, caption=(
        f"{result.n_test} test images ({result.problem or 'the binary problem'}). Front end: "
        "bpda = identity gradient, exact = gradient through the top-K mask, worst = wrong "
        "under either. "
        + (f"suite: robust accuracy under the worst-case suite ({SUITE_DESCRIPTION}) on the "
           "first n test images (eps 0: their clean accuracy), with each gradient; worst = "
           "robust under both. " if suite else "")
        + checks_sentence([(f"{k.setting or k.defence} {k.gradient}", k.warnings or [])
                           for k in suite if k.gradient != WORST])
        + "Paper: Fashion-MNIST, a binary pair; its Figure 6 gives curves, not values, so no "
        "paper column is shown."))
    theorem_rows: list[list[Any]] = [
        [m.defence, m.setting, round(100 * m.clean_accuracy, 1),
         ", ".join(f"{g:.3g}" for g in m.gammas or []) or "-",
         round(m.bound_per_eps, 3) if m.bound_per_eps is not None else "-"]
        for m in result.models
    ]
    theorem = Table(
        "Theorem 2: largest row l1 norm per layer and the bound on the output score per unit eps",
        ["defence", "setting", "clean accuracy %", "gamma per layer", "bound / eps at the output"],
        theorem_rows,
        caption="||e_j||_inf <= eps * prod_{l<=j} gamma_l (front-end models: the front end is not "
        "l_inf non-expansive, no bound).",
    )
    rows_named = ("FGSM (top), PGD (middle), the worst-case suite (bottom)" if suite
                  else "FGSM (top), PGD (bottom)")
    figure = Figure("sparsity_curves.png", f"Accuracy against eps: {rows_named}")
    return Rendered([values, theorem], [figure])
