"""Provable defence of Wong & Kolter (ICML 2018): the dual network's certified bounds, interval
bounds, the robust loss and certified training/evaluation.

Public API: `LinfBall`, `interval_bounds`, `dual_bounds`, `build_plan`, `CertifiedBounds`,
`robust_loss`, `margin_bounds`, `certified`, `margin_spec`, `UnsupportedLayerError`,
`RobustBatchLoss`, `certify_model`, `certify_samples`; CROWN, Fast-Lin, alpha-CROWN and the
one interface `certified_bounds` / `METHODS`; CROWN-IBP training (`CrownIbpBatchLoss`).
"""

from advlab.defenses.certify.alpha_crown import alpha_crown_bounds
from advlab.defenses.certify.ball import LinfBall
from advlab.defenses.certify.crown import crown_bounds
from advlab.defenses.certify.crown_ibp import CrownIbpBatchLoss, crown_ibp_bounds
from advlab.defenses.certify.dual import dual_bounds
from advlab.defenses.certify.evaluate import certify_model, certify_samples
from advlab.defenses.certify.interval import interval_bounds
from advlab.defenses.certify.layers import UnsupportedLayerError
from advlab.defenses.certify.loss import certified, margin_bounds, robust_loss
from advlab.defenses.certify.methods import METHODS, certified_bounds
from advlab.defenses.certify.plan import build_plan
from advlab.defenses.certify.result import CertifiedBounds, margin_spec
from advlab.defenses.certify.training import RobustBatchLoss

__all__ = [
    "METHODS",
    "CertifiedBounds",
    "CrownIbpBatchLoss",
    "LinfBall",
    "RobustBatchLoss",
    "UnsupportedLayerError",
    "build_plan",
    "alpha_crown_bounds",
    "certified",
    "certified_bounds",
    "certify_model",
    "certify_samples",
    "crown_bounds",
    "crown_ibp_bounds",
    "dual_bounds",
    "interval_bounds",
    "margin_bounds",
    "margin_spec",
    "robust_loss",
]
