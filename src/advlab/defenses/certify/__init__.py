"""Provable defence of Wong & Kolter (ICML 2018): the dual network's certified bounds, interval
bounds, the robust loss and certified training/evaluation.

Public API: `LinfBall`, `interval_bounds`, `dual_bounds`, `CertifiedBounds`, `robust_loss`,
`margin_spec`, `UnsupportedLayerError`, `RobustBatchLoss`, `certify_model`.
"""

from advlab.defenses.certify.ball import LinfBall
from advlab.defenses.certify.dual import dual_bounds
from advlab.defenses.certify.evaluate import certify_model
from advlab.defenses.certify.interval import interval_bounds
from advlab.defenses.certify.layers import UnsupportedLayerError
from advlab.defenses.certify.loss import robust_loss
from advlab.defenses.certify.result import CertifiedBounds, margin_spec
from advlab.defenses.certify.training import RobustBatchLoss

__all__ = [
    "CertifiedBounds",
    "LinfBall",
    "RobustBatchLoss",
    "UnsupportedLayerError",
    "certify_model",
    "dual_bounds",
    "interval_bounds",
    "margin_spec",
    "robust_loss",
]
