"""DeepFool's Table 1 (Moosavi-Dezfooli et al. 2016): test error, rho_adv and time per sample of
DeepFool, FGSM [4] (minimal eps misclassifying 90%) and L-BFGS [18], per classifier; and its
Table 2 (linf: DeepFool against FGSM).

Quick scale: LeNet and FC500-150-10 trained on mnist-5k (4,000 digits), attacks on the first
test digits. Paper scale: full MNIST, LeNet and NIN on CIFAR-10, and torchvision ImageNet
models (``torchvision:<name>@folder:<path>@224``, 224x224 crops) when their weights and data
are present.

ImageNet rows and labels: the attacks need no labels (DeepFool, FGSM and L-BFGS all attack
the model's own prediction, as in the paper), only the test-error column does. An ImageFolder
of the ILSVRC2012 validation set has one folder per synset (n01440764, ...), and ImageFolder's
sorted folder order is the class index order of torchvision's ImageNet weights, so its labels
are the model's output indices. A tree with another number of classes, or other folder names,
has labels that index something else: its test error is reported as unavailable (None).
``pretrained=False`` builds the torchvision rows with random weights, which exercises the
whole path offline (the numbers then describe an untrained network, nothing of the paper's).

Beside Table 2 (l_inf): robust accuracy under the worst-case suite (`advlab.evaluate`, Croce &
Hein 2020) on the first `suite_samples` attacked samples with their true labels, at the
lecture's l_inf radius for the dataset (`advlab.zoo.worst_case.LECTURE_EPS`: 0.1 on MNIST).
"""

from __future__ import annotations

import re
import time
from dataclasses import dataclass, field, replace
from pathlib import Path

import torch
from torch import nn

from advlab import data as datasets
from advlab.attacks import (
    FGSM,
    LBFGS,
    Attack,
    DeepFool,
    attack_in_batches,
    minimal_fgsm_eps,
    rho_adv,
)
from advlab.experiments.base import ExperimentConfig
from advlab.report.rendered import Rendered
from advlab.train import TrainConfig
from advlab.types import AttackResult, Norm
from advlab.zoo.cache import CLASSIFIER_TRAINING, DEMO_TRAINING, trained_classifier
from advlab.zoo.context import RunContext
from advlab.zoo.worst_case import SuiteSummary, lecture_eps, run_suite

NAME = "deepfool-table"
TITLE = "Adversarial robustness rho_adv of classifiers: DeepFool, FGSM and L-BFGS"
PAPER = "Moosavi-Dezfooli et al. 2016 (DeepFool), Tables 1 and 2"


@dataclass(frozen=True)
class PaperTable1Row:
    """A row of the paper's Table 1: test error %, then rho_adv (l2) and ms per sample of
    DeepFool, FGSM and L-BFGS. Times are the paper's (2015 MacBook CPU; ImageNet rows on a
    GPU); "> 4 s" is stored as its lower bound; None: "-" in the paper."""

    test_error: float
    rho_deepfool: float
    ms_deepfool: float
    rho_fgsm: float
    ms_fgsm: float
    rho_lbfgs: float | None
    ms_lbfgs: float | None


@dataclass(frozen=True)
class PaperTable2Row:
    """A row of the paper's Table 2: rho_inf = mean ||r||_inf / ||x||_inf of DeepFool with
    p = inf and of FGSM at the smallest eps misclassifying 90%."""

    rho_inf_deepfool: float
    rho_inf_fgsm: float


# Table 1 of the paper, per "model@paper-dataset"
PAPER_TABLE1: dict[str, PaperTable1Row] = {
    "lenet@mnist": PaperTable1Row(1.0, 0.20, 110, 1.0, 20, 0.25, 4000),
    "fc500-150-10@mnist": PaperTable1Row(1.7, 0.11, 50, 0.39, 10, 0.12, 2000),
    "nin@cifar10": PaperTable1Row(11.5, 0.023, 1100, 0.12, 180, 0.024, 50000),
    "lenet-cifar@cifar10": PaperTable1Row(22.6, 0.030, 220, 0.13, 50, 0.039, 7000),
    "torchvision:alexnet@imagenet": PaperTable1Row(42.6, 0.0027, 510, 0.035, 50, None, None),
    "torchvision:googlenet@imagenet": PaperTable1Row(31.3, 0.0019, 800, 0.047, 80, None, None),
}
# Table 2 of the paper, per "model@paper-dataset" (the paper gives no ImageNet rows there)
PAPER_TABLE2: dict[str, PaperTable2Row] = {
    "lenet@mnist": PaperTable2Row(0.10, 0.26),
    "fc500-150-10@mnist": PaperTable2Row(0.04, 0.11),
    "nin@cifar10": PaperTable2Row(0.008, 0.024),
    "lenet-cifar@cifar10": PaperTable2Row(0.015, 0.028),
}
PAPER_DATASET = {"mnist-5k": "mnist"}  # quick-scale stand-ins


@dataclass(frozen=True)
class Config(ExperimentConfig):
    """rows: "model@dataset"; n_attack test samples get DeepFool and FGSM, the first n_lbfgs
    of them L-BFGS (the slow one; never on torchvision rows, where the paper has none either).
    deepfool: the DeepFool run in l2 and in linf (its norm is set per run); lbfgs: the L-BFGS
    attack (its c search and inner iterations); training: the training of the
    non-torchvision rows, that of classifier-baselines (so both share the cached models and
    report the same test error).
    pretrained: torchvision rows load torchvision's ImageNet weights; False builds them with
    random weights (offline smoke runs of the ImageNet path, numbers without meaning).
    suite_samples: the worst-case suite attacks the first this many of the n_attack samples
    (0: no suite column; rows whose labels are not the model's classes get none); suite_eps:
    its l_inf radius, 0 for the lecture's radius of each row's dataset (LECTURE_EPS)."""

    rows: tuple[str, ...] = ("lenet@mnist-5k", "fc500-150-10@mnist-5k")
    n_attack: int = 1000
    n_lbfgs: int = 50
    deepfool: DeepFool = DeepFool(steps=50, overshoot=0.02, candidates=10)
    fgsm_fraction: float = 0.9
    lbfgs: LBFGS = LBFGS(search_steps=6, max_iter=15)
    training: TrainConfig = CLASSIFIER_TRAINING
    attack_batch: int = 500
    seed: int = 0
    pretrained: bool = True
    suite_samples: int = 100
    suite_eps: float = 0.0

    @classmethod
    def demo(cls) -> Config:
        """`make demo`: 200 test digits (L-BFGS on 10, the suite on 20), classifiers trained
        for 2 epochs."""
        return cls(n_attack=200, n_lbfgs=10, training=DEMO_TRAINING, suite_samples=20)

    @classmethod
    def paper(cls) -> Config:
        return cls(
            rows=(
                "lenet@mnist", "fc500-150-10@mnist", "nin@cifar10", "lenet-cifar@cifar10",
                "torchvision:alexnet@folder:imagenet/val@224",
                "torchvision:googlenet@folder:imagenet/val@224",
            ),
            n_attack=10000, n_lbfgs=1000, lbfgs=LBFGS(search_steps=10, max_iter=50),
            training=replace(CLASSIFIER_TRAINING, epochs=30),
            attack_batch=100, suite_samples=1000,
        )


@dataclass
class AttackStats:
    """rho_adv over the fooled samples (None: none fooled), success rate, ms per sample."""

    rho: float | None
    success: float
    ms: float


@dataclass
class FGSMStats:
    """FGSM at the smallest eps fooling fgsm_fraction (None: no eps does): rho in l2 and linf."""

    eps: float | None
    rho_l2: float | None
    rho_linf: float | None
    success: float
    ms: float


@dataclass
class LBFGSStats(AttackStats):
    """L-BFGS on the first n samples; rho of L-BFGS and of DeepFool (l2) on the samples both
    fooled (the like-for-like comparison), None when there are none."""

    n: int
    rho_same_samples: float | None
    deepfool_rho_same_samples: float | None


@dataclass
class Row:
    """One classifier: test error (None where the labels are not the model's classes), the
    attacks' statistics (lbfgs None where it did not run), the paper's rows (None: none);
    weights: "imagenet" or "random" for torchvision rows, None otherwise; suite: the
    worst-case suite on the first suite.n samples (None: not run)."""

    row: str
    n: int
    test_error: float | None
    weights: str | None
    deepfool_l2: AttackStats
    deepfool_linf: AttackStats
    fgsm: FGSMStats
    lbfgs: LBFGSStats | None
    paper_table1: PaperTable1Row | None
    paper_table2: PaperTable2Row | None
    suite: SuiteSummary | None = None


@dataclass
class Result:
    rows: list[Row] = field(default_factory=list)


def _load_row(
    row: str, config: Config, ctx: RunContext
) -> tuple[nn.Module, torch.Tensor, torch.Tensor, bool]:
    """The row's classifier, its first n_attack test samples (x (n, C, H, W), y (n,)) and
    whether y indexes the classifier's outputs (see the module docstring)."""
    model_name, sep, dataset = row.partition("@")
    if not sep:
        raise ValueError(f"row {row!r} must look like 'model@dataset', e.g. 'lenet@mnist-5k'")
    test_set = datasets.load(dataset, "test", root=ctx.data_root)
    x, y = datasets.as_tensors(test_set, limit=config.n_attack, seed=config.seed)
    if x.shape[0] == 0:
        raise ValueError(f"row {row!r}: the test split of {dataset!r} is empty")
    if model_name.startswith("torchvision:"):
        # ImageNet classifiers are never trained here: torchvision's weights, or random ones
        from advlab import models
        from advlab.models.torchvision_models import PretrainedWeightsMissing

        try:
            model = models.create(model_name, pretrained=config.pretrained)
        except PretrainedWeightsMissing as error:
            raise PretrainedWeightsMissing(
                f"{error}; or set pretrained=False (--pretrained false) to run the row with "
                "random weights"
            ) from error
        model = model.to(ctx.device).eval()
        labels_valid = _imagenet_labels(test_set.classes, IMAGENET_CLASSES)
    else:
        model = trained_classifier(ctx, model_name, dataset, config.training)
        labels_valid = True
    return model, x.to(ctx.device), y.to(ctx.device), labels_valid


IMAGENET_CLASSES = 1000  # outputs of torchvision's ImageNet classifiers
_SYNSET = re.compile(r"n\d{8}")  # WordNet id of an ILSVRC class folder, e.g. n01440764


def _imagenet_labels(classes: list[str], num_outputs: int) -> bool:
    """Whether ImageFolder labels are ImageNet class indices: one folder per ILSVRC synset,
    all of them (ImageFolder sorts the folders, and sorted synsets are ImageNet's index order)."""
    return len(classes) == num_outputs and all(_SYNSET.fullmatch(c) for c in classes)


def _attack(
    attack: Attack, model: nn.Module, x: torch.Tensor, y: torch.Tensor, config: Config,
    ctx: RunContext, description: str,
) -> tuple[AttackResult, float]:
    """Run an attack over x in chunks with a progress bar: (result, seconds per sample)."""
    start = time.perf_counter()
    result = attack_in_batches(
        attack, model, x, y, batch_size=config.attack_batch, seed=config.seed,
        progress=ctx.reporter, description=description,
    )
    return result, (time.perf_counter() - start) / x.shape[0]


def _rho(x: torch.Tensor, result: AttackResult, norm: Norm) -> float | None:
    """rho_adv over the samples the attack fooled (failed ones are returned unchanged or
    only partly moved, and would bias the mean); None when it fooled none."""
    hit = result.success
    return rho_adv(x[hit], result.x_adv[hit], norm) if bool(hit.any()) else None


def _rho_where(x: torch.Tensor, x_adv: torch.Tensor, where: torch.Tensor) -> float | None:
    """rho_adv (l2) over the samples `where` (N,) selects; None when it selects none."""
    return rho_adv(x[where], x_adv[where], "l2") if bool(where.any()) else None


def _fgsm(model: nn.Module, x: torch.Tensor, pred: torch.Tensor, config: Config,
          ctx: RunContext) -> FGSMStats:
    """FGSM as in the paper: the smallest eps fooling fgsm_fraction of the samples."""
    start = time.perf_counter()
    eps = minimal_fgsm_eps(model, x, pred, config.fgsm_fraction, batch_size=config.attack_batch)
    ms = 1000 * (time.perf_counter() - start) / x.shape[0]
    if eps == float("inf"):
        return FGSMStats(eps=None, rho_l2=None, rho_linf=None, success=0.0, ms=ms)
    found, _ = _attack(FGSM(eps=max(eps, 1e-12)), model, x, pred, config, ctx, "FGSM")
    return FGSMStats(eps=eps, rho_l2=_rho(x, found, "l2"), rho_linf=_rho(x, found, "linf"),
                     success=found.success_rate, ms=ms)


def _lbfgs(model: nn.Module, x: torch.Tensor, pred: torch.Tensor, deepfool_l2: AttackResult,
           n_lbfgs: int, config: Config, ctx: RunContext) -> LBFGSStats:
    """L-BFGS on the first n_lbfgs samples, and DeepFool's rho on the samples both fooled."""
    xs, ps = x[:n_lbfgs], pred[:n_lbfgs]
    found, seconds = _attack(config.lbfgs, model, xs, ps, config, ctx, "L-BFGS")
    both = found.success & deepfool_l2.success[:n_lbfgs]  # (n_lbfgs,)
    return LBFGSStats(
        rho=_rho(xs, found, "l2"), success=found.success_rate, ms=1000 * seconds, n=n_lbfgs,
        rho_same_samples=_rho_where(xs, found.x_adv, both),
        deepfool_rho_same_samples=_rho_where(xs, deepfool_l2.x_adv[:n_lbfgs], both),
    )


def run(config: Config, ctx: RunContext) -> Result:
    """For each row: test error, then DeepFool (l2 and linf), minimal-eps FGSM and L-BFGS."""
    result = Result()
    for row in ctx.progress(config.rows, "classifiers"):
        model, x, y, labels_valid = _load_row(row, config, ctx)
        with torch.no_grad():
            pred = torch.cat([model(x[i : i + config.attack_batch]).argmax(1)
                              for i in range(0, x.shape[0], config.attack_batch)])
        # every attack below targets pred, the model's own label (Algorithm 2 starts from
        # k(x_0)); y only gives the test error, when it indexes the model's outputs
        test_error = 100 * float((pred != y).float().mean()) if labels_valid else None
        torchvision = row.startswith("torchvision:")
        stats: dict[Norm, AttackStats] = {}
        found_by_norm: dict[Norm, AttackResult] = {}
        norms: tuple[Norm, Norm] = ("l2", "linf")
        for norm in norms:
            deepfool = replace(config.deepfool, norm=norm)
            found, seconds = _attack(deepfool, model, x, pred, config, ctx, f"DeepFool ({norm})")
            stats[norm] = AttackStats(rho=_rho(x, found, norm), success=found.success_rate,
                                      ms=1000 * seconds)
            found_by_norm[norm] = found
        fgsm = _fgsm(model, x, pred, config, ctx)
        # the paper ran no L-BFGS on its ImageNet models (Table 1: "-"), and it would take hours
        n_lbfgs = 0 if torchvision else min(config.n_lbfgs, x.shape[0])
        lbfgs = (_lbfgs(model, x, pred, found_by_norm["l2"], n_lbfgs, config, ctx)
                 if n_lbfgs > 0 else None)
        suite = None
        if config.suite_samples > 0 and labels_valid:  # run last: the numbers above unchanged
            m = min(config.suite_samples, x.shape[0])
            eps = config.suite_eps or lecture_eps(row.partition("@")[2])
            suite = SuiteSummary.of(run_suite(model, x[:m], y[:m], eps, seed=config.seed,
                                              batch_size=config.attack_batch,
                                              progress=ctx.reporter))
        result.rows.append(Row(
            row=row, n=int(x.shape[0]), test_error=test_error, suite=suite,
            weights=("imagenet" if config.pretrained else "random") if torchvision else None,
            deepfool_l2=stats["l2"], deepfool_linf=stats["linf"], fgsm=fgsm, lbfgs=lbfgs,
            paper_table1=PAPER_TABLE1.get(paper_key(row)),
            paper_table2=PAPER_TABLE2.get(paper_key(row)),
        ))
    return result


def paper_key(row: str) -> str:
    """The paper's "model@dataset" of our row: quick-scale stand-ins and ImageNet folders
    mapped to the paper's datasets."""
    model, _, dataset = row.partition("@")
    if dataset.startswith("folder:"):
        dataset = "imagenet"
    return f"{model}@{PAPER_DATASET.get(dataset, dataset)}"


def render(result: Result, out_dir: Path) -> Rendered:
    """Table 1 and Table 2 (ours beside the paper's) and a bar chart of rho_adv per method,
    ours beside the paper's."""
    from advlab.report.deepfool_figures import render_deepfool

    return render_deepfool(result, out_dir)
