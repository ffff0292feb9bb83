"""Evaluation of a classifier as in Table 1 of Wong & Kolter (2018): test error, FGSM error,
PGD error, the certified robust error bound, and the certified accuracy."""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Any

import torch
from torch import Tensor, nn

from advlab.defenses.certify.ball import LinfBall
from advlab.defenses.certify.loss import certified, margin_bounds
from advlab.defenses.certify.methods import bound_method
from advlab.defenses.certify.plan import build_plan
from advlab.progress import Progress, SilentProgress

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class SampleCertificates:
    """Per-sample outcome of `certify_samples`, each (N,) bool: ``wrong`` (clean mistake),
    ``fgsm_wrong`` / ``pgd_wrong`` (misclassified after the attack, clean mistakes included),
    ``certified`` (every margin lower bound > 0: no point of the ball is misclassified)."""

    wrong: Tensor
    fgsm_wrong: Tensor
    pgd_wrong: Tensor
    certified: Tensor

    def metrics(self, eps: float) -> dict[str, float]:
        """Table 1's columns as fractions in [0, 1]: test_error, fgsm_error, pgd_error,
        robust_error_bound (fraction not certified: an upper bound on the error of any attack in
        the ball) and certified_accuracy (fraction correctly classified and certified)."""
        n = len(self.wrong)

        def fraction(mask: Tensor) -> float:
            return int(mask.sum()) / n

        return {
            "n": n,
            "eps": eps,
            "test_error": fraction(self.wrong),
            "fgsm_error": fraction(self.fgsm_wrong),
            "pgd_error": fraction(self.pgd_wrong),
            "robust_error_bound": fraction(~self.certified),
            "certified_accuracy": fraction(self.certified & ~self.wrong),
        }


def certify_samples(
    model: nn.Module,
    x: Tensor,
    y: Tensor,
    eps: float,
    batch_size: int = 50,
    pgd_steps: int = 40,
    bounds: tuple[float, float] = (0.0, 1.0),
    seed: int = 0,
    progress: Progress | None = None,
    method: str = "wong",
) -> SampleCertificates:
    """Per-sample Table 1 outcomes of Wong & Kolter (2018) on (x (N, C, H, W), y (N,)) at radius
    eps: clean error, FGSM (Goodfellow et al. 2015) and PGD (Madry et al. 2018; `pgd_steps`
    steps, step 2.5 eps / steps, random start from `seed`) inside the ball clipped to `bounds`,
    and the certificate of `method` (a name of `methods.METHODS`: "wong", the exact dual network,
    by default; "interval", "fast-lin", "crown", "alpha-crown"), in batches of `batch_size`
    with a progress bar. An unknown method or an unsupported layer is refused before any attack.

    The caller's model is never touched (not its mode, parameters or buffers): everything runs
    on `advlab.attacks.base.inference_view(model)`, eval-mode BatchNorm folded with its running
    statistics and Dropout off, as the model is deployed.
    """
    from advlab.attacks import FGSM, PGD
    from advlab.attacks.base import inference_view

    if len(x) == 0:
        raise ValueError("certification needs at least one sample (got N = 0)")
    if isinstance(batch_size, bool) or not isinstance(batch_size, int) or batch_size < 1:
        raise ValueError(f"batch_size must be an integer >= 1, got {batch_size!r}")
    view = inference_view(model)
    bound_method(method)  # an unknown name fails here, before the attacks
    build_plan(view, x[:1])  # so does an unsupported layer
    ball = LinfBall(eps, *bounds)
    generator = torch.Generator(device=x.device).manual_seed(seed)
    fgsm, pgd = FGSM(eps, bounds=bounds), PGD(eps, steps=pgd_steps, bounds=bounds)
    parts: list[tuple[Tensor, ...]] = []
    with (progress or SilentProgress()).task(f"certify eps={eps}", len(x)) as bar:
        for start in range(0, len(x), batch_size):
            xb, yb = x[start : start + batch_size], y[start : start + batch_size]
            with torch.no_grad():
                wrong = view(xb).argmax(1) != yb  # (B,)
            # An attack "error" counts clean mistakes too (Table 1 reports error under attack).
            fgsm_wrong = wrong | fgsm(view, xb, yb).success
            pgd_wrong = wrong | pgd(view, xb, yb, generator=generator).success
            with torch.no_grad():
                sure = certified(margin_bounds(view, xb, yb, ball, method=method), yb)  # (B,)
            parts.append((wrong, fgsm_wrong, pgd_wrong, sure))
            bar.advance(len(xb))
    return SampleCertificates(*(torch.cat(column) for column in zip(*parts, strict=True)))


def certify_model(model: nn.Module, x: Tensor, y: Tensor, eps: float, **options: Any) -> dict[str, float]:
    """Table 1 metrics of Wong & Kolter (2018) on (x (N, C, H, W), y (N,)) at radius eps:
    `certify_samples` (whose keyword `options` it takes: batch_size, pgd_steps, bounds, seed,
    progress, method) summed by `SampleCertificates.metrics`. The caller's model is never touched."""
    return certify_samples(model, x, y, eps, **options).metrics(eps)
