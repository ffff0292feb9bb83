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

Paper scale: torchvision's AlexNet (the architecture of CaffeNet), VGG-16, VGG-19, GoogLeNet and
ResNet-152 on ImageNet folders (X: 10,000 training images, held-out: the 50,000 validation
images, linf xi = 10/255 in [0, 1] pixels). ``pretrained=False`` runs that path offline with
random weights (the numbers then describe untrained networks).
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch
from torch import nn

from advlab.attacks import DeepFool
from advlab.attacks.universal import UniversalPerturbation, perturb, predict, random_perturbation
from advlab.experiments.base import Rendered, RunContext
from advlab.experiments.cache import CLASSIFIER_TRAINING
from advlab.experiments.model_sets import (
    DEMO_MODELS,
    DEMO_TRAINING,
    load_classifier,
    load_samples,
    sample_batches,
)
from advlab.models.checkpoint import save_state
from advlab.train import TrainConfig
from advlab.types import Norm

NAME = "universal"
TITLE = "Universal adversarial perturbations: fooling rates, transfer between networks, |X|"
PAPER = "Moosavi-Dezfooli et al. 2017, Tables 1-2, Figures 1, 4 and 6"
PERTURBATIONS_FILE = "perturbations.safetensors"  # written by run, drawn by render
EXAMPLES = 6  # held-out images shown clean and perturbed


@dataclass(frozen=True)
class Config:
    """models: classifiers (registry names trained on ``data``, or torchvision:<arch>);
    data: X comes from its train split, the held-out images from ``eval_data``'s test split
    (None: ``data``'s); n_fit = |X|, n_eval held-out images; norm and xi: the lp ball;
    delta, max_passes: Algorithm 1's stopping rule; variant: "sequential" (the paper's) or
    "batched"; compare_variants: also fit the other variant on the first model (time and
    fooling rate side by side); fit_sizes: |X| for Figure 6 (on the first model); deepfool_*:
    the inner DeepFool; training: that of classifier-baselines (shared cached models);
    pretrained: torchvision weights (False: random, offline)."""

    models: tuple[str, ...] = ("fc500-150-10", "lenet", "mlp-shallow", "cnn-wide", "cnn-bn-dropout")
    data: str = "mnist-5k"
    eval_data: str | None = None
    n_fit: int = 500
    n_eval: int = 1000
    norm: Norm = "linf"
    xi: float = 0.3
    delta: float = 0.2
    max_passes: int = 3
    variant: str = "sequential"
    compare_variants: bool = True
    batch_size: int = 32
    fit_sizes: tuple[int, ...] = (50, 100, 200, 500)
    deepfool_steps: int = 50
    overshoot: float = 0.02
    candidates: int = 10
    eval_batch: int = 500
    training: TrainConfig = CLASSIFIER_TRAINING
    seed: int = 0
    pretrained: bool = True

    @classmethod
    def quick(cls) -> Config:
        return cls()

    @classmethod
    def demo(cls) -> Config:
        return cls(models=DEMO_MODELS, data="digits", n_fit=150, n_eval=360, max_passes=2, fit_sizes=(50, 150),
                   training=DEMO_TRAINING)  # fmt: skip

    @classmethod
    def paper(cls) -> Config:
        return cls(
            models=("torchvision:alexnet", "torchvision:vgg16", "torchvision:vgg19",
                    "torchvision:googlenet", "torchvision:resnet152"),
            data="folder:imagenet/train@224", eval_data="folder:imagenet/val@224",
            n_fit=10000, n_eval=50000, xi=10 / 255, max_passes=10,
            fit_sizes=(500, 1000, 2000, 4000), eval_batch=100,
        )  # fmt: skip


@dataclass
class Result:
    norm: str = "linf"
    xi: float = 0.0
    rows: list[dict[str, Any]] = field(default_factory=list)
    transfer: list[list[float]] = field(default_factory=list)  # [computed on][evaluated on]
    size_curve: dict[str, Any] = field(default_factory=dict)
    variants: list[dict[str, Any]] = field(default_factory=list)
    examples: dict[str, Any] = field(default_factory=dict)
    perturbations_file: str = PERTURBATIONS_FILE


def _uap(config: Config, variant: str | None = None) -> UniversalPerturbation:
    inner = DeepFool(steps=config.deepfool_steps, overshoot=config.overshoot, candidates=config.candidates)
    return UniversalPerturbation(xi=config.xi, norm=config.norm, delta=config.delta, max_passes=config.max_passes,
                                 inner=inner, variant=variant or config.variant, batch_size=config.batch_size)  # type: ignore[arg-type]  # fmt: skip


def _held_out_rates(
    model: nn.Module, perturbations: list[torch.Tensor], config: Config, ctx: RunContext
) -> tuple[list[float], dict[str, float]]:
    """Fooling rate of every perturbation (*S) on the held-out images, against the clean
    predictions, streamed in batches; plus the clean accuracy and the label-based rate of the
    first perturbation (the fraction misclassified with respect to the labels)."""
    eval_data = config.eval_data or config.data
    fooled = torch.zeros(len(perturbations))
    correct = wrong_vs_labels = count = 0
    for x, y in sample_batches(ctx, eval_data, "test", config.n_eval, config.seed, config.eval_batch):
        clean = predict(model, x)
        for i, v in enumerate(perturbations):
            predicted = predict(model, perturb(x, v))
            fooled[i] += int((predicted != clean).sum())
            if i == 0:
                wrong_vs_labels += int((predicted != y).sum())
        correct += int((clean == y).sum())
        count += x.shape[0]
    return (fooled / count).tolist(), {"clean_accuracy": correct / count, "label_based": wrong_vs_labels / count}


def _fit(
    uap: UniversalPerturbation, model: nn.Module, x: torch.Tensor, seed: int, ctx: RunContext
) -> tuple[Any, float]:
    generator = torch.Generator().manual_seed(seed)
    start = time.perf_counter()
    result = uap.fit(model, x, generator, progress=ctx.reporter)
    return result, time.perf_counter() - start


def run(config: Config, ctx: RunContext) -> Result:
    """Fit one perturbation per model on X; evaluate every perturbation on every model."""
    result = Result(norm=config.norm, xi=config.xi)
    x_fit, _ = load_samples(ctx, config.data, "train", config.n_fit, config.seed)
    perturbations: dict[str, torch.Tensor] = {}
    shown = torch.empty(0)  # (EXAMPLES, C, H, W) the held-out images of Figure 1
    for name in ctx.progress(config.models, "universal perturbation per model"):
        model = load_classifier(ctx, name, config.data, config.training, config.pretrained)
        fitted, seconds = _fit(_uap(config), model, x_fit, config.seed, ctx)
        v = fitted.perturbation
        noise = random_perturbation(v.shape, config.norm, config.xi, torch.Generator().manual_seed(config.seed),
                                    device=v.device)  # fmt: skip
        (heldout, noise_rate), extra = _held_out_rates(model, [v, noise], config, ctx)
        result.rows.append({
            "model": name, "n_fit": int(x_fit.shape[0]), "fit": fitted.fooling_rate[-1], "heldout": heldout,
            "random_noise": noise_rate, "passes": fitted.passes, "rates_per_pass": fitted.fooling_rate,
            "seconds": seconds, "inner_attacks": fitted.inner_attacks, "accepted": fitted.accepted,
            "norm_of_v": float(v.abs().max() if config.norm == "linf" else v.norm()), **extra,
        })  # fmt: skip
        perturbations[name] = v.cpu()
        if name == config.models[0]:
            _first_model_studies(config, ctx, model, x_fit, result, seconds)
            result.examples, shown = _examples(model, v, config, ctx)
    vs = [perturbations[name].to(ctx.device) for name in config.models]
    for name in ctx.progress(config.models, "transfer: every perturbation on every model"):
        model = load_classifier(ctx, name, config.data, config.training, config.pretrained)
        result.transfer.append(_held_out_rates(model, vs, config, ctx)[0])
    result.transfer = [list(row) for row in zip(*result.transfer, strict=True)]  # [computed on][evaluated on]
    tensors = {f"v.{n}": v.contiguous() for n, v in perturbations.items()} | {"examples": shown.contiguous()}
    save_state(ctx.out_dir / PERTURBATIONS_FILE, tensors,
               {"models": list(config.models), "norm": config.norm, "xi": config.xi})  # fmt: skip
    return result


def _first_model_studies(
    config: Config, ctx: RunContext, model: nn.Module, x_fit: torch.Tensor, result: Result, seconds: float
) -> None:
    """Figure 6 (held-out fooling rate against |X|) and the other variant, on the first model."""
    sizes = sorted({min(s, x_fit.shape[0]) for s in config.fit_sizes})
    rates, times = [], []
    for size in ctx.progress(sizes, "fooling rate against |X|"):
        if size == x_fit.shape[0]:  # the fit of Table 1's row
            rates.append(result.rows[0]["heldout"])
            times.append(seconds)
            continue
        fitted, took = _fit(_uap(config), model, x_fit[:size], config.seed, ctx)
        rates.append(_held_out_rates(model, [fitted.perturbation], config, ctx)[0][0])
        times.append(took)
    result.size_curve = {"model": config.models[0], "sizes": sizes, "heldout": rates, "seconds": times}
    result.variants.append({"variant": config.variant, "seconds": seconds, "heldout": result.rows[0]["heldout"],
                            "fit": result.rows[0]["fit"], "passes": result.rows[0]["passes"]})  # fmt: skip
    if config.compare_variants:
        other = "batched" if config.variant == "sequential" else "sequential"
        fitted, took = _fit(_uap(config, other), model, x_fit, config.seed, ctx)
        heldout = _held_out_rates(model, [fitted.perturbation], config, ctx)[0][0]
        result.variants.append({"variant": other, "seconds": took, "heldout": heldout,
                                "fit": fitted.fooling_rate[-1], "passes": fitted.passes})  # fmt: skip


def _examples(
    model: nn.Module, v: torch.Tensor, config: Config, ctx: RunContext
) -> tuple[dict[str, Any], torch.Tensor]:
    """Held-out images (EXAMPLES, C, H, W) and their predictions, clean and perturbed (Figure 1)."""
    x, _ = next(sample_batches(ctx, config.eval_data or config.data, "test", EXAMPLES, config.seed, EXAMPLES))
    labels = {"model": config.models[0], "clean": predict(model, x).tolist(),
              "perturbed": predict(model, perturb(x, v)).tolist()}  # fmt: skip
    return labels, x.cpu()


def render(result: Result, out_dir: Path) -> Rendered:
    """Tables 1-2, the variants table, Figure 6 and the perturbation images."""
    from advlab.experiments.universal_render import render_universal

    return render_universal(result, out_dir)
