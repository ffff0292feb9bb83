"""GAN objectives as small pure functions, paired per objective with the paper's defaults.

Every objective maps raw discriminator/critic scores to two scalars to MINIMISE:

- ``d_loss(real_scores, fake_scores)``: the discriminator (critic) loss, scores of shape (N,).
- ``g_loss(fake_scores)``: the generator loss, scores of shape (N,).

Scores are raw outputs of the discriminator: logits for the probabilistic objectives
(``minimax``, ``nonsaturating``; D(x) = sigmoid(score)), unbounded regression targets for
``lsgan`` and critic values for ``wgan``/``wgan-gp``/``wgan-gp-drift``. The logit forms use
softplus, which is exact and stable: log sigmoid(s) = -softplus(-s) and
log(1 - sigmoid(s)) = -softplus(s).

Penalties (the WGAN-GP gradient penalty, the drift term) and weight clipping are separate
functions in `advlab.gan.penalties`; an `Objective` only says whether it uses them
(`gp_weight`, `drift_weight`, `clip_value`), so the trainer stays an explicit d_step / g_step
loop. The optimiser, learning rate and schedules are one value, `Objective.rule`
(`advlab.gan.learning_rule.LearningRule`, the paper's rule).

=============  ========  =====  ======  =====  =====  ============================================
objective      n_critic  clip   lambda  drift  batch  learning rule
=============  ========  =====  ======  =====  =====  ============================================
minimax        1 (k)     -      -       -      100    SGD 0.1 / 1.000004 per update, momentum
                                                      0.5 -> 0.7, D at half lr, max-norm 1.9365
nonsaturating  1         -      -       -      128    Adam 2e-4 (0.5, 0.999)
lsgan          1         -      -       -      64     Adam 2e-4 (0.5, 0.999)
wgan           5         0.01   -       -      64     RMSProp 5e-5
wgan-gp        5         -      10      -      64     Adam 1e-4 (0, 0.9)
wgan-gp-drift  1         -      10      0.001  16     Adam 1e-3 (0, 0.99), eps 1e-8
=============  ========  =====  ======  =====  =====  ============================================

Sources: Goodfellow et al. 2014 (arXiv:1406.2661), Algorithm 1, "we used k = 1" and "we used
momentum"; the learning rule of `minimax` is that of the authors' released configurations
(goodfeli/adversarial; `advlab.gan.schedules` has the provenance): mnist.yaml's SGD, lr 0.1,
batch 100, momentum 0.5 rising linearly to 0.7 between epochs 1 and 250 and the lr divided by
1.000004 after every update down to 1e-6, and the max_col_norm 1.9365 on every layer of G and D
of their TFD configuration (tfd_pretrain/train.yaml; mnist.yaml sets none, and without it this
rule diverges on mnist-5k within 2,000 steps: D loss 0.01 -> 4e4, G loss -> -3e7 at steps
1993-2000 in a width-16 run). It trains both players at once from one minibatch with D's cost
halved, 0.5 * (BCE(real) + BCE(fake)), and G with -log D(G(z)) (adversarial.AdversaryCost2):
our `minimax_d_loss` is the un-halved sum, so `minimax` gives D half of G's learning rate
(`LearningRule.d_lr_scale` = 0.5). `nonsaturating` keeps DCGAN's Adam (Radford et al. 2016,
arXiv:1511.06434, Section 4: Adam, lr 0.0002, beta1 0.5, batch 128). Mao et al. 2017 (LSGAN,
arXiv:1611.04076): Adam, beta1 0.5, lr 0.0002, batch 64. Arjovsky et al. 2017 (WGAN,
arXiv:1701.07875), Algorithm 1: alpha = 5e-5, c = 0.01, m = 64, n_critic = 5, RMSProp. Gulrajani
et al. 2017 (WGAN-GP, arXiv:1704.00028), Algorithm 1: lambda = 10, n_critic = 5, alpha = 1e-4,
beta1 = 0, beta2 = 0.9, m = 64. Karras et al. 2018 (progressive growing, arXiv:1710.10196),
Section 4.1 / Appendix A.1 and the official code (tkarras/progressive_growing_of_gans, loss.py,
config.py, train.py): WGAN-GP with lambda 10 plus epsilon_drift = 0.001 * E[D(x)^2], one critic
step per generator step (D_repeats = 1), Adam lr 0.001, beta1 0, beta2 0.99, eps 1e-8,
minibatch 16 (varied per resolution by the growth schedule, `advlab.gan.growth`).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import torch.nn.functional as F
from torch import Tensor

from advlab.gan.learning_rule import LearningRule
from advlab.registry import Registry


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

    name: registry key (`OBJECTIVES.keys()`).
    d_loss(real_scores (N,), fake_scores (M,)) -> scalar to minimise (discriminator/critic).
    g_loss(fake_scores (N,)) -> scalar to minimise (generator).
    gp_weight: lambda of the WGAN-GP penalty added to the critic loss (WGAN-GP Algorithm 1
        line 7; 10.0), 0.0 = off. drift_weight: epsilon_drift of Karras et al. 2018
        (Appendix A.1, 0.001): drift_weight * E[D(x)^2] keeps the critic's output near 0.
    clip_value: clip every critic parameter to [-c, c] after each critic step (WGAN), or None.
    rule: the paper's learning rule (optimiser, lr, betas/momentum, schedules, max-norm).
    n_critic: discriminator/critic steps per generator step (k in Goodfellow's Algorithm 1).
    batch_size: the paper's minibatch size m. paper: citation of the defaults.
    """

    name: str
    d_loss: DLoss
    g_loss: GLoss
    gp_weight: float = 0.0
    drift_weight: float = 0.0
    clip_value: float | None = None
    rule: LearningRule = field(default_factory=LearningRule)
    n_critic: int = 1
    batch_size: int = 64
    paper: str = ""

    def __post_init__(self) -> None:
        if self.n_critic < 1:
            raise ValueError(f"objective {self.name!r}: n_critic must be >= 1, got {self.n_critic}")
        if self.clip_value is not None and self.clip_value <= 0:
            raise ValueError(
                f"objective {self.name!r}: clip_value must be positive or None, "
                f"got {self.clip_value}")
        for name in ("gp_weight", "drift_weight"):
            if getattr(self, name) < 0:
                raise ValueError(
                    f"objective {self.name!r}: {name} must be >= 0 (0 = off), "
                    f"got {getattr(self, name)}")

    @property
    def uses_gradient_penalty(self) -> bool:
        """Whether the critic loss gets the WGAN-GP gradient penalty (gp_weight > 0)."""
        return self.gp_weight > 0

    def with_overrides(self, **changes: Any) -> Objective:
        """A copy with some defaults replaced, e.g. ``OBJECTIVES["wgan-gp"].with_overrides(
        n_critic=1)``; the learning rule is replaced with `rule=` (`LearningRule.override`)."""
        return dataclasses.replace(self, **changes)

    def hyperparameters(self) -> dict[str, Any]:
        """The JSON-serialisable fields (everything but the two loss functions), e.g. for a
        checkpoint's metadata or a run's config.json."""
        return {"name": self.name, "gp_weight": self.gp_weight,
                "drift_weight": self.drift_weight, "clip_value": self.clip_value,
                "rule": self.rule.to_json(), "n_critic": self.n_critic,
                "batch_size": self.batch_size, "paper": self.paper}


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
        name="lsgan", d_loss=d_loss, g_loss=g_loss,
        rule=LearningRule(optimizer="adam", lr=2e-4, betas=(0.5, 0.999)), n_critic=1,
        batch_size=64, paper=f"Mao et al. 2017 (LSGAN), Eq. (2) with a={a:g}, b={b:g}, c={c:g}",
    )


# Goodfellow et al.'s learning rule (module docstring): mnist.yaml's SGD schedule with the
# max-norm of their TFD configuration
GOODFELLOW_RULE = LearningRule(
    optimizer="sgd", lr=0.1, momentum=0.5, d_lr_scale=0.5, lr_decay=1.000004, min_lr=1e-6,
    final_momentum=0.7, momentum_start=1, momentum_saturate=250, max_norm=1.9365)
# Karras et al. 2018, Appendix A.1 (config.py: G_opt = D_opt = beta1 0, beta2 0.99, eps 1e-8)
KARRAS_RULE = LearningRule(optimizer="adam", lr=1e-3, betas=(0.0, 0.99), eps=1e-8)

OBJECTIVES = ObjectiveRegistry("GAN objective")
OBJECTIVES.add("minimax", Objective(
    name="minimax", d_loss=minimax_d_loss, g_loss=minimax_g_loss, rule=GOODFELLOW_RULE,
    n_critic=1, batch_size=100,
    paper="Goodfellow et al. 2014, Algorithm 1 (SGD with momentum, k=1); learning rule of "
    "goodfeli/adversarial (mnist.yaml: lr 0.1 / 1.000004 per update on a halved D cost, "
    "momentum 0.5 -> 0.7 over epochs 1-250; tfd_pretrain: max_col_norm 1.9365)"))
OBJECTIVES.add("nonsaturating", Objective(
    name="nonsaturating", d_loss=minimax_d_loss, g_loss=nonsaturating_g_loss,
    rule=LearningRule(optimizer="adam", lr=2e-4, betas=(0.5, 0.999)), n_critic=1,
    batch_size=128,
    paper="Goodfellow et al. 2014 Section 3; DCGAN (Radford et al. 2016) Adam 2e-4, beta1 0.5"))
OBJECTIVES.add("lsgan", lsgan_objective())
OBJECTIVES.add("wgan", Objective(
    name="wgan", d_loss=wasserstein_d_loss, g_loss=wasserstein_g_loss, clip_value=0.01,
    rule=LearningRule(optimizer="rmsprop", lr=5e-5), n_critic=5, batch_size=64,
    paper="Arjovsky et al. 2017, Algorithm 1 (RMSProp 5e-5, c=0.01, n_critic=5)"))
OBJECTIVES.add("wgan-gp", Objective(
    name="wgan-gp", d_loss=wasserstein_d_loss, g_loss=wasserstein_g_loss, gp_weight=10.0,
    rule=LearningRule(optimizer="adam", lr=1e-4, betas=(0.0, 0.9)), n_critic=5, batch_size=64,
    paper="Gulrajani et al. 2017, Algorithm 1 (lambda=10, n_critic=5, Adam 1e-4, (0, 0.9))"))
OBJECTIVES.add("wgan-gp-drift", Objective(
    name="wgan-gp-drift", d_loss=wasserstein_d_loss, g_loss=wasserstein_g_loss, gp_weight=10.0,
    drift_weight=0.001, rule=KARRAS_RULE, n_critic=1, batch_size=16,
    paper="Karras et al. 2018, Appendix A.1 (WGAN-GP lambda=10 + 0.001 * D(x)^2 drift, "
    "n_critic=1, Adam 1e-3 (0, 0.99), eps 1e-8)"))


def get_objective(name: str) -> Objective:
    """The registered objective called `name`; unknown names raise `UnknownNameError`."""
    return OBJECTIVES.get(name)
