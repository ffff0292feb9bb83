"""Robustness evaluation: robust accuracy by the AutoAttack standard sequence (Croce & Hein 2020)
with checks for randomised, probability-output and gradient-masking models.

    >>> from advlab.evaluate import ThreatModel, robust_accuracy
    >>> result = robust_accuracy(model, x, y, ThreatModel("linf", 8 / 255))
    >>> result.robust_accuracy, result.broken_by, result.attacks, result.warnings
"""

from __future__ import annotations

from advlab.evaluate.checks import (
    check_monotone_in_eps,
    check_probabilities,
    check_randomized,
    check_square_gains,
    check_zero_gradients,
)
from advlab.evaluate.suite import (
    AttackRecord,
    RobustAccuracyResult,
    ThreatModel,
    robust_accuracy,
    standard_attacks,
)

__all__ = [
    "AttackRecord",
    "RobustAccuracyResult",
    "ThreatModel",
    "check_monotone_in_eps",
    "check_probabilities",
    "check_randomized",
    "check_square_gains",
    "check_zero_gradients",
    "robust_accuracy",
    "standard_attacks",
]
