"""Universal adversarial perturbations (Moosavi-Dezfooli et al. 2017): the held-out fooling rate
of one perturbation per network (Table 1 layout), the cross-network transfer matrix (Table 2),
the fooling rate against the size of the fitting set X (Figure 6), a random-noise baseline of
the same norm, and the perturbations themselves (Figures 1 and 4).

Every fooling rate is measured against the model's clean predictions (eq. 1), on held-out
images that were not in X.

Quick scale: five architectures trained on mnist-5k (4,000 digits) with the shared quick-scale
training, X = 500 training digits, held-out = the 1,000 test digits, linf xi = 0.3. Why 0.3
and not the paper's 10/255: the paper sets xi so that the perturbation is about 4% of a
natural image's norm (xi = 10 of 255 in linf, 2,000 against image norms near 50,000 in l2),
which on ImageNet is still 15-20 times the minimal per-image perturbation (DeepFool's rho_adv
of ImageNet classifiers is 0.002-0.003). MNIST classifiers are far more robust per image (rho_adv
about 0.1-0.2 in l2, and the minimal linf perturbation of LeNet is about 0.1, DeepFool paper
Table 2): at 10/255 = 0.04 no universal perturbation fools more than a few percent of the
digits. xi = 0.3 is the linf radius of the standard MNIST threat model (Madry et al. 2018),
three times the per-image minimal perturbation, where digits stay readable.

Figure 6 at demo size (digits, |X| = 50 and 150, at most 2 passes): the held-out rate of
fc500-150-10 falls with |X| in each of seeds 0, 1, 2 (50 -> 31%, 63 -> 44%, 48 -> 41%). Each
point is one fit read after its last pass, and the rate on X moves by up to 20 points from
pass to pass (seed 0, 5 passes: 46, 56, 58, 62, 38% at |X| = 50), so the fall follows where
the 2-pass budget stops, not |X|; with 5 passes the seed-0 gap is 7 points instead of 19.

Paper scale: torchvision's AlexNet (the architecture of CaffeNet), VGG-16, VGG-19, GoogLeNet and
ResNet-152 on ImageNet folders (X: 10,000 training images, held-out: the 50,000 validation
images, linf xi = 10/255 in [0, 1] pixels). ``pretrained=False`` runs that path offline with
random weights (the numbers then describe untrained networks).
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field, replace
from pathlib import Path

import torch
from torch import nn

from advlab.attacks import DeepFool
from advlab.attacks.universal import (
    UniversalPerturbation,
    UniversalResult,
    Variant,
    perturb,
    predict,
    random_perturbation,
)
from advlab.experiments.base import ExperimentConfig
from advlab.models.checkpoint import save_state
from advlab.report.rendered import Rendered
from advlab.train import TrainConfig
from advlab.zoo.cache import CLASSIFIER_TRAINING
from advlab.zoo.context import RunContext
from advlab.zoo.model_sets import (
    DEMO_MODELS,
    DEMO_TRAINING,
    load_classifier,
    load_samples,
    sample_batches,
)

NAME = "universal"
TITLE = "Universal adversarial perturbations: fooling rates, transfer between networks, |X|"
PAPER = "Moosavi-Dezfooli et al. 2017, Tables 1-2, Figures 1, 4 and 6"
PERTURBATIONS_FILE = "perturbations.safetensors"  # written by run, drawn by render
EXAMPLES = 6  # held-out images shown clean and perturbed

QUICK_ATTACK = UniversalPerturbation(
    xi=0.3, norm="linf", delta=0.2, max_passes=3, variant="sequential", batch_size=32,
    inner=DeepFool(steps=50, overshoot=0.02, candidates=10),
)
"""Algorithm 1 at quick scale: linf xi = 0.3 (see the module docstring), at most 3 passes."""


@dataclass(frozen=True)
class Config(ExperimentConfig):
    """models: classifiers (registry names trained on ``data``, or torchvision:<arch>);
    data: X comes from its train split, the held-out images from ``eval_data``'s test split
    (None: ``data``'s); n_fit = |X|, n_eval held-out images; attack: Algorithm 1 (its norm and
    xi give the lp ball, delta and max_passes the stopping rule, variant "sequential" (the
    paper's) or "batched", inner the DeepFool); compare_variants: also fit the other variant
    on the first model (time and fooling rate side by side); fit_sizes: |X| for Figure 6 (on
    the first model); training: that of classifier-baselines (shared cached models);
    pretrained: torchvision weights (False: random, offline)."""

    models: tuple[str, ...] = (
        "fc500-150-10", "lenet", "mlp-shallow", "cnn-wide", "cnn-bn-dropout",
    )
    data: str = "mnist-5k"
    eval_data: str | None = None
    n_fit: int = 500
    n_eval: int = 1000
    attack: UniversalPerturbation = QUICK_ATTACK
    compare_variants: bool = True
    fit_sizes: tuple[int, ...] = (50, 100, 200, 500)
    eval_batch: int = 500
    training: TrainConfig = CLASSIFIER_TRAINING
    seed: int = 0
    pretrained: bool = True

    @classmethod
    def demo(cls) -> Config:
        return cls(models=DEMO_MODELS, data="digits", n_fit=150, n_eval=360,
                   attack=replace(QUICK_ATTACK, max_passes=2), fit_sizes=(50, 150),
                   training=DEMO_TRAINING)

    @classmethod
    def paper(cls) -> Config:
        return cls(
            models=("torchvision:alexnet", "torchvision:vgg16", "torchvision:vgg19",
                    "torchvision:googlenet", "torchvision:resnet152"),
            data="folder:imagenet/train@224", eval_data="folder:imagenet/val@224",
            n_fit=10000, n_eval=50000, attack=replace(QUICK_ATTACK, xi=10 / 255, max_passes=10),
            fit_sizes=(500, 1000, 2000, 4000), eval_batch=100,
        )


@dataclass
class Row:
    """One model's perturbation (Table 1): fooling rates on X (per pass, and the last) and on
    the held-out images, of a random perturbation of the same norm, the clean accuracy and
    the label-based rate (misclassified with respect to the labels), all fractions."""

    model: str
    n_fit: int
    fit: float
    heldout: float
    random_noise: float
    passes: int
    rates_per_pass: list[float]
    seconds: float
    inner_attacks: int
    accepted: int
    norm_of_v: float
    clean_accuracy: float
    label_based: float


@dataclass
class SizeCurve:
    """Figure 6: the first model's held-out fooling rate (and fit time) against |X|."""

    model: str
    sizes: list[int]
    heldout: list[float]
    seconds: list[float]


@dataclass
class VariantRow:
    """One variant of Algorithm 1 on the first model."""

    variant: str
    seconds: float
    heldout: float
    fit: float
    passes: int


@dataclass
class ExampleLabels:
    """Figure 1: the predicted labels of the shown held-out images, clean and perturbed."""

    model: str
    clean: list[int]
    perturbed: list[int]


@dataclass
class Result:
    norm: str = "linf"
    xi: float = 0.0
    rows: list[Row] = field(default_factory=list)
    transfer: list[list[float]] = field(default_factory=list)  # [computed on][evaluated on]
    size_curve: SizeCurve | None = None
    variants: list[VariantRow] = field(default_factory=list)
    examples: ExampleLabels | None = None
    perturbations_file: str = PERTURBATIONS_FILE
    data: str = ""  # X and the models' training data (train split)
    eval_data: str = ""  # the held-out images (test split)


@dataclass
class HeldOut:
    """Held-out fooling rate of each perturbation evaluated, the clean accuracy, and the
    label-based rate of the first perturbation."""

    rates: list[float]
    clean_accuracy: float
    label_based: float


def _held_out_rates(
    model: nn.Module, perturbations: list[torch.Tensor], config: Config, ctx: RunContext
) -> HeldOut:
    """Fooling rate of every perturbation (*S) on the held-out images, against the clean
    predictions, streamed in batches; plus the clean accuracy and the label-based rate of the
    first perturbation (the fraction misclassified with respect to the labels)."""
    eval_data = config.eval_data or config.data
    fooled = torch.zeros(len(perturbations))
    correct = wrong_vs_labels = count = 0
    batches = sample_batches(ctx, eval_data, "test", config.n_eval, config.seed, config.eval_batch)
    for x, y in batches:
        clean = predict(model, x)
        for i, v in enumerate(perturbations):
            predicted = predict(model, perturb(x, v))
            fooled[i] += int((predicted != clean).sum())
            if i == 0:
                wrong_vs_labels += int((predicted != y).sum())
        correct += int((clean == y).sum())
        count += x.shape[0]
    return HeldOut((fooled / count).tolist(), correct / count, wrong_vs_labels / count)


def _fit(
    uap: UniversalPerturbation, model: nn.Module, x: torch.Tensor, seed: int, ctx: RunContext
) -> tuple[UniversalResult, float]:
    generator = torch.Generator().manual_seed(seed)
    start = time.perf_counter()
    result = uap.fit(model, x, generator, progress=ctx.reporter)
    return result, time.perf_counter() - start


def run(config: Config, ctx: RunContext) -> Result:
    """Fit one perturbation per model on X; evaluate every perturbation on every model."""
    attack = config.attack
    result = Result(norm=attack.norm, xi=attack.xi, data=config.data,
                    eval_data=config.eval_data or config.data)
    x_fit, _ = load_samples(ctx, config.data, "train", config.n_fit, config.seed)
    perturbations: dict[str, torch.Tensor] = {}
    shown = torch.empty(0)  # (EXAMPLES, C, H, W) the held-out images of Figure 1
    for name in ctx.progress(config.models, "universal perturbation per model"):
        model = load_classifier(ctx, name, config.data, config.training, config.pretrained)
        fitted, seconds = _fit(attack, model, x_fit, config.seed, ctx)
        v = fitted.perturbation
        noise = random_perturbation(v.shape, attack.norm, attack.xi,
                                    torch.Generator().manual_seed(config.seed), device=v.device)
        held_out = _held_out_rates(model, [v, noise], config, ctx)
        heldout, noise_rate = held_out.rates
        result.rows.append(Row(
            model=name, n_fit=int(x_fit.shape[0]), fit=fitted.fooling_rate[-1], heldout=heldout,
            random_noise=noise_rate, passes=fitted.passes, rates_per_pass=fitted.fooling_rate,
            seconds=seconds, inner_attacks=fitted.inner_attacks, accepted=fitted.accepted,
            norm_of_v=float(v.abs().max() if attack.norm == "linf" else v.norm()),
            clean_accuracy=held_out.clean_accuracy, label_based=held_out.label_based,
        ))
        perturbations[name] = v.cpu()
        if name == config.models[0]:
            _first_model_studies(config, ctx, model, x_fit, result, seconds)
            result.examples, shown = _examples(model, v, config, ctx)
    vs = [perturbations[name].to(ctx.device) for name in config.models]
    for name in ctx.progress(config.models, "transfer: every perturbation on every model"):
        model = load_classifier(ctx, name, config.data, config.training, config.pretrained)
        result.transfer.append(_held_out_rates(model, vs, config, ctx).rates)
    # [evaluated on][computed on] -> [computed on][evaluated on]
    result.transfer = [list(row) for row in zip(*result.transfer, strict=True)]
    tensors = {f"v.{n}": v.contiguous() for n, v in perturbations.items()}
    tensors["examples"] = shown.contiguous()
    save_state(ctx.out_dir / PERTURBATIONS_FILE, tensors,
               {"models": list(config.models), "norm": attack.norm, "xi": attack.xi})
    return result


def _first_model_studies(
    config: Config, ctx: RunContext, model: nn.Module, x_fit: torch.Tensor, result: Result,
    seconds: float,
) -> None:
    """Figure 6 (held-out fooling rate against |X|) and the other variant, on the first model."""
    attack, first = config.attack, result.rows[0]
    sizes = sorted({min(s, x_fit.shape[0]) for s in config.fit_sizes})
    rates, times = [], []
    for size in ctx.progress(sizes, "fooling rate against |X|"):
        if size == x_fit.shape[0]:  # the fit of Table 1's row
            rates.append(first.heldout)
            times.append(seconds)
            continue
        fitted, took = _fit(attack, model, x_fit[:size], config.seed, ctx)
        rates.append(_held_out_rates(model, [fitted.perturbation], config, ctx).rates[0])
        times.append(took)
    result.size_curve = SizeCurve(model=config.models[0], sizes=sizes, heldout=rates, seconds=times)
    result.variants.append(VariantRow(variant=attack.variant, seconds=seconds,
                                      heldout=first.heldout, fit=first.fit, passes=first.passes))
    if config.compare_variants:
        other: Variant = "batched" if attack.variant == "sequential" else "sequential"
        fitted, took = _fit(replace(attack, variant=other), model, x_fit, config.seed, ctx)
        heldout = _held_out_rates(model, [fitted.perturbation], config, ctx).rates[0]
        result.variants.append(VariantRow(variant=other, seconds=took, heldout=heldout,
                                          fit=fitted.fooling_rate[-1], passes=fitted.passes))


def _examples(
    model: nn.Module, v: torch.Tensor, config: Config, ctx: RunContext
) -> tuple[ExampleLabels, torch.Tensor]:
    """Held-out images (EXAMPLES, C, H, W) and their predictions, clean and perturbed
    (Figure 1)."""
    data = config.eval_data or config.data
    x, _ = next(sample_batches(ctx, data, "test", EXAMPLES, config.seed, EXAMPLES))
    labels = ExampleLabels(model=config.models[0], clean=predict(model, x).tolist(),
                           perturbed=predict(model, perturb(x, v)).tolist())
    return labels, x.cpu()


def render(result: Result, out_dir: Path) -> Rendered:
    """Tables 1-2, the variants table, Figure 6 and the perturbation images."""
    from advlab.report.universal_figures import render_universal

    return render_universal(result, out_dir)
