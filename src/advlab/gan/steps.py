"""The two updates of adversarial training, as plain functions: `d_step` and `g_step`.

Goodfellow et al. 2014, Algorithm 1 (k discriminator steps, then one generator step) and
Gulrajani et al. 2017 (WGAN-GP), Algorithm 1 (n_critic critic steps with the gradient penalty,
then one generator step) are both the loop

    for each generator iteration:
        for k (n_critic) times:  d_step(G, D, opt_d, real_batch, z, objective)
        g_step(G, D, opt_g, z, objective)

which `advlab.gan.trainer.train` runs (and `benchmarks/bench_gan.py` times). The objective
(`advlab.gan.losses.Objective`) supplies the losses and says whether to add the gradient
penalty, clip the critic's weights or constrain both networks' weight norms (max-norm, as in
Goodfellow et al.'s pylearn2 configurations). Learning-rate and momentum schedules are set on
the optimisers by the caller (`advlab.gan.schedules.apply_learning_rule_`). Both functions
return detached scalar tensors (no host synchronisation), so callers decide when to read them.
"""

from __future__ import annotations

import contextlib

import torch
from torch import Tensor, nn

from advlab.gan.distributed import unwrap
from advlab.gan.losses import Objective
from advlab.gan.penalties import clip_weights_, gradient_penalty, max_norm_


def autocast(device: torch.device, dtype: torch.dtype | None) -> contextlib.AbstractContextManager:
    """bfloat16 autocast of forward passes on CUDA when `dtype` is set; a no-op otherwise.

    bfloat16 keeps float32's exponent range, so no loss scaling is needed; losses and the
    gradient penalty are computed in float32 (`d_step`)."""
    if dtype is None or device.type != "cuda":
        return contextlib.nullcontext()
    return torch.autocast(device_type=device.type, dtype=dtype)


def d_step(
    G: nn.Module,
    D: nn.Module,
    opt_d: torch.optim.Optimizer,
    real: Tensor,
    z: Tensor,
    objective: Objective,
    *,
    penalty_generator: torch.Generator | None = None,
    amp_dtype: torch.dtype | None = None,
) -> dict[str, Tensor]:
    """One discriminator (critic) update.

    Goodfellow et al. 2014, Algorithm 1 inner loop: ascend log D(x) + log(1 - D(G(z)))
    (here: descend `objective.d_loss`); WGAN (Arjovsky et al. 2017, Algorithm 1 lines 2-7):
    critic loss then weight clipping to [-c, c]; WGAN-GP (Gulrajani et al. 2017, Algorithm 1
    lines 2-9): critic loss plus lambda * (||grad D(x_hat)||_2 - 1)^2 on random interpolates.
    With `objective.max_norm` set, D's weight vectors are projected onto the max-norm ball after
    the step (pylearn2 max_col_norm, applied to the updated weights as pylearn2 does).

    G, D: the networks (D may be DDP-wrapped; G's forward runs without a graph).
    real: (N, C, H, W) real images in [-1, 1]; z: (N, latent_dim) latents.
    penalty_generator: torch.Generator on real's device for the interpolation weights eps.
    amp_dtype: autocast dtype for the forward passes (CUDA only); the penalty stays float32.
    Returns {"d_loss" (objective loss, without penalty), "gradient_penalty", "d_real",
    "d_fake" (mean raw scores)}: detached scalars.
    """
    with torch.no_grad(), autocast(real.device, amp_dtype):
        fake = G(z)  # (N, C, H, W); no graph: D's update must not reach G
    fake = fake.float()
    with autocast(real.device, amp_dtype):
        real_scores = D(real)  # (N,)
        fake_scores = D(fake)  # (N,)
    loss = objective.d_loss(real_scores.float(), fake_scores.float())
    total = loss
    penalty = torch.zeros((), device=real.device)
    if objective.uses_gradient_penalty:
        # float32 and outside autocast: the double backward of the norm is precision-sensitive
        penalty = gradient_penalty(D, real, fake, weight=objective.gp_weight,
                                   generator=penalty_generator)
        total = loss + penalty
    opt_d.zero_grad(set_to_none=True)
    total.backward()
    opt_d.step()
    if objective.clip_value is not None:
        clip_weights_(unwrap(D), objective.clip_value)
    if objective.max_norm is not None:
        max_norm_(unwrap(D), objective.max_norm)
    return {
        "d_loss": loss.detach(),
        "gradient_penalty": penalty.detach(),
        "d_real": real_scores.detach().float().mean(),
        "d_fake": fake_scores.detach().float().mean(),
    }


def g_step(
    G: nn.Module,
    D: nn.Module,
    opt_g: torch.optim.Optimizer,
    z: Tensor,
    objective: Objective,
    *,
    amp_dtype: torch.dtype | None = None,
) -> dict[str, Tensor]:
    """One generator update: descend `objective.g_loss(D(G(z)))`.

    Goodfellow et al. 2014, Algorithm 1 (log(1 - D(G(z))) for minimax, -log D(G(z)) for the
    non-saturating variant); WGAN-GP Algorithm 1 line 12 (-D(G(z))). With `objective.max_norm`
    set, G's weight vectors are projected onto the max-norm ball after the step.
    G may be DDP-wrapped (its gradients are averaged over ranks); D is used unwrapped with its
    parameters frozen for the step, so no weight-gradients of D are computed or all-reduced.
    z: (N, latent_dim). Returns {"g_loss"}: a detached scalar.
    """
    critic = unwrap(D)
    frozen = [p for p in critic.parameters() if p.requires_grad]
    for p in frozen:
        p.requires_grad_(False)
    try:
        with autocast(z.device, amp_dtype):
            fake = G(z)  # (N, C, H, W)
            scores = critic(fake)  # (N,)
        loss = objective.g_loss(scores.float())
        opt_g.zero_grad(set_to_none=True)
        loss.backward()
        opt_g.step()
        if objective.max_norm is not None:
            max_norm_(unwrap(G), objective.max_norm)
    finally:
        for p in frozen:
            p.requires_grad_(True)
    return {"g_loss": loss.detach()}


@torch.no_grad()
def ema_update_(ema: nn.Module, model: nn.Module, decay: float) -> None:
    """Exponential moving average of generator weights, theta_ema <- decay * theta_ema +
    (1 - decay) * theta (Yazici et al. 2019, "The unusual effectiveness of averaging in GAN
    training"; Karras et al. 2018 use it for progressive GANs). Buffers (BN statistics) are
    copied, not averaged."""
    for p_ema, p in zip(ema.parameters(), model.parameters(), strict=True):
        p_ema.lerp_(p.detach(), 1.0 - decay)
    for b_ema, b in zip(ema.buffers(), model.buffers(), strict=True):
        b_ema.copy_(b)
