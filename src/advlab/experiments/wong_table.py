"""Table 1 of Wong & Kolter (ICML 2018), "Provable defenses against adversarial examples via the
convex outer adversarial polytope": test error, FGSM error, PGD error and the certified robust
error bound of a normally trained and a robustly trained (dual-network loss) classifier.

Quick scale: wong-small on mnist-5k (4,000 training digits), 10 normal and 7 robust epochs,
robust training with 10 Cauchy projections (Wong et al. 2018) and eps ramped from 0.01 to 0.1
over the first half, exact certification of the first 500 test digits. Demo scale: 3 and 2 epochs, 100 test digits. Paper scale: MNIST,
Fashion-MNIST and SVHN (and HAR when a "har" dataset is registered), the paper's small conv net,
20 epochs of Adam (lr 1e-3, batch 50) with the same eps ramp, exact bounds.

Beside PGD, the worst case of the standard suite (`advlab.evaluate.robust_accuracy`, Croce &
Hein 2020) on the first `suite_samples` test samples: it never exceeds the certified bound on
the same samples (a certified ball holds no misclassified point) and should break what PGD does.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

from torch import nn

from advlab import data as datasets
from advlab.experiments.base import ExperimentConfig
from advlab.report.figures import pyplot, save_figure
from advlab.report.rendered import Figure, Rendered
from advlab.report.tables import Table
from advlab.train import TrainConfig
from advlab.zoo.cache import config_key, model_args_for
from advlab.zoo.context import RunContext
from advlab.zoo.worst_case import SUITE_DESCRIPTION, run_suite

if TYPE_CHECKING:
    from torch import Tensor

    from advlab.defenses.certify.evaluate import SampleCertificates
    from advlab.defenses.certify.training import RobustBatchLoss

NAME = "wong-table"
TITLE = "Provable defence: errors and certified robust error bound (Wong & Kolter Table 1)"
PAPER = "Wong & Kolter 2018 (ICML), Table 1"

METRICS = ("test_error", "fgsm_error", "pgd_error", "robust_error_bound")
SUITE_SAMPLES = 100  # quick scale's suite subset (the suite costs ~1,900 gradient steps a point)


@dataclass(frozen=True)
class PaperErrors:
    """One row of the paper's Table 1, in %."""

    test_error: float
    fgsm_error: float
    pgd_error: float
    robust_error_bound: float


# dataset -> robust? -> the paper's errors
PAPER_NUMBERS: dict[str, dict[bool, PaperErrors]] = {
    "mnist": {False: PaperErrors(1.07, 50.01, 81.68, 100.0),
              True: PaperErrors(1.80, 3.93, 4.11, 5.82)},
    "fashion-mnist": {False: PaperErrors(9.36, 77.98, 81.85, 100.0),
                      True: PaperErrors(21.73, 31.25, 31.63, 34.53)},
    "har": {False: PaperErrors(4.95, 60.57, 63.82, 81.56),
            True: PaperErrors(7.80, 21.49, 21.52, 21.90)},
    "svhn": {False: PaperErrors(16.01, 62.21, 83.43, 100.0),
             True: PaperErrors(20.38, 33.28, 33.74, 40.67)},
}
PAPER_DATASET = {"mnist-5k": "mnist"}  # quick-scale stand-ins
PAPER_TEST_SAMPLES = {"mnist": 10_000, "fashion-mnist": 10_000, "har": 2_947, "svhn": 26_032}
"""Size of each dataset's standard test split, on which the paper's Table 1 is evaluated."""

TRAINING = TrainConfig(epochs=10, batch_size=50, optimizer="adam", lr=2e-3, schedule="constant")
"""Quick scale's training: a few CPU minutes for 7 robust epochs of 4,000 digits with 10 Cauchy
projections; Adam at lr 2e-3 (the paper's 1e-3 is for 20 epochs of 60,000 digits, 12x the
steps); measured against 2 epochs with 50 projections (bound 39.5% -> 13-15%, same time)."""


@dataclass(frozen=True)
class Config(ExperimentConfig):
    """rows: "dataset@eps" problems; each gets a normal and a robust row.

    training: the normal model's training (Adam, its lr, batch size and seed; the batch size
    also batches the evaluation); robust_epochs: the robust model's epochs, otherwise trained
    the same way. eps_start, warmup_fraction: the robust loss's eps ramp. projections: Cauchy
    projections for robust training (0 = exact bounds). n_test: test samples evaluated (the
    first n of the test split). pgd_steps: PGD iterations of the attack columns. train_limit:
    train on a seeded random subset of this many samples (0 = the whole train split).
    """

    rows: tuple[str, ...] = ("mnist-5k@0.1",)
    model: str = "wong-small"
    training: TrainConfig = TRAINING
    robust_epochs: int = 7
    eps_start: float = 0.01
    warmup_fraction: float = 0.5
    projections: int = 10
    n_test: int = 500
    pgd_steps: int = 40
    train_limit: int = 0
    suite_samples: int = SUITE_SAMPLES

    @classmethod
    def demo(cls) -> Config:
        """`make demo` size (under a minute from an empty cache): 2 robust epochs, 100 test
        digits, PGD with 20 steps, the suite on the first 20."""
        return cls(training=replace(TRAINING, epochs=3), robust_epochs=2, n_test=100,
                   pgd_steps=20, suite_samples=20)

    @classmethod
    def paper(cls) -> Config:
        rows = ["mnist@0.1", "fashion-mnist@0.1", "svhn@0.01"]
        if "har" in _registered_datasets():
            rows.insert(2, "har@0.05")
        return cls(rows=tuple(rows), training=replace(TRAINING, epochs=20, lr=1e-3),
                   robust_epochs=20, projections=0, n_test=10_000, suite_samples=1000)


@dataclass
class Row:
    """Errors in % of one (problem, training) on n_test samples, the paper's beside each
    (None where the paper has no such row)."""

    data: str
    robust: bool
    eps: float
    n_test: int
    test_error: float
    paper_test_error: float | None
    fgsm_error: float
    paper_fgsm_error: float | None
    pgd_error: float
    paper_pgd_error: float | None
    robust_error_bound: float
    paper_robust_error_bound: float | None
    suite: SuiteColumn | None = None

    def ours(self) -> list[float]:
        return [getattr(self, metric) for metric in METRICS]

    def paper(self) -> list[float | None]:
        return [getattr(self, f"paper_{metric}") for metric in METRICS]


@dataclass
class SuiteColumn:
    """The worst-case suite on the first n of the row's samples, errors in % of those n:
    `error` (clean mistakes included, like PGD's), and on the same samples `pgd_error` and
    `bound`; per point, `certified_broken` certified points the suite broke (0 for a sound
    bound) and `pgd_missed` points PGD broke that the suite left robust; `warnings`: the
    suite's checks that fired."""

    n: int
    error: float
    pgd_error: float
    bound: float
    certified_broken: int
    pgd_missed: int
    warnings: list[str]


@dataclass
class Settings:
    """What the caption states: training samples per dataset and the training and
    evaluation settings."""

    train_samples: dict[str, int]
    epochs: int
    robust_epochs: int
    lr: float
    schedule: str
    eps_start: float
    warmup_fraction: float
    projections: int
    pgd_steps: int
    model: str
    suite_samples: int = 0


@dataclass
class Result:
    """rows: one per (problem, training), ours and the paper's errors; settings: the caption's."""

    rows: list[Row]
    settings: Settings


def _registered_datasets() -> list[str]:
    return [name for name in ("mnist", "fashion-mnist", "svhn", "har") if name in datasets.DATASETS]


def parse_row(row: str) -> tuple[str, float]:
    """ "mnist-5k@0.1" -> ("mnist-5k", 0.1); clear error otherwise."""
    dataset, sep, eps = row.partition("@")
    try:
        value = float(eps)
    except ValueError:
        value = -1.0
    if not sep or not dataset or value <= 0:
        raise ValueError(f"row {row!r} must look like 'dataset@eps' with eps > 0, "
                         "e.g. 'mnist-5k@0.1'")
    return dataset, value


def trained_model(ctx: RunContext, config: Config, dataset: str, eps: float, robust: bool) -> nn.Module:
    """A wong-table model, normal or robustly trained at `eps` (Wong & Kolter's loss with the
    config's eps ramp and projections), trained by `advlab.train.fit` into ctx.cache_dir, keyed
    by the content of its settings; loaded when already there (benchmarks share the cache)."""
    import torch

    from advlab import models
    from advlab.defenses.certify.training import RobustBatchLoss
    from advlab.models.checkpoint import CHECKPOINT_FILE, CheckpointError, read_checkpoint
    from advlab.train import cross_entropy_loss, fit

    cfg = config.training
    robust_loss: RobustBatchLoss | None = None
    if robust:
        robust_loss = RobustBatchLoss(eps, eps_start=min(config.eps_start, eps), warmup_fraction=config.warmup_fraction,
                                      projections=config.projections or None)  # fmt: skip
        cfg = replace(cfg, epochs=config.robust_epochs)
    args = model_args_for(config.model, dataset)
    loss_name = robust_loss.describe() if robust_loss is not None else "standard"
    spec = {"experiment": NAME, "model": config.model, "model_args": args, "data": dataset,
            "train": cfg.to_dict(), "loss": loss_name, "limit": config.train_limit}
    folder = ctx.cache_dir / f"{NAME}-{config.model}-{dataset}-{config_key(spec)}"
    resume = False  # a checkpoint short of the last epoch: a stopped run, continued below
    if (folder / CHECKPOINT_FILE).exists():
        try:
            if read_checkpoint(folder / CHECKPOINT_FILE).meta.get("epoch", 0) >= cfg.epochs:
                return models.load_checkpoint(folder, device=ctx.device)
            resume = True
        except CheckpointError:
            pass  # unusable cache entry: train again below
    train = datasets.load(dataset, "train", root=ctx.data_root)
    limit = config.train_limit or None
    x, y = datasets.as_tensors(train, limit=limit, seed=cfg.seed if limit else None)
    torch.manual_seed(cfg.seed)
    net = models.create(config.model, **args).to(ctx.device)
    fit(net, (x, y), None, cfg, folder, batch_loss=robust_loss or cross_entropy_loss,
        meta={"model": config.model, "model_args": args, "dataset": dataset, "cache_spec": spec},
        progress=ctx.reporter, resume=resume)
    return net.eval()


def run(config: Config, ctx: RunContext) -> Result:
    """Train (or load from the cache) a normal and a robust model per row and evaluate both."""
    from advlab.defenses.certify.evaluate import certify_samples

    settings = _settings(config, ctx)
    rows: list[Row] = []
    for row in ctx.progress(config.rows, "wong-table rows"):
        dataset, eps = parse_row(row)
        test = datasets.load(dataset, "test", root=ctx.data_root)
        x, y = datasets.as_tensors(test, limit=config.n_test)
        x, y = x.to(ctx.device), y.to(ctx.device)
        for robust in (False, True):
            model = trained_model(ctx, config, dataset, eps, robust)
            samples = certify_samples(model, x, y, eps, batch_size=config.training.batch_size,
                                      pgd_steps=config.pgd_steps, seed=config.training.seed,
                                      progress=ctx.reporter)
            scores = samples.metrics(eps)
            paper = PAPER_NUMBERS.get(PAPER_DATASET.get(dataset, dataset), {}).get(robust)
            errors: dict[str, Any] = {}  # ours in %, each beside the paper's
            for metric in METRICS:
                errors[metric] = 100.0 * scores[metric]
                errors[f"paper_{metric}"] = getattr(paper, metric) if paper else None
            suite = (_suite_column(model, x, y, eps, samples, config, ctx)
                     if config.suite_samples > 0 else None)
            rows.append(Row(data=dataset, robust=robust, eps=eps, n_test=int(scores["n"]),
                            suite=suite, **errors))
    return Result(rows, settings)


def _suite_column(model: nn.Module, x: Tensor, y: Tensor, eps: float,
                  samples: SampleCertificates, config: Config, ctx: RunContext) -> SuiteColumn:
    """The suite on the first suite_samples of (x (N, C, H, W), y (N,)), compared point by point
    with the certificates and PGD outcomes of the same samples."""
    m = min(config.suite_samples, len(y))
    found = run_suite(model, x[:m], y[:m], eps, seed=config.training.seed,
                      batch_size=config.training.batch_size, progress=ctx.reporter)
    broken = ~found.robust  # (m,) misclassified at some point found (clean mistakes included)
    certified, pgd_wrong = samples.certified[:m], samples.pgd_wrong[:m]  # (m,) each
    return SuiteColumn(
        n=m, error=100 * float(broken.float().mean()),
        pgd_error=100 * float(pgd_wrong.float().mean()),
        bound=100 * float((~certified).float().mean()),
        certified_broken=int((certified & broken).sum()),
        pgd_missed=int((pgd_wrong & ~broken).sum()), warnings=list(found.warnings))


def _settings(config: Config, ctx: RunContext) -> Settings:
    """What the caption states: training set sizes and the training/evaluation settings."""
    sizes = {}
    for row in config.rows:
        dataset = parse_row(row)[0]
        try:
            train = len(datasets.load(dataset, "train", root=ctx.data_root))
        except Exception:  # a dataset that is not there: run() will say so
            continue
        sizes[dataset] = min(train, config.train_limit) if config.train_limit else train
    return Settings(train_samples=sizes, epochs=config.training.epochs,
                    robust_epochs=config.robust_epochs, lr=config.training.lr,
                    schedule=config.training.schedule, eps_start=config.eps_start,
                    warmup_fraction=config.warmup_fraction, projections=config.projections,
                    pgd_steps=config.pgd_steps, model=config.model,
                    suite_samples=config.suite_samples)


def _epochs(n: int) -> str:
    return f"{n} epoch" if n == 1 else f"{n} epochs"


SHORT = {"test_error": "test", "fgsm_error": "FGSM", "pgd_error": "PGD",
         "robust_error_bound": "bound"}
COLUMNS = ["test", "FGSM", "PGD", "suite", "bound"]  # the suite between PGD and the bound


def _table(result: Result) -> Table:
    """Ours and the paper's errors in adjacent rows: 9 short columns (fits 80 columns)."""
    rows: list[list[Any]] = []
    for r in result.rows:
        training = "robust" if r.robust else "normal"
        test, fgsm, pgd, bound = (round(v, 1) for v in r.ours())
        source = f"ours, n={r.n_test}" + (f"; suite n={r.suite.n}" if r.suite else "")
        suite = round(r.suite.error, 1) if r.suite else None
        rows.append([r.data, training, r.eps, source, test, fgsm, pgd, suite, bound])
        if any(v is not None for v in r.paper()):
            paper_data = PAPER_DATASET.get(r.data, r.data)
            *attacked, paper_bound = r.paper()  # test, FGSM, PGD; the paper has no suite
            rows.append([paper_data, training, r.eps,
                         f"paper, n={PAPER_TEST_SAMPLES[paper_data]}", *attacked, None,
                         paper_bound])
    s = result.settings
    train = ", ".join(f"{n:,} {d}" for d, n in s.train_samples.items()) or "the train split"
    projections = f"{s.projections} Cauchy projections" if s.projections else "exact bounds"
    caption = (
        "Errors in % of the n test samples. bound: the robust error bound, the fraction not "
        "certified by the exact dual network at eps (no attack in the ball can do worse); "
        "FGSM/PGD include clean mistakes. "
        f"Ours: {s.model} trained on {train} samples (Adam, lr {s.lr}, {s.schedule} schedule), "
        f"normal {_epochs(s.epochs)}, robust {_epochs(s.robust_epochs)} with eps ramped from "
        f"{s.eps_start} over the first {100 * s.warmup_fraction:.0f}% and {projections}; PGD "
        f"{s.pgd_steps} steps. " + _suite_caption(result) + "Paper: the full training set, "
        "20 epochs, exact bounds, the full test set; it has no suite column."
    )
    return Table(TITLE + " (errors in %)", ["data", "training", "eps", "source", *COLUMNS],
                 rows, caption=caption)


def _suite_caption(result: Result) -> str:
    """What the suite column is, and per row PGD and the bound on the suite's own samples."""
    with_suite = [r for r in result.rows if r.suite is not None]
    if not with_suite:
        return ""
    per_row = "; ".join(
        f"{r.data} {'robust' if r.robust else 'normal'}: PGD {r.suite.pgd_error:.1f}, bound "
        f"{r.suite.bound:.1f}, {r.suite.certified_broken} certified points broken, "
        f"{r.suite.pgd_missed} PGD points missed"
        for r in with_suite if r.suite is not None)
    warnings = sorted({w for r in with_suite if r.suite for w in r.suite.warnings})
    checks = ("checks that fired: " + " | ".join(warnings)) if warnings else "no check fired"
    return (f"suite: worst-case error (clean mistakes included) under the standard suite "
            f"({SUITE_DESCRIPTION}) at the row's eps, on the first n (suite n) of the test "
            f"samples; on those samples, {per_row}; {checks} (Croce & Hein 2020). ")


def errors_figure(result: Result) -> Any:
    """The matplotlib Figure of one bar chart per row: our four errors (filled, labelled) beside
    the paper's (hatched) where the paper has the row."""
    panels = max(len(result.rows), 1)
    fig, axes = pyplot().subplots(1, panels, figsize=(4.2 * panels, 3.4), sharey=True,
                                  squeeze=False)
    positions = range(len(METRICS))
    for ax, r in zip(axes[0], result.rows, strict=False):
        ours, paper = r.ours(), r.paper()
        ax.bar([p - 0.2 for p in positions], ours, 0.4, label=f"ours ({r.data}, n={r.n_test})")
        if any(v is not None for v in paper):
            paper_data = PAPER_DATASET.get(r.data, r.data)
            ax.bar([p + 0.2 for p in positions], [v or 0.0 for v in paper], 0.4, fill=False,
                   hatch="//", label=f"paper ({paper_data}, n={PAPER_TEST_SAMPLES[paper_data]})")
        for p, v in zip(positions, ours, strict=True):
            ax.text(p - 0.2, v + 1.5, f"{v:.1f}" if v < 10 else f"{v:.0f}", ha="center",
                    fontsize=7)
        ax.set_xticks(list(positions), list(SHORT.values()))
        training = "robust" if r.robust else "normal"
        ax.set_title(f"{r.data}, {training} training, eps {r.eps}", fontsize=9)
        ax.set_ylim(0, 108)
        ax.legend(fontsize=7, loc="upper left")
    axes[0][0].set_ylabel("error (%)")
    return fig


def render(result: Result, out_dir: Path) -> Rendered:
    """Table 1 with the paper's rows beside ours, and bar charts of ours against the paper's."""
    save_figure(errors_figure(result), out_dir / "wong_table.png")
    caption = ("Test, FGSM and PGD errors and the robust error bound (%): ours (filled) beside "
               "the paper's (hatched)")
    return Rendered([_table(result)], [Figure("wong_table.png", caption)])
