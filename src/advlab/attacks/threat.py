"""The threat model's geometry and input validation, shared by every attack.

Validation of hyperparameters and batches; per-sample norms; projection onto the eps-ball of
a norm intersected with the input box; uniform draws in the ball (PGD's random start).

Shapes: inputs x are (N, *S) with S the per-sample shape, usually (C, H, W).
"""

from __future__ import annotations

import math
from typing import Any

import torch

from advlab.types import NORMS, Bounds, Norm

# Inputs may exceed the declared bounds by float rounding (e.g. uint8 / 255 conversions).
BOUNDS_TOLERANCE = 1e-6


# --------------------------------------------------------------------------- validation


def validate_bounds(bounds: Any) -> Bounds:
    """Check that ``bounds`` is a pair (low, high) of finite floats with low < high."""
    try:
        low, high = (float(b) for b in bounds)
    except (TypeError, ValueError):
        raise ValueError(f"bounds must be a pair (low, high) of numbers, got {bounds!r}") from None
    if not (math.isfinite(low) and math.isfinite(high) and low < high):
        raise ValueError(f"bounds must satisfy finite low < high, got {bounds!r}")
    return (low, high)


def validate_eps(eps: Any, name: str = "eps") -> float:
    """Check that a radius or step size is a finite number > 0 and return it as float."""
    if isinstance(eps, bool) or not isinstance(eps, int | float):
        raise ValueError(f"{name} must be a positive number, got {eps!r}")
    if not (math.isfinite(eps) and eps > 0):
        raise ValueError(f"{name} must be a finite number > 0, got {eps!r}")
    return float(eps)


def validate_norm(norm: Any) -> Norm:
    """Check that ``norm`` is one of advlab.types.NORMS."""
    if norm not in NORMS:
        raise ValueError(f"norm must be one of {', '.join(NORMS)}, got {norm!r}")
    return norm  # type: ignore[no-any-return]


def validate_positive_int(value: Any, name: str) -> int:
    """Check that a count (steps, restarts, ...) is an int >= 1."""
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise ValueError(f"{name} must be an integer >= 1, got {value!r}")
    return value


def validate_inputs(x: torch.Tensor, y: torch.Tensor, bounds: Bounds) -> None:
    """Check a batch before attacking it.

    x: (N, *S) floating tensor, finite, inside ``bounds`` (up to BOUNDS_TOLERANCE);
    y: (N,) integer labels (or targets) on the same device.
    """
    if not isinstance(x, torch.Tensor) or not isinstance(y, torch.Tensor):
        raise ValueError(
            f"x and y must be tensors, got {type(x).__name__} and {type(y).__name__}"
        )
    if x.ndim < 2:
        raise ValueError(f"x must be a batch (N, C, H, W) or (N, D), got shape {tuple(x.shape)}")
    if not x.is_floating_point():
        raise ValueError(f"x must be a floating-point tensor, got dtype {x.dtype}")
    if y.ndim != 1 or y.shape[0] != x.shape[0]:
        raise ValueError(
            f"y must have shape (N,) = ({x.shape[0]},) to match x {tuple(x.shape)}, "
            f"got {tuple(y.shape)}"
        )
    if y.is_floating_point() or y.dtype == torch.bool:
        raise ValueError(f"y must hold integer class labels, got dtype {y.dtype}")
    if y.device != x.device:
        raise ValueError(f"x is on {x.device} but y is on {y.device}")
    if x.shape[0] == 0:
        raise ValueError("x is an empty batch (N = 0)")
    if not torch.isfinite(x).all():
        raise ValueError("x contains NaN or inf values")
    low, high = bounds
    x_min, x_max = float(x.min()), float(x.max())
    if x_min < low - BOUNDS_TOLERANCE or x_max > high + BOUNDS_TOLERANCE:
        raise ValueError(
            f"x has values in [{x_min:.4g}, {x_max:.4g}], outside bounds {bounds}; "
            "pass bounds=(low, high) matching the model's input range"
        )


# --------------------------------------------------------------------------- geometry


def flat_norm(v: torch.Tensor, norm: Norm) -> torch.Tensor:
    """Per-sample norm of v (N, *S) -> (N,): max |v| for "linf", Euclidean for "l2"."""
    flat = v.flatten(1)  # (N, D)
    if norm == "linf":
        return flat.abs().amax(dim=1)
    return flat.norm(p=2, dim=1)


def perturbation_norm(x: torch.Tensor, x_adv: torch.Tensor, norm: Norm) -> torch.Tensor:
    """||x_adv - x|| per sample, (N,)."""
    return flat_norm(x_adv - x, norm)


def clip_to_bounds(x: torch.Tensor, bounds: Bounds) -> torch.Tensor:
    """Clamp every entry of x into [low, high]."""
    return x.clamp(bounds[0], bounds[1])


# l2 projections land this much (relative) inside the sphere, so that projecting the result
# again changes nothing: float rounding of ||delta||_2 would otherwise re-scale points that sit
# on the sphere by an ulp, and `finalize` would pay a forward pass to re-judge them.
L2_PROJECTION_MARGIN = 1e-5


def linf_box(x: torch.Tensor, eps: float, bounds: Bounds) -> tuple[torch.Tensor, torch.Tensor]:
    """Corners (lower, upper), each (N, *S), of {x' : ||x' - x||_inf <= eps} ∩ [low, high]^D.

    The intersection of an linf ball and a box is a box, so projecting onto it is one clamp.
    """
    return (x - eps).clamp_(min=bounds[0]), (x + eps).clamp_(max=bounds[1])


def project(
    x: torch.Tensor, x_adv: torch.Tensor, norm: Norm, eps: float | None, bounds: Bounds
) -> torch.Tensor:
    """Project x_adv (N, *S) onto {x' : ||x' - x|| <= eps} and then onto the bounds box.

    linf: one clamp between the corners of the ball-box intersection (`linf_box`); l2: rows
    outside the ball are rescaled onto it (by L2_PROJECTION_MARGIN inside), then clipped to
    the box. Clipping after the ball never leaves the ball: x itself is inside the box, so
    clipping only moves each coordinate of delta towards 0. eps None means no ball (minimal
    perturbation attacks such as DeepFool and L-BFGS): only the box is enforced.
    Idempotent: rows already inside are returned bit-for-bit (a clamp of an in-range value is
    that value), which lets `finalize` reuse an attack's logits.
    """
    if eps is None:
        return clip_to_bounds(x_adv, bounds)
    if norm == "linf":
        lower, upper = linf_box(x, eps, bounds)
        return torch.clamp(x_adv, lower, upper)
    delta = x_adv - x  # (N, *S)
    length = flat_norm(delta, "l2")  # (N,)
    outside = (length > eps).view(-1, *([1] * (delta.ndim - 1)))  # (N, 1, ...) shrink only
    factor = (eps * (1 - L2_PROJECTION_MARGIN) / length.clamp_min(1e-12)).view_as(outside)
    return clip_to_bounds(torch.where(outside, x + delta * factor, x_adv), bounds)


def random_in_ball(
    x: torch.Tensor, norm: Norm, eps: float, generator: torch.Generator | None
) -> torch.Tensor:
    """A perturbation (N, *S) drawn uniformly from the eps-ball (the PGD random start).

    linf: uniform in the cube; l2: Gaussian direction times radius eps * U^(1/D).
    """
    if norm == "linf":
        u = torch.rand(x.shape, generator=generator, device=x.device, dtype=x.dtype)
        return (2 * u - 1) * eps
    direction = torch.randn(x.shape, generator=generator, device=x.device, dtype=x.dtype)
    direction = direction / flat_norm(direction, "l2").clamp_min(1e-12).view(-1, *[1] * (x.ndim - 1))
    dim = x[0].numel()
    u = torch.rand((x.shape[0],), generator=generator, device=x.device, dtype=x.dtype)
    radius = eps * u.pow(1.0 / dim)  # (N,)
    return direction * radius.view(-1, *[1] * (x.ndim - 1))


def vacuous_reason(norm: str, radius: float | None, bounds: tuple[float, float],
                   dims: int | None = None) -> str | None:
    """Why a threat model whose ball holds the whole input box is vacuous, or None.

    An l-inf ball of radius >= upper - lower around any image contains every image of the box
    [lower, upper]^D (an l2 ball: radius >= (upper - lower) sqrt(D), with D = `dims` per-sample
    values, checked only when `dims` is given): every attack then "succeeds" by replacing the
    image, which measures nothing about the model.
    """
    if radius is None or not math.isfinite(radius):
        return None
    width = bounds[1] - bounds[0]
    if norm == "linf" and radius >= width:
        return (f"eps {radius:g} covers the whole input box [{bounds[0]:g}, {bounds[1]:g}] (an "
                f"l-inf ball of radius >= {width:g} holds every image): the threat model is "
                f"vacuous; the lecture's l-inf radii are 0.007 to 0.3 of the range")
    if norm == "l2" and dims is not None and radius >= width * math.sqrt(dims):
        return (f"eps {radius:g} covers the whole input box [{bounds[0]:g}, {bounds[1]:g}]^{dims} "
                f"(its l2 diameter is {width * math.sqrt(dims):.3g}): the threat model is vacuous")
    return None
