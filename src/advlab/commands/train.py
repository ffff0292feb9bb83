"""What ``advlab train classifier`` and ``advlab eval`` do: build the model for the dataset,
train it with `advlab.train.fit` (standard or certified loss), and evaluate checkpoints."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from advlab.commands.common import load_model_and_data
from advlab.models.registry import check_fits
from advlab.progress import Progress
from advlab.report.tables import Table, format_cell
from advlab.threads import chosen_threads
from advlab.train.config import TrainConfig


@dataclass(frozen=True)
class RobustSpec:
    """Certified training: ``--robust wong``, the Wong-Kolter robust loss at radius eps,
    ramped in over `warmup` of training, with `projections` random projections (None: exact);
    ``--robust crown-ibp``, CROWN-IBP (Zhang et al. 2020) with eps, kappa and beta ramped over
    `warmup` of training (no projections)."""

    method: str
    eps: float
    warmup: float
    projections: int | None

    def batch_loss(self) -> Any:
        if self.method == "crown-ibp":
            if self.projections is not None:
                raise ValueError("--robust crown-ibp takes no projections (they belong to wong)")
            from advlab.defenses.certify.crown_ibp import CrownIbpBatchLoss

            return CrownIbpBatchLoss(eps=self.eps, ramp=self.warmup, lower=0.0, upper=1.0)
        if self.method != "wong":
            raise ValueError(f"unknown --robust {self.method!r}; valid: wong, crown-ibp")
        from advlab.defenses.certify.training import RobustBatchLoss

        return RobustBatchLoss(eps=self.eps, warmup_fraction=self.warmup,
                               projections=self.projections, lower=0.0, upper=1.0)  # fmt: skip


def train_classifier(
    model: str, data: str, cfg: TrainConfig, out: Path, *, resume: bool = False,
    robust: RobustSpec | None = None, front_end: str | None = None, l1_budget: str | None = None,
    download: bool = False, data_root: Path | None = None, device: Any = "cpu",
    progress: Progress | None = None,
) -> tuple[list[Table], list[str]]:
    """Train classifier `model` on `data` into `out` (checkpoint, metrics.csv, TensorBoard).

    The model is built for the dataset's channels, classes and image size; one that cannot
    take those images (LeNet's 5x5 convolutions on 8x8 digits) is refused before training.
    front_end ``BASIS:RHO[:LEVEL]`` puts Gopalakrishnan et al.'s sparsifying front end before
    it; l1_budget ``GAMMA`` or ``GAMMA1,...`` projects its weights onto l1 balls after every
    step (`advlab.commands.sparsity`), and the Theorem 2 bound of the result is reported.
    Returns (tables, lines) for the CLI to print."""
    import torch

    from advlab import data as datasets
    from advlab.commands.sparsity import classifier_setup, theorem2_table
    from advlab.train import cross_entropy_loss, fit

    if robust is not None and front_end is not None:
        raise ValueError("--robust and --front-end do not go together: the dual network cannot "
                         "certify through the front end's top-K selection")  # fmt: skip
    batch_loss: Any = robust.batch_loss() if robust is not None else cross_entropy_loss
    train_set = datasets.load(data, "train", root=data_root, download=download)
    test_set = datasets.load(data, "test", root=data_root, download=download)
    torch.manual_seed(cfg.seed)
    setup = classifier_setup(model, data, front_end=front_end, l1_budget=l1_budget)  # size errors: models.create
    net = setup.model.to(device)
    check_fits(net.eval(), train_set[0][0][None].to(device), f"model {model}", f"{data} images")
    meta: dict[str, Any] = dict(setup.meta)
    meta["threads"] = chosen_threads().describe()  # the timings in metrics.csv depend on it
    if robust is not None:
        meta["robust"] = {"method": robust.method, "eps": robust.eps, "eps_warmup": robust.warmup,
                          "projections": robust.projections}  # fmt: skip
    summary = fit(net, train_set, test_set, cfg, out, batch_loss=batch_loss, resume=resume, meta=meta,
                  progress=progress, after_step=setup.after_step)  # fmt: skip
    table = Table(f"{model} on {data}", ["epochs", "train loss", "train acc", "test acc", "seconds"],
                  [[summary.epochs, summary.train_loss, summary.train_accuracy, summary.test_accuracy,
                    round(summary.seconds, 1)]])  # fmt: skip
    lines = []
    last = summary.history[-1] if summary.history else {}
    extra = {k: v for k, v in last.items() if k in ("robust_error", "eps")}
    if extra:
        lines.append("last epoch: " + ", ".join(f"{k} {format_cell(v)}" for k, v in extra.items()))
    lines.append(f"checkpoint: {summary.checkpoint}  curves: {out}/metrics.csv, {out}/tb")
    tables = [table]
    if l1_budget is not None:
        tables.append(theorem2_table(net, eps=0.1))
    return tables, lines


def evaluate_checkpoint(checkpoint: Path, data: str, split: str, data_root: Path | None,
                        device: Any) -> list[Table]:  # fmt: skip
    """``advlab eval``: accuracy of a trained classifier on `data`, overall and per class."""
    from advlab.train import evaluate

    model, dataset, x, y = load_model_and_data(checkpoint, data, split, None, data_root, device)
    result = evaluate(model, (x, y), num_classes=dataset.num_classes)
    rows = [[dataset.classes[k], result.counts[k], result.per_class[k]] for k in range(len(result.counts))]
    return [
        Table(f"Per-class accuracy on {data} ({split})", ["class", "samples", "accuracy"], rows),
        Table("Overall", ["samples", "accuracy", "error %", "loss"],
              [[result.n, result.accuracy, 100 * result.error, result.loss]]),
    ]  # fmt: skip
