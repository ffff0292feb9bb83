"""Test error of the lecture's classifiers: the first column of DeepFool's Table 1
(Moosavi-Dezfooli et al. 2016) and of Wong & Kolter's Table 1 (2018, non-robust rows).

Quick scale trains on the embedded mnist-5k (4,000 training digits), so its errors are those
of a 5k-sample MNIST, not of full MNIST; paper scale trains on the full datasets.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from advlab import data as datasets
from advlab.experiments.base import Figure, Rendered, RunContext
from advlab.experiments.cache import CLASSIFIER_TRAINING, DEMO_TRAINING, trained_classifier
from advlab.tables import Table
from advlab.train import TrainConfig, evaluate

NAME = "classifier-baselines"
TITLE = "Test error of the lecture's classifiers"
PAPER = "Moosavi-Dezfooli et al. 2016 (DeepFool), Table 1; Wong & Kolter 2018, Table 1"

# (model, dataset the paper used) -> (test error in %, source)
PAPER_ERRORS: dict[tuple[str, str], tuple[float, str]] = {
    ("lenet", "mnist"): (1.0, "DeepFool T1"),
    ("fc500-150-10", "mnist"): (1.7, "DeepFool T1"),
    ("nin", "cifar10"): (11.5, "DeepFool T1"),
    ("lenet-cifar", "cifar10"): (22.6, "DeepFool T1"),
    ("wong-small", "mnist"): (1.07, "Wong-Kolter T1"),
    ("wong-small", "fashion-mnist"): (9.36, "Wong-Kolter T1"),
    ("wong-small", "svhn"): (16.01, "Wong-Kolter T1"),
}
PAPER_DATASET = {"mnist-5k": "mnist"}  # quick-scale stand-ins for the paper's datasets


@dataclass(frozen=True)
class Config:
    """rows: "model@dataset" pairs; each model is trained on the dataset's train split with
    `training` (shared with every experiment that trains these classifiers, so the cached
    models are shared: SGD with momentum 0.9, 10 epochs at lr 0.05 decayed by a cosine; its
    fields are overridden as ``--epochs 20``, ``--lr 0.1``, ...)."""

    rows: tuple[str, ...] = ("lenet@mnist-5k", "fc500-150-10@mnist-5k", "wong-small@mnist-5k")
    training: TrainConfig = CLASSIFIER_TRAINING

    @classmethod
    def demo(cls) -> Config:
        """`make demo`: the same rows, trained for DEMO_TRAINING's 2 epochs."""
        return cls(training=DEMO_TRAINING)

    @classmethod
    def quick(cls) -> Config:
        return cls()

    @classmethod
    def paper(cls) -> Config:
        return cls(
            rows=("lenet@mnist", "fc500-150-10@mnist", "nin@cifar10", "lenet-cifar@cifar10",
                  "wong-small@mnist", "wong-small@fashion-mnist", "wong-small@svhn"),
            training=replace(CLASSIFIER_TRAINING, epochs=30),
        )  # fmt: skip


@dataclass
class Result:
    rows: list[dict[str, Any]] = field(default_factory=list)


def parse_row(row: str) -> tuple[str, str]:
    model, sep, dataset = row.partition("@")
    if not sep or not model or not dataset:
        raise ValueError(f"row {row!r} must look like 'model@dataset', e.g. 'lenet@mnist-5k'")
    return model, dataset


def run(config: Config, ctx: RunContext) -> Result:
    """Train (or load from the cache) each row's model and measure its test error."""
    result = Result()
    for row in ctx.progress(config.rows, "classifiers"):
        model_name, dataset = parse_row(row)
        start = time.perf_counter()
        model = trained_classifier(ctx, model_name, dataset, config.training)
        seconds = time.perf_counter() - start
        scores = evaluate(model, datasets.load(dataset, "test", root=ctx.data_root))
        paper = PAPER_ERRORS.get((model_name, PAPER_DATASET.get(dataset, dataset)))
        result.rows.append({
            "model": model_name, "data": dataset, "test_error": 100 * scores.error,
            "paper_error": paper[0] if paper else None, "paper_source": paper[1] if paper else None,
            "n_test": scores.n, "train_seconds": round(seconds, 2),
        })  # fmt: skip
    return result


def render(result: Result, out_dir: Path) -> Rendered:
    """A table (ours beside the paper's) and a bar chart of the test errors."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    table = Table(
        TITLE,
        ["model", "data", "test error % (ours)", "test error % (paper)", "source", "test samples"],
        [[r["model"], r["data"], r["test_error"], r["paper_error"], r["paper_source"], r["n_test"]]
         for r in result.rows],  # fmt: skip
        caption="Paper numbers are for the full datasets; quick scale uses mnist-5k (4,000 "
        "training digits), so higher errors are expected there.",
    )
    fig, ax = plt.subplots(figsize=(7, 3.2))
    labels = [f"{r['model']}\n{r['data']}" for r in result.rows]
    xs = range(len(labels))
    ax.bar([x - 0.2 for x in xs], [r["test_error"] for r in result.rows], 0.4, label="ours")
    ax.bar([x + 0.2 for x in xs], [r["paper_error"] or 0 for r in result.rows], 0.4, label="paper")
    ax.set_xticks(list(xs), labels, fontsize=8)
    ax.set_ylabel("test error (%)")
    ax.legend()
    fig.tight_layout()
    fig.savefig(out_dir / "test_error.png", dpi=120)
    plt.close(fig)
    return Rendered([table], [Figure("test_error.png", "Test error, ours against the paper's")])
