"""The learning rule of a GAN run as one value: optimiser, learning rate, betas / momentum,
schedules as pure functions of the step, the discriminator's lr scale and the max-norm
constraint.

A `LearningRule` is carried by every objective (`advlab.gan.losses.Objective.rule`: the paper's
rule), by a run's config (`advlab.gan.config.GANTrainConfig.rule`, None = the objective's) and
by experiments that fix their own (gan-algorithm1). Nothing about it is mutable state: the
trainer asks `rule.at(player, updates, epochs_done)` for the lr and momentum of the next update
and writes them into the optimiser (`apply_`), so a resumed run sets exactly what the
uninterrupted run set (`advlab.gan.schedules` holds the schedule formulas).

Paper rules (see `advlab.gan.losses` for the sources):

=============  =========  =======  ====================  =====================================
objective      optimizer  lr       betas / momentum      schedule
=============  =========  =======  ====================  =====================================
minimax        sgd        0.1      momentum 0.5 -> 0.7   lr / 1.000004 per update, D at half lr,
                                                         max-norm 1.9365 (see below)
nonsaturating  adam       2e-4     (0.5, 0.999)          -
lsgan          adam       2e-4     (0.5, 0.999)          -
wgan           rmsprop    5e-5     -                     -
wgan-gp        adam       1e-4     (0.0, 0.9)            -
wgan-gp-drift  adam       1e-3     (0.0, 0.99), eps 1e-8 - (Karras et al. 2018, Appendix A.1)
=============  =========  =======  ====================  =====================================
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import Any, Literal

import torch

from advlab.gan.schedules import exponential_decay_lr, linear_momentum

OptimizerName = Literal["sgd", "adam", "rmsprop"]
OPTIMIZERS: tuple[str, ...] = ("sgd", "adam", "rmsprop")
Player = Literal["G", "D"]
# the fields of the paper's SGD schedule: dropped together when another optimiser is chosen
SCHEDULE_FIELDS = ("lr_decay", "min_lr", "final_momentum", "d_lr_scale")


@dataclass(frozen=True)
class LearningRule:
    """How both players of a GAN update their weights.

    optimizer: "sgd" | "adam" | "rmsprop"; lr: the generator's initial learning rate (the
        discriminator's is lr * d_lr_scale); betas, eps: Adam's (eps also RMSProp's);
        momentum: SGD's (the initial momentum when final_momentum is set); momentum and its ramp
        are ignored by Adam and RMSProp.
    d_lr_scale: the discriminator's lr factor. 0.5 for Goodfellow et al.'s rule: their pylearn2
        D cost is 0.5 * (BCE(real) + BCE(fake)), half our `minimax_d_loss`, and with SGD
        halving a loss is halving its learning rate.
    lr_decay, min_lr: after n updates of an optimiser its lr is max(lr / lr_decay**n, min_lr)
        (pylearn2 ExponentialDecay); lr_decay = 1 keeps lr constant.
    final_momentum, momentum_start, momentum_saturate: SGD momentum rising linearly from
        `momentum` to `final_momentum` over epochs [start, saturate] (pylearn2
        MomentumAdjustor); None keeps it constant.
    max_norm: after every step, each unit's incoming weight vector of G and D is rescaled onto
        the L2 ball of this radius (pylearn2 max_col_norm, `advlab.gan.penalties.max_norm_`);
        None = off.
    """

    optimizer: OptimizerName = "adam"
    lr: float = 2e-4
    betas: tuple[float, float] = (0.5, 0.999)
    eps: float = 1e-8
    momentum: float = 0.0
    d_lr_scale: float = 1.0
    lr_decay: float = 1.0
    min_lr: float = 0.0
    final_momentum: float | None = None
    momentum_start: int = 1
    momentum_saturate: int = 250
    max_norm: float | None = None

    def __post_init__(self) -> None:
        object.__setattr__(self, "betas", tuple(float(b) for b in self.betas))
        if self.optimizer not in OPTIMIZERS:
            raise ValueError(f"unknown optimizer {self.optimizer!r}; valid: {', '.join(OPTIMIZERS)}")
        if not self.lr > 0:
            raise ValueError(f"lr must be > 0, got {self.lr}")
        if len(self.betas) != 2 or not all(0.0 <= b < 1.0 for b in self.betas):
            raise ValueError(f"betas must be two numbers in [0, 1), got {self.betas}")
        if not self.eps > 0:
            raise ValueError(f"eps must be > 0, got {self.eps}")
        if not 0.0 <= self.momentum < 1.0:
            raise ValueError(f"momentum must be in [0, 1), got {self.momentum}")
        if self.d_lr_scale <= 0:
            raise ValueError(f"d_lr_scale must be positive, got {self.d_lr_scale}")
        if self.lr_decay < 1.0 or self.min_lr < 0.0:
            raise ValueError(
                f"lr_decay must be >= 1 (1 = constant lr) and min_lr >= 0, got "
                f"lr_decay={self.lr_decay}, min_lr={self.min_lr}")
        if self.max_norm is not None and self.max_norm <= 0:
            raise ValueError(f"max_norm must be positive or None (off), got {self.max_norm}")
        if self.final_momentum is not None:
            if not 0.0 <= self.final_momentum < 1.0:
                raise ValueError(f"final_momentum must be in [0, 1), got {self.final_momentum}")
            if not 0 <= self.momentum_start <= self.momentum_saturate:
                raise ValueError(
                    f"need 0 <= momentum_start <= momentum_saturate, got "
                    f"{self.momentum_start} and {self.momentum_saturate}")

    @property
    def ramps_momentum(self) -> bool:
        """Whether SGD's momentum follows the ramp (final_momentum set, optimizer sgd)."""
        return self.optimizer == "sgd" and self.final_momentum is not None

    @property
    def has_schedule(self) -> bool:
        """Whether lr or momentum change during training."""
        return self.lr_decay != 1.0 or self.ramps_momentum

    def player_lr(self, player: Player) -> float:
        """The initial learning rate of the generator ("G": lr) or discriminator ("D":
        lr * d_lr_scale)."""
        if player not in ("G", "D"):
            raise ValueError(f"player must be 'G' or 'D', got {player!r}")
        return self.lr * self.d_lr_scale if player == "D" else self.lr

    def at(self, player: Player, updates: int, epochs_done: int) -> tuple[float, float]:
        """(lr, momentum) for `player`'s update that follows `updates` earlier updates of the
        same optimiser, in the epoch after `epochs_done` completed epochs: a pure function of
        the step (pylearn2 ExponentialDecay and MomentumAdjustor, `advlab.gan.schedules`)."""
        lr = exponential_decay_lr(self.player_lr(player), updates, self.lr_decay, self.min_lr)
        momentum = self.momentum
        if self.ramps_momentum:
            assert self.final_momentum is not None
            momentum = linear_momentum(epochs_done, self.momentum, self.final_momentum,
                                       self.momentum_start, self.momentum_saturate)
        return lr, momentum

    def apply_(self, optimizer: torch.optim.Optimizer, player: Player, updates: int,
               epochs_done: int) -> None:
        """Write `at(player, updates, epochs_done)` into `optimizer`'s param groups before its
        next step; a no-op without a schedule, so such runs step exactly as before."""
        if not self.has_schedule:
            return
        lr, momentum = self.at(player, updates, epochs_done)
        for group in optimizer.param_groups:
            group["lr"] = lr
            if self.ramps_momentum:
                group["momentum"] = momentum

    def make_optimizer(self, params: Any, player: Player = "G") -> torch.optim.Optimizer:
        """The optimiser over `params` (of "G" or "D") with this rule's betas / eps / momentum
        and that player's initial lr."""
        lr = self.player_lr(player)
        if self.optimizer == "adam":
            return torch.optim.Adam(params, lr=lr, betas=self.betas, eps=self.eps)
        if self.optimizer == "rmsprop":
            return torch.optim.RMSprop(params, lr=lr, eps=self.eps)
        return torch.optim.SGD(params, lr=lr, momentum=self.momentum)

    def override(self, **changes: Any) -> LearningRule:
        """This rule with some fields changed, keeping the paper's schedule with the paper's
        optimiser: another optimizer drops the SGD schedule (lr decay, momentum ramp) and the
        D lr scale (Adam and RMSProp are invariant to the loss scale it stands for), an
        explicit momentum drops the ramp, unless those fields are given too. Unknown names
        are refused with the valid ones."""
        known = {f.name for f in dataclasses.fields(self)}
        unknown = sorted(set(changes) - known)
        if unknown:
            raise ValueError(f"unknown learning-rule fields {unknown}; valid: {sorted(known)}")
        base = self
        if changes.get("optimizer", self.optimizer) != self.optimizer:
            base = dataclasses.replace(base, lr_decay=1.0, min_lr=0.0, final_momentum=None,
                                       d_lr_scale=1.0)
        elif "momentum" in changes:
            base = dataclasses.replace(base, final_momentum=None)
        return dataclasses.replace(base, **changes)

    def to_json(self) -> dict[str, Any]:
        """JSON-able fields (betas as a list); `from_json` inverts it."""
        out = dataclasses.asdict(self)
        out["betas"] = list(self.betas)
        return out

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> LearningRule:
        """Inverse of `to_json`; unknown fields are refused with the valid names."""
        known = {f.name for f in dataclasses.fields(cls)}
        unknown = sorted(set(data) - known)
        if unknown:
            raise ValueError(f"unknown learning-rule fields {unknown}; valid: {sorted(known)}")
        values: dict[str, Any] = {k: (tuple(v) if k == "betas" else v) for k, v in data.items()}
        return cls(**values)


def rule_field_names() -> tuple[str, ...]:
    """Names of the `LearningRule` fields (options of `advlab gan train`, e.g. --lr)."""
    return tuple(f.name for f in dataclasses.fields(LearningRule))
