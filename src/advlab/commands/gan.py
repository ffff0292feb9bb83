"""What `advlab gan train | sample | interpolate | memorisation` do; the CLI parses options and
prints tables.

    advlab gan train --loss wgan-gp --arch dcgan --data mnist-5k --iters 2000 --eval-every 200 \\
        --out runs/wgan-gp [--resume]
    advlab gan train --loss wgan-gp-drift --arch progressive --image-pad 2 --width 32 \\
        --stable-images 20000 --fade-images 20000 --iters 3000 --out runs/pgan
    advlab gan sample --checkpoint runs/wgan-gp --n 64 --out grid.png
    advlab gan interpolate --checkpoint runs/wgan-gp --out walk.png --steps 10 --rows 8
    advlab gan memorisation --checkpoint runs/wgan-gp --out runs/wgan-gp/memorisation

`train_config` turns the options of `advlab gan train` (any field of `GANTrainConfig`, the parts
of its learning rule, growth schedule or progressive switches as ``--rule-lr`` or, where
unambiguous, ``--lr``: the grammar of `advlab.options`) into a config.

Under ``torchrun --nproc_per_node=N -m advlab gan train ...`` the same `train_command` runs in
every process; `advlab.gan.trainer.train` joins the process group from torchrun's environment.
"""

from __future__ import annotations

import dataclasses
import logging
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import torch

from advlab.devices import resolve_device
from advlab.gan.config import GANTrainConfig
from advlab.gan.realdata import load_real_images
from advlab.gan.sampling import (
    INTERPOLATIONS,
    generate,
    interpolation_latents,
    sample_latent,
    save_grid,
)
from advlab.gan.state import load_generator, read_gan_checkpoint
from advlab.gan.trainer import TrainResult, train
from advlab.models.checkpoint import CHECKPOINT_FILE
from advlab.options import parse_option_parts
from advlab.progress import Progress
from advlab.report.tables import Table

log = logging.getLogger(__name__)

FEATURE_CLASSIFIER_DIR = "feature_classifier"


def resolve_eval_features(cfg: GANTrainConfig, out_dir: Path) -> GANTrainConfig:
    """Replace eval_features="auto" (with evaluation on) by a concrete extractor spec.

    "auto" means the offline default of the issue: a LeNet trained on the same dataset
    (at the run's image size), saved once in `<out>/feature_classifier/` and reused on resume,
    i.e. "classifier:<out>/feature_classifier". Pass "inception" for the standard FID/IS
    features (needs the Inception weights on disk)."""
    if cfg.eval_every == 0 or cfg.eval_features != "auto":
        return cfg
    folder = out_dir / FEATURE_CLASSIFIER_DIR
    if not (folder / "checkpoint.safetensors").is_file():
        _train_feature_classifier(cfg, folder)
    return cfg.replace(eval_features=f"classifier:{folder}")


def _train_feature_classifier(cfg: GANTrainConfig, folder: Path) -> None:
    from advlab import models
    from advlab.data import as_tensors, info, load
    from advlab.train import TrainConfig, fit

    spec = info(cfg.data)
    train_x = load_real_images(cfg.replace(data_limit=None))  # (N, C, S, S) in [0, 1]
    _, train_y = as_tensors(load(cfg.data, "train", root=cfg.data_root))
    args = {"in_channels": int(train_x.shape[1]), "num_classes": spec.num_classes,
            "image_size": int(train_x.shape[-1])}
    log.info("training a LeNet on %s for FID/KID/IS features (%s)", cfg.data, folder)
    torch.manual_seed(cfg.seed)
    net = models.create("lenet", **args)
    fit(net, (train_x, train_y), None, TrainConfig(epochs=3, seed=cfg.seed), folder,
        meta={"model": "lenet", "model_args": args, "dataset": cfg.data,
              "purpose": "GAN evaluation features"})


def train_config(
    words: list[str], given: Mapping[str, Any] | None = None,
    resume_from: str | Path | None = None,
) -> GANTrainConfig:
    """The config of `advlab gan train`: `given` (typed values of the command's own options,
    ``{"loss": "minimax", "iters": 2000}``) and `words`, every other field of `GANTrainConfig`
    in the one option grammar (`advlab.options`): ``--n-critic 5``, nested parts as
    ``--rule-lr 1e-4``, ``--growth-fade-images 20000``, ``--progressive-no-pixel-norm``, or by
    their bare names (``--lr 1e-4``, ``--fade-images 20000``, ``--no-pixel-norm``).

    The parts are applied by `GANTrainConfig.with_options` (the learning rule's starting from
    the objective's paper rule). A new run starts from the defaults and the objective's rule;
    with `resume_from` (a run folder) it starts from the run's saved config, and only the
    options given change it (`train` then refuses changes that would alter the trajectory).
    Unknown names are refused with the valid ones."""
    values, parts = parse_option_parts(words, GANTrainConfig, "gan train")
    options = {**(given or {}), **values}
    for _, part_values in parts.values():  # with_options knows each part by its own name
        options.update(part_values)
    if resume_from is None:
        loss = options.pop("loss", GANTrainConfig.loss)
        return GANTrainConfig(loss=loss).with_options(**options)
    path = Path(resume_from) / CHECKPOINT_FILE
    if not path.is_file():
        raise FileNotFoundError(f"--resume: no checkpoint at {path}")
    saved = GANTrainConfig.from_json(read_gan_checkpoint(path)[1]["config"])
    return saved.with_options(**options)


def train_command(
    cfg: GANTrainConfig, out_dir: str | Path, resume: bool = False,
    reporter: Progress | None = None,
) -> Table:
    """`advlab gan train`: train (or resume) a GAN into out_dir; returns a summary table.

    Files: checkpoint.safetensors, metrics.csv (step, wall_seconds, losses, Wasserstein
    estimate, FID/KID/IS on evaluation steps), tb/ (TensorBoard), samples/step_XXXXXX.png,
    config.json. Raises TrainingDiverged / DiscriminatorCollapsed with a message."""
    out = Path(out_dir)
    cfg = resolve_eval_features(cfg, out)
    result = train(cfg, out, resume=resume, reporter=reporter)
    return summary_table(cfg, result)


def summary_table(cfg: GANTrainConfig, result: TrainResult) -> Table:
    """One row per reported quantity: the run's last losses and its evaluations."""
    rows: list[list[str | int | float | None]] = [
        ["objective / architecture", f"{cfg.loss} / {cfg.arch}"],
        ["generator iterations", result.step],
        ["resumed from step", result.resumed_from],
        ["training seconds", round(result.wall_seconds, 2)],
    ]
    rows += [[name, value] for name, value in result.last.items()]
    for ev in result.evaluations:
        step = int(ev["step"])
        rows += [[f"{key} @ {step}", value] for key, value in ev.items() if key != "step"]
    rows.append(["run directory", str(result.out_dir)])
    return Table(f"GAN training: {cfg.loss} / {cfg.arch} on {cfg.data}", ["quantity", "value"],
                 rows, caption="metrics.csv holds every step; samples/ the grids")


def memorisation_command(
    checkpoint: str | Path, out_dir: str | Path, features: str = "auto", n: int = 1000,
    k: int = 5, shown: int = 8, seed: int = 0, device: str = "cpu",
    cache_dir: str | Path | None = None,
) -> Table:
    """`advlab gan memorisation`: the nearest-neighbour check of Karras et al. 2018, Figure 10,
    on any GAN run: n generated samples and n held-out test images searched in the run's
    training images, in a feature space: "auto" (the run's own feature classifier when `gan
    train --eval-every` made one, else a LeNet trained on the run's data, cached), "vgg16",
    "pixels" or "classifier:<checkpoint>". Writes memorisation_figure10.png (samples above
    their k nearest training images), memorisation_distances.png and result.json to out_dir;
    returns the table of distances."""
    import json

    from advlab.report.memorisation_figures import render_memorisation
    from advlab.zoo.context import RunContext, default_cache_dir
    from advlab.zoo.memorisation import check_run

    run_dir = Path(checkpoint)
    if run_dir.is_file():
        run_dir = run_dir.parent
    if features == "auto":
        own = run_dir / FEATURE_CLASSIFIER_DIR
        features = f"classifier:{own}" if (own / CHECKPOINT_FILE).is_file() else "classifier"
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    ctx = RunContext(out_dir=out, cache_dir=Path(cache_dir) if cache_dir else default_cache_dir(),
                     device=resolve_device(device))
    result = check_run(run_dir, features, ctx, n_generated=n, n_heldout=n, shown=shown, k=k,
                       seed=seed)
    (out / "result.json").write_text(json.dumps(dataclasses.asdict(result), indent=2))
    return render_memorisation(result, out).tables[0]


def sample_command(
    checkpoint: str | Path, n: int = 64, out_png: str | Path = "grid.png", seed: int = 0,
    use_ema: bool = True, device: str = "cpu",
) -> Path:
    """`advlab gan sample`: n samples of a trained generator (the EMA copy when present) with
    latents from the run's prior seeded by `seed`, as one PNG grid. Returns the PNG path."""
    if n < 1:
        raise ValueError(f"n must be >= 1, got {n}")
    G, cfg = load_generator(checkpoint, resolve_device(device), use_ema)
    z = sample_latent(n, cfg.latent_dim, cfg.latent_prior, torch.Generator().manual_seed(seed),
                      device)  # (n, latent_dim)
    return save_grid(generate(G, z), out_png)


def interpolate_command(
    checkpoint: str | Path, out_png: str | Path = "interpolation.png", steps: int = 10,
    rows: int = 8, seed: int = 0, method: str = "slerp", use_ema: bool = True,
    device: str = "cpu",
) -> Path:
    """`advlab gan interpolate`: `rows` latent walks of `steps` images each between random
    endpoints (DCGAN Section 6.1, "walking in the latent space"), "slerp" (White 2016) or
    "linear", one row per walk. Returns the PNG path."""
    if method not in INTERPOLATIONS:
        raise ValueError(f"unknown method {method!r}; valid: {', '.join(INTERPOLATIONS)}")
    G, cfg = load_generator(checkpoint, resolve_device(device), use_ema)
    z = interpolation_latents(rows, steps, cfg.latent_dim, cfg.latent_prior, method, seed)
    return save_grid(generate(G, z.to(device)), out_png, nrow=steps)
