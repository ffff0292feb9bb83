"""Shared by the GAN experiments (gan-algorithm1, gan-architectures, inception-curves,
progressive-gan, memorisation): train one GAN configuration into the experiment's folder (or
into the model cache, shared between experiments) and summarise it as JSON-able numbers, the
feature network for FID/KID/IS and class coverage of samples (the sample mosaics that
`render` draws are `advlab.report.gan_figures`).

A run that diverges or whose discriminator collapses is a result, not a crash: its status
records the message and its samples come from the last good checkpoint.
"""

from __future__ import annotations

import json
import logging
import math
from collections.abc import Callable
from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import Any

import torch
from torch import nn

from advlab.gan.config import GANTrainConfig
from advlab.gan.records import EVAL_COLUMNS, read_metrics
from advlab.gan.sampling import generate, sample_latent, save_grid
from advlab.gan.state import DiscriminatorCollapsed, TrainingDiverged, load_generator
from advlab.gan.trainer import train
from advlab.models.checkpoint import CheckpointError
from advlab.zoo.cache import config_key
from advlab.zoo.context import RunContext

log = logging.getLogger(__name__)


def feature_network(ctx: RunContext, data: str, features: str, epochs: int = 3) -> nn.Module | str:
    """FID/KID/IS features: "classifier" -> a LeNet trained on `data` (cached across runs,
    the offline default of the issue), anything else ("inception", "classifier:<ckpt>") is
    passed to `advlab.gan.metrics` as a spec."""
    if features != "classifier":
        return features
    from advlab.train import TrainConfig
    from advlab.zoo.cache import trained_classifier

    return trained_classifier(ctx, "lenet", data, TrainConfig(epochs=epochs))


def cached_run_dir(ctx: RunContext, cfg: GANTrainConfig) -> Path:
    """Where the model cache keeps the run of `cfg` (keyed by everything but the device), so
    that experiments training the same GAN share it (progressive-gan and memorisation)."""
    spec = {k: v for k, v in cfg.to_json().items() if k != "device"}
    return ctx.cache_dir / "gan-runs" / f"{cfg.arch}-{cfg.loss}-{config_key(spec)}"


StepHook = Callable[[int, dict[str, Any]], None]
Curves = dict[str, list[float | None]]
"""metrics.csv as columns: name -> one value per row (None where not evaluated)."""


@dataclass(kw_only=True)
class GANRun:
    """One trained GAN configuration, summarised (a row of every GAN experiment's result).

    name: the run's name in the experiment; status: "ok" or why it stopped (diverged,
    discriminator collapsed); seconds: training wall time (evaluation excluded); final: the
    last evaluation ("step" and `advlab.gan.records.EVAL_COLUMNS`, None where not finite);
    samples: the sample grid PNG relative to the output folder (None: no generator left);
    run_dir: the run's folder; classes: how many of 1,000 samples the feature classifier puts
    in each class (None without a classifier or samples)."""

    name: str
    status: str
    seconds: float | None
    final: dict[str, float | None]
    samples: str | None
    run_dir: str
    classes: list[int] | None = None

    def summary_fields(self) -> dict[str, Any]:
        """The `GANRun` fields by name (shallow), to build an experiment's row from a run."""
        return {f.name: getattr(self, f.name) for f in fields(GANRun)}


@dataclass(kw_only=True)
class GANRunWithCurves(GANRun):
    """A `GANRun` with its metrics.csv columns (`Curves`), as `run_gan` returns it."""

    curves: Curves = field(default_factory=dict)


def run_gan(ctx: RunContext, cfg: GANTrainConfig, name: str,
            features: nn.Module | str | None, n_grid: int = 64, *,
            on_step: StepHook | None = None, cache: bool = False) -> GANRunWithCurves:
    """Train `cfg` into <out>/runs/<name> (with `cache`: into `cached_run_dir`, unless a
    finished run is there, which is then used as it is) and summarise it (`GANRun`, with the
    metrics.csv columns); `classes` is the `class_coverage` of 1,000 samples seeded by
    cfg.seed when `features` is a classifier module and the run left a generator. on_step:
    passed to `train`."""
    out = cached_run_dir(ctx, cfg) if cache else ctx.out_dir / "runs" / name
    extractor = features if isinstance(features, nn.Module) else None
    if isinstance(features, str):
        cfg = cfg.replace(eval_features=features)
    finished = out / "status.json"
    if cache and finished.is_file() and json.loads(finished.read_text()).get("iters") == cfg.iters:
        status = json.loads(finished.read_text())["status"]
        log.info("%s: using the cached run %s", name, out)
    else:
        status = "ok"
        try:
            # the run's iterations are a progress task nested under the caller's (methods, cells)
            train(cfg, out, extractor=extractor, tensorboard=False, reporter=ctx.reporter,
                  on_step=on_step, label=name)
        except (TrainingDiverged, DiscriminatorCollapsed) as error:
            status = str(error).split(";")[0]
            log.warning("%s: %s", name, status)
        if cache:
            finished.write_text(json.dumps({"status": status, "iters": cfg.iters}))
    rows = read_metrics(out) if (out / "metrics.csv").is_file() else []
    curves = {key: [r[key] for r in rows] for key in (rows[0] if rows else {})}
    evaluations = [r for r in rows if r.get("fid") is not None]
    final = {k: evaluations[-1][k] for k in ("step", *EVAL_COLUMNS)} if evaluations else {}
    samples = None
    try:
        G, _ = load_generator(out, ctx.device)
        z = sample_latent(n_grid, cfg.latent_dim, cfg.latent_prior,
                          torch.Generator().manual_seed(ctx.seed + 7), ctx.device)
        samples = str(save_grid(generate(G, z), ctx.out_dir / f"samples_{name}.png",
                                nrow=int(math.sqrt(n_grid))).relative_to(ctx.out_dir))
    except (CheckpointError, FileNotFoundError) as error:  # diverged before any checkpoint
        log.warning("%s: no samples (%s)", name, error)
    seconds = curves.get("wall_seconds", [0.0])[-1] if curves else 0.0
    classes = (class_coverage(out, features, 1000, cfg.seed, ctx.device)
               if samples is not None and isinstance(features, nn.Module) else None)
    return GANRunWithCurves(name=name, status=status, seconds=seconds, final=_finite(final),
                            samples=samples, run_dir=str(out), classes=classes,
                            curves=_finite(curves))


@torch.no_grad()
def class_coverage(run_dir: Path, classifier: nn.Module, n: int, seed: int,
                   device: torch.device) -> list[int]:
    """How many of n generated samples the classifier assigns to each class (mode coverage;
    a collapsed generator puts nearly all of them in a few classes)."""
    G, cfg = load_generator(run_dir, device)
    z = sample_latent(n, cfg.latent_dim, cfg.latent_prior, torch.Generator().manual_seed(seed),
                      device)
    predictions = classifier.eval()(generate(G, z)).argmax(dim=1)  # (n,)
    return torch.bincount(predictions, minlength=10).tolist()


@torch.no_grad()
def real_data_floor(ctx: RunContext, data: str, features: nn.Module | str, n: int,
                    seed: int) -> dict[str, float]:
    """FID/KID/IS of n training images scored as if generated, against n test images: what a
    perfect generator would reach with n samples and these features (FID is biased upwards
    at small n, so a generator's FID is read against this floor, not against 0)."""
    from advlab.data import as_tensors, load
    from advlab.gan.metrics import GenerativeScores

    test, _ = as_tensors(load(data, "test", root=ctx.data_root), limit=n)
    train_images, _ = as_tensors(load(data, "train", root=ctx.data_root), limit=n)
    scores = GenerativeScores(features, seed=seed)
    scores.extractor.to(ctx.device).eval()
    scores.add_real(test.to(ctx.device))
    scores.add_fake(train_images.to(ctx.device))
    return scores.compute()


def _finite(data: Any) -> Any:
    """NaN/inf -> None, so results stay valid JSON."""
    if isinstance(data, dict):
        return {k: _finite(v) for k, v in data.items()}
    if isinstance(data, list):
        return [_finite(v) for v in data]
    if isinstance(data, float) and not math.isfinite(data):
        return None
    return data
