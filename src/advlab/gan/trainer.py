"""GAN training: the explicit d_step / g_step loop with checkpoints, exact resume, evaluation,
sample grids, divergence and collapse checks, progressive growing and data-parallel training.

    >>> from advlab.gan.trainer import GANTrainConfig, train
    >>> result = train(GANTrainConfig(loss="wgan-gp", arch="dcgan", iters=2000), "runs/wgan-gp")

Each generator iteration is Goodfellow et al. 2014 Algorithm 1 / Gulrajani et al. 2017
Algorithm 1: `n_critic` calls of `d_step` on fresh real batches and latents, then one
`g_step` (`advlab.gan.steps`). For a growing architecture (Karras et al. 2018) the iteration
first reads the growth phase off the number of real images seen (`advlab.gan.growth`): it
sets both networks' level of detail, takes that resolution's minibatch size, fades the real
images like the networks, and resets the optimisers' state when a fade starts or ends. A run
directory holds `checkpoint.safetensors`, `metrics.csv`, `tb/` (TensorBoard) and
`samples/step_XXXXXX.png` (a fixed latent batch).

Determinism: the order of real images is a seeded permutation per epoch, the latents of
generator iteration t are drawn from a generator seeded by (seed, rank, t), and the learning
rule's schedules, the growth schedule and the EMA generator's batch-norm statistics are pure
functions of counters the checkpoint keeps (`advlab.gan.state.RunProgress`), so a resumed run
continues bit-for-bit.
"""

from __future__ import annotations

import copy
import logging
import math
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch
from torch import Tensor, nn

from advlab.errors import TrainingInterrupted
from advlab.gan import distributed as ddp
from advlab.gan.config import GANTrainConfig, check_resumable
from advlab.gan.evaluation import RunEvaluator
from advlab.gan.growth import fade_reals, phase_at
from advlab.gan.monitors import WASSERSTEIN_LOSSES, CollapseDetector, DivergenceDetector
from advlab.gan.realdata import BatchStream, load_real_images, seed_for
from advlab.gan.records import MetricsLog
from advlab.gan.sampling import generate, sample_latent, save_grid, to_signed_range
from advlab.gan.state import (
    DiscriminatorCollapsed,
    RunProgress,
    TrainingDiverged,
    build_networks,
    load_training_state,
    read_gan_checkpoint,
    save_training_state,
)
from advlab.gan.steps import d_step, ema_update_, g_step, recalibrate_batchnorm_
from advlab.interrupt import graceful_interrupt
from advlab.models.checkpoint import CHECKPOINT_FILE
from advlab.models.gan.progressive import is_growing, set_lod_
from advlab.models.layers import use_channels_last
from advlab.progress import Progress, SilentProgress

__all__ = ["BatchStream", "CollapseDetector", "DiscriminatorCollapsed", "DivergenceDetector",
           "GANTrainConfig", "TrainResult", "TrainingDiverged", "d_step", "g_step",
           "load_real_images", "train"]

log = logging.getLogger(__name__)
RECALIBRATION_BATCHES = 8  # batches of latents for the EMA generator's batch-norm statistics


@dataclass
class TrainResult:
    """What `train` returns: the run directory, steps done, seconds, the last training
    statistics and every evaluation (dicts with step, fid, kid_mean, ..., inception_score)."""

    out_dir: Path
    step: int
    wall_seconds: float
    last: dict[str, float]
    evaluations: list[dict[str, float]] = field(default_factory=list)
    resumed_from: int | None = None


StepHook = Callable[[int, dict[str, Any]], None]


def train(
    cfg: GANTrainConfig,
    out_dir: str | Path,
    resume: bool = False,
    *,
    extractor: nn.Module | None = None,
    reporter: Progress | None = None,
    on_step: StepHook | None = None,
    tensorboard: bool = True,
    label: str | None = None,
) -> TrainResult:
    """Train a GAN per `cfg` into `out_dir` (see the module docstring for the files).

    resume: continue from `<out_dir>/checkpoint.safetensors` up to cfg.iters (bit-for-bit the
        uninterrupted run); the config may differ only in `RESUMABLE_CHANGES`.
    extractor: feature network for FID/KID/IS (a classifier on [0, 1] images); None resolves
        cfg.eval_features with `advlab.gan.metrics.feature_extractor` when evaluating.
    reporter: progress display (rank 0 only): one task of cfg.iters generator iterations
        with D/G losses, the Wasserstein estimate, the resolution of a growing run and it/s,
        nested under the caller's tasks. on_step(step, parts): called after each generator
        step with {"G", "D", "G_ema", "opt_g", "opt_d", "stats", "progress" (`RunProgress`:
        images seen, ...)} (tests use it to interrupt a run or inject faults; experiments to
        take snapshots). label: the progress task's name (default "<loss> <arch>").
    Raises TrainingDiverged (NaN/inf, or a loss or gradient norm blowing up) or
    DiscriminatorCollapsed; the last checkpoint, written before the run went bad, stays.
    Under torchrun (WORLD_SIZE > 1) it joins the process group and trains with DDP.
    """
    env, device = ddp.init_from_env(cfg.device)
    try:
        return _train(cfg, Path(out_dir), resume, env, device, extractor,
                      reporter if env.is_main and reporter is not None else SilentProgress(),
                      on_step, tensorboard, label or f"{cfg.loss} {cfg.arch}")
    finally:
        ddp.shutdown(env)


def _train(cfg: GANTrainConfig, out: Path, resume: bool, env: ddp.DistEnv, device: torch.device,
           extractor: nn.Module | None, reporter: Progress, on_step: StepHook | None,
           tensorboard: bool, label: str) -> TrainResult:
    objective, rule, growth = cfg.objective(), cfg.learning_rule(), cfg.growth_schedule()
    ckpt_path = out / CHECKPOINT_FILE
    if resume:
        if not ckpt_path.is_file():
            raise FileNotFoundError(f"--resume: no checkpoint at {ckpt_path}")
        saved = GANTrainConfig.from_json(read_gan_checkpoint(ckpt_path)[1]["config"])
        check_resumable(saved, cfg)

    images = to_signed_range(load_real_images(cfg)).to(device)  # (N, C, H, W) in [-1, 1]
    c, h, w = (int(d) for d in images.shape[1:])
    shape = (c, h, w)
    G, D = build_networks(cfg, shape)
    growing = is_growing(G)
    if growth is not None and not growing:
        raise ValueError(f"arch {cfg.arch!r} does not grow; a growth schedule needs 'progressive'")
    # channels-last convolution weights: same values, faster convolutions (oneDNN, cuDNN)
    G, D = use_channels_last(G.to(device)).train(), use_channels_last(D.to(device)).train()
    G_ema = copy.deepcopy(G).eval().requires_grad_(False) if cfg.ema_decay else None
    opt_g, opt_d = rule.make_optimizer(G.parameters(), "G"), rule.make_optimizer(D.parameters(), "D")
    state = RunProgress()
    if resume:
        state = load_training_state(ckpt_path, G, D, G_ema, opt_g, opt_d)
        log.info("resumed %s at generator step %d", ckpt_path, state.step)
    resumed_from = state.step if resume else None
    G_run = ddp.wrap(G, env, device, find_unused_parameters=growing)
    D_run = ddp.wrap(D, env, device, find_unused_parameters=growing)

    if state.data_epoch is None or state.data_offset is None:  # new run, or an older checkpoint
        stream = BatchStream.at_batch(images, cfg.batch_size, cfg.seed, env, state.batches_seen)
    else:
        stream = BatchStream(images, cfg.seed, env, state.batches_seen, state.data_epoch,
                             state.data_offset)
    noise = torch.Generator()  # CPU: the same latents on every device
    eps_gen = torch.Generator(device=device)
    amp_dtype = torch.bfloat16 if cfg.amp and device.type == "cuda" else None
    fixed_z = sample_latent(64, cfg.latent_dim, cfg.latent_prior,
                            torch.Generator().manual_seed(seed_for(cfg.seed, "grid")), device)
    recalibration_z = sample_latent(
        RECALIBRATION_BATCHES * cfg.batch_size, cfg.latent_dim, cfg.latent_prior,
        torch.Generator().manual_seed(seed_for(cfg.seed, "batchnorm")), device)
    collapse = CollapseDetector(cfg.loss, cfg.collapse_patience, run=state.collapse_run)
    divergence = DivergenceDetector(cfg.divergence_factor, scales=state.divergence_scales)
    if env.is_main:
        out.mkdir(parents=True, exist_ok=True)
        (out / "config.json").write_text(_json(cfg.to_json()))
    evaluator = RunEvaluator(cfg, extractor, device) if cfg.eval_every and env.is_main else None
    records = MetricsLog(out, resumed_from, tensorboard) if env.is_main else None
    evaluations: list[dict[str, float]] = []
    last: dict[str, float] = {}
    last_checkpoint = state.step if resume else None

    def sampler() -> nn.Module:
        """The generator to show and score: the EMA copy (its batch-norm statistics
        recomputed for the averaged weights) when there is one."""
        if G_ema is None:
            return G
        recalibrate_batchnorm_(G_ema, recalibration_z, cfg.batch_size)
        return G_ema

    def checkpoint() -> None:
        nonlocal last_checkpoint
        if env.is_main:
            sampler()  # the saved EMA generator carries statistics of its own weights
            save_training_state(ckpt_path, cfg, shape, G, D, G_ema, opt_g, opt_d, state)
        last_checkpoint = state.step
        ddp.barrier(env)

    def stopped(reason: str, kind: type[TrainingDiverged] = TrainingDiverged) -> TrainingDiverged:
        kept = (f"the last good checkpoint ({ckpt_path}, step {last_checkpoint}) is kept"
                if last_checkpoint is not None else "no checkpoint had been written yet")
        advice = ("" if kind is DiscriminatorCollapsed else ". Lower the learning rate, add a "
                  "constraint (--max-norm) or check the data range")
        return kind(f"{reason}; training stopped, {kept}{advice}")

    if evaluator is not None and state.step == 0:
        # the untrained generator: where every curve starts (a row with step 0, no losses)
        scores = evaluator(sampler())
        evaluations.append({"step": 0, **scores})
        if records is not None:
            records.write(0, 0.0, dict(scores))

    try:  # Ctrl-C: finish the step, checkpoint, stop (alone only: ranks would have to agree)
        with reporter.task(label, cfg.iters) as task, graceful_interrupt(env.world_size == 1) as stop:
            task.advance(state.step)
            steps_here, seconds_here = 0, 0.0
            while state.step < cfg.iters:
                t0 = time.perf_counter()
                step = state.step + 1
                batch, lod = cfg.batch_size, None
                if growth is not None:  # Karras et al. 2018: the phase is a function of images
                    phase = phase_at(growth, state.images_seen, h)
                    lod, batch = phase.lod, growth.batch_size(phase.resolution, cfg.batch_size)
                    for network in (G, D, G_ema):
                        if network is not None:
                            set_lod_(network, lod)
                    if growth.reset_optimizer and phase.stage != state.growth_stage:
                        opt_g.state.clear()  # official reset_opt_for_new_lod: fresh Adam
                        opt_d.state.clear()  # moments when a fade starts and when it ends
                    state.growth_stage = phase.stage
                local_batch = batch // env.world_size
                noise.manual_seed(seed_for(cfg.seed, "noise", env.rank, step))
                eps_gen.manual_seed(seed_for(cfg.seed, "eps", env.rank, step))
                for _ in range(objective.n_critic):
                    z = sample_latent(local_batch, cfg.latent_dim, cfg.latent_prior, noise, device)
                    # D's update number = the index of the real batch it trains on
                    rule.apply_(opt_d, "D", stream.position, stream.epoch_of_next(batch))
                    real = stream.next(batch)  # (B / W, C, H, W)
                    if lod is not None:
                        real = fade_reals(real, lod)
                    d_stats = d_step(G_run, D_run, opt_d, real, z, objective,
                                     penalty_generator=eps_gen, amp_dtype=amp_dtype)
                    state.images_seen += batch
                z = sample_latent(local_batch, cfg.latent_dim, cfg.latent_prior, noise, device)
                # G's update number = step - 1; its epoch = that of the last real batch
                rule.apply_(opt_g, "G", step - 1, stream.epoch)
                g_stats = g_step(G_run, D_run, opt_g, z, objective, amp_dtype=amp_dtype)
                if G_ema is not None and cfg.ema_decay is not None:
                    ema_update_(G_ema, G, cfg.ema_decay)
                stats = _gather_stats(d_stats, g_stats, cfg.loss, env)  # host sync, all ranks
                state.step, state.batches_seen = step, stream.position
                state.data_epoch, state.data_offset = stream.epoch, stream.offset
                elapsed = time.perf_counter() - t0
                state.wall_seconds += elapsed
                steps_here, seconds_here = steps_here + 1, seconds_here + elapsed
                if not all(math.isfinite(v) for v in stats.values()):
                    raise stopped(f"non-finite loss at generator step {step}: "
                                  f"{ {k: round(v, 4) for k, v in stats.items()} }")
                try:
                    divergence.update(step, stats)
                except TrainingDiverged as error:
                    raise stopped(str(error)) from None
                state.divergence_scales = dict(divergence.scales)
                try:
                    collapse.update(step, stats["d_loss"], stats["d_fake"])
                except DiscriminatorCollapsed as error:
                    raise stopped(str(error), DiscriminatorCollapsed) from None
                state.collapse_run = collapse.run  # checkpointed: a resume keeps the streak
                last = stats
                row: dict[str, float | None] = {**stats, "images_seen": float(state.images_seen),
                                                "lod": lod}
                if evaluator is not None and step % cfg.eval_every == 0:
                    scores = evaluator(sampler())
                    evaluations.append({"step": step, **scores})
                    row.update(scores)
                if records is not None:
                    records.write(step, state.wall_seconds, row)
                if env.is_main and cfg.sample_every and step % cfg.sample_every == 0:
                    save_grid(generate(sampler(), fixed_z), out / "samples" / f"step_{step:06d}.png")
                if (cfg.checkpoint_every and step % cfg.checkpoint_every == 0) or step == cfg.iters:
                    checkpoint()
                shown = _describe(stats, h // 2 ** math.floor(lod) if lod is not None else None)
                task.advance(1, **shown, it_s=steps_here / max(seconds_here, 1e-9))
                if on_step is not None:
                    on_step(step, {"G": G, "D": D, "G_ema": G_ema, "opt_g": opt_g,
                                   "opt_d": opt_d, "stats": stats, "progress": state})
                if stop.requested:
                    if last_checkpoint != state.step:
                        checkpoint()
                    raise TrainingInterrupted(f"interrupted at generator step {state.step}; "
                                              f"checkpoint saved at {ckpt_path}",
                                              str(ckpt_path), state.step)
        if env.is_main and (cfg.sample_every == 0 or state.step % cfg.sample_every):
            save_grid(generate(sampler(), fixed_z), out / "samples" / f"step_{state.step:06d}.png")
    finally:
        if records is not None:
            records.close()
    return TrainResult(out, state.step, state.wall_seconds, last, evaluations, resumed_from)


def _gather_stats(d_stats: dict[str, Tensor], g_stats: dict[str, Tensor], loss: str,
                  env: ddp.DistEnv) -> dict[str, float]:
    """The last D step's and the G step's statistics as floats, averaged over ranks."""
    parts = {**d_stats, **g_stats}
    keys = ["d_loss", "g_loss", "gradient_penalty", "d_real", "d_fake", "d_grad_norm",
            "g_grad_norm"]
    stacked = torch.stack([parts[k].float().to(parts["d_loss"].device) for k in keys])  # (7,)
    # all-reduce on the training device (NCCL needs CUDA tensors), then one host sync
    stats = dict(zip(keys, ddp.mean_across_ranks(stacked, env).tolist(), strict=True))
    if loss in WASSERSTEIN_LOSSES:
        # the critic's estimate of W(P_r, P_g): E[D(x)] - E[D(G(z))] (WGAN-GP Section 5.3)
        stats["wasserstein"] = stats["d_real"] - stats["d_fake"]
    return stats


def _describe(stats: dict[str, float], resolution: int | None) -> dict[str, float | str]:
    shown: dict[str, float | str] = {"D": stats["d_loss"], "G": stats["g_loss"]}
    if "wasserstein" in stats:
        shown["W"] = stats["wasserstein"]
    if resolution is not None:
        shown["res"] = f"{resolution}px"
    return shown


def _json(data: dict[str, Any]) -> str:
    import json

    return json.dumps(data, indent=2, sort_keys=True)
