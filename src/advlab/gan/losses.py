"""GAN objectives as small pure functions, paired per objective with the paper's defaults.

Every objective maps raw discriminator/critic scores to two scalars to MINIMISE:

- ``d_loss(real_scores, fake_scores)``: the discriminator (critic) loss, scores of shape (N,).
- ``g_loss(fake_scores)``: the generator loss, scores of shape (N,).

Scores are raw outputs of the discriminator: logits for the probabilistic objectives
(``minimax``, ``nonsaturating``; D(x) = sigmoid(score)), unbounded regression targets for
``lsgan`` and critic values for ``wgan``/``wgan-gp``. The logit forms use softplus, which is
exact and stable: log sigmoid(s) = -softplus(-s) and log(1 - sigmoid(s)) = -softplus(s).

Penalties (the WGAN-GP gradient penalty) and weight clipping are separate functions in
`advlab.gan.penalties`; an `Objective` only says whether it uses them (`uses_gradient_penalty`,
`gp_weight`, `clip_value`), so the trainer stays an explicit d_step / g_step loop.

Paper defaults carried by each `Objective` (all overridable with `dataclasses.replace` or
`Objective.with_overrides`):

=============  =========  =======  ====================  ========  =====  ======  =========
objective      optimizer  lr       betas / momentum      n_critic  clip   lambda  batch
=============  =========  =======  ====================  ========  =====  ======  =========
minimax        sgd        0.1 (*)  momentum 0.5 -> 0.7   1 (k)     -      -       100
nonsaturating  adam       2e-4     (0.5, 0.999)          1         -      -       128
lsgan          adam       2e-4     (0.5, 0.999)          1         -      -       64
wgan           rmsprop    5e-5     -                     5         0.01   -       64
wgan-gp        adam       1e-4     (0.0, 0.9)            5         -      10      64
=============  =========  =======  ====================  ========  =====  ======  =========

(*) decayed by 1.000004 per update; the discriminator's is half (`d_lr_scale`, see below).

Sources: Goodfellow et al. 2014 (arXiv:1406.2661), Algorithm 1, "we used k = 1" and "we used
momentum". The learning rule of `minimax` is that of the authors' released MNIST configuration
(goodfeli/adversarial, mnist.yaml, read in its stored versions): SGD, lr 0.1, batch 100,
momentum 0.5 rising linearly to 0.7 between epochs 1 and 250 (pylearn2 MomentumAdjustor), and
the learning rate divided by 1.000004 after every update down to 1e-6 (pylearn2
ExponentialDecay); see `advlab.gan.schedules`. That configuration has no max-norm constraint
(`max_norm`; the authors' TFD configuration uses max_col_norm 1.9365 on G and D). It trains
both players at once from one minibatch with D's cost halved, 0.5 * (BCE(real) + BCE(fake)),
and G with -log D(G(z)) (adversarial.AdversaryCost2): our `minimax_d_loss` is the un-halved
sum, so `minimax` gives D half of G's learning rate (`d_lr_scale` = 0.5), which moves D's
weights as the authors' lr 0.1 on their cost did. `nonsaturating` keeps DCGAN's Adam (Radford
et al. 2016); pass optimizer="sgd" and the schedule fields for the authors' rule with it.
Radford et al. 2016 (arXiv:1511.06434), Section 4: Adam, lr 0.0002, beta1 0.5, batch 128. Mao
et al. 2017 (LSGAN, arXiv:1611.04076): Adam, beta1 0.5, lr 0.0002 (0.001 for scenes), batch 64.
Arjovsky et al. 2017 (WGAN, arXiv:1701.07875), Algorithm 1: alpha = 5e-5, c = 0.01, m = 64,
n_critic = 5, RMSProp. Gulrajani et al. 2017 (WGAN-GP, arXiv:1704.00028), Algorithm 1:
lambda = 10, n_critic = 5, alpha = 1e-4, beta1 = 0, beta2 = 0.9, m = 64.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Literal

import torch
import torch.nn.functional as F
from torch import Tensor

from advlab.registry import Registry

OptimizerName = Literal["sgd", "adam", "rmsprop"]
OPTIMIZERS: tuple[str, ...] = ("sgd", "adam", "rmsprop")
Player = Literal["G", "D"]


def _check_scores(name: str, scores: Tensor) -> None:
    """Scores are one raw number per sample: shape (N,). A (N, 1) tensor is a common slip."""
    if scores.dim() != 1:
        raise ValueError(
            f"{name} must have shape (N,) (one raw score per sample), got {tuple(scores.shape)}"
        )


# ---------------------------------------------------------------------------------------------
# minimax / non-saturating (Goodfellow et al. 2014)
# ---------------------------------------------------------------------------------------------


def minimax_d_loss(real_scores: Tensor, fake_scores: Tensor) -> Tensor:
    """Discriminator loss of Goodfellow et al. 2014, Eq. (1) / Algorithm 1 (negated to minimise).

    The discriminator ascends  (1/m) sum_i [log D(x_i) + log(1 - D(G(z_i)))]  with
    D = sigmoid(score); we return its negative,
        softplus(-real_scores).mean() + softplus(fake_scores).mean(),
    i.e. the binary cross-entropy with targets 1 (real) and 0 (fake), computed on logits.

    real_scores: (N,) logits on real data; fake_scores: (M,) logits on generated data.
    Returns a scalar tensor.
    """
    _check_scores("real_scores", real_scores)
    _check_scores("fake_scores", fake_scores)
    # -log sigmoid(s) = softplus(-s);  -log(1 - sigmoid(s)) = softplus(s)
    return F.softplus(-real_scores).mean() + F.softplus(fake_scores).mean()


def minimax_g_loss(fake_scores: Tensor) -> Tensor:
    """Saturating generator loss of Goodfellow et al. 2014, Algorithm 1: descend
        (1/m) sum_i log(1 - D(G(z_i)))  =  -softplus(fake_scores).mean().

    Its gradient vanishes when D confidently rejects the samples (the reason for the
    non-saturating variant). fake_scores: (N,) logits. Returns a scalar.
    """
    _check_scores("fake_scores", fake_scores)
    # log(1 - sigmoid(s)) = -softplus(s)
    return -F.softplus(fake_scores).mean()


def nonsaturating_g_loss(fake_scores: Tensor) -> Tensor:
    """Non-saturating generator loss (Goodfellow et al. 2014, Section 3; used by DCGAN):
    maximise log D(G(z)), i.e. minimise  -(1/m) sum_i log D(G(z_i)) = softplus(-s).mean().

    fake_scores: (N,) logits. Returns a scalar.
    """
    _check_scores("fake_scores", fake_scores)
    return F.softplus(-fake_scores).mean()


# ---------------------------------------------------------------------------------------------
# least squares (Mao et al. 2017)
# ---------------------------------------------------------------------------------------------


def lsgan_d_loss(
    real_scores: Tensor, fake_scores: Tensor, *, a: float = 0.0, b: float = 1.0
) -> Tensor:
    """LSGAN discriminator loss, Mao et al. 2017, Eq. (2):
        min_D  1/2 E_x[(D(x) - b)^2] + 1/2 E_z[(D(G(z)) - a)^2].

    Default a = 0 (fake label), b = 1 (real label): the 0-1 coding of Eq. (9), which the paper
    uses for its experiments; a = -1, b = 1, c = 0 (Eq. (8), Pearson chi^2) is available via
    `lsgan_objective(a=-1, b=1, c=0)`. real_scores (N,), fake_scores (M,): raw D outputs.
    """
    _check_scores("real_scores", real_scores)
    _check_scores("fake_scores", fake_scores)
    return 0.5 * (real_scores - b).pow(2).mean() + 0.5 * (fake_scores - a).pow(2).mean()


def lsgan_g_loss(fake_scores: Tensor, *, c: float = 1.0) -> Tensor:
    """LSGAN generator loss, Mao et al. 2017, Eq. (2):  min_G 1/2 E_z[(D(G(z)) - c)^2].

    Default c = 1 (the 0-1 coding of Eq. (9)). fake_scores: (N,) raw D outputs.
    """
    _check_scores("fake_scores", fake_scores)
    return 0.5 * (fake_scores - c).pow(2).mean()


# ---------------------------------------------------------------------------------------------
# Wasserstein (Arjovsky et al. 2017; Gulrajani et al. 2017)
# ---------------------------------------------------------------------------------------------


def wasserstein_d_loss(real_scores: Tensor, fake_scores: Tensor) -> Tensor:
    """Critic loss of WGAN (Arjovsky et al. 2017, Algorithm 1, line 5) and of WGAN-GP
    (Gulrajani et al. 2017, Algorithm 1, line 7 without the penalty term):
        E_z[D(G(z))] - E_x[D(x)].

    Its negative is the critic's estimate of the Wasserstein-1 distance (up to the Lipschitz
    constant). The gradient penalty is added separately (`advlab.gan.penalties`).
    real_scores (N,), fake_scores (M,): critic values. Returns a scalar.
    """
    _check_scores("real_scores", real_scores)
    _check_scores("fake_scores", fake_scores)
    return fake_scores.mean() - real_scores.mean()


def wasserstein_g_loss(fake_scores: Tensor) -> Tensor:
    """Generator loss of WGAN / WGAN-GP (Gulrajani et al. 2017, Algorithm 1, line 12):
        -(1/m) sum_i D(G(z_i)).   fake_scores: (N,) critic values. Returns a scalar.
    """
    _check_scores("fake_scores", fake_scores)
    return -fake_scores.mean()


# ---------------------------------------------------------------------------------------------
# Objectives: losses paired with their paper defaults
# ---------------------------------------------------------------------------------------------

DLoss = Callable[[Tensor, Tensor], Tensor]
GLoss = Callable[[Tensor], Tensor]


@dataclass(frozen=True)
class Objective:
    """A GAN objective: its pair of losses and the defaults of the paper that introduced it.

    name: registry key ("minimax", "nonsaturating", "lsgan", "wgan", "wgan-gp").
    d_loss(real_scores (N,), fake_scores (M,)) -> scalar to minimise (discriminator/critic).
    g_loss(fake_scores (N,)) -> scalar to minimise (generator).
    uses_gradient_penalty: add `gradient_penalty(critic, real, fake, weight=gp_weight)` to the
        critic loss (WGAN-GP, Algorithm 1 line 7).
    gp_weight: lambda of WGAN-GP (10.0); 0.0 when unused.
    clip_value: clip every critic parameter to [-c, c] after each critic step (WGAN), or None.
    max_norm: rescale every unit's incoming weight vector of G and D onto the L2 ball of this
        radius after each of their steps (pylearn2 max_col_norm, `penalties.max_norm_`), or None.
    optimizer: "sgd" | "adam" | "rmsprop"; lr; betas (Adam); momentum (SGD; the initial
        momentum when final_momentum is set).
    d_lr_scale: the discriminator's learning rate is lr * d_lr_scale (G's is lr). 0.5 for
        `minimax`: the authors' pylearn2 cost for D is 0.5 * (BCE(real) + BCE(fake)), half our
        `minimax_d_loss`, and with SGD halving a loss is halving its learning rate.
    lr_decay, min_lr: after n updates of an optimiser its lr is max(lr / lr_decay**n, min_lr)
        (pylearn2 ExponentialDecay); lr_decay = 1.0 keeps lr constant.
    final_momentum, momentum_start, momentum_saturate: SGD momentum rising linearly from
        `momentum` to `final_momentum` over epochs [start, saturate] (pylearn2
        MomentumAdjustor); final_momentum None keeps it constant. See `advlab.gan.schedules`.
    n_critic: discriminator/critic steps per generator step (k in Goodfellow's Algorithm 1).
    batch_size: the paper's minibatch size m.
    paper: citation of the defaults.
    """

    name: str
    d_loss: DLoss
    g_loss: GLoss
    uses_gradient_penalty: bool = False
    gp_weight: float = 0.0
    clip_value: float | None = None
    max_norm: float | None = None
    optimizer: OptimizerName = "adam"
    lr: float = 2e-4
    betas: tuple[float, float] = (0.5, 0.999)
    momentum: float = 0.0
    d_lr_scale: float = 1.0
    lr_decay: float = 1.0
    min_lr: float = 0.0
    final_momentum: float | None = None
    momentum_start: int = 1
    momentum_saturate: int = 250
    n_critic: int = 1
    batch_size: int = 64
    paper: str = ""

    def __post_init__(self) -> None:
        if self.optimizer not in OPTIMIZERS:
            raise ValueError(
                f"objective {self.name!r}: unknown optimizer {self.optimizer!r}; "
                f"valid: {', '.join(OPTIMIZERS)}"
            )
        if self.n_critic < 1:
            raise ValueError(f"objective {self.name!r}: n_critic must be >= 1, got {self.n_critic}")
        if self.clip_value is not None and self.clip_value <= 0:
            raise ValueError(
                f"objective {self.name!r}: clip_value must be positive or None, "
                f"got {self.clip_value}"
            )
        if self.max_norm is not None and self.max_norm <= 0:
            raise ValueError(
                f"objective {self.name!r}: max_norm must be positive or None, got {self.max_norm}"
            )
        if self.d_lr_scale <= 0:
            raise ValueError(
                f"objective {self.name!r}: d_lr_scale must be positive, got {self.d_lr_scale}"
            )
        if self.lr_decay < 1.0 or self.min_lr < 0.0:
            raise ValueError(
                f"objective {self.name!r}: lr_decay must be >= 1 (1 = constant lr) and min_lr "
                f">= 0, got lr_decay={self.lr_decay}, min_lr={self.min_lr}"
            )
        if self.final_momentum is not None:
            if self.optimizer != "sgd":
                raise ValueError(
                    f"objective {self.name!r}: final_momentum (a momentum ramp) needs "
                    f"optimizer 'sgd', got {self.optimizer!r}"
                )
            if not 0.0 <= self.final_momentum < 1.0:
                raise ValueError(
                    f"objective {self.name!r}: final_momentum must be in [0, 1), "
                    f"got {self.final_momentum}"
                )
            if not 0 <= self.momentum_start <= self.momentum_saturate:
                raise ValueError(
                    f"objective {self.name!r}: need 0 <= momentum_start <= momentum_saturate, "
                    f"got {self.momentum_start} and {self.momentum_saturate}"
                )

    @property
    def has_schedule(self) -> bool:
        """Whether lr or momentum change during training (`advlab.gan.schedules`)."""
        return self.lr_decay != 1.0 or self.final_momentum is not None

    def plain_rule(self) -> Objective:
        """A copy with constant lr and momentum (no decay, no momentum ramp) and the same lr
        for both players: what is left of a paper's learning rule under another optimiser."""
        return dataclasses.replace(self, d_lr_scale=1.0, lr_decay=1.0, min_lr=0.0,
                                   final_momentum=None)

    def player_lr(self, player: Player) -> float:
        """The initial learning rate of the generator ("G": lr) or discriminator ("D":
        lr * d_lr_scale)."""
        if player not in ("G", "D"):
            raise ValueError(f"player must be 'G' or 'D', got {player!r}")
        return self.lr * self.d_lr_scale if player == "D" else self.lr

    def with_overrides(self, **changes: Any) -> Objective:
        """A copy with some defaults replaced, e.g. ``OBJECTIVES["wgan-gp"].with_overrides(
        optimizer="rmsprop", lr=5e-5)`` (WGAN-GP with RMSProp, WGAN-GP Figure 3)."""
        return dataclasses.replace(self, **changes)

    def hyperparameters(self) -> dict[str, Any]:
        """The JSON-serialisable fields (everything but the two loss functions), e.g. for a
        checkpoint's metadata or a run's config.json."""
        fields = dataclasses.asdict(self)
        del fields["d_loss"], fields["g_loss"]
        fields["betas"] = list(self.betas)
        return fields

    def make_optimizer(self, params: Any, player: Player = "G") -> torch.optim.Optimizer:
        """The paper's optimizer over `params` (of the generator "G" or the discriminator "D")
        with this objective's betas/momentum and that player's initial lr (`player_lr`)."""
        lr = self.player_lr(player)
        if self.optimizer == "adam":
            return torch.optim.Adam(params, lr=lr, betas=self.betas)
        if self.optimizer == "rmsprop":
            return torch.optim.RMSprop(params, lr=lr)
        return torch.optim.SGD(params, lr=lr, momentum=self.momentum)


class ObjectiveRegistry(Registry[Objective]):
    """`Registry` of objectives that also reads like a dict: ``OBJECTIVES["wgan-gp"]``,
    ``OBJECTIVES.keys()``, ``len(OBJECTIVES)``; unknown names raise `UnknownNameError` (a
    KeyError) listing the valid names."""

    def __getitem__(self, name: str) -> Objective:
        return self.get(name)

    def keys(self) -> list[str]:
        return [name for name, _ in self.items()]

    def values(self) -> list[Objective]:
        return [entry for _, entry in self.items()]

    def __len__(self) -> int:
        return len(self.keys())


def lsgan_objective(a: float = 0.0, b: float = 1.0, c: float = 1.0) -> Objective:
    """LSGAN (Mao et al. 2017, Eq. (2)) with labels a (fake), b (real), c (generator target).

    Defaults: the 0-1 coding (Eq. (9)) the paper trains with; a=-1, b=1, c=0 gives Eq. (8)."""

    def d_loss(real_scores: Tensor, fake_scores: Tensor) -> Tensor:
        return lsgan_d_loss(real_scores, fake_scores, a=a, b=b)

    def g_loss(fake_scores: Tensor) -> Tensor:
        return lsgan_g_loss(fake_scores, c=c)

    return Objective(
        name="lsgan",
        d_loss=d_loss,
        g_loss=g_loss,
        optimizer="adam",
        lr=2e-4,
        betas=(0.5, 0.999),
        n_critic=1,
        batch_size=64,
        paper=f"Mao et al. 2017 (LSGAN), Eq. (2) with a={a:g}, b={b:g}, c={c:g}",
    )


OBJECTIVES = ObjectiveRegistry("GAN objective")
OBJECTIVES.add(
    "minimax",
    Objective(
        name="minimax",
        d_loss=minimax_d_loss,
        g_loss=minimax_g_loss,
        optimizer="sgd",
        lr=0.1,
        momentum=0.5,
        d_lr_scale=0.5,
        lr_decay=1.000004,
        min_lr=1e-6,
        final_momentum=0.7,
        momentum_start=1,
        momentum_saturate=250,
        n_critic=1,
        batch_size=100,
        paper="Goodfellow et al. 2014, Algorithm 1 (SGD with momentum, k=1); learning rule of "
        "goodfeli/adversarial mnist.yaml (lr 0.1 / 1.000004 per update on a halved D cost, "
        "momentum 0.5 -> 0.7 over epochs 1-250)",
    ),
)
OBJECTIVES.add(
    "nonsaturating",
    Objective(
        name="nonsaturating",
        d_loss=minimax_d_loss,
        g_loss=nonsaturating_g_loss,
        optimizer="adam",
        lr=2e-4,
        betas=(0.5, 0.999),
        n_critic=1,
        batch_size=128,
        paper="Goodfellow et al. 2014 Section 3; DCGAN (Radford et al. 2016) Adam 2e-4, beta1 0.5",
    ),
)
OBJECTIVES.add("lsgan", lsgan_objective())
OBJECTIVES.add(
    "wgan",
    Objective(
        name="wgan",
        d_loss=wasserstein_d_loss,
        g_loss=wasserstein_g_loss,
        clip_value=0.01,
        optimizer="rmsprop",
        lr=5e-5,
        n_critic=5,
        batch_size=64,
        paper="Arjovsky et al. 2017, Algorithm 1 (RMSProp 5e-5, c=0.01, n_critic=5)",
    ),
)
OBJECTIVES.add(
    "wgan-gp",
    Objective(
        name="wgan-gp",
        d_loss=wasserstein_d_loss,
        g_loss=wasserstein_g_loss,
        uses_gradient_penalty=True,
        gp_weight=10.0,
        optimizer="adam",
        lr=1e-4,
        betas=(0.0, 0.9),
        n_critic=5,
        batch_size=64,
        paper="Gulrajani et al. 2017, Algorithm 1 (lambda=10, n_critic=5, Adam 1e-4, (0, 0.9))",
    ),
)


def get_objective(name: str) -> Objective:
    """The registered objective called `name`; unknown names raise `UnknownNameError`."""
    return OBJECTIVES.get(name)
