"""GAN training: the explicit d_step / g_step loop with checkpoints, exact resume, evaluation,
sample grids, divergence and collapse checks, and data-parallel training.

    >>> from advlab.gan.trainer import GANTrainConfig, train
    >>> result = train(GANTrainConfig(loss="wgan-gp", arch="dcgan", iters=2000), "runs/wgan-gp")

Each generator iteration is Goodfellow et al. 2014 Algorithm 1 / Gulrajani et al. 2017
Algorithm 1: `n_critic` calls of `d_step` on fresh real batches and latents, then one
`g_step` (`advlab.gan.steps`). A run directory holds `checkpoint.safetensors`,
`metrics.csv`, `tb/` (TensorBoard) and `samples/step_XXXXXX.png` (a fixed latent batch).

Determinism: the order of real images is a seeded permutation per epoch and the latents of
generator iteration t are drawn from a generator seeded by (seed, rank, t), and learning-rate
and momentum schedules are pure functions of the step and the batches consumed
(`advlab.gan.schedules`), so a resumed run only needs those counters (and the collapse
detector's count), and continues bit-for-bit.
"""

from __future__ import annotations

import copy
import hashlib
import logging
import math
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from advlab.gan import distributed as ddp
from advlab.gan.config import GANTrainConfig, check_resumable
from advlab.gan.records import MetricsLog
from advlab.gan.sampling import generate, sample_latent, save_grid, to_signed_range
from advlab.gan.schedules import apply_learning_rule_
from advlab.gan.state import (
    DiscriminatorCollapsed,
    RunProgress,
    TrainingDiverged,
    build_networks,
    load_training_state,
    read_gan_checkpoint,
    save_training_state,
)
from advlab.gan.steps import d_step, ema_update_, g_step
from advlab.models.checkpoint import CHECKPOINT_FILE
from advlab.models.layers import use_channels_last
from advlab.progress import Progress, SilentProgress

__all__ = ["BatchStream", "CollapseDetector", "DiscriminatorCollapsed", "GANTrainConfig",
           "TrainResult", "TrainingDiverged", "d_step", "g_step", "load_real_images", "train"]

log = logging.getLogger(__name__)
WASSERSTEIN_LOSSES = ("wgan", "wgan-gp")


def seed_for(*parts: object) -> int:
    """A 63-bit seed that is a pure function of `parts` (stable across runs and machines)."""
    digest = hashlib.sha256(repr(parts).encode()).digest()
    return int.from_bytes(digest[:8], "little") & ((1 << 63) - 1)


class BatchStream:
    """Real minibatches in a seeded, resumable order, sharded over ranks.

    images: (N, C, H, W) in [-1, 1] on the training device. The global batch b (counting from
    0 over the whole run) is rows [i*B, (i+1)*B) of epoch e's permutation, e = b // (N // B),
    i = b % (N // B), the permutation drawn from a CPU generator seeded by (seed, e); the last
    incomplete batch of an epoch is dropped. Rank r of W takes rows [r*B/W, (r+1)*B/W) of it.
    """

    def __init__(self, images: Tensor, batch_size: int, seed: int, env: ddp.DistEnv,
                 position: int = 0) -> None:
        if batch_size % env.world_size:
            raise ValueError(f"batch_size {batch_size} must be divisible by the number of "
                             f"processes {env.world_size}")
        if images.shape[0] < batch_size:
            raise ValueError(f"the dataset has {images.shape[0]} images, fewer than one batch "
                             f"of {batch_size}")
        self.images, self.batch_size, self.seed, self.env = images, batch_size, seed, env
        self.per_epoch = images.shape[0] // batch_size
        self.position = position
        self._epoch, self._perm = -1, torch.empty(0, dtype=torch.long)

    def epoch_of(self, batch: int) -> int:
        """The epoch (0-based) that global batch number `batch` belongs to."""
        return batch // self.per_epoch

    def next(self) -> Tensor:
        """The next (B / world_size, C, H, W) batch of this rank."""
        epoch, i = divmod(self.position, self.per_epoch)
        if epoch != self._epoch:
            g = torch.Generator().manual_seed(seed_for(self.seed, "data", epoch))
            self._perm = torch.randperm(self.images.shape[0], generator=g).to(self.images.device)
            self._epoch = epoch
        local = self.batch_size // self.env.world_size
        start = i * self.batch_size + self.env.rank * local
        self.position += 1
        return self.images[self._perm[start : start + local]]


class CollapseDetector:
    """Stops a run whose discriminator has won outright.

    Definition (objectives with a bounded-below, probabilistic or least-squares discriminator:
    minimax, nonsaturating, lsgan): the discriminator loss stays below `threshold` (1e-3) for
    `patience` consecutive generator iterations. For the logistic objectives that means
    D(x) > 0.999 on real and D(G(z)) < 0.001 on generated data, the saturated regime in which
    log(1 - D(G(z))) gives G no gradient (Goodfellow et al. 2014, Section 3; Arjovsky & Bottou
    2017, Theorem 2.4). WGAN critics have unbounded losses and are never judged collapsed.

    `run` is the number of consecutive collapsed steps seen so far; the trainer checkpoints it
    (`RunProgress.collapse_run`) and passes it back on resume.
    """

    def __init__(self, loss: str, patience: int, threshold: float = 1e-3, run: int = 0) -> None:
        if run < 0:
            raise ValueError(f"run must be >= 0, got {run}")
        self.active = patience > 0 and loss not in WASSERSTEIN_LOSSES
        self.patience, self.threshold, self.run = patience, threshold, run

    def update(self, step: int, d_loss: float, d_fake: float) -> None:
        """Count generator step `step` (D loss `d_loss`, mean D score on fakes `d_fake`) and
        raise `DiscriminatorCollapsed` once `patience` consecutive steps were collapsed."""
        if not self.active:
            return
        self.run = self.run + 1 if d_loss < self.threshold else 0
        if self.run >= self.patience:
            raise DiscriminatorCollapsed(
                f"discriminator collapse at step {step}: D loss < {self.threshold:g} for "
                f"{self.run} consecutive generator steps (last D loss {d_loss:.3g}, mean D score "
                f"on fakes {d_fake:.3g}); the generator gets no gradient. Lower the D learning "
                f"rate, use k=1, or the non-saturating/WGAN-GP objective. The last checkpoint "
                f"is kept."
            )


def load_real_images(cfg: GANTrainConfig, split: str = "train") -> Tensor:
    """Dataset images (N, C, S, S) in [0, 1], resized to cfg.image_size when it is set."""
    from advlab.data import as_tensors, load

    images, _ = as_tensors(load(cfg.data, split, root=cfg.data_root), limit=cfg.data_limit)
    size = cfg.image_size
    if size is not None and images.shape[-1] != size:
        images = F.interpolate(images, size=(size, size), mode="bilinear", antialias=True,
                               align_corners=False).clamp_(0.0, 1.0)
    return images


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
) -> TrainResult:
    """Train a GAN per `cfg` into `out_dir` (see the module docstring for the files).

    resume: continue from `<out_dir>/checkpoint.safetensors` up to cfg.iters (bit-for-bit the
        uninterrupted run); the config may differ only in `RESUMABLE_CHANGES`.
    extractor: feature network for FID/KID/IS (a classifier on [0, 1] images); None resolves
        cfg.eval_features with `advlab.gan.metrics.feature_extractor` when evaluating.
    reporter: progress display (`advlab.progress.RichProgress` from the CLI; rank 0 only)
        showing D/G losses, the Wasserstein estimate and it/s. on_step(step, parts): called after each
        generator step with {"G", "D", "G_ema", "opt_g", "opt_d", "stats"} (tests use it to
        interrupt a run or inject faults).
    Raises TrainingDiverged (NaN/inf) or DiscriminatorCollapsed; the last checkpoint stays.
    Under torchrun (WORLD_SIZE > 1) it joins the process group and trains with DDP.
    """
    env, device = ddp.init_from_env(cfg.device)
    try:
        return _train(cfg, Path(out_dir), resume, env, device, extractor,
                      reporter if env.is_main and reporter is not None else SilentProgress(),
                      on_step, tensorboard)
    finally:
        ddp.shutdown(env)


def _train(cfg: GANTrainConfig, out: Path, resume: bool, env: ddp.DistEnv, device: torch.device,
           extractor: nn.Module | None, reporter: Progress, on_step: StepHook | None,
           tensorboard: bool) -> TrainResult:
    objective = cfg.objective()
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
    # channels-last convolution weights: same values, faster convolutions (oneDNN, cuDNN)
    G, D = use_channels_last(G.to(device)).train(), use_channels_last(D.to(device)).train()
    G_ema = copy.deepcopy(G).eval().requires_grad_(False) if cfg.ema_decay else None
    opt_g = objective.make_optimizer(G.parameters(), "G")
    opt_d = objective.make_optimizer(D.parameters(), "D")
    state = RunProgress()
    if resume:
        state = load_training_state(ckpt_path, G, D, G_ema, opt_g, opt_d)
        log.info("resumed %s at generator step %d", ckpt_path, state.step)
    resumed_from = state.step if resume else None
    G_run, D_run = ddp.wrap(G, env, device), ddp.wrap(D, env, device)

    stream = BatchStream(images, cfg.batch_size, cfg.seed, env, position=state.batches_seen)
    local_batch = cfg.batch_size // env.world_size
    noise = torch.Generator()  # CPU: the same latents on every device
    eps_gen = torch.Generator(device=device)
    amp_dtype = torch.bfloat16 if cfg.amp and device.type == "cuda" else None
    fixed_z = sample_latent(64, cfg.latent_dim, cfg.latent_prior,
                            torch.Generator().manual_seed(seed_for(cfg.seed, "grid")), device)
    collapse = CollapseDetector(cfg.loss, cfg.collapse_patience, run=state.collapse_run)
    if env.is_main:
        out.mkdir(parents=True, exist_ok=True)
        (out / "config.json").write_text(_json(cfg.to_json()))
    evaluator = _Evaluator(cfg, extractor, device) if cfg.eval_every and env.is_main else None
    records = MetricsLog(out, resumed_from, tensorboard) if env.is_main else None
    evaluations: list[dict[str, float]] = []
    last: dict[str, float] = {}
    if evaluator is not None and state.step == 0:
        # the untrained generator: where every curve starts (a row with step 0, no losses)
        scores = evaluator(G_ema if G_ema is not None else G)
        evaluations.append({"step": 0, **scores})
        if records is not None:
            records.write(0, 0.0, dict(scores))

    def checkpoint() -> None:
        if env.is_main:
            save_training_state(ckpt_path, cfg, shape, G, D, G_ema, opt_g, opt_d, state)
        ddp.barrier(env)

    try:
        with reporter.task(f"{cfg.loss} {cfg.arch}", cfg.iters) as task:
            task.advance(state.step)
            steps_here, seconds_here = 0, 0.0
            while state.step < cfg.iters:
                t0 = time.perf_counter()
                step = state.step + 1
                noise.manual_seed(seed_for(cfg.seed, "noise", env.rank, step))
                eps_gen.manual_seed(seed_for(cfg.seed, "eps", env.rank, step))
                for _ in range(objective.n_critic):
                    z = sample_latent(local_batch, cfg.latent_dim, cfg.latent_prior, noise, device)
                    # D's update number = the index of the real batch it trains on
                    apply_learning_rule_(opt_d, objective, "D", stream.position,
                                         stream.epoch_of(stream.position))
                    d_stats = d_step(G_run, D_run, opt_d, stream.next(), z, objective,
                                     penalty_generator=eps_gen, amp_dtype=amp_dtype)
                z = sample_latent(local_batch, cfg.latent_dim, cfg.latent_prior, noise, device)
                # G's update number = step - 1; its epoch = that of the last real batch
                apply_learning_rule_(opt_g, objective, "G", step - 1,
                                     stream.epoch_of(stream.position - 1))
                g_stats = g_step(G_run, D_run, opt_g, z, objective, amp_dtype=amp_dtype)
                if G_ema is not None and cfg.ema_decay is not None:
                    ema_update_(G_ema, G, cfg.ema_decay)
                stats = _gather_stats(d_stats, g_stats, cfg.loss, env)  # host sync, all ranks
                state.step, state.batches_seen = step, stream.position
                elapsed = time.perf_counter() - t0
                state.wall_seconds += elapsed
                steps_here, seconds_here = steps_here + 1, seconds_here + elapsed
                if not all(math.isfinite(v) for v in stats.values()):
                    kept = (f"the last good checkpoint ({ckpt_path}) is kept"
                            if ckpt_path.is_file() else "no checkpoint had been written yet")
                    raise TrainingDiverged(
                        f"non-finite loss at generator step {step}: "
                        f"{ {k: round(v, 4) for k, v in stats.items()} }; training stopped, "
                        f"{kept}. Lower the learning rate or check the data range."
                    )
                collapse.update(step, stats["d_loss"], stats["d_fake"])
                state.collapse_run = collapse.run  # checkpointed: a resume keeps the streak
                last = stats
                row: dict[str, float | None] = dict(stats)
                sampler = G_ema if G_ema is not None else G
                if evaluator is not None and step % cfg.eval_every == 0:
                    scores = evaluator(sampler)
                    evaluations.append({"step": step, **scores})
                    row.update(scores)
                if records is not None:
                    records.write(step, state.wall_seconds, row)
                if env.is_main and cfg.sample_every and step % cfg.sample_every == 0:
                    save_grid(generate(sampler, fixed_z), out / "samples" / f"step_{step:06d}.png")
                if (cfg.checkpoint_every and step % cfg.checkpoint_every == 0) or step == cfg.iters:
                    checkpoint()
                task.advance(1, **_describe(stats), it_s=steps_here / max(seconds_here, 1e-9))
                if on_step is not None:
                    on_step(step, {"G": G, "D": D, "G_ema": G_ema, "opt_g": opt_g,
                                   "opt_d": opt_d, "stats": stats})
        if env.is_main and (cfg.sample_every == 0 or state.step % cfg.sample_every):
            save_grid(generate(G_ema if G_ema is not None else G, fixed_z),
                      out / "samples" / f"step_{state.step:06d}.png")
    finally:
        if records is not None:
            records.close()
    return TrainResult(out, state.step, state.wall_seconds, last, evaluations, resumed_from)


def _gather_stats(d_stats: dict[str, Tensor], g_stats: dict[str, Tensor], loss: str,
                  env: ddp.DistEnv) -> dict[str, float]:
    """The last D step's and the G step's statistics as floats, averaged over ranks."""
    keys = ["d_loss", "g_loss", "gradient_penalty", "d_real", "d_fake"]
    stacked = torch.stack([d_stats["d_loss"], g_stats["g_loss"], d_stats["gradient_penalty"],
                           d_stats["d_real"], d_stats["d_fake"]]).float()  # (5,)
    # all-reduce on the training device (NCCL needs CUDA tensors), then one host sync
    stats = dict(zip(keys, ddp.mean_across_ranks(stacked, env).tolist(), strict=True))
    if loss in WASSERSTEIN_LOSSES:
        # the critic's estimate of W(P_r, P_g): E[D(x)] - E[D(G(z))] (WGAN-GP Section 5.3)
        stats["wasserstein"] = stats["d_real"] - stats["d_fake"]
    return stats


class _Evaluator:
    """FID / KID / IS of the generator on `eval_samples` fixed latents against as many test
    images; the real features are extracted once (`advlab.gan.metrics.GenerativeScores`)."""

    def __init__(self, cfg: GANTrainConfig, extractor: nn.Module | None, device: torch.device):
        from advlab.gan.metrics import GenerativeScores

        if extractor is None and cfg.eval_features == "auto":
            raise ValueError(
                "eval_every > 0 needs features: set eval_features to 'classifier:<checkpoint>' "
                "or 'inception', or pass an extractor (`advlab gan train` resolves 'auto')")
        spec = extractor if extractor is not None else cfg.eval_features
        self.cfg = cfg
        self.scores = GenerativeScores(spec, seed=cfg.seed)
        self.scores.extractor.to(device).eval()
        real = load_real_images(cfg, "test")[: cfg.eval_samples]  # (n, C, H, W) in [0, 1]
        self.scores.add_real(real.to(device))

    def __call__(self, generator: nn.Module) -> dict[str, float]:
        was_training = generator.training
        generator.eval()  # BN running statistics; nothing is updated
        try:
            return self.scores.score_generator(
                generator, self.cfg.eval_samples, latent_dim=self.cfg.latent_dim,
                seed=self.cfg.seed, prior=self.cfg.latent_prior)  # type: ignore[arg-type]
        finally:
            generator.train(was_training)


def _describe(stats: dict[str, float]) -> dict[str, float]:
    shown = {"D": stats["d_loss"], "G": stats["g_loss"]}
    if "wasserstein" in stats:
        shown["W"] = stats["wasserstein"]
    return shown


def _json(data: dict[str, Any]) -> str:
    import json

    return json.dumps(data, indent=2, sort_keys=True)
