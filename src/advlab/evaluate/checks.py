"""Checks that flag evaluations a fixed attack suite may get wrong (Croce et al. 2020, AutoAttack,
Section 5 and its ``checks.py``; Athalye, Carlini & Wagner 2018, "Obfuscated gradients give a
false sense of security", Section 3, for the symptoms). Each returns a warning string or None.

Shapes: x (N, *S), y (N,), logits (N, K).
"""

from __future__ import annotations

from collections.abc import Mapping

import torch
import torch.nn.functional as F
from torch import nn

SQUARE_GAIN_ALPHA = 0.002  # AutoAttack's check_square_sr threshold: 0.2% of the points


def check_randomized(model: nn.Module, x: torch.Tensor, atol: float = 1e-6) -> str | None:
    """(a) Two identical forward passes that differ reveal a randomised model (Athalye et al.
    2018, Section 3.2, stochastic gradients): a fixed-point attack then under-estimates it;
    attack the expectation instead (`advlab.attacks.EOT`)."""
    with torch.no_grad():
        first, second = model(x), model(x)  # (N, K) each
    if torch.allclose(first, second, atol=atol, rtol=0):
        return None
    gap = float((first - second).abs().max())
    return (f"the model is randomised: two identical forward passes differ by up to {gap:.3g}; "
            "robust accuracy against fixed attacks over-estimates it, use expectation over "
            "transformation (advlab.attacks.EOT) and report both")  # fmt: skip


def check_probabilities(logits: torch.Tensor, atol: float = 1e-4) -> str | None:
    """(b) Outputs that are probabilities (rows non-negative, summing to 1): a final softmax
    saturates the cross-entropy and masks its gradients (AutoAttack's check_range_output)."""
    non_negative = bool((logits >= 0).all())
    sums_to_one = bool(torch.allclose(logits.sum(1), torch.ones_like(logits[:, 0]), atol=atol))
    if non_negative and sums_to_one:
        return ("the model outputs look like probabilities (rows non-negative, summing to 1); the "
                "attacks expect logits: remove the final softmax")  # fmt: skip
    return None


def zero_gradient_share(model: nn.Module, x: torch.Tensor, y: torch.Tensor) -> float:
    """Share of points whose cross-entropy input gradient is all zero or not finite."""
    with torch.enable_grad():
        x_req = x.detach().requires_grad_(True)
        loss = F.cross_entropy(model(x_req), y, reduction="sum")
        (grad,) = torch.autograd.grad(loss, x_req, allow_unused=True)
    if grad is None:  # the output does not depend on x through autograd at all
        return 1.0
    flat = grad.flatten(1)  # (N, D)
    bad = (flat == 0).all(1) | ~torch.isfinite(flat).all(1)  # (N,)
    return float(bad.float().mean())


def check_zero_gradients(model: nn.Module, x: torch.Tensor, y: torch.Tensor, share: float = 0.5) -> str | None:
    """(c) Zero or non-finite input gradients at more than ``share`` of the points: shattered
    or masked gradients (Athalye et al. 2018, Section 3.1; a round / sign / quantising front
    end), against which white-box attacks fail silently (AutoAttack's check_zero_gradients).
    A model that fails in the forward pass with gradients enabled counts as masked."""
    try:
        bad = zero_gradient_share(model, x, y)
    except RuntimeError as error:
        return f"input gradients cannot be computed ({error}); white-box attacks are meaningless here"
    if bad > share:
        return (f"{100 * bad:.0f}% of the points have zero or non-finite input gradients: the "
                "gradients are masked or shattered (Athalye et al. 2018); use BPDA or a "
                "differentiable approximation, and trust the black-box Square result over the "
                "white-box ones")  # fmt: skip
    return None


def check_square_gains(broken_by_square: int, points: int, alpha: float = SQUARE_GAIN_ALPHA) -> str | None:
    """(d) Square, a black-box attack run last on the points the white-box attacks left robust,
    breaking more than ``alpha`` of the points is a sign of gradient masking (AutoAttack's
    check_square_sr)."""
    if points > 0 and broken_by_square > alpha * points:
        return (f"Square (black-box) broke {broken_by_square} of {points} points that the gradient-"
                "based attacks did not: a sign of gradient masking; the robust accuracy is likely "
                "lower than reported")  # fmt: skip
    return None


def check_monotone_in_eps(accuracy_by_eps: Mapping[float, float], tolerance: float = 0.0) -> str | None:
    """(e) Robust accuracy must not rise with eps (the balls are nested): a rise larger than
    ``tolerance`` means the attack fails at the larger radius (Carlini et al. 2019, "On evaluating
    adversarial robustness", Section 5.2). accuracy_by_eps: {eps: robust accuracy}."""
    ordered = sorted(accuracy_by_eps.items())
    rises = [(a, b, acc_a, acc_b) for (a, acc_a), (b, acc_b) in zip(ordered, ordered[1:], strict=False) if acc_b > acc_a + tolerance]
    if not rises:
        return None
    text = "; ".join(f"{acc_a:.4g} at eps {a:g} -> {acc_b:.4g} at eps {b:g}" for a, b, acc_a, acc_b in rises)
    return f"robust accuracy rises with eps ({text}): the attacks fail at the larger radius"
