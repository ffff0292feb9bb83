"""Test error of the lecture's classifiers: the first column of DeepFool's Table 1
(Moosavi-Dezfooli et al. 2016) and of Wong & Kolter's Table 1 (2018, non-robust rows).

Quick scale trains on the embedded mnist-5k (4,000 training digits), so its errors are those
of a 5k-sample MNIST, not of full MNIST; paper scale trains on the full datasets.

Beside the test error: robust accuracy under the worst-case suite (`advlab.evaluate`, Croce &
Hein 2020) on the first `suite_samples` test images at the lecture's l_inf radius for the
dataset (`advlab.zoo.worst_case.LECTURE_EPS`: 0.1 on MNIST-like digits, Wong & Kolter's Table 1).
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import TYPE_CHECKING

from advlab import data as datasets
from advlab.experiments.base import ExperimentConfig
from advlab.report.figures import pyplot, save_figure
from advlab.report.rendered import Figure, Rendered
from advlab.report.tables import Table
from advlab.train import TrainConfig, evaluate
from advlab.zoo.cache import CLASSIFIER_TRAINING, DEMO_TRAINING, trained_classifier
from advlab.zoo.context import RunContext
from advlab.zoo.worst_case import (
    SUITE_DESCRIPTION,
    SuiteSummary,
    checks_sentence,
    lecture_eps,
    run_suite,
)

if TYPE_CHECKING:
    import matplotlib.figure

NAME = "classifier-baselines"
TITLE = "Test error of the lecture's classifiers"
PAPER = "Moosavi-Dezfooli et al. 2016 (DeepFool), Table 1; Wong & Kolter 2018, Table 1"


@dataclass(frozen=True)
class PaperError:
    """A test error the paper reports (%), and which table it is from."""

    test_error: float
    source: str


# (model, dataset the paper used) -> the paper's test error
PAPER_ERRORS: dict[tuple[str, str], PaperError] = {
    ("lenet", "mnist"): PaperError(1.0, "DeepFool T1"),
    ("fc500-150-10", "mnist"): PaperError(1.7, "DeepFool T1"),
    ("nin", "cifar10"): PaperError(11.5, "DeepFool T1"),
    ("lenet-cifar", "cifar10"): PaperError(22.6, "DeepFool T1"),
    ("wong-small", "mnist"): PaperError(1.07, "Wong-Kolter T1"),
    ("wong-small", "fashion-mnist"): PaperError(9.36, "Wong-Kolter T1"),
    ("wong-small", "svhn"): PaperError(16.01, "Wong-Kolter T1"),
}
PAPER_DATASET = {"mnist-5k": "mnist"}  # quick-scale stand-ins for the paper's datasets


@dataclass(frozen=True)
class Config(ExperimentConfig):
    """rows: "model@dataset" pairs; each model is trained on the dataset's train split with
    `training` (shared with every experiment that trains these classifiers, so the cached
    models are shared: SGD with momentum 0.9, 10 epochs at lr 0.05 decayed by a cosine; its
    fields are overridden as ``--epochs 20``, ``--lr 0.1``, ...). suite_samples: the
    worst-case suite attacks the first this many test images (0: no suite column); suite_eps:
    its l_inf radius, 0 for the lecture's radius of each row's dataset (LECTURE_EPS)."""

    rows: tuple[str, ...] = ("lenet@mnist-5k", "fc500-150-10@mnist-5k", "wong-small@mnist-5k")
    training: TrainConfig = CLASSIFIER_TRAINING
    suite_samples: int = 100
    suite_eps: float = 0.0

    @classmethod
    def demo(cls) -> Config:
        """`make demo`: the same rows, trained for DEMO_TRAINING's 2 epochs; no worst-case suite
        (deepfool-table's demo shows it on the same LeNet and FC500, within the demo's time)."""
        return cls(training=DEMO_TRAINING, suite_samples=0)

    @classmethod
    def paper(cls) -> Config:
        return cls(
            rows=(
                "lenet@mnist", "fc500-150-10@mnist", "nin@cifar10", "lenet-cifar@cifar10",
                "wong-small@mnist", "wong-small@fashion-mnist", "wong-small@svhn",
            ),
            training=replace(CLASSIFIER_TRAINING, epochs=30), suite_samples=1000,
        )


@dataclass
class Row:
    """One classifier: our test error (%) beside the paper's (None where it has none), and
    the worst-case suite on the first suite.n test images (None: not run)."""

    model: str
    data: str
    test_error: float
    paper_error: float | None
    paper_source: str | None
    n_test: int
    train_seconds: float
    suite: SuiteSummary | None = None


@dataclass
class Result:
    rows: list[Row] = field(default_factory=list)


def parse_row(row: str) -> tuple[str, str]:
    model, sep, dataset = row.partition("@")
    if not sep or not model or not dataset:
        raise ValueError(f"row {row!r} must look like 'model@dataset', e.g. 'lenet@mnist-5k'")
    return model, dataset


def paper_error(model: str, dataset: str) -> PaperError | None:
    """The paper's test error of `model` on `dataset` (or the paper dataset it stands in for)."""
    return PAPER_ERRORS.get((model, PAPER_DATASET.get(dataset, dataset)))


def run(config: Config, ctx: RunContext) -> Result:
    """Train (or load from the cache) each row's model and measure its test error."""
    result = Result()
    for row in ctx.progress(config.rows, "classifiers"):
        model_name, dataset = parse_row(row)
        start = time.perf_counter()
        model = trained_classifier(ctx, model_name, dataset, config.training)
        seconds = time.perf_counter() - start
        scores = evaluate(model, datasets.load(dataset, "test", root=ctx.data_root))
        paper = paper_error(model_name, dataset)
        suite = None
        if config.suite_samples > 0:
            x, y = datasets.as_tensors(datasets.load(dataset, "test", root=ctx.data_root),
                                       limit=config.suite_samples)
            eps = config.suite_eps or lecture_eps(dataset)
            suite = SuiteSummary.of(run_suite(model, x.to(ctx.device), y.to(ctx.device), eps,
                                              seed=config.training.seed, progress=ctx.reporter))
        result.rows.append(Row(
            model=model_name, data=dataset, test_error=100 * scores.error,
            paper_error=paper.test_error if paper else None,
            paper_source=paper.source if paper else None,
            n_test=scores.n, train_seconds=round(seconds, 2), suite=suite,
        ))
    return result


def test_error_figure(result: Result) -> matplotlib.figure.Figure:
    """Bars of the test error per classifier, ours beside the paper's (0 where it has none)."""
    plt = pyplot()
    fig, ax = plt.subplots(figsize=(7, 3.2))
    labels = [f"{r.model}\n{r.data}" for r in result.rows]
    xs = range(len(labels))
    ax.bar([x - 0.2 for x in xs], [r.test_error for r in result.rows], 0.4, label="ours")
    ax.bar([x + 0.2 for x in xs], [r.paper_error or 0 for r in result.rows], 0.4, label="paper")
    ax.set_xticks(list(xs), labels, fontsize=8)
    ax.set_ylabel("test error (%)")
    ax.legend()
    return fig


def render(result: Result, out_dir: Path) -> Rendered:
    """A table (ours beside the paper's) and a bar chart of the test errors."""
    suite = [r.suite for r in result.rows if r.suite is not None]
    table = Table(
        TITLE,
        ["model", "data", "test error % (ours)", "test error % (paper)", "source", "test samples",
         "suite eps", "robust accuracy % (suite)"],
        [[r.model, r.data, round(r.test_error, 1), r.paper_error, r.paper_source, r.n_test,
          round(r.suite.eps, 4) if r.suite else None,
          round(r.suite.robust_accuracy, 1) if r.suite else None]
         for r in result.rows],
        caption="Test error % (one decimal) on every test sample of the row's data. "
        + (f"Robust accuracy: under the worst-case suite ({SUITE_DESCRIPTION}) in the l_inf "
           f"ball of radius suite eps, on the first {suite[0].n} test images; suite eps: by default "
           "the lecture's radius for the dataset (0.1 on MNIST digits: Wong & Kolter's Table 1, "
           "where such normally trained models are the non-robust rows); no paper value. " if suite else "")
        + checks_sentence([(f"{r.model}@{r.data}", r.suite.warnings)
                           for r in result.rows if r.suite is not None])
        + ("mnist-5k has 4,000 training digits, so higher errors than the paper's are "
           "expected on it. " if any(r.data == "mnist-5k" for r in result.rows) else "")
        + "deepfool-table reports the same models' error on its attacked subset of the test "
        "split. Paper numbers are for the full datasets (MNIST: 60,000 training images).",
    )
    save_figure(test_error_figure(result), out_dir / "test_error.png")
    return Rendered([table], [Figure("test_error.png", "Test error, ours against the paper's")])
