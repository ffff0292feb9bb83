"""Latent priors, latent interpolation and image grids for generators.

Generators map z (N, latent_dim) to images (N, C, H, W) in [-1, 1] (`advlab.models.gan`); the
helpers here convert to [0, 1] at the edge, where images are saved or scored.
"""

from __future__ import annotations

from pathlib import Path

import torch
from torch import Tensor, nn


def sample_latent(
    n: int,
    latent_dim: int,
    prior: str,
    generator: torch.Generator | None = None,
    device: torch.device | str = "cpu",
) -> Tensor:
    """Draw n latent vectors z ~ p(z), returned as (n, latent_dim) float32 on `device`.

    prior "uniform": U[-1, 1]^d, the noise of Goodfellow et al. 2014 and of DCGAN (Radford et
    al. 2016, Section 4, "a 100 dimensional uniform distribution Z"); "normal": N(0, I), as in
    WGAN-GP (Gulrajani et al. 2017). `generator` is a CPU torch.Generator: drawing on the CPU
    and moving keeps the stream identical on every device (exact resume, CPU/GPU parity).
    """
    if prior == "uniform":
        z = torch.rand(n, latent_dim, generator=generator) * 2.0 - 1.0
    elif prior == "normal":
        z = torch.randn(n, latent_dim, generator=generator)
    else:
        raise ValueError(f"unknown latent prior {prior!r}; valid: uniform, normal")
    return z.to(device)


def to_unit_range(images: Tensor) -> Tensor:
    """Generator output in [-1, 1] -> [0, 1] (the pixel range of every advlab dataset)."""
    return ((images + 1.0) * 0.5).clamp_(0.0, 1.0)


def to_signed_range(images: Tensor) -> Tensor:
    """Dataset images in [0, 1] -> [-1, 1] (what generators produce and critics read)."""
    return images * 2.0 - 1.0


@torch.no_grad()
def generate(generator: nn.Module, z: Tensor, batch_size: int = 256) -> Tensor:
    """Images G(z) in [0, 1], (N, C, H, W), in eval mode (batch norm uses running statistics),
    batched to bound memory; restores the module's training flag afterwards."""
    was_training = generator.training
    generator.eval()
    try:
        chunks = [to_unit_range(generator(z[i : i + batch_size]).float())
                  for i in range(0, z.shape[0], batch_size)]
    finally:
        generator.train(was_training)
    return torch.cat(chunks)


def slerp(z0: Tensor, z1: Tensor, t: Tensor) -> Tensor:
    """Spherical linear interpolation (Shoemake 1985; recommended for Gaussian latents by White
    2016, "Sampling generative networks") between z0 and z1 (R, D) at fractions t (T,).

    Returns (R, T, D). Falls back to linear interpolation where the vectors are (anti)parallel.
    """
    u0 = z0 / z0.norm(dim=1, keepdim=True).clamp_min(1e-12)  # (R, D)
    u1 = z1 / z1.norm(dim=1, keepdim=True).clamp_min(1e-12)
    omega = torch.acos((u0 * u1).sum(dim=1).clamp(-1.0, 1.0))[:, None]  # (R, 1)
    so = torch.sin(omega)  # (R, 1)
    t = t[None, :]  # (1, T)
    safe = so.abs() > 1e-6
    w0 = torch.where(safe, torch.sin((1.0 - t) * omega) / so.where(safe, 1.0), 1.0 - t)  # (R, T)
    w1 = torch.where(safe, torch.sin(t * omega) / so.where(safe, 1.0), t)
    return w0[..., None] * z0[:, None, :] + w1[..., None] * z1[:, None, :]


def lerp(z0: Tensor, z1: Tensor, t: Tensor) -> Tensor:
    """Linear interpolation (1 - t) z0 + t z1 between z0, z1 (R, D) at t (T,): (R, T, D)."""
    t = t[None, :, None]  # (1, T, 1)
    return (1.0 - t) * z0[:, None, :] + t * z1[:, None, :]


INTERPOLATIONS = {"slerp": slerp, "linear": lerp}


def interpolation_latents(
    rows: int, steps: int, latent_dim: int, prior: str, method: str, seed: int
) -> Tensor:
    """Latents for an interpolation grid: `rows` pairs of endpoints, `steps` points each.

    Returns (rows * steps, latent_dim), row-major (each row walks from its z0 to its z1), as in
    DCGAN's Figure 4 (Radford et al. 2016, walking in the latent space).
    """
    if method not in INTERPOLATIONS:
        raise ValueError(f"unknown interpolation {method!r}; valid: {', '.join(INTERPOLATIONS)}")
    if rows < 1 or steps < 2:
        raise ValueError(f"need rows >= 1 and steps >= 2, got rows={rows}, steps={steps}")
    g = torch.Generator().manual_seed(seed)
    ends = sample_latent(2 * rows, latent_dim, prior, g)  # (2R, D)
    t = torch.linspace(0.0, 1.0, steps)  # (T,)
    path = INTERPOLATIONS[method](ends[:rows], ends[rows:], t)  # (R, T, D)
    return path.reshape(rows * steps, latent_dim)


def save_grid(images: Tensor, path: str | Path, nrow: int | None = None) -> Path:
    """Save images (N, C, H, W) in [0, 1] as one PNG grid (torchvision.utils.save_image)."""
    from torchvision.utils import save_image

    target = Path(path)
    target.parent.mkdir(parents=True, exist_ok=True)
    if nrow is None:
        nrow = max(1, int(round(images.shape[0] ** 0.5)))
    save_image(images.detach().float().cpu(), target, nrow=nrow, padding=2, pad_value=1.0)
    return target
