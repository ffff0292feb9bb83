"""The configuration of one GAN training run, and how it resolves against an objective.

`GANTrainConfig` is a dataclass of JSON-able fields (checkpoints store it in their metadata).
Two of them are values of their own: `rule`, the learning rule (`LearningRule`; None = the
objective's paper rule, `advlab.gan.losses.OBJECTIVES`), and `growth`, the progressive-growing
schedule (`GrowthSchedule`; None = the official schedule when arch is "progressive").
`with_options` sets any field by its flat name (``lr=1e-4``, ``fade_images=20_000``), the way
`advlab gan train --lr 1e-4` does, starting the rule from the objective's:

    Goodfellow et al. 2014, Algorithm 1   minimax        SGD + momentum, k = 1, the authors'
                                                         lr decay, momentum ramp and max-norm
    Radford et al. 2016 (DCGAN)           nonsaturating  Adam 2e-4, beta1 0.5
    Mao et al. 2017 (LSGAN)               lsgan          Adam 2e-4, beta1 0.5
    Arjovsky et al. 2017 (WGAN)           wgan           RMSProp 5e-5, c 0.01, n_critic 5
    Gulrajani et al. 2017 (WGAN-GP)       wgan-gp        Adam 1e-4 (0, 0.9), lambda 10, n_critic 5
    Karras et al. 2018 (progressive)      wgan-gp-drift  Adam 1e-3 (0, 0.99), lambda 10, drift
                                                         0.001, n_critic 1
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import Any

from advlab.gan.growth import GrowthSchedule
from advlab.gan.learning_rule import LearningRule, rule_field_names
from advlab.gan.losses import OBJECTIVES, Objective
from advlab.models.gan.progressive import ProgressiveSwitches

LATENT_PRIORS: tuple[str, ...] = ("uniform", "normal")
PROGRESSIVE_ARCHS: tuple[str, ...] = ("progressive",)

# Fields that may differ between an interrupted run and its `--resume`: they change how long
# the run goes on or what it writes, never the trajectory of the weights.
RESUMABLE_CHANGES: frozenset[str] = frozenset(
    {"iters", "eval_every", "eval_samples", "eval_features", "sample_every",
     "checkpoint_every", "device", "collapse_patience", "divergence_factor"}
)
# Learning-rule fields of configs written before `rule` existed (read by `from_json`)
_LEGACY_RULE_FIELDS = ("optimizer", "lr", "betas", "momentum", "max_norm", "d_lr_scale",
                       "lr_decay", "min_lr", "final_momentum", "momentum_start",
                       "momentum_saturate")


@dataclass(frozen=True)
class GANTrainConfig:
    """One GAN run. Units: `iters` counts GENERATOR iterations (the outer loop of Goodfellow's
    Algorithm 1 / WGAN-GP's Algorithm 1); each does `n_critic` discriminator steps first.

    loss: objective name (`OBJECTIVES.keys()`). arch: architecture name of
        `advlab.models.gan.GAN_ARCHS`; width: base channel count (progressive: feature maps at
        the final resolution); arch_depth: residual blocks per stage for `resnet`.
    data: dataset name for `advlab.data.load`; data_root: where torchvision sets live;
        data_limit: use only the first N training images (tests, quick runs).
    image_size: side of generated images (None = the dataset's; data is resized to it);
        image_pad: zero pixels added on every side (mnist-5k 28 -> 32 with 2), after resizing.
    batch_size: minibatch size m (global: split over ranks when distributed; a growth
        schedule's batch_sizes override it per resolution).
    n_critic (D steps per G step, k), clip_value, gp_weight, drift_weight: None = the
        objective's paper default. rule: the learning rule (optimiser, lr, betas / momentum,
        schedules, D lr scale, max-norm); None = the objective's (`LearningRule`).
    growth: the progressive-growing schedule (`advlab.gan.growth.GrowthSchedule`); None = the
        official one for arch "progressive", none otherwise. progressive: the switches of the
        progressive networks (`ProgressiveSwitches`: max_width, pixel_norm, equalized_lr,
        mbstd_group; the paper's Table 1 ablation); None = all on.
    latent_prior: "uniform" (U[-1, 1], Goodfellow/DCGAN) or "normal" (N(0, I), WGAN-GP).
    ema_decay: exponential moving average of G's weights (e.g. 0.999), None = off.
    eval_every: FID/KID/IS every N generator steps (0 = off), and of the untrained generator at
        step 0 of a new run, on `eval_samples` samples with features from `eval_features`
        ("classifier:<checkpoint>", "inception", or "auto").
    sample_every / checkpoint_every: grids `samples/step_XXXXXX.png` and checkpoints (0 = only
        at the end). collapse_patience: stop when the discriminator has won outright for this
        many consecutive steps (0 = never), see `advlab.gan.monitors.CollapseDetector`.
        divergence_factor: stop when a loss or gradient norm exceeds this many times its
        running scale (0 = never), see `advlab.gan.monitors.DivergenceDetector`.
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
    clip_value: float | None = None
    gp_weight: float | None = None
    drift_weight: float | None = None
    rule: LearningRule | None = None
    growth: GrowthSchedule | None = None
    progressive: ProgressiveSwitches | None = None
    latent_prior: str = "normal"
    latent_dim: int = 100
    width: int = 64
    arch_depth: int | None = None
    image_size: int | None = None
    image_pad: int = 0
    ema_decay: float | None = None
    eval_every: int = 0
    eval_samples: int = 1000
    eval_features: str = "auto"
    sample_every: int = 200
    checkpoint_every: int = 200
    collapse_patience: int = 200
    divergence_factor: float = 1000.0
    seed: int = 0
    device: str = "auto"
    amp: bool = False
    critic_batchnorm: bool | None = None

    def __post_init__(self) -> None:
        if self.loss not in OBJECTIVES:
            raise ValueError(f"unknown loss {self.loss!r}; valid: {', '.join(OBJECTIVES.keys())}")
        if self.latent_prior not in LATENT_PRIORS:
            raise ValueError(
                f"unknown latent_prior {self.latent_prior!r}; valid: {', '.join(LATENT_PRIORS)}")
        for name in ("iters", "batch_size", "latent_dim", "width"):
            if getattr(self, name) < 1:
                raise ValueError(f"{name} must be >= 1, got {getattr(self, name)}")
        for name in ("eval_every", "sample_every", "checkpoint_every", "collapse_patience",
                     "image_pad", "divergence_factor"):
            if getattr(self, name) < 0:
                raise ValueError(f"{name} must be >= 0 (0 = off), got {getattr(self, name)}")
        if 0 < self.divergence_factor <= 1:
            raise ValueError(f"divergence_factor must be > 1 (or 0 = off), got "
                             f"{self.divergence_factor}")
        if self.n_critic is not None and self.n_critic < 1:
            raise ValueError(f"n_critic must be >= 1, got {self.n_critic}")
        if self.ema_decay is not None and not 0.0 < self.ema_decay < 1.0:
            raise ValueError(f"ema_decay must be in (0, 1) or None, got {self.ema_decay}")
        for name in ("growth", "progressive"):
            if getattr(self, name) is not None and self.arch not in PROGRESSIVE_ARCHS:
                raise ValueError(f"{name} options need a growing architecture "
                                 f"({', '.join(PROGRESSIVE_ARCHS)}), got arch {self.arch!r}")
        self.objective()  # the objective validates the combination

    def objective(self) -> Objective:
        """The objective with this config's overrides applied to its paper defaults (the
        learning rule is `learning_rule()`)."""
        base = OBJECTIVES[self.loss]
        changes: dict[str, Any] = {"rule": self.learning_rule()}
        for name in ("n_critic", "clip_value", "gp_weight", "drift_weight"):
            if getattr(self, name) is not None:
                changes[name] = getattr(self, name)
        return base.with_overrides(**changes)

    def learning_rule(self) -> LearningRule:
        """The run's learning rule: `rule`, or the objective's paper rule."""
        return self.rule if self.rule is not None else OBJECTIVES[self.loss].rule

    def growth_schedule(self) -> GrowthSchedule | None:
        """The progressive-growing schedule (None for architectures that do not grow)."""
        if self.arch not in PROGRESSIVE_ARCHS:
            return None
        return self.growth if self.growth is not None else GrowthSchedule()

    def with_options(self, **options: Any) -> GANTrainConfig:
        """A copy with fields set by their flat names, as `advlab gan train --name value`
        gives them: a field of this config, of the learning rule (applied with
        `LearningRule.override` to the current rule: a new optimizer drops the paper's SGD
        schedule; max_norm 0 = off), of the growth schedule or of the progressive switches. A
        new `loss` without rule options takes that objective's rule. Unknown names are
        refused with the valid ones."""
        nested = {"growth": GrowthSchedule, "progressive": ProgressiveSwitches}
        own = {f.name for f in dataclasses.fields(self)} - {"rule", *nested}
        rule_names = set(rule_field_names())
        owners = {name: kind for kind in nested for name in
                  (f.name for f in dataclasses.fields(nested[kind]))}
        unknown = sorted(set(options) - own - rule_names - set(owners))
        if unknown:
            valid = sorted(own | rule_names | set(owners))
            raise ValueError(f"unknown GAN option(s) {', '.join(unknown)}; valid: {', '.join(valid)}")
        top: dict[str, Any] = {k: v for k, v in options.items() if k in own}
        rule_changes = {k: v for k, v in options.items() if k in rule_names}
        if rule_changes.get("max_norm") == 0:
            rule_changes["max_norm"] = None
        loss = top.get("loss", self.loss)
        rule = None if loss != self.loss else self.rule
        if rule_changes:
            base = rule if rule is not None else OBJECTIVES[loss].rule
            rule = base.override(**rule_changes)
        top["rule"] = rule
        for kind, value_type in nested.items():
            changes = {k: v for k, v in options.items() if owners.get(k) == kind}
            if changes:
                current = getattr(self, kind) or value_type()
                top[kind] = dataclasses.replace(current, **changes)
        return dataclasses.replace(self, **top)

    def to_json(self) -> dict[str, Any]:
        """A JSON-able dict (tuples become lists, rule and growth nested dicts); `from_json`
        inverts it."""
        out = dataclasses.asdict(self)
        out["rule"] = self.rule.to_json() if self.rule is not None else None
        if self.growth is not None:
            out["growth"]["batch_sizes"] = list(self.growth.batch_sizes)
        return out

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> GANTrainConfig:
        """Inverse of `to_json`; also reads configs written before the learning rule was one
        value (flat optimizer, lr, ... fields). Unknown fields are refused with the valid
        names."""
        data = dict(data)
        legacy = {k: data.pop(k) for k in _LEGACY_RULE_FIELDS if k in data}
        known = {f.name for f in dataclasses.fields(cls)}
        unknown = sorted(set(data) - known)
        if unknown:
            raise ValueError(f"unknown GANTrainConfig fields {unknown}; valid: {sorted(known)}")
        if data.get("rule") is not None:
            data["rule"] = LearningRule.from_json(data["rule"])
        if data.get("growth") is not None:
            growth = dict(data["growth"])
            growth["batch_sizes"] = tuple(growth.get("batch_sizes", ()))
            data["growth"] = GrowthSchedule(**growth)
        if data.get("progressive") is not None:
            data["progressive"] = ProgressiveSwitches(**data["progressive"])
        config = cls(**data)
        if legacy:
            given = {k: (tuple(v) if k == "betas" else v) for k, v in legacy.items()
                     if v is not None}
            # those configs' defaults had no max-norm for any objective; 0 meant off
            given["max_norm"] = legacy["max_norm"] if (legacy.get("max_norm") or 0) > 0 else None
            config = dataclasses.replace(config, rule=OBJECTIVES[config.loss].rule.override(**given))
        return config

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
