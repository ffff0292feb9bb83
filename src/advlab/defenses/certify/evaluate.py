"""Evaluation of a classifier as in Table 1 of Wong & Kolter (2018): test error, FGSM error,
PGD error, the certified robust error bound, and the certified accuracy."""

from __future__ import annotations

import logging

import torch
from torch import Tensor, nn

from advlab.defenses.certify.ball import LinfBall
from advlab.defenses.certify.dual import dual_bounds
from advlab.defenses.certify.result import margin_spec

log = logging.getLogger(__name__)


def _certified(model: nn.Module, x: Tensor, y: Tensor, ball: LinfBall) -> Tensor:
    """(N,) bool: every margin lower bound J(e_y - e_j), j != y, is > 0 (exact dual bounds)."""
    logits_shape = model(x[:1]).shape[1]
    lower = dual_bounds(model, x, ball, margin_spec(y, logits_shape, x.dtype)).lower  # (N, K)
    lower = lower.scatter(1, y.unsqueeze(1), float("inf"))
    return lower.min(dim=1).values > 0


def certify_model(
    model: nn.Module,
    x: Tensor,
    y: Tensor,
    eps: float,
    batch_size: int = 50,
    pgd_steps: int = 40,
    bounds: tuple[float, float] = (0.0, 1.0),
    seed: int = 0,
) -> dict[str, float]:
    """Table 1 metrics of Wong & Kolter (2018) on (x (N, C, H, W), y (N,)) at radius eps.

    test_error: clean error. fgsm_error / pgd_error: error under FGSM (Goodfellow et al. 2015)
    and PGD (Madry et al. 2018; `pgd_steps` steps, step 2.5 eps / steps, random start) inside
    the ball clipped to `bounds`. robust_error_bound: fraction of samples not certified by the
    exact dual bounds (an upper bound on the error of any attack). certified_accuracy:
    fraction correctly classified and certified. All fractions in [0, 1], computed in batches.
    The model's training flag is left as it was; evaluation runs with it in eval mode.
    """
    from advlab.attacks import FGSM, PGD

    if len(x) == 0:
        raise ValueError("certify_model needs at least one sample")
    was_training = model.training
    model.eval()
    ball = LinfBall(eps, *bounds)
    generator = torch.Generator(device=x.device).manual_seed(seed)
    fgsm, pgd = FGSM(eps, bounds=bounds), PGD(eps, steps=pgd_steps, bounds=bounds)
    clean_wrong = fgsm_wrong = pgd_wrong = not_certified = 0
    try:
        for start in range(0, len(x), batch_size):
            xb, yb = x[start : start + batch_size], y[start : start + batch_size]
            with torch.no_grad():
                wrong = model(xb).argmax(1) != yb  # (B,)
            clean_wrong += int(wrong.sum())
            # An attack "error" counts clean mistakes too (Table 1 reports error under attack).
            fgsm_wrong += int((wrong | fgsm(model, xb, yb).success).sum())
            pgd_wrong += int((wrong | pgd(model, xb, yb, generator=generator).success).sum())
            with torch.no_grad():
                not_certified += int((~_certified(model, xb, yb, ball)).sum())
    finally:
        model.train(was_training)
    n = len(x)
    return {
        "n": n,
        "eps": eps,
        "test_error": clean_wrong / n,
        "fgsm_error": fgsm_wrong / n,
        "pgd_error": pgd_wrong / n,
        "robust_error_bound": not_certified / n,
        "certified_accuracy": 1.0 - not_certified / n,
    }
