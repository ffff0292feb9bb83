"""GAN training parts: objectives (losses.py), Lipschitz penalties (penalties.py) and
generative metrics (metrics.py, imported on demand because it pulls in torchmetrics).

Architectures live in `advlab.models.gan` (`build_gan`, `GAN_ARCHS`).
"""

from advlab.gan.losses import (
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
    gradient_penalty,
    random_interpolates,
)

__all__ = [
    "OBJECTIVES",
    "Objective",
    "clip_weights_",
    "critic_gradient_norms",
    "get_objective",
    "gradient_penalty",
    "lsgan_d_loss",
    "lsgan_g_loss",
    "lsgan_objective",
    "minimax_d_loss",
    "minimax_g_loss",
    "nonsaturating_g_loss",
    "random_interpolates",
    "wasserstein_d_loss",
    "wasserstein_g_loss",
]
