"""Trained classifiers cached by the content of their configuration.

`trained_classifier(ctx, "lenet", "mnist-5k", CLASSIFIER_TRAINING)` trains once; a second
call with the same settings (in any experiment, any run) loads the cached checkpoint. The key
is a SHA-256 of the canonical JSON of (model, model arguments, dataset, training config,
advlab cache version), so changing any of them trains a new model.
"""

from __future__ import annotations

import hashlib
import json
import logging
from dataclasses import replace
from pathlib import Path
from typing import Any

from torch import nn

from advlab import data as datasets
from advlab import models
from advlab.models.checkpoint import CHECKPOINT_FILE, CheckpointError
from advlab.models.registry import check_fits
from advlab.train import BatchLoss, StepHook, TrainConfig, cross_entropy_loss, fit
from advlab.train.distributed import barrier, current_env
from advlab.zoo.context import RunContext

log = logging.getLogger(__name__)
CACHE_VERSION = 1


def config_key(spec: dict[str, Any]) -> str:
    """A short content hash of a JSON-serialisable spec."""
    canonical = json.dumps(spec, sort_keys=True, separators=(",", ":"), default=str)
    return hashlib.sha256(canonical.encode()).hexdigest()[:16]


def model_args_for(model: str, dataset: str, **model_kwargs: Any) -> dict[str, Any]:
    """Model constructor arguments adapted to the dataset's channels, classes and size."""
    spec = datasets.info(dataset)
    c, h, _ = spec.shape
    return {"in_channels": c, "num_classes": spec.num_classes, "image_size": h, **model_kwargs}


CLASSIFIER_TRAINING = TrainConfig(epochs=10, lr=0.05, schedule="cosine", warmup_steps=32)
"""Quick-scale training of the lecture's classifiers on mnist-5k, shared by every experiment
that trains one (classifier-baselines, deepfool-table, fgsm-figure, ...) so that they share
the cached models: SGD with momentum 0.9, 10 epochs, lr 0.05 decayed by a cosine, batch 64,
warmed up linearly over the first half epoch (32 steps; without it LeNet diverged to NaN in its
first epoch at seed 1)."""


DEMO_TRAINING = replace(CLASSIFIER_TRAINING, epochs=2)
"""`make demo`'s LeNet for the transformation experiments (spatial-table, eot-table): 2 of
CLASSIFIER_TRAINING's 10 epochs, so that their demo trains one model in seconds even on an
empty cache."""


def trained_classifier(
    ctx: RunContext,
    model: str = "lenet",
    data: str = "mnist-5k",
    training: TrainConfig = CLASSIFIER_TRAINING,
    batch_loss: BatchLoss | None = None,
    loss_name: str = "standard",
    after_step: StepHook | None = None,
    classes: tuple[int, ...] | None = None,
    **model_kwargs: Any,
) -> nn.Module:
    """A classifier trained on `data`'s train split with `training`, from the cache when it
    is there.

    batch_loss / after_step / loss_name: a non-standard training loss (adversarial,
    certified), a hook after each optimiser step (weight projections), and a name describing
    them and their settings, which becomes part of the cache key. classes: train on these
    classes only, relabelled 0..len-1 (`advlab.data.select_classes`; e.g. (3, 7) for a binary
    problem), the model built with that many outputs. Returns the model in eval mode on
    ctx.device."""
    args = model_args_for(model, data, **model_kwargs)
    if classes is not None:
        args["num_classes"] = len(classes)
    cfg = training
    spec = {"v": CACHE_VERSION, "model": model, "model_args": args, "data": data,
            "train": cfg.to_dict(), "loss": loss_name}  # fmt: skip
    if classes is not None:  # absent otherwise, so that existing cache keys stay valid
        spec["classes"] = list(classes)
    folder = ctx.cache_dir / f"{model}-{data.replace(':', '_').replace('/', '_')}-{config_key(spec)}"
    env = current_env()
    if env.is_main:  # under torchrun rank 0 trains; the others wait, then load its checkpoint
        cached = _load_cached(folder, ctx)
        if cached is None:
            _train(folder, ctx, model, args, data, cfg, spec, batch_loss, after_step, classes)
    barrier(env)
    loaded = _load_cached(folder, ctx)
    if loaded is None:
        raise CheckpointError(f"training {model} into {folder} left no usable checkpoint")
    return loaded


def _load_cached(folder: Path, ctx: RunContext) -> nn.Module | None:
    """The cached model in `folder` (eval mode, on ctx.device), or None when there is none,
    its training has not finished (no spec.json yet: stopped by Ctrl-C or killed; `_train`
    resumes it) or it is unusable (then it is trained again)."""
    if not (folder / CHECKPOINT_FILE).exists() or not (folder / "spec.json").exists():
        return None
    try:
        cached = models.load_checkpoint(folder, device=ctx.device)
        log.info("using cached model from %s", folder)
        return cached
    except CheckpointError as error:
        log.warning("cached model unusable (%s); retraining", error)
        return None


def _train(folder: Path, ctx: RunContext, model: str, args: dict[str, Any], data: str, cfg: TrainConfig,
           spec: dict[str, Any], batch_loss: BatchLoss | None, after_step: StepHook | None,
           classes: Any = None) -> None:  # fmt: skip
    """Train `model` on `data` into the cache folder (checkpoint and spec.json)."""
    import torch

    torch.manual_seed(cfg.seed)
    net = models.create(model, **args).to(ctx.device)
    # a checkpoint without spec.json is a training that stopped early: continue it bit-for-bit
    resume = (folder / CHECKPOINT_FILE).exists()
    if resume:
        log.info("resuming the unfinished training in %s", folder)
    train_set: Any = datasets.load(data, "train", root=ctx.data_root)
    size = int(args["image_size"])  # what the model is built for (a canvas loss may pad the data)
    check_fits(net.eval(), torch.zeros(1, int(args["in_channels"]), size, size, device=ctx.device),
               f"model {model}", f"{data} images")  # fmt: skip
    if classes is not None:
        train_set = datasets.select_classes(*datasets.as_tensors(train_set), classes)
    fit(
        net,
        train_set,
        None,
        cfg,
        folder,
        batch_loss=batch_loss or cross_entropy_loss,
        meta={"model": model, "model_args": args, "dataset": data, "cache_spec": spec,
              **({"classes": list(classes)} if classes is not None else {})},
        progress=ctx.reporter,
        after_step=after_step,
        resume=resume,
    )
    (folder / "spec.json").write_text(json.dumps(spec, indent=2, default=str))


def row_classifier(ctx: RunContext, row: str, training: TrainConfig = CLASSIFIER_TRAINING,
                   pretrained: bool = True) -> nn.Module:  # fmt: skip
    """The classifier of an experiment row "model@dataset": a torchvision model
    ("torchvision:<name>@...", its ImageNet weights unless ``pretrained`` is False, never
    trained here) or `trained_classifier(ctx, model, dataset, training)`. Eval mode, on
    ctx.device."""
    model_name, sep, dataset = row.partition("@")
    if not sep:
        raise ValueError(f"row {row!r} must look like 'model@dataset', e.g. 'lenet@mnist-5k'")
    if model_name.startswith("torchvision:"):
        return models.create(model_name, pretrained=pretrained).to(ctx.device).eval()
    return trained_classifier(ctx, model_name, dataset, training)
