"""The configuration of one GAN training run, and how it resolves against an objective.

`GANTrainConfig` is a flat dataclass of JSON-able fields (the CLI maps ``--field value`` onto
it, checkpoints store it in their metadata). Optimiser fields left at ``None`` take the
paper defaults carried by the objective (`advlab.gan.losses.OBJECTIVES`):

    Goodfellow et al. 2014, Algorithm 1   minimax                  SGD + momentum, k = 1, with
                                                                   the authors' lr decay and
                                                                   momentum ramp (mnist.yaml)
    Radford et al. 2016 (DCGAN)           nonsaturating            Adam 2e-4, beta1 0.5
    Mao et al. 2017 (LSGAN)               lsgan                    Adam 2e-4, beta1 0.5
    Arjovsky et al. 2017 (WGAN)           wgan                     RMSProp 5e-5, c 0.01, n_critic 5
    Gulrajani et al. 2017 (WGAN-GP)       wgan-gp                  Adam 1e-4 (0, 0.9), lambda 10, n_critic 5
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import Any

from advlab.gan.losses import OBJECTIVES, Objective

LATENT_PRIORS: tuple[str, ...] = ("uniform", "normal")

# Fields that may differ between an interrupted run and its `--resume`: they change how long
# the run goes on or what it writes, never the trajectory of the weights.
RESUMABLE_CHANGES: frozenset[str] = frozenset(
    {"iters", "eval_every", "eval_samples", "eval_features", "sample_every",
     "checkpoint_every", "device", "collapse_patience"}
)


@dataclass(frozen=True)
class GANTrainConfig:
    """One GAN run. Units: `iters` counts GENERATOR iterations (the outer loop of Goodfellow's
    Algorithm 1 / WGAN-GP's Algorithm 1); each does `n_critic` discriminator steps first.

    loss: objective name (minimax, nonsaturating, lsgan, wgan, wgan-gp).
    arch: architecture name of `advlab.models.gan.GAN_ARCHS`; width: base channel count;
        arch_depth: residual blocks per stage for `resnet` (None = the arch default).
    data: dataset name for `advlab.data.load`; data_root: where torchvision sets live;
        data_limit: use only the first N training images (tests, quick runs).
    image_size: side of generated images (None = the dataset's; data is resized to it).
    batch_size: minibatch size m (global: split over ranks when distributed).
    n_critic: D steps per G step (k); optimizer/lr/betas/momentum/clip_value/gp_weight:
        None = the objective's paper default.
    d_lr_scale: the discriminator's lr is lr * d_lr_scale (None = the objective's: 0.5 for
        minimax, whose authors halved D's cost, 1 otherwise).
    max_norm: max L2 norm of each unit's incoming weights in G and D, enforced after every
        step (pylearn2 max_col_norm; `advlab.gan.penalties.max_norm_`); None = the objective's
        default, 0 = off.
    lr_decay / min_lr: lr after n updates = max(lr / lr_decay**n, min_lr) (pylearn2
        ExponentialDecay; 1 = constant); final_momentum / momentum_start / momentum_saturate:
        SGD momentum rising linearly from `momentum` to `final_momentum` over those epochs
        (pylearn2 MomentumAdjustor). None = the objective's default (Goodfellow's mnist.yaml
        rule for minimax, off otherwise), see `advlab.gan.schedules`. An `optimizer` other
        than the objective's drops its lr decay and momentum ramp, and an explicit `momentum`
        its ramp, unless these fields are given too.
    latent_prior: "uniform" (U[-1, 1], Goodfellow/DCGAN) or "normal" (N(0, I), WGAN-GP).
    ema_decay: exponential moving average of G's weights (e.g. 0.999), None = off.
    eval_every: FID/KID/IS every N generator steps (0 = off), and of the untrained generator at
        step 0 of a new run, on `eval_samples` samples with features from `eval_features`
        ("classifier:<checkpoint>", "inception", or "auto").
    sample_every / checkpoint_every: grids `samples/step_XXXXXX.png` and checkpoints (0 = only
        at the end). collapse_patience: stop when the discriminator has won outright for this
        many consecutive steps (0 = never), see `advlab.gan.trainer.CollapseDetector`.
    critic_batchnorm: batch norm in the discriminator (None = off for the gradient penalty,
        which is per-sample (WGAN-GP Section 4), on otherwise, where the arch has it).
    seed, device ("auto" | "cpu" | "cuda" | "cuda:1"), amp (bfloat16 autocast of forward
        passes on CUDA; ignored on CPU).
    """

    loss: str = "wgan-gp"
    arch: str = "dcgan"
    data: str = "mnist-5k"
    data_root: str | None = None
    data_limit: int | None = None
    iters: int = 2000
    batch_size: int = 64
    n_critic: int | None = None
    optimizer: str | None = None
    lr: float | None = None
    betas: tuple[float, float] | None = None
    momentum: float | None = None
    clip_value: float | None = None
    gp_weight: float | None = None
    max_norm: float | None = None
    d_lr_scale: float | None = None
    lr_decay: float | None = None
    min_lr: float | None = None
    final_momentum: float | None = None
    momentum_start: int | None = None
    momentum_saturate: int | None = None
    latent_prior: str = "normal"
    latent_dim: int = 100
    width: int = 64
    arch_depth: int | None = None
    image_size: int | None = None
    ema_decay: float | None = None
    eval_every: int = 0
    eval_samples: int = 1000
    eval_features: str = "auto"
    sample_every: int = 200
    checkpoint_every: int = 200
    collapse_patience: int = 200
    seed: int = 0
    device: str = "auto"
    amp: bool = False
    critic_batchnorm: bool | None = None

    def __post_init__(self) -> None:
        if self.loss not in OBJECTIVES:
            raise ValueError(f"unknown loss {self.loss!r}; valid: {', '.join(OBJECTIVES.keys())}")
        if self.latent_prior not in LATENT_PRIORS:
            raise ValueError(
                f"unknown latent_prior {self.latent_prior!r}; valid: {', '.join(LATENT_PRIORS)}"
            )
        for name in ("iters", "batch_size", "latent_dim", "width"):
            if getattr(self, name) < 1:
                raise ValueError(f"{name} must be >= 1, got {getattr(self, name)}")
        for name in ("eval_every", "sample_every", "checkpoint_every", "collapse_patience"):
            if getattr(self, name) < 0:
                raise ValueError(f"{name} must be >= 0 (0 = off), got {getattr(self, name)}")
        if self.n_critic is not None and self.n_critic < 1:
            raise ValueError(f"n_critic must be >= 1, got {self.n_critic}")
        if self.ema_decay is not None and not 0.0 < self.ema_decay < 1.0:
            raise ValueError(f"ema_decay must be in (0, 1) or None, got {self.ema_decay}")
        if self.max_norm is not None and self.max_norm < 0:
            raise ValueError(f"max_norm must be >= 0 (0 = off) or None, got {self.max_norm}")
        if self.betas is not None:
            object.__setattr__(self, "betas", tuple(float(b) for b in self.betas))
        self.objective()  # the objective validates the combination (e.g. a ramp needs SGD)

    def objective(self) -> Objective:
        """The objective with this config's overrides applied to its paper defaults.

        The paper's schedule belongs to the paper's learning rule: an optimizer other than the
        objective's default drops its lr decay, momentum ramp and D learning-rate scale (Adam
        and RMSProp are invariant to the loss scale that d_lr_scale stands for), an explicit
        momentum drops the ramp, unless those fields are set too."""
        base = OBJECTIVES[self.loss]
        if self.optimizer is not None and self.optimizer != base.optimizer:
            base = base.plain_rule()
        elif self.momentum is not None:
            base = base.with_overrides(final_momentum=None)
        changes: dict[str, Any] = {}
        for name in ("n_critic", "optimizer", "lr", "betas", "momentum", "d_lr_scale",
                     "clip_value", "lr_decay", "min_lr", "final_momentum", "momentum_start",
                     "momentum_saturate"):
            value = getattr(self, name)
            if value is not None:
                changes[name] = value
        if self.gp_weight is not None:
            changes["gp_weight"] = self.gp_weight
            changes["uses_gradient_penalty"] = self.gp_weight > 0
        if self.max_norm is not None:
            changes["max_norm"] = self.max_norm if self.max_norm > 0 else None
        return base.with_overrides(**changes) if changes else base

    def to_json(self) -> dict[str, Any]:
        """A JSON-able dict (tuples become lists); `from_json` inverts it."""
        out = dataclasses.asdict(self)
        if out["betas"] is not None:
            out["betas"] = list(out["betas"])
        return out

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> GANTrainConfig:
        """Inverse of `to_json`; unknown fields are refused with the valid names."""
        known = {f.name for f in dataclasses.fields(cls)}
        unknown = sorted(set(data) - known)
        if unknown:
            raise ValueError(f"unknown GANTrainConfig fields {unknown}; valid: {sorted(known)}")
        data = dict(data)
        if data.get("betas") is not None:
            data["betas"] = tuple(data["betas"])
        return cls(**data)

    def replace(self, **changes: Any) -> GANTrainConfig:
        """A copy with some fields changed (validated again)."""
        return dataclasses.replace(self, **changes)


def check_resumable(saved: GANTrainConfig, requested: GANTrainConfig) -> None:
    """Refuse to resume a run with a config that would change its trajectory."""
    a, b = saved.to_json(), requested.to_json()
    differing = sorted(k for k in a if a[k] != b[k] and k not in RESUMABLE_CHANGES)
    if differing:
        details = ", ".join(f"{k}: saved {a[k]!r} vs requested {b[k]!r}" for k in differing)
        raise ValueError(
            f"cannot resume: the config differs from the checkpoint's in {details}; only "
            f"{', '.join(sorted(RESUMABLE_CHANGES))} may change on resume"
        )
