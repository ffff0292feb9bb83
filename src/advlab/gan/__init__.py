"""GAN training parts: objectives (losses.py), learning rules (learning_rule.py, with the
schedule formulas in schedules.py), weight constraints and penalties (penalties.py), the
progressive-growing schedule (growth.py), stop rules (monitors.py) and generative metrics
(metrics.py, sliced_wasserstein.py, ms_ssim.py; imported on demand because metrics pulls in
torchmetrics).

Architectures live in `advlab.models.gan` (`build_gan`, `GAN_ARCHS`).
"""

from advlab.gan.growth import GrowthPhase, GrowthSchedule, fade_reals, phase_at
from advlab.gan.learning_rule import LearningRule
from advlab.gan.losses import (
    GOODFELLOW_RULE,
    KARRAS_RULE,
    OBJECTIVES,
    Objective,
    get_objective,
    lsgan_d_loss,
    lsgan_g_loss,
    lsgan_objective,
    minimax_d_loss,
    minimax_g_loss,
    nonsaturating_g_loss,
    wasserstein_d_loss,
    wasserstein_g_loss,
)
from advlab.gan.penalties import (
    clip_weights_,
    critic_gradient_norms,
    drift_penalty,
    gradient_penalty,
    max_norm_,
    random_interpolates,
)
from advlab.gan.schedules import exponential_decay_lr, linear_momentum

__all__ = [
    "GOODFELLOW_RULE",
    "KARRAS_RULE",
    "OBJECTIVES",
    "GrowthPhase",
    "GrowthSchedule",
    "LearningRule",
    "Objective",
    "clip_weights_",
    "critic_gradient_norms",
    "drift_penalty",
    "exponential_decay_lr",
    "fade_reals",
    "get_objective",
    "gradient_penalty",
    "linear_momentum",
    "lsgan_d_loss",
    "lsgan_g_loss",
    "lsgan_objective",
    "max_norm_",
    "minimax_d_loss",
    "minimax_g_loss",
    "nonsaturating_g_loss",
    "phase_at",
    "random_interpolates",
    "wasserstein_d_loss",
    "wasserstein_g_loss",
]
