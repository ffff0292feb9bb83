"""Adversarial attacks: FGSM, PGD, APGD / APGD-T, Square, FAB, DeepFool, L-BFGS, locally linear, spatial (grid, random,
first-order), expectation over transformation and RP2, with rho_adv and an attack registry;
universal perturbations (their own verb, ``fit``) and attacks on ensembles of models
(``attack(models, x, y)``).

    >>> from advlab.attacks import DeepFool, create_attack
    >>> result = DeepFool(steps=50, overshoot=0.02)(model, x, y)     # x (N, C, H, W) in [0, 1]
    >>> result.success, result.norm, result.steps                   # (N,) each
    >>> create_attack("pgd", eps=0.3, steps=40)                      # by name, checked params

Every attack is a frozen dataclass of hyperparameters called as ``attack(model, x, y)``; the
threat model (projection, clipping to ``bounds``, success, norms) is enforced by
`advlab.attacks.base.finalize` for all of them: ``Attack.__call__`` is final, attacks
implement ``_run``. Ensemble attacks follow the same contract on a model list
(`advlab.attacks.ensemble.ModelListAttack`):

    >>> EnsembleAttack(lam=1)([m1, m2, m3], x, y).member_success     # (M, N)
    >>> UniversalPerturbation(xi=0.2).fit(model, x).perturbation      # (C, H, W)
"""

from __future__ import annotations

from typing import Any

from advlab.attacks.apgd import APGD, APGDT
from advlab.attacks.base import ATTACKS, Attack, Proposal, finalize, inference_view, is_success
from advlab.attacks.batched import attack_in_batches, concat_results
from advlab.attacks.deepfool import DeepFool
from advlab.attacks.ensemble import (
    ENSEMBLE_ATTACKS,
    AttackOnEnsemble,
    EnsembleAttack,
    EnsembleResult,
    ModelListAttack,
    ProbabilityEnsemble,
    create_ensemble_attack,
)
from advlab.attacks.eot import EOT, ExpectationModel
from advlab.attacks.fab import FAB
from advlab.attacks.fgsm import FGSM, minimal_fgsm_eps
from advlab.attacks.lbfgs import LBFGS
from advlab.attacks.locally_linear import LocallyLinear
from advlab.attacks.metrics import relative_perturbation, rho_adv
from advlab.attacks.pgd import PGD
from advlab.attacks.rp2 import RP2
from advlab.attacks.spatial import SpatialGrid, SpatialPGD, SpatialRandom
from advlab.attacks.square import Square
from advlab.attacks.threat import perturbation_norm, project, validate_inputs
from advlab.attacks.universal import (
    UniversalPerturbation,
    UniversalResult,
    fooling_rate,
    random_perturbation,
)


def create_attack(name: str, **params: Any) -> Attack:
    """Build a registered attack by name: ``create_attack("fgsm", eps=0.1)``.

    Unknown names raise `advlab.registry.UnknownNameError` listing the attacks; unknown
    parameters raise ValueError listing the ones the attack accepts.
    """
    cls = ATTACKS.get(name)
    valid = cls.param_names()
    unknown = sorted(set(params) - set(valid))
    if unknown:
        raise ValueError(
            f"unknown parameter(s) {', '.join(unknown)} for attack {name!r}; "
            f"valid: {', '.join(valid)}"
        )
    try:
        return cls(**params)
    except TypeError as error:  # a missing required field such as eps
        raise ValueError(f"attack {name!r}: {error}; valid parameters: {', '.join(valid)}") from None


__all__ = [
    "APGD",
    "APGDT",
    "ATTACKS",
    "ENSEMBLE_ATTACKS",
    "Attack",
    "AttackOnEnsemble",
    "DeepFool",
    "EOT",
    "EnsembleAttack",
    "EnsembleResult",
    "ExpectationModel",
    "FAB",
    "FGSM",
    "Proposal",
    "LBFGS",
    "LocallyLinear",
    "ModelListAttack",
    "PGD",
    "ProbabilityEnsemble",
    "UniversalPerturbation",
    "UniversalResult",
    "RP2",
    "SpatialGrid",
    "SpatialPGD",
    "SpatialRandom",
    "Square",
    "attack_in_batches",
    "concat_results",
    "create_attack",
    "create_ensemble_attack",
    "finalize",
    "fooling_rate",
    "inference_view",
    "is_success",
    "minimal_fgsm_eps",
    "perturbation_norm",
    "project",
    "random_perturbation",
    "relative_perturbation",
    "rho_adv",
    "validate_inputs",
]
