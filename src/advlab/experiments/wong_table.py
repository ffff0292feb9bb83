"""Table 1 of Wong & Kolter (ICML 2018), "Provable defenses against adversarial examples via the
convex outer adversarial polytope": test error, FGSM error, PGD error and the certified robust
error bound of a normally trained and a robustly trained (dual-network loss) classifier.

Quick scale: wong-small on the embedded mnist-5k (4,000 training digits), 10 normal and 7 robust
epochs, robust training with 10 Cauchy projections (Wong et al. 2018, "Scaling provable
adversarial defenses") and eps ramped from 0.01 to 0.1 over the first half, exact certification
of the first 500 test digits. Demo scale: 3 and 2 epochs, 100 test digits. Paper scale: MNIST,
Fashion-MNIST and SVHN (and HAR when a "har" dataset is registered), the paper's small conv net,
20 epochs of Adam (lr 1e-3, batch 50) with the same eps ramp, exact bounds.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from advlab import data as datasets
from advlab.experiments.base import Figure, Rendered, RunContext
from advlab.experiments.cache import config_key, model_args_for
from advlab.tables import Table

NAME = "wong-table"
TITLE = "Provable defence: errors and certified robust error bound (Wong & Kolter Table 1)"
PAPER = "Wong & Kolter 2018 (ICML), Table 1"

# dataset -> robust? -> (test error, FGSM error, PGD error, robust error bound), in %.
PAPER_NUMBERS: dict[str, dict[bool, tuple[float, float, float, float]]] = {
    "mnist": {False: (1.07, 50.01, 81.68, 100.0), True: (1.80, 3.93, 4.11, 5.82)},
    "fashion-mnist": {False: (9.36, 77.98, 81.85, 100.0), True: (21.73, 31.25, 31.63, 34.53)},
    "har": {False: (4.95, 60.57, 63.82, 81.56), True: (7.80, 21.49, 21.52, 21.90)},
    "svhn": {False: (16.01, 62.21, 83.43, 100.0), True: (20.38, 33.28, 33.74, 40.67)},
}
PAPER_DATASET = {"mnist-5k": "mnist"}  # quick-scale stand-ins
PAPER_TEST_SAMPLES = {"mnist": 10_000, "fashion-mnist": 10_000, "har": 2_947, "svhn": 26_032}
"""Size of each dataset's standard test split, on which the paper's Table 1 is evaluated."""
METRICS = ("test_error", "fgsm_error", "pgd_error", "robust_error_bound")


@dataclass(frozen=True)
class Config:
    """rows: "dataset@eps" problems; each gets a normal and a robust row.

    epochs / robust_epochs: training epochs of the normal and the robust model (Adam, `lr`,
    `batch_size`). eps_start, warmup_fraction: the robust loss's eps ramp. projections: Cauchy
    projections for robust training (0 = exact bounds). n_test: test samples evaluated (the
    first n of the test split). pgd_steps: PGD iterations of the attack columns. train_limit:
    train on a seeded random subset of this many samples (0 = the whole train split).
    """

    rows: tuple[str, ...] = ("mnist-5k@0.1",)
    model: str = "wong-small"
    epochs: int = 10
    robust_epochs: int = 7
    lr: float = 2e-3
    schedule: str = "constant"
    batch_size: int = 50
    eps_start: float = 0.01
    warmup_fraction: float = 0.5
    projections: int = 10
    n_test: int = 500
    pgd_steps: int = 40
    train_limit: int = 0
    seed: int = 0

    @classmethod
    def quick(cls) -> Config:
        """A few CPU minutes: 7 robust epochs of 4,000 digits with 10 Cauchy projections and
        Adam at lr 2e-3 (the paper's 1e-3 is for 20 epochs of 60,000 digits, 12x the steps);
        measured against 2 epochs with 50 projections (bound 39.5% -> 13-15%, same time)."""
        return cls()

    @classmethod
    def demo(cls) -> Config:
        """`make demo` size (under a minute from an empty cache): 2 robust epochs, 100 test
        digits, PGD with 20 steps."""
        return cls(epochs=3, robust_epochs=2, n_test=100, pgd_steps=20)

    @classmethod
    def paper(cls) -> Config:
        rows = ["mnist@0.1", "fashion-mnist@0.1", "svhn@0.01"]
        if "har" in _registered_datasets():
            rows.insert(2, "har@0.05")
        return cls(rows=tuple(rows), epochs=20, robust_epochs=20, lr=1e-3, projections=0, n_test=10_000)


@dataclass
class Result:
    """rows: one per (problem, training) with our errors in % and the paper's beside them;
    settings: the training and evaluation settings the caption states."""

    rows: list[dict[str, Any]] = field(default_factory=list)
    settings: dict[str, Any] = field(default_factory=dict)


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
        raise ValueError(f"row {row!r} must look like 'dataset@eps' with eps > 0, e.g. 'mnist-5k@0.1'")
    return dataset, value


def _trained(ctx: RunContext, config: Config, dataset: str, robust_loss: Any | None) -> Any:
    """A wong-table model trained by `advlab.train.fit` into ctx.cache_dir, keyed by the content
    of its settings (normal training when `robust_loss` is None); loaded when already there."""
    import torch

    from advlab import models
    from advlab.models.checkpoint import CHECKPOINT_FILE, CheckpointError
    from advlab.train import TrainConfig, cross_entropy_loss, fit

    epochs = config.robust_epochs if robust_loss is not None else config.epochs
    args = model_args_for(config.model, dataset)
    cfg = TrainConfig(epochs=epochs, batch_size=config.batch_size, optimizer="adam", lr=config.lr,
                      schedule=config.schedule,  # type: ignore[arg-type]  # checked by TrainConfig
                      seed=config.seed)  # fmt: skip
    loss_name = robust_loss.describe() if robust_loss is not None else "standard"
    spec = {"experiment": NAME, "model": config.model, "model_args": args, "data": dataset,
            "train": cfg.to_dict(), "loss": loss_name, "limit": config.train_limit}  # fmt: skip
    folder = ctx.cache_dir / f"{NAME}-{config.model}-{dataset}-{config_key(spec)}"
    if (folder / CHECKPOINT_FILE).exists():
        try:
            return models.load_checkpoint(folder, device=ctx.device)
        except CheckpointError:
            pass  # unusable cache entry: train again below
    train = datasets.load(dataset, "train", root=ctx.data_root)
    limit = config.train_limit or None
    x, y = datasets.as_tensors(train, limit=limit, seed=config.seed if limit else None)
    torch.manual_seed(config.seed)
    net = models.create(config.model, **args).to(ctx.device)
    fit(net, (x, y), None, cfg, folder, batch_loss=robust_loss or cross_entropy_loss,
        meta={"model": config.model, "model_args": args, "dataset": dataset, "cache_spec": spec},
        progress=ctx.reporter)  # fmt: skip
    return net.eval()


def run(config: Config, ctx: RunContext) -> Result:
    """Train (or load from the cache) a normal and a robust model per row and evaluate both."""
    from advlab.defenses.certify.evaluate import certify_model
    from advlab.defenses.certify.training import RobustBatchLoss

    result = Result(settings=_settings(config, ctx))
    for row in ctx.progress(config.rows, "wong-table rows"):
        dataset, eps = parse_row(row)
        x, y = datasets.as_tensors(datasets.load(dataset, "test", root=ctx.data_root), limit=config.n_test)
        x, y = x.to(ctx.device), y.to(ctx.device)
        robust_loss = RobustBatchLoss(
            eps, eps_start=min(config.eps_start, eps), warmup_fraction=config.warmup_fraction,
            projections=config.projections or None,
        )  # fmt: skip
        for robust in (False, True):
            model = _trained(ctx, config, dataset, robust_loss if robust else None)
            scores = certify_model(model, x, y, eps, batch_size=config.batch_size,
                                   pgd_steps=config.pgd_steps, seed=config.seed,
                                   progress=ctx.reporter)  # fmt: skip
            paper = PAPER_NUMBERS.get(PAPER_DATASET.get(dataset, dataset), {}).get(robust)
            entry: dict[str, Any] = {"data": dataset, "robust": robust, "eps": eps, "n_test": scores["n"]}
            for i, metric in enumerate(METRICS):
                entry[metric] = 100.0 * scores[metric]
                entry[f"paper_{metric}"] = paper[i] if paper else None
            result.rows.append(entry)
    return result


def _settings(config: Config, ctx: RunContext) -> dict[str, Any]:
    """What the caption states: training set sizes and the training/evaluation settings."""
    sizes = {}
    for row in config.rows:
        dataset = parse_row(row)[0]
        try:
            train = len(datasets.load(dataset, "train", root=ctx.data_root))
        except Exception:  # a dataset that is not there: run() will say so
            continue
        sizes[dataset] = min(train, config.train_limit) if config.train_limit else train
    return {"train_samples": sizes, "epochs": config.epochs, "robust_epochs": config.robust_epochs,
            "lr": config.lr, "schedule": config.schedule,
            "eps_start": config.eps_start, "warmup_fraction": config.warmup_fraction,
            "projections": config.projections, "pgd_steps": config.pgd_steps, "model": config.model}  # fmt: skip


def _epochs(n: Any) -> str:
    return f"{n} epoch" if n == 1 else f"{n} epochs"


SHORT = {"test_error": "test", "fgsm_error": "FGSM", "pgd_error": "PGD", "robust_error_bound": "bound"}


def _table(result: Result) -> Table:
    """Ours and the paper's errors in adjacent rows: 8 short columns (fits 80 columns)."""
    rows: list[list[Any]] = []
    for r in result.rows:
        training = "robust" if r["robust"] else "normal"
        rows.append([r["data"], training, r["eps"], f"ours, n={r['n_test']}"]
                    + [round(r[m], 1) for m in METRICS])  # fmt: skip
        if any(r[f"paper_{m}"] is not None for m in METRICS):
            paper_data = PAPER_DATASET.get(r["data"], r["data"])
            rows.append([paper_data, training, r["eps"], f"paper, n={PAPER_TEST_SAMPLES[paper_data]}"]
                        + [r[f"paper_{m}"] for m in METRICS])  # fmt: skip
    s = result.settings
    train = ", ".join(f"{n:,} {d}" for d, n in s.get("train_samples", {}).items()) or "the train split"
    projections = f"{s['projections']} Cauchy projections" if s.get("projections") else "exact bounds"
    caption = (
        "Errors in % of the n test samples. bound: the robust error bound, the fraction not "
        "certified by the exact dual network at eps (no attack in the ball can do worse); "
        "FGSM/PGD include clean mistakes. "
        f"Ours: {s.get('model', 'wong-small')} trained on {train} samples (Adam, lr "
        f"{s.get('lr')}, {s.get('schedule')} schedule), normal {_epochs(s.get('epochs'))}, robust "
        f"{_epochs(s.get('robust_epochs'))} with eps ramped from {s.get('eps_start')} over the "
        f"first {100 * s.get('warmup_fraction', 0):.0f}% and {projections}; PGD "
        f"{s.get('pgd_steps')} steps. Paper: the full training set, 20 epochs, exact bounds, "
        "the full test set."
    )
    return Table(TITLE + " (errors in %)", ["data", "training", "eps", "source", *SHORT.values()],
                 rows, caption=caption)  # fmt: skip


def render(result: Result, out_dir: Path) -> Rendered:
    """Table 1 with the paper's rows beside ours, and bar charts of ours against the paper's."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, max(len(result.rows), 1), figsize=(4.2 * max(len(result.rows), 1), 3.4),
                             sharey=True, squeeze=False)  # fmt: skip
    positions = range(len(METRICS))
    for ax, r in zip(axes[0], result.rows, strict=False):
        ours = [r[m] for m in METRICS]
        paper = [r[f"paper_{m}"] for m in METRICS]
        ax.bar([p - 0.2 for p in positions], ours, 0.4, label=f"ours ({r['data']}, n={r['n_test']})")
        if any(v is not None for v in paper):
            paper_data = PAPER_DATASET.get(r["data"], r["data"])
            ax.bar([p + 0.2 for p in positions], [v or 0.0 for v in paper], 0.4, fill=False, hatch="//",
                   label=f"paper ({paper_data}, n={PAPER_TEST_SAMPLES[paper_data]})")  # fmt: skip
        for p, v in zip(positions, ours, strict=True):
            ax.text(p - 0.2, v + 1.5, f"{v:.1f}" if v < 10 else f"{v:.0f}", ha="center", fontsize=7)
        ax.set_xticks(list(positions), list(SHORT.values()))
        ax.set_title(f"{r['data']}, {'robust' if r['robust'] else 'normal'} training, eps {r['eps']}", fontsize=9)
        ax.set_ylim(0, 108)
        ax.legend(fontsize=7, loc="upper left")
    axes[0][0].set_ylabel("error (%)")
    fig.tight_layout()
    fig.savefig(out_dir / "wong_table.png", dpi=120)
    plt.close(fig)
    caption = "Test, FGSM and PGD errors and the robust error bound (%): ours (filled) beside the paper's (hatched)"
    return Rendered([_table(result)], [Figure("wong_table.png", caption)])
