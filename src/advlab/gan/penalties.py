"""Constraints on the networks' weights and outputs: WGAN-GP's gradient penalty, the drift
term of progressive GANs, WGAN's weight clipping, and the max-norm constraint of Goodfellow et
al.'s pylearn2 configurations.

All are separate from the objectives (`advlab.gan.losses`): an `Objective` only says whether
it uses them (`gp_weight`, `drift_weight`, `clip_value`; `max_norm` is part of its
`LearningRule`).
"""

from __future__ import annotations

import torch
from torch import Tensor, nn


def random_interpolates(
    real: Tensor, fake: Tensor, generator: torch.Generator | None = None
) -> Tensor:
    """Random points on straight lines between real and generated samples, Gulrajani et al.
    2017 (WGAN-GP), Algorithm 1 lines 4-6:  x_hat = eps * x + (1 - eps) * x_tilde,
    eps ~ U[0, 1] drawn independently per sample.

    real, fake: (N, ...) with the same shape; both are detached (the penalty trains only the
    critic). generator: optional `torch.Generator` on real's device for eps.
    Returns x_hat (N, ...) with requires_grad=True, a leaf.
    """
    if real.shape != fake.shape:
        raise ValueError(
            f"real and fake must have the same shape, got {tuple(real.shape)} and "
            f"{tuple(fake.shape)}"
        )
    n = real.shape[0]
    # eps broadcast over every non-batch dimension: (N, 1, 1, 1) for images
    eps = torch.rand(n, generator=generator, device=real.device, dtype=real.dtype)
    eps = eps.view(n, *([1] * (real.dim() - 1)))
    x_hat = eps * real.detach() + (1.0 - eps) * fake.detach()  # (N, ...)
    return x_hat.requires_grad_(True)


def critic_gradient_norms(critic: nn.Module, x: Tensor, *, create_graph: bool = True) -> Tensor:
    """Per-sample L2 norm of the critic's input gradient, ||grad_x D(x)||_2 (WGAN-GP Eq. (3)).

    critic: maps (N, ...) to (N,) scores. x: (N, ...) with requires_grad=True.
    create_graph=True keeps the graph so the norm can itself be differentiated w.r.t. the
    critic's parameters (needed for the penalty). Returns (N,).
    """
    if not x.requires_grad:
        raise ValueError("x must require grad to take the critic's input gradient")
    scores = critic(x)  # (N,)
    if scores.dim() != 1 or scores.shape[0] != x.shape[0]:
        raise ValueError(
            f"critic must return (N,) scores for (N, ...) input, got {tuple(scores.shape)} "
            f"for input {tuple(x.shape)}"
        )
    # Samples are independent, so d(sum_i D(x_i))/dx_i = dD(x_i)/dx_i for each i.
    (grad,) = torch.autograd.grad(scores.sum(), x, create_graph=create_graph)
    # sqrt(. + tiny) keeps the backward finite where a gradient is exactly zero
    return (grad.flatten(1).pow(2).sum(dim=1) + 1e-12).sqrt()  # (N,)


def gradient_penalty(
    critic: nn.Module,
    real: Tensor,
    fake: Tensor,
    weight: float = 10.0,
    generator: torch.Generator | None = None,
) -> Tensor:
    """The two-sided gradient penalty of WGAN-GP, Gulrajani et al. 2017, Eq. (3) and
    Algorithm 1 lines 4-7:

        lambda * E_{x_hat}[(||grad_{x_hat} D(x_hat)||_2 - 1)^2],
        x_hat = eps * x + (1 - eps) * G(z),  eps ~ U[0, 1] per sample.

    critic: (N, C, H, W) -> (N,) critic values. real, fake: (N, C, H, W); both are detached
    here, so the penalty's gradient reaches only the critic's parameters (the input gradient is
    taken with create_graph=True). weight: lambda (10 in the paper). generator: optional
    `torch.Generator` for eps. Returns a scalar to ADD to the critic loss.

    Note: the penalty is per-sample, so the paper recommends a critic without batch norm
    (layer norm instead); `build_gan(..., batchnorm_in_critic=False)`.
    """
    x_hat = random_interpolates(real, fake, generator)  # (N, C, H, W)
    norms = critic_gradient_norms(critic, x_hat, create_graph=True)  # (N,)
    return weight * (norms - 1.0).pow(2).mean()


def drift_penalty(real_scores: Tensor, weight: float = 0.001) -> Tensor:
    """The drift term of Karras et al. 2018, Appendix A.1 (epsilon_drift = 0.001; official
    loss.py, `EpsilonPenalty`):  weight * E_x[D(x)^2]  on the critic's scores of REAL images,
    added to the critic loss so that its output does not drift far from zero.

    real_scores: (N,) critic values. Returns a scalar to ADD to the critic loss."""
    if real_scores.dim() != 1:
        raise ValueError(f"real_scores must have shape (N,), got {tuple(real_scores.shape)}")
    return weight * real_scores.pow(2).mean()


@torch.no_grad()
def clip_weights_(module: nn.Module, clip: float) -> nn.Module:
    """Clip every parameter of `module` to [-clip, clip] in place: WGAN's Lipschitz
    constraint, Arjovsky et al. 2017, Algorithm 1 line 7 (c = 0.01), applied after each critic
    update. Returns the module (for chaining)."""
    if clip <= 0:
        raise ValueError(f"clip must be positive, got {clip}")
    for parameter in module.parameters():
        parameter.clamp_(-clip, clip)
    return module


def _unit_dim(module: nn.Module) -> int | None:
    """Which weight dimension indexes the output units of `module` (None: no such weight).

    nn.Linear: weight (out, in) -> 0; ConvNd: (out, in / groups, *kernel) -> 0;
    ConvTransposeNd: (in, out / groups, *kernel) -> 1."""
    if isinstance(module, nn.Linear):
        return 0
    if isinstance(module, nn.modules.conv._ConvNd):
        return 1 if module.transposed else 0
    return None


@torch.no_grad()
def max_norm_(module: nn.Module, max_norm: float) -> nn.Module:
    """The max-norm constraint, in place: every output unit's incoming weight vector is rescaled
    onto the L2 ball of radius `max_norm` when it lies outside it,

        w_j <- w_j * min(1, max_norm / ||w_j||_2),

    applied after each optimiser step of the network (Srebro & Shraibman 2005; used with dropout
    by Hinton et al. 2012 and Srivastava et al. 2014, Section 5.1). It is pylearn2's
    `max_col_norm` (`max_kernel_norm` for convolutions): pylearn2 stores weights as (in, out), so
    its columns are the rows of an nn.Linear weight (out, in). Goodfellow et al.'s released GAN
    configurations (goodfeli/adversarial) set max_col_norm = 1.9365 on every layer of G and D
    for TFD (tfd_pretrain/train.yaml); their MNIST configuration (mnist.yaml) sets none.

    Applies to every nn.Linear and convolution (transposed too) in `module`, a maxout layer's
    pieces each count as a unit (they are rows of its linear map); biases and normalisation
    parameters are left alone. Units inside the ball are untouched exactly (pylearn2 divides by
    ||w_j|| + 1e-7 instead, shrinking them by a relative 1e-7 / ||w_j||).
    Returns the module (for chaining).
    """
    if max_norm <= 0:
        raise ValueError(f"max_norm must be positive, got {max_norm}")
    for layer in module.modules():
        unit_dim = _unit_dim(layer)
        weight = getattr(layer, "weight", None)
        if unit_dim is None or not isinstance(weight, Tensor):
            continue
        others = [d for d in range(weight.dim()) if d != unit_dim]
        # (out, 1) for Linear, (out, 1, 1, 1) for Conv2d, (1, out, 1, 1) for ConvTranspose2d
        norms = torch.linalg.vector_norm(weight, dim=others, keepdim=True)
        scale = torch.where(norms > max_norm, max_norm / norms, torch.ones_like(norms))
        weight.mul_(scale)
    return module
