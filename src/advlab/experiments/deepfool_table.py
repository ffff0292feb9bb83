"""DeepFool's Table 1 (Moosavi-Dezfooli et al. 2016): test error, rho_adv and time per sample of
DeepFool, FGSM [4] (minimal eps misclassifying 90%) and L-BFGS [18], per classifier; and its
Table 2 (linf: DeepFool against FGSM).

Quick scale: LeNet and FC500-150-10 trained on mnist-5k (4,000 digits), attacks on the first
test digits. Paper scale: full MNIST, LeNet and NIN on CIFAR-10, and torchvision ImageNet
models (``torchvision:<name>@folder:<path>@224``, 224x224 crops) when their weights and data are present.

ImageNet rows and labels: the attacks need no labels (DeepFool, FGSM and L-BFGS all attack
the model's own prediction, as in the paper), only the test-error column does. An ImageFolder
of the ILSVRC2012 validation set has one folder per synset (n01440764, ...), and ImageFolder's
sorted folder order is the class index order of torchvision's ImageNet weights, so its labels
are the model's output indices. A tree with another number of classes, or other folder names,
has labels that index something else: its test error is reported as unavailable (None).
``pretrained=False`` builds the torchvision rows with random weights, which exercises the
whole path offline (the numbers then describe an untrained network, nothing of the paper's).
"""

from __future__ import annotations

import re
import time
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import torch
from torch import nn

from advlab import data as datasets
from advlab.attacks import FGSM, LBFGS, DeepFool, attack_in_batches, minimal_fgsm_eps, rho_adv
from advlab.experiments.base import Figure, Rendered, RunContext
from advlab.experiments.cache import CLASSIFIER_TRAINING, DEMO_TRAINING, trained_classifier
from advlab.tables import Table
from advlab.train import TrainConfig
from advlab.types import AttackResult, Norm

NAME = "deepfool-table"
TITLE = "Adversarial robustness rho_adv of classifiers: DeepFool, FGSM and L-BFGS"
PAPER = "Moosavi-Dezfooli et al. 2016 (DeepFool), Tables 1 and 2"

# Table 1 of the paper: model@paper-dataset -> (test error %, rho DeepFool, ms, rho FGSM, ms,
# rho L-BFGS, ms). Times are the paper's (2015 MacBook CPU; ImageNet rows on a GPU); "> 4 s"
# is stored as its lower bound.
PAPER_TABLE1: dict[str, tuple[float, float, float, float, float, float | None, float | None]] = {
    "lenet@mnist": (1.0, 0.20, 110, 1.0, 20, 0.25, 4000),
    "fc500-150-10@mnist": (1.7, 0.11, 50, 0.39, 10, 0.12, 2000),
    "nin@cifar10": (11.5, 0.023, 1100, 0.12, 180, 0.024, 50000),
    "lenet-cifar@cifar10": (22.6, 0.030, 220, 0.13, 50, 0.039, 7000),
    "torchvision:alexnet@imagenet": (42.6, 0.0027, 510, 0.035, 50, None, None),
    "torchvision:googlenet@imagenet": (31.3, 0.0019, 800, 0.047, 80, None, None),
}
# Table 2 of the paper: model@paper-dataset -> (rho_inf DeepFool with p = inf, rho_inf FGSM),
# rho_inf = mean ||r||_inf / ||x||_inf; FGSM at the smallest eps misclassifying 90%. The paper
# gives no ImageNet rows for this table.
PAPER_TABLE2: dict[str, tuple[float, float]] = {
    "lenet@mnist": (0.10, 0.26),
    "fc500-150-10@mnist": (0.04, 0.11),
    "nin@cifar10": (0.008, 0.024),
    "lenet-cifar@cifar10": (0.015, 0.028),
}
PAPER_DATASET = {"mnist-5k": "mnist"}  # quick-scale stand-ins


@dataclass(frozen=True)
class Config:
    """rows: "model@dataset"; n_attack test samples get DeepFool and FGSM, the first n_lbfgs
    of them L-BFGS (the slow one; never on torchvision rows, where the paper has none either).
    lbfgs_* set its c search and inner iterations. training: the training of the
    non-torchvision rows, that of classifier-baselines (so both share the cached models and
    report the same test error).
    pretrained: torchvision rows load torchvision's ImageNet weights; False builds them with
    random weights (offline smoke runs of the ImageNet path, numbers without meaning)."""

    rows: tuple[str, ...] = ("lenet@mnist-5k", "fc500-150-10@mnist-5k")
    n_attack: int = 1000
    n_lbfgs: int = 50
    deepfool_steps: int = 50
    overshoot: float = 0.02
    candidates: int = 10
    fgsm_fraction: float = 0.9
    lbfgs_search_steps: int = 6
    lbfgs_max_iter: int = 15
    training: TrainConfig = CLASSIFIER_TRAINING
    attack_batch: int = 500
    seed: int = 0
    pretrained: bool = True

    @classmethod
    def demo(cls) -> Config:
        """`make demo`: 200 test digits (L-BFGS on 10), classifiers trained for 2 epochs."""
        return cls(n_attack=200, n_lbfgs=10, training=DEMO_TRAINING)

    @classmethod
    def quick(cls) -> Config:
        return cls()

    @classmethod
    def paper(cls) -> Config:
        return cls(
            rows=("lenet@mnist", "fc500-150-10@mnist", "nin@cifar10", "lenet-cifar@cifar10",
                  "torchvision:alexnet@folder:imagenet/val@224",
                  "torchvision:googlenet@folder:imagenet/val@224"),
            n_attack=10000, n_lbfgs=1000, lbfgs_search_steps=10, lbfgs_max_iter=50,
            training=replace(CLASSIFIER_TRAINING, epochs=30),
            attack_batch=100,
        )  # fmt: skip


@dataclass
class Result:
    rows: list[dict[str, Any]] = field(default_factory=list)


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


def _attack(attack: Any, model: nn.Module, x: torch.Tensor, y: torch.Tensor, config: Config,
            ctx: RunContext, description: str) -> tuple[AttackResult, float]:  # fmt: skip
    """Run an attack over x in chunks with a progress bar: (result, seconds per sample)."""
    start = time.perf_counter()
    result = attack_in_batches(attack, model, x, y, batch_size=config.attack_batch, seed=config.seed,
                               progress=ctx.reporter, description=description)  # fmt: skip
    return result, (time.perf_counter() - start) / x.shape[0]


def _rho(x: torch.Tensor, result: AttackResult, norm: Norm) -> float | None:
    """rho_adv over the samples the attack fooled (failed ones are returned unchanged or
    only partly moved, and would bias the mean); None when it fooled none."""
    hit = result.success
    return rho_adv(x[hit], result.x_adv[hit], norm) if bool(hit.any()) else None


def run(config: Config, ctx: RunContext) -> Result:
    """For each row: test error, then DeepFool (l2 and linf), minimal-eps FGSM and L-BFGS."""
    result = Result()
    for row in ctx.progress(config.rows, "classifiers"):
        model, x, y, labels_valid = _load_row(row, config, ctx)
        with torch.no_grad():
            pred = torch.cat([model(x[i : i + config.attack_batch]).argmax(1)
                              for i in range(0, x.shape[0], config.attack_batch)])  # fmt: skip
        # every attack below targets pred, the model's own label (Algorithm 2 starts from
        # k(x_0)); y only gives the test error, when it indexes the model's outputs
        test_error = 100 * float((pred != y).float().mean()) if labels_valid else None
        entry: dict[str, Any] = {"row": row, "n": int(x.shape[0]), "test_error": test_error}
        if row.startswith("torchvision:"):
            entry["weights"] = "imagenet" if config.pretrained else "random"
        norms: tuple[Norm, Norm] = ("l2", "linf")
        for norm in norms:
            deepfool = DeepFool(steps=config.deepfool_steps, overshoot=config.overshoot,
                                candidates=config.candidates, norm=norm)  # fmt: skip
            found, seconds = _attack(deepfool, model, x, pred, config, ctx, f"DeepFool ({norm})")
            entry[f"deepfool_{norm}"] = {"rho": _rho(x, found, norm), "success": found.success_rate,
                                         "ms": 1000 * seconds}  # fmt: skip
            if norm == "l2":
                deepfool_l2 = found  # compared with L-BFGS on its samples below
        # FGSM as in the paper: the smallest eps fooling fgsm_fraction of the samples
        start = time.perf_counter()
        eps = minimal_fgsm_eps(model, x, pred, config.fgsm_fraction, batch_size=config.attack_batch)
        fgsm_seconds = (time.perf_counter() - start) / x.shape[0]
        if eps == float("inf"):
            entry["fgsm"] = {"eps": None, "rho_l2": None, "rho_linf": None, "success": 0.0,
                             "ms": 1000 * fgsm_seconds}  # fmt: skip
        else:
            found, _ = _attack(FGSM(eps=max(eps, 1e-12)), model, x, pred, config, ctx, "FGSM")
            entry["fgsm"] = {"eps": eps, "rho_l2": _rho(x, found, "l2"),
                             "rho_linf": _rho(x, found, "linf"), "success": found.success_rate,
                             "ms": 1000 * fgsm_seconds}  # fmt: skip
        # the paper ran no L-BFGS on its ImageNet models (Table 1: "-"), and it would take hours
        n_lbfgs = 0 if row.startswith("torchvision:") else min(config.n_lbfgs, x.shape[0])
        if n_lbfgs > 0:
            lbfgs = LBFGS(search_steps=config.lbfgs_search_steps, max_iter=config.lbfgs_max_iter)
            xs, ps = x[:n_lbfgs], pred[:n_lbfgs]
            found, seconds = _attack(lbfgs, model, xs, ps, config, ctx, "L-BFGS")
            # DeepFool's rho on the samples both fooled: the like-for-like comparison
            both = found.success & deepfool_l2.success[:n_lbfgs]
            same = (rho_adv(xs[both], deepfool_l2.x_adv[:n_lbfgs][both], "l2") if bool(both.any()) else None)
            entry["lbfgs"] = {"rho": _rho(xs, found, "l2"), "success": found.success_rate,
                              "ms": 1000 * seconds, "n": n_lbfgs,
                              "rho_same_samples": rho_adv(xs[both], found.x_adv[both], "l2") if bool(both.any()) else None,
                              "deepfool_rho_same_samples": same}  # fmt: skip
        result.rows.append(entry)
    return result


def _paper_key(row: str) -> str:
    model, _, dataset = row.partition("@")
    if dataset.startswith("folder:"):
        dataset = "imagenet"
    return f"{model}@{PAPER_DATASET.get(dataset, dataset)}"


def render(result: Result, out_dir: Path) -> Rendered:
    """Table 1 and Table 2 (ours beside the paper's) and a bar chart of rho_adv per method,
    ours beside the paper's."""
    rows1, rows2 = [], []
    for r in result.rows:
        paper = PAPER_TABLE1.get(_paper_key(r["row"]))
        lb = r.get("lbfgs", {})
        name = r["row"] + (" [random weights]" if r.get("weights") == "random" else "")
        rows1.append([
            name, r["test_error"], paper[0] if paper else None,
            r["deepfool_l2"]["rho"], paper[1] if paper else None, 100 * r["deepfool_l2"]["success"],
            r["deepfool_l2"]["ms"],
            r["fgsm"]["rho_l2"], paper[3] if paper else None, 100 * r["fgsm"]["success"], r["fgsm"]["ms"],
            lb.get("rho"), paper[5] if paper else None, 100 * lb["success"] if lb else None, lb.get("ms"),
        ])  # fmt: skip
        paper2 = PAPER_TABLE2.get(_paper_key(r["row"]))
        rows2.append([name, r["deepfool_linf"]["rho"], paper2[0] if paper2 else None,
                      100 * r["deepfool_linf"]["success"], r["fgsm"]["rho_linf"],
                      paper2[1] if paper2 else None, 100 * r["fgsm"]["success"]])  # fmt: skip
    first: dict[str, Any] = result.rows[0] if result.rows else {"n": 0}
    n_lbfgs = int(first.get("lbfgs", {}).get("n", 0))
    table1 = Table(
        "Table 1: rho_adv (l2) and time per sample",
        ["classifier", "test error % (ours)", "test error % (paper)",
         "rho DeepFool (ours)", "rho DeepFool (paper)", "DeepFool success %", "ms DeepFool (ours)",
         "rho FGSM (ours)", "rho FGSM (paper)", "FGSM success %", "ms FGSM (ours)",
         "rho L-BFGS (ours)", "rho L-BFGS (paper)", "L-BFGS success %", "ms L-BFGS (ours)"],
        rows1,
        caption=f"rho_adv = mean ||r||_2 / ||x||_2 (eq. 15) over the samples each attack fooled, "
        f"with its success rate beside it; DeepFool and FGSM on {first['n']} test samples, "
        f"L-BFGS on the first {n_lbfgs} of them. FGSM: the smallest eps that misclassifies 90% "
        "of the samples. Test error empty where the dataset's labels are not the model's classes "
        "(an ImageFolder without all 1000 ImageNet synsets). Paper times (2015 laptop CPU): "
        "DeepFool 110 / 50 ms, FGSM 20 / 10 ms, L-BFGS > 4 s / > 2 s for LeNet / FC500-150-10. "
        "result.json also gives rho of L-BFGS and DeepFool on the samples both fooled.",
    )  # fmt: skip
    table2 = Table(
        "Table 2: rho_adv (linf), DeepFool against FGSM",
        ["classifier", "rho_inf DeepFool (ours)", "rho_inf DeepFool (paper)", "DeepFool success %",
         "rho_inf FGSM (ours)", "rho_inf FGSM (paper)", "FGSM success %"],
        rows2,
        caption="rho_inf = mean ||r||_inf / ||x||_inf (eq. 15 with p = inf) over the fooled samples. "
        "DeepFool with p = inf (eq. 8-9, q = 1); FGSM at the eps of Table 1 (smallest eps "
        "misclassifying 90%). Paper values: Moosavi-Dezfooli et al. 2016, Table 2 (no ImageNet "
        "rows there).",
    )  # fmt: skip
    _rho_chart(result, out_dir / "rho_adv.png")
    return Rendered([table1, table2], [Figure("rho_adv.png", "rho_adv (l2) per classifier and method: "
                                              "ours (solid) beside the paper's (hatched)")])  # fmt: skip


def _rho_chart(result: Result, path: Path) -> None:
    """Grouped bars: per classifier, DeepFool / FGSM / L-BFGS rho_adv, ours and the paper's."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    methods = [("DeepFool", lambda r: r["deepfool_l2"]["rho"], 1), ("FGSM", lambda r: r["fgsm"]["rho_l2"], 3),
               ("L-BFGS", lambda r: r.get("lbfgs", {}).get("rho"), 5)]  # fmt: skip
    fig, ax = plt.subplots(figsize=(8, 3.4))
    width = 0.8 / (2 * len(methods))
    colours = plt.rcParams["axes.prop_cycle"].by_key()["color"]
    for j, (name, ours, column) in enumerate(methods):
        papers = [PAPER_TABLE1.get(_paper_key(r["row"])) for r in result.rows]
        xs = [i + (2 * j - len(methods) + 0.5) * width for i in range(len(result.rows))]
        ax.bar(xs, [ours(r) or 0.0 for r in result.rows], width, color=colours[j], label=f"{name} (ours)")
        ax.bar([x + width for x in xs], [(p[column] or 0.0) if p else 0.0 for p in papers], width,
               color=colours[j], alpha=0.45, hatch="//", label=f"{name} (paper)")  # fmt: skip
    ax.set_xticks(range(len(result.rows)), [r["row"] for r in result.rows], fontsize=8)
    ax.set_ylabel("rho_adv (l2)")
    ax.legend(fontsize=7, ncol=3)
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)
