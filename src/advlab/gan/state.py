"""GAN networks from a config, and the training state as one checkpoint file.

A GAN checkpoint (`advlab.models.checkpoint.save_state`, one safetensors file written
atomically) holds tensors
    G.*, D.*          generator / discriminator state_dicts (weights and BN buffers),
    G_ema.*           the EMA generator (when ema_decay is set),
    opt_g.*, opt_d.*  both optimisers' state (Adam moments, RMSProp averages, momenta),
    rng.torch_cpu     the global torch CPU generator state (uint8),
and JSON metadata {"kind": "gan", "config": GANTrainConfig, "image_shape": [C, H, W],
"step", "batches_seen", "images_seen", "data_epoch", "data_offset", "wall_seconds",
"collapse_run", "growth_stage", "divergence_scales", "opt_g"/"opt_d": param groups}.
Nothing else is needed to continue bit-for-bit: the data order and the noise are pure
functions of (seed, position), and so are the learning-rate and momentum schedules
(`LearningRule.at`: of the step and the batches seen) and the growth schedule
(`advlab.gan.growth.phase_at`: of the images seen). Fields added later (collapse_run,
images_seen, data_epoch / data_offset, growth_stage, divergence_scales) are absent from older
checkpoints and read as their starting values there (the stream position from batches_seen).
"""

from __future__ import annotations

import inspect
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch
from torch import nn

from advlab.errors import DiscriminatorCollapsed, TrainingDiverged  # noqa: F401  (re-exported)
from advlab.gan.config import GANTrainConfig
from advlab.models.checkpoint import (
    CheckpointError,
    load_state,
    optimizer_state_from_tensors,
    optimizer_state_to_tensors,
    prefixed,
    save_state,
    unprefixed,
)

CHECKPOINT_KIND = "gan"


@dataclass
class RunProgress:
    """Where a run is: generator steps done, real batches consumed (the discriminator's update
    count), real images shown to the discriminator (what the growth schedule is a function
    of), the data stream's epoch and offset in it (None: derive them from batches_seen),
    seconds trained so far, how many consecutive steps up to now the discriminator has won
    outright (`collapse_run`, `advlab.gan.monitors.CollapseDetector`), the growth stage whose
    optimiser state is in use (-1 = none yet) and the divergence detector's running scales,
    so a resumed run stops and resets exactly where the uninterrupted one would."""

    step: int = 0
    batches_seen: int = 0
    wall_seconds: float = 0.0
    collapse_run: int = 0
    images_seen: int = 0
    data_epoch: int | None = None
    data_offset: int | None = None
    growth_stage: int = -1
    divergence_scales: dict[str, float] = field(default_factory=dict)


def build_networks(cfg: GANTrainConfig, image_shape: tuple[int, int, int]) -> tuple[nn.Module, nn.Module]:
    """(G, D) for `cfg.arch` at image_shape (C, H, W), initialised from `cfg.seed`.

    Optional architecture arguments (resnet depth, batch norm in the critic) are passed only
    when the architecture's factory accepts them.
    """
    from advlab.models.gan import build_gan

    channels, height, _ = image_shape
    kwargs: dict[str, Any] = {}
    critic_bn = cfg.critic_batchnorm
    if critic_bn is None:
        # the penalty is per-sample, batch norm couples samples (WGAN-GP Section 4)
        critic_bn = not cfg.objective().uses_gradient_penalty
    accepted = _accepted_kwargs(build_gan, cfg.arch)
    if "batchnorm_in_critic" in accepted:
        kwargs["batchnorm_in_critic"] = critic_bn
    if cfg.progressive is not None:
        kwargs["switches"] = cfg.progressive
    if cfg.arch_depth is not None:
        if "depth" not in accepted:
            raise ValueError(f"arch {cfg.arch!r} has no depth argument (arch_depth={cfg.arch_depth})")
        kwargs["depth"] = cfg.arch_depth
    torch.manual_seed(cfg.seed)  # identical initial weights on every rank and every resume
    return build_gan(
        cfg.arch, image_size=height, channels=channels, latent_dim=cfg.latent_dim,
        width=cfg.width, **kwargs,
    )


def _accepted_kwargs(build_gan: Any, arch: str) -> set[str]:
    """Keyword names the arch factory accepts (all, if it takes **kwargs and forwards them)."""
    from advlab.models.gan import GAN_ARCHS

    factory = GAN_ARCHS.get(arch)
    try:
        params = inspect.signature(factory).parameters
    except (TypeError, ValueError):
        return set()
    return {name for name, p in params.items() if p.kind is not p.VAR_KEYWORD}


def all_finite(*modules: nn.Module | None) -> bool:
    """True when every parameter and buffer of the given modules is finite."""
    for module in modules:
        if module is None:
            continue
        for t in list(module.parameters()) + list(module.buffers()):
            if t.is_floating_point() and not bool(torch.isfinite(t).all()):
                return False
    return True


def save_training_state(
    path: Path,
    cfg: GANTrainConfig,
    image_shape: tuple[int, int, int],
    G: nn.Module,
    D: nn.Module,
    G_ema: nn.Module | None,
    opt_g: torch.optim.Optimizer,
    opt_d: torch.optim.Optimizer,
    progress: RunProgress,
) -> Path:
    """Write the whole training state atomically. Refuses non-finite weights (so a diverged
    run can never overwrite its last good checkpoint) with `TrainingDiverged`."""
    if not all_finite(G, D, G_ema):
        raise TrainingDiverged(
            f"refusing to write {path}: the networks hold NaN/inf weights at step {progress.step}"
        )
    tensors: dict[str, torch.Tensor] = {}
    tensors.update(prefixed("G", G.state_dict()))
    tensors.update(prefixed("D", D.state_dict()))
    if G_ema is not None:
        tensors.update(prefixed("G_ema", G_ema.state_dict()))
    g_tensors, g_meta = optimizer_state_to_tensors(opt_g, "opt_g")
    d_tensors, d_meta = optimizer_state_to_tensors(opt_d, "opt_d")
    tensors.update(g_tensors)
    tensors.update(d_tensors)
    tensors["rng.torch_cpu"] = torch.get_rng_state()
    meta = {
        "kind": CHECKPOINT_KIND,
        "config": cfg.to_json(),
        "image_shape": list(image_shape),
        "step": progress.step,
        "batches_seen": progress.batches_seen,
        "images_seen": progress.images_seen,
        "data_epoch": progress.data_epoch,
        "data_offset": progress.data_offset,
        "wall_seconds": progress.wall_seconds,
        "collapse_run": progress.collapse_run,
        "growth_stage": progress.growth_stage,
        "divergence_scales": progress.divergence_scales,
        "opt_g": g_meta,
        "opt_d": d_meta,
        "ema": G_ema is not None,
    }
    return save_state(path, tensors, meta)


def read_gan_checkpoint(path: str | Path) -> tuple[dict[str, torch.Tensor], dict[str, Any]]:
    """Load a GAN checkpoint's tensors and metadata; other checkpoints are refused."""
    tensors, meta = load_state(path)
    if meta.get("kind") != CHECKPOINT_KIND:
        raise CheckpointError(f"{path} is not a GAN checkpoint: {_what_it_is(meta)}; train a GAN "
                              "with `advlab gan train`")
    return tensors, meta


def _what_it_is(meta: dict[str, Any]) -> str:
    """What a non-GAN advlab checkpoint holds, in words (for the refusal above)."""
    if meta.get("model"):
        return (f"it holds a classifier ({meta['model']}"
                f"{' on ' + str(meta['dataset']) if meta.get('dataset') else ''}); use it with "
                "`advlab eval`, `advlab attack` or `advlab certify`")
    return f"its metadata has kind {meta.get('kind')!r} and no model name"


def load_training_state(
    path: Path,
    G: nn.Module,
    D: nn.Module,
    G_ema: nn.Module | None,
    opt_g: torch.optim.Optimizer,
    opt_d: torch.optim.Optimizer,
) -> RunProgress:
    """Restore everything `save_training_state` wrote, in place; returns the run's progress
    (fields added later take their starting values for older checkpoints)."""
    tensors, meta = read_gan_checkpoint(path)
    G.load_state_dict(unprefixed("G", tensors))
    D.load_state_dict(unprefixed("D", tensors))
    if G_ema is not None:
        ema = unprefixed("G_ema", tensors)
        if not ema:
            raise CheckpointError(f"{path} has no EMA generator but the config asks for one")
        G_ema.load_state_dict(ema)
    optimizer_state_from_tensors(opt_g, tensors, meta["opt_g"], "opt_g")
    optimizer_state_from_tensors(opt_d, tensors, meta["opt_d"], "opt_d")
    torch.set_rng_state(tensors["rng.torch_cpu"])
    return RunProgress(
        step=int(meta["step"]), batches_seen=int(meta["batches_seen"]),
        wall_seconds=float(meta["wall_seconds"]), collapse_run=int(meta.get("collapse_run", 0)),
        images_seen=int(meta.get("images_seen", 0)), data_epoch=meta.get("data_epoch"),
        data_offset=meta.get("data_offset"), growth_stage=int(meta.get("growth_stage", -1)),
        divergence_scales={k: float(v) for k, v in meta.get("divergence_scales", {}).items()},
    )


def load_generator(
    checkpoint: str | Path, device: torch.device | str = "cpu", use_ema: bool = True
) -> tuple[nn.Module, GANTrainConfig]:
    """The generator of a GAN checkpoint (its EMA copy when saved and `use_ema`), in eval mode,
    rebuilt from the config in the metadata. Returns (G, config)."""
    tensors, meta = read_gan_checkpoint(checkpoint)
    cfg = GANTrainConfig.from_json(meta["config"])
    G, _ = build_networks(cfg, tuple(meta["image_shape"]))
    prefix = "G_ema" if use_ema and meta.get("ema") else "G"
    G.load_state_dict(unprefixed(prefix, tensors))
    if not all_finite(G):
        raise CheckpointError(f"{checkpoint}: generator weights are not finite")
    return G.to(device).eval(), cfg
