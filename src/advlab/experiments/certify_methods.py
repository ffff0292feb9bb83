"""Bounding methods side by side: interval bounds (Gowal et al. 2018), the Wong-Kolter dual network
(Wong & Kolter 2018), Fast-Lin (Weng et al. 2018), CROWN (Zhang et al. 2018) and alpha-CROWN
(Xu et al. 2021) on the same models and test images at eps 0.1, and CROWN-IBP training (Zhang et
al. 2020, "Towards Stable and Efficient Training of Verifiably Robust Neural Networks",
arXiv:1906.06316) against Wong-Kolter training at equal epochs.

Per (model, training, method): certified accuracy (every margin ``f_y - f_j`` has a positive lower
bound), the mean gap ``upper - lower`` of the margin bounds, wall time and peak memory of the
bounds; per model, clean and PGD accuracy on the same images (an upper bound of every certified
accuracy). Rows are "model@data" strings; the models in `robust_models` are trained three ways
(cross-entropy, the Wong-Kolter robust loss, CROWN-IBP), the others with cross-entropy only.

Quick scale: wong-small on the embedded mnist-5k (100 test digits) and the larger wong-large on
8x8 `digits` (its exact dual network on 28x28 images takes minutes per image on a CPU). Paper
scale: wong-small on MNIST and Fashion-MNIST, trained three ways, and wong-large on MNIST.
"""

from __future__ import annotations

import re
import time
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

from advlab import data as datasets
from advlab.experiments.base import ExperimentConfig
from advlab.experiments.wong_table import TRAINING
from advlab.report.certify_figures import methods_figure, methods_tables
from advlab.report.figures import save_figure
from advlab.report.rendered import Figure, Rendered
from advlab.train import TrainConfig
from advlab.zoo.context import RunContext

NAME = "certify-methods"
TITLE = "Certified accuracy, bound gap, time and memory per bounding method; CROWN-IBP training"
PAPER = "Zhang et al. 2020 (ICLR), CROWN-IBP, MNIST verified errors; Wong & Kolter 2018"

METHODS = ("interval", "wong", "fast-lin", "crown", "alpha-crown")
"""The names of `advlab.defenses.certify.METHODS`, loosest to tightest but interval."""
TRAININGS = ("normal", "wong", "crown-ibp")

# (CROWN-IBP paper's model size, eps) -> verified test error in % on MNIST's 10,000 test digits.
# Only the abstract's value could be read: the best of its large models at eps 0.3. The paper's
# table of small/large models at eps 0.1, 0.2, 0.3, 0.4 is not available here (None).
PAPER_VERIFIED_ERROR: dict[tuple[str, float], float | None] = {
    (size, eps): None for size in ("small", "large") for eps in (0.1, 0.2, 0.3, 0.4)
} | {("large", 0.3): 7.02}
PAPER_SIZE = {"wong-small": "small", "wong-large": "large"}
PAPER_DATASET = {"mnist-5k": "mnist"}  # quick-scale stand-in


@dataclass(frozen=True)
class Config(ExperimentConfig):
    """rows: "model@data" problems; samples: test images per row (the first n of the test split).
    robust_models: models also trained robustly (Wong-Kolter and CROWN-IBP, same epochs).
    methods: bounding methods compared. eps: radius of training and certification.
    training: the normal models' training (wong-table's; its batch size also batches the bounds);
    robust_epochs: epochs of both robust trainings; eps_start, warmup_fraction, projections: the
    Wong-Kolter loss's eps ramp and Cauchy projections (wong-table's); CROWN-IBP ramps eps 0 ->
    eps, kappa and beta 1 -> 0 over the same warmup_fraction. alpha_steps: alpha-CROWN's Adam
    steps. pgd_steps: PGD iterations of the empirical accuracy.
    """

    rows: tuple[str, ...] = ("wong-small@mnist-5k", "wong-large@digits")
    samples: tuple[int, ...] = (100, 20)
    robust_models: tuple[str, ...] = ("wong-small",)
    methods: tuple[str, ...] = METHODS
    eps: float = 0.1
    training: TrainConfig = TRAINING
    robust_epochs: int = 4
    eps_start: float = 0.01
    warmup_fraction: float = 0.5
    projections: int = 10
    alpha_steps: int = 20
    pgd_steps: int = 40

    @classmethod
    def demo(cls) -> Config:
        """`make demo` size (about a minute from an empty cache, estimated): wong-small only,
        2 normal epochs and 1 epoch of each robust training, 30 test digits."""
        return cls(rows=("wong-small@mnist-5k",), samples=(30,),
                   training=replace(TRAINING, epochs=2), robust_epochs=1, pgd_steps=20)

    @classmethod
    def paper(cls) -> Config:
        return cls(rows=("wong-small@mnist", "wong-small@fashion-mnist", "wong-large@mnist"),
                   samples=(10_000, 10_000, 1_000), robust_models=("wong-small",),
                   training=replace(TRAINING, epochs=20, lr=1e-3), robust_epochs=20,
                   projections=0)


@dataclass
class MethodRow:
    """One (problem, training, method) on n_test images: certified accuracy and the accuracies
    that bound it (clean, PGD) in %, the mean margin-bound gap, seconds and peak MiB."""

    model: str
    data: str
    training: str
    method: str
    n_test: int
    certified_accuracy: float
    clean_accuracy: float
    pgd_accuracy: float
    mean_gap: float
    seconds: float
    peak_memory_mib: float | None


@dataclass
class TrainingRow:
    """A robustly trained model (training "wong" or "crown-ibp") on n_test images, in %: clean,
    PGD and certified accuracy (the union of every method's certificates), and the certified
    accuracy by CROWN; the CROWN-IBP paper's verified error at the same eps beside it (None
    where it could not be read or the row is not the paper's)."""

    model: str
    data: str
    training: str
    epochs: int
    eps: float
    n_test: int
    clean_accuracy: float
    pgd_accuracy: float
    certified_accuracy: float
    crown_certified_accuracy: float
    verified_error: float
    paper_verified_error: float | None


@dataclass
class PaperRow:
    """The CROWN-IBP paper's MNIST verified error (%) of its small or large models at eps."""

    size: str
    eps: float
    verified_error: float | None


@dataclass
class Settings:
    """What the captions state."""

    eps: float
    epochs: int
    robust_epochs: int
    projections: int
    warmup_fraction: float
    alpha_steps: int
    pgd_steps: int
    batch_size: int
    device: str
    memory: str


@dataclass
class Result:
    methods: list[MethodRow]
    trainings: list[TrainingRow]
    paper: list[PaperRow]
    settings: Settings


def parse_row(row: str) -> tuple[str, str]:
    """ "wong-small@mnist-5k" -> ("wong-small", "mnist-5k"); clear error otherwise."""
    model, sep, data = row.partition("@")
    if not sep or not model or not data:
        raise ValueError(f"row {row!r} must look like 'model@data', e.g. 'wong-small@mnist-5k'")
    return model, data


def batch_loss(config: Config, training: str) -> tuple[Any, str]:
    """(batch loss, cache name) of `training`: None for cross-entropy, the Wong-Kolter robust
    loss (Wong & Kolter 2018, eq. 14) or CROWN-IBP (Zhang et al. 2020, eq. 8)."""
    from advlab.defenses.certify import CrownIbpBatchLoss, RobustBatchLoss

    if training == "normal":
        return None, "standard"
    if training == "wong":
        loss: Any = RobustBatchLoss(config.eps, eps_start=min(config.eps_start, config.eps),
                                    warmup_fraction=config.warmup_fraction,
                                    projections=config.projections or None)
    elif training == "crown-ibp":
        loss = CrownIbpBatchLoss(config.eps, ramp=config.warmup_fraction)
    else:
        raise ValueError(f"unknown training {training!r}; valid: {', '.join(TRAININGS)}")
    return loss, loss.describe()


class PeakMemory:
    """Peak memory of a block above its start, in MiB: `torch.cuda.max_memory_allocated` on a GPU;
    on a CPU the resident set's high-water mark (VmHWM, reset through /proc/self/clear_refs), a
    lower bound where the allocator reuses memory it freed before; None where neither exists."""

    def __init__(self, device: Any) -> None:
        self.cuda = getattr(device, "type", str(device)) == "cuda"
        self.base: int | None = None

    @staticmethod
    def _status(key: str) -> int:
        found = re.search(rf"{key}:\s+(\d+) kB", Path("/proc/self/status").read_text())
        if found is None:
            raise OSError(f"no {key} in /proc/self/status")
        return int(found.group(1)) * 1024

    def __enter__(self) -> PeakMemory:
        import torch

        if self.cuda:
            torch.cuda.synchronize()
            torch.cuda.reset_peak_memory_stats()
            self.base = torch.cuda.memory_allocated()
            return self
        try:
            Path("/proc/self/clear_refs").write_text("5")  # reset VmHWM to the current RSS
            self.base = self._status("VmRSS")
        except OSError:
            self.base = None
        return self

    def __exit__(self, *exc: object) -> None:
        import torch

        if self.cuda:
            torch.cuda.synchronize()
        if self.base is None:
            self.peak = None
            return
        top = torch.cuda.max_memory_allocated() if self.cuda else self._status("VmHWM")
        self.peak = max(top - self.base, 0) / 2**20  # RSS counters lag a little: never below 0


@dataclass
class MethodScores:
    """One method on n images: certified (N,) bool, mean margin gap, seconds, peak MiB."""

    certified: Any
    mean_gap: float
    seconds: float
    peak_memory_mib: float | None


def evaluate_methods(model: Any, x: Any, y: Any, config: Config,
                     seed: int = 0) -> tuple[Any, Any, dict[str, MethodScores]]:  # fmt: skip
    """(correct (N,), PGD-robust (N,), {method: MethodScores}) of `model` on (x (N, C, H, W),
    y (N,)) at config.eps in batches of config.training.batch_size: PGD (Madry et al. 2018,
    config.pgd_steps steps, random start from `seed`), then every bounding method on the margin
    specification ``c_j = e_y - e_j``, each timed over all batches. The model is not touched."""
    import torch

    from advlab.attacks import PGD
    from advlab.attacks.base import inference_view
    from advlab.defenses.certify import (
        LinfBall,
        build_plan,
        certified,
        certified_bounds,
        margin_spec,
    )

    view = inference_view(model)
    plan = build_plan(view, x[:1])  # refuses an unsupported layer before any work
    ball, size = LinfBall(config.eps, 0.0, 1.0), config.training.batch_size
    batches = [(x[i : i + size], y[i : i + size]) for i in range(0, len(x), size)]
    generator = torch.Generator(device=x.device).manual_seed(seed)
    pgd = PGD(config.eps, steps=config.pgd_steps, bounds=(0.0, 1.0))
    with torch.no_grad():
        correct = torch.cat([view(xb).argmax(1) == yb for xb, yb in batches])  # (N,)
    broken = torch.cat([pgd(view, xb, yb, generator=generator).success for xb, yb in batches])
    scores: dict[str, MethodScores] = {}
    for method in config.methods:
        options = {"steps": config.alpha_steps} if method == "alpha-crown" else {}
        sure, gaps = [], []
        with torch.no_grad(), PeakMemory(x.device) as memory:
            start = time.perf_counter()
            for xb, yb in batches:
                bounds = certified_bounds(plan, xb, ball, method, margin_spec(yb, plan.outputs),
                                          **options)  # (B, K) lower/upper of f_y - f_j
                sure.append(certified(bounds.lower, yb))
                others = torch.ones_like(bounds.lower, dtype=torch.bool)
                others = others.scatter(1, yb[:, None], False)  # (B, K): the margins j != y
                gaps.append((bounds.upper - bounds.lower)[others])  # j != y: (B * (K - 1),)
            if x.device.type == "cuda":
                torch.cuda.synchronize()
            seconds = time.perf_counter() - start
        scores[method] = MethodScores(torch.cat(sure), float(torch.cat(gaps).mean()), seconds,
                                      memory.peak)  # fmt: skip
    return correct, correct & ~broken, scores


def _percent(mask: Any) -> float:
    return 100.0 * float(mask.float().mean())


def run(config: Config, ctx: RunContext) -> Result:
    """Train (or load from the model cache) every row's models and compare the methods."""
    from advlab.zoo.cache import trained_classifier

    if len(config.samples) != len(config.rows):
        raise ValueError(f"samples needs one count per row: {len(config.rows)} rows, "
                         f"{len(config.samples)} counts")
    unknown = [m for m in config.methods if m not in METHODS]
    if unknown:
        raise ValueError(f"unknown methods {unknown}; valid: {', '.join(METHODS)}")
    method_rows: list[MethodRow] = []
    training_rows: list[TrainingRow] = []
    for row, n in ctx.progress(list(zip(config.rows, config.samples, strict=True)), NAME):
        model_name, data = parse_row(row)
        test = datasets.load(data, "test", root=ctx.data_root)
        x, y = datasets.as_tensors(test, limit=n)
        x, y = x.to(ctx.device), y.to(ctx.device)
        trainings = TRAININGS if model_name in config.robust_models else TRAININGS[:1]
        for training in trainings:
            loss, loss_name = batch_loss(config, training)
            cfg = config.training if loss is None else replace(config.training,
                                                               epochs=config.robust_epochs)
            model = trained_classifier(ctx, model_name, data, cfg, batch_loss=loss,
                                       loss_name=loss_name)
            correct, robust, scores = evaluate_methods(model, x, y, config, config.training.seed)
            for method, s in scores.items():
                method_rows.append(MethodRow(
                    model_name, data, training, method, len(x), _percent(s.certified),
                    _percent(correct), _percent(robust), s.mean_gap, s.seconds, s.peak_memory_mib))
            if loss is not None:
                training_rows.append(_training_row(config, model_name, data, training, cfg.epochs,
                                                   correct, robust, scores))
    paper = [PaperRow(size, eps, value) for (size, eps), value in PAPER_VERIFIED_ERROR.items()]
    memory = ("torch.cuda.max_memory_allocated" if ctx.device.type == "cuda"
              else "peak resident set above the start (VmHWM), a lower bound: memory the allocator "
              "kept from earlier methods is reused uncounted")
    settings = Settings(config.eps, config.training.epochs, config.robust_epochs,
                        config.projections, config.warmup_fraction, config.alpha_steps,
                        config.pgd_steps, config.training.batch_size, str(ctx.device), memory)
    return Result(method_rows, training_rows, paper, settings)


def _training_row(config: Config, model: str, data: str, training: str, epochs: int, correct: Any,
                  robust: Any, scores: dict[str, MethodScores]) -> TrainingRow:  # fmt: skip
    """The robust-training comparison row: every sound certificate counts (their union)."""
    union = correct.clone()
    union[:] = False
    for s in scores.values():
        union |= s.certified
    crown = scores["crown"].certified if "crown" in scores else union
    paper = None
    if training == "crown-ibp" and PAPER_DATASET.get(data, data) == "mnist":
        paper = PAPER_VERIFIED_ERROR.get((PAPER_SIZE.get(model, ""), config.eps))
    certified = _percent(union)
    return TrainingRow(model, data, training, epochs, config.eps, len(correct), _percent(correct),
                       _percent(robust), certified, _percent(crown), 100.0 - certified, paper)


def render(result: Result, out_dir: Path) -> Rendered:
    """The methods table, the training comparison beside the paper, and the figure."""
    save_figure(methods_figure(result.methods), out_dir / "certify_methods.png")
    caption = ("Certified accuracy per bounding method (PGD accuracy dashed above each group) and "
               "the time of the bounds per method (log axis)")
    return Rendered(methods_tables(result, PAPER_SIZE), [Figure("certify_methods.png", caption)])


__all__ = ["Config", "Result", "evaluate_methods", "render", "run"]
