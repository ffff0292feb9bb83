"""Provable defence of Wong & Kolter (ICML 2018): the dual network's certified bounds, interval
bounds, the robust loss and certified training/evaluation.

Public API: `LinfBall`, `interval_bounds`, `dual_bounds`, `build_plan`, `CertifiedBounds`,
`robust_loss`, `margin_bounds`, `certified`, `margin_spec`, `UnsupportedLayerError`,
`RobustBatchLoss`, `certify_model`, `certify_samples`.
"""

from advlab.defenses.certify.ball import LinfBall
from advlab.defenses.certify.dual import dual_bounds
from advlab.defenses.certify.evaluate import certify_model, certify_samples
from advlab.defenses.certify.interval import interval_bounds
from advlab.defenses.certify.layers import UnsupportedLayerError
from advlab.defenses.certify.loss import certified, margin_bounds, robust_loss
from advlab.defenses.certify.plan import build_plan
from advlab.defenses.certify.result import CertifiedBounds, margin_spec
from advlab.defenses.certify.training import RobustBatchLoss

__all__ = [
    "CertifiedBounds",
    "LinfBall",
    "RobustBatchLoss",
    "UnsupportedLayerError",
    "build_plan",
    "certified",
    "certify_model",
    "certify_samples",
    "dual_bounds",
    "interval_bounds",
    "margin_bounds",
    "margin_spec",
    "robust_loss",
]
