"""The two updates of adversarial training, as plain functions: `d_step` and `g_step`.

Goodfellow et al. 2014, Algorithm 1 (k discriminator steps, then one generator step) and
Gulrajani et al. 2017 (WGAN-GP), Algorithm 1 (n_critic critic steps with the gradient penalty,
then one generator step) are both the loop

    for each generator iteration:
        for k (n_critic) times:  d_step(G, D, opt_d, real_batch, z, objective)
        g_step(G, D, opt_g, z, objective)

which `advlab.gan.trainer.train` runs (and `benchmarks/bench_gan.py` times). The objective
(`advlab.gan.losses.Objective`) supplies the losses and says whether to add the gradient
penalty or the drift term and to clip the critic's weights; its learning rule says whether to
constrain both networks' weight norms (max-norm, as in Goodfellow et al.'s pylearn2
configurations). Learning-rate and momentum schedules are set on the optimisers by the caller
(`LearningRule.apply_`). Both functions return detached scalar tensors, among them the global
L2 norm of the gradient they applied (no host synchronisation), so callers decide when to read
them.
"""

from __future__ import annotations

import contextlib

import torch
from torch import Tensor, nn
from torch.nn.modules.batchnorm import _BatchNorm

from advlab.gan.distributed import unwrap, zero_grad_
from advlab.gan.losses import Objective
from advlab.gan.penalties import clip_weights_, drift_penalty, gradient_penalty, max_norm_


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
    lines 2-9): critic loss plus lambda * (||grad D(x_hat)||_2 - 1)^2 on random interpolates;
    progressive GANs (Karras et al. 2018, Appendix A.1) add the drift 0.001 * D(x)^2.
    With `objective.rule.max_norm` set, D's weight vectors are projected onto the max-norm ball after
    the step (pylearn2 max_col_norm, applied to the updated weights as pylearn2 does).

    G, D: the networks (D may be DDP-wrapped; G's forward runs without a graph).
    real: (N, C, H, W) real images in [-1, 1]; z: (N, latent_dim) latents.
    penalty_generator: torch.Generator on real's device for the interpolation weights eps.
    amp_dtype: autocast dtype for the forward passes (CUDA only); the penalty stays float32.
    Returns {"d_loss" (objective loss, without penalties), "gradient_penalty" (with the
    drift term), "d_real", "d_fake" (mean raw scores), "d_grad_norm" (L2 norm of D's
    gradient)}: detached scalars.
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
    if objective.drift_weight > 0:
        penalty = penalty + drift_penalty(real_scores.float(), objective.drift_weight)
    total = loss + penalty
    zero_grad_(opt_d, D)
    total.backward()
    grad_norm = gradient_norm(opt_d)
    opt_d.step()
    if objective.clip_value is not None:
        clip_weights_(unwrap(D), objective.clip_value)
    if objective.rule.max_norm is not None:
        max_norm_(unwrap(D), objective.rule.max_norm)
    return {
        "d_loss": loss.detach(),
        "gradient_penalty": penalty.detach(),
        "d_real": real_scores.detach().float().mean(),
        "d_fake": fake_scores.detach().float().mean(),
        "d_grad_norm": grad_norm,
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
    non-saturating variant); WGAN-GP Algorithm 1 line 12 (-D(G(z))). With
    `objective.rule.max_norm` set, G's weight vectors are projected onto the max-norm ball
    after the step.
    G may be DDP-wrapped (its gradients are averaged over ranks); D is used unwrapped with its
    parameters frozen for the step, so no weight-gradients of D are computed or all-reduced.
    z: (N, latent_dim). Returns {"g_loss", "g_grad_norm"}: detached scalars.
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
        zero_grad_(opt_g, G)
        loss.backward()
        grad_norm = gradient_norm(opt_g)
        opt_g.step()
        if objective.rule.max_norm is not None:
            max_norm_(unwrap(G), objective.rule.max_norm)
    finally:
        for p in frozen:
            p.requires_grad_(True)
    return {"g_loss": loss.detach(), "g_grad_norm": grad_norm}


@torch.no_grad()
def gradient_norm(optimizer: torch.optim.Optimizer) -> Tensor:
    """The global L2 norm of the gradients `optimizer` is about to apply (parameters without a
    gradient, e.g. layers a growing network does not use yet, count as zero), as a detached
    scalar: the quantity `advlab.gan.monitors.DivergenceDetector` watches."""
    grads = [p.grad for group in optimizer.param_groups for p in group["params"]
             if p.grad is not None]
    if not grads:
        return torch.zeros(())
    norms = torch._foreach_norm(grads)  # one fused pass over all gradients
    return torch.linalg.vector_norm(torch.stack(norms))


@torch.no_grad()
def ema_update_(ema: nn.Module, model: nn.Module, decay: float) -> None:
    """Exponential moving average of generator weights, theta_ema <- decay * theta_ema +
    (1 - decay) * theta (Yazici et al. 2019, "The unusual effectiveness of averaging in GAN
    training"; Karras et al. 2018, Appendix A.1: G_smoothing 0.999). Buffers other than batch
    norm's running statistics (e.g. a growing network's level of detail) are copied, as the
    official code copies non-trainable variables (beta_nontrainable = 0). Batch-norm
    statistics are NOT copied: the live generator's statistics describe the live weights'
    activations, not the averaged weights' (with them, an EMA of a BN generator scored FID 225
    where the raw generator scored 55); `recalibrate_batchnorm_` recomputes them for the
    averaged weights before the EMA generator is used."""
    for p_ema, p in zip(ema.parameters(), model.parameters(), strict=True):
        p_ema.lerp_(p.detach(), 1.0 - decay)
    statistics = {id(b) for m in ema.modules() if isinstance(m, _BatchNorm)
                  for b in m.buffers(recurse=False)}
    for b_ema, b in zip(ema.buffers(), model.buffers(), strict=True):
        if id(b_ema) not in statistics:
            b_ema.copy_(b)


@torch.no_grad()
def recalibrate_batchnorm_(generator: nn.Module, latents: Tensor, batch_size: int) -> None:
    """Recompute the batch-norm running statistics of `generator` for its current weights
    (the 'standing statistics' of Brock et al. 2019, Section 3 / Appendix C): reset them, run
    `latents` (M, latent_dim) through it in training mode in batches of `batch_size` and keep
    the plain average of the batch statistics (momentum None). A pure function of the weights
    and the latents (the global RNG is left untouched), so a resumed run recomputes the same
    values. Leaves the generator in eval mode; a no-op without batch norm."""
    norms = [m for m in generator.modules() if isinstance(m, _BatchNorm)]
    if not norms:
        return
    momenta = [m.momentum for m in norms]
    for m in norms:
        m.reset_running_stats()
        m.momentum = None  # cumulative average over the batches below
    generator.train()
    try:
        with torch.random.fork_rng(devices=[]):
            for chunk in latents.split(batch_size):
                generator(chunk)
    finally:
        for m, momentum in zip(norms, momenta, strict=True):
            m.momentum = momentum
        generator.eval()
