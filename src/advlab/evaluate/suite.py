"""Robust accuracy under a fixed lp threat model by the AutoAttack standard sequence (Croce & Hein
2020, "Reliable evaluation of adversarial robustness with an ensemble of diverse parameter-free
attacks", arXiv 2003.01690, Section 4): APGD-CE, APGD-T (targeted DLR, 9 classes), FAB-T
(9 classes), Square (5,000 queries), each on the points still robust after the previous ones,
with the checks of `advlab.evaluate.checks`.

Shapes: x (N, *S), y (N,).
"""

from __future__ import annotations

import logging
import time
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import torch
from torch import nn

from advlab.attacks.apgd import APGD, APGDT
from advlab.attacks.base import Attack, cpu_attack_copy, inference_view
from advlab.attacks.batched import concat_results
from advlab.attacks.fab import FAB
from advlab.attacks.square import Square, margin
from advlab.attacks.threat import validate_bounds, validate_eps, validate_inputs, validate_norm
from advlab.evaluate import checks
from advlab.progress import Progress, SilentProgress
from advlab.train.distributed import chunk_slices
from advlab.types import Bounds, Norm

log = logging.getLogger(__name__)
CLEAN = "clean"  # broken_by entry of points misclassified without attack
SQUARE = "square"


@dataclass(frozen=True)
class ThreatModel:
    """The lp ball of radius eps around each input, intersected with the box ``bounds``."""

    norm: Norm
    eps: float
    bounds: Bounds = (0.0, 1.0)

    def __post_init__(self) -> None:
        validate_norm(self.norm)
        validate_eps(self.eps)
        object.__setattr__(self, "bounds", validate_bounds(self.bounds))


def standard_attacks(threat: ThreatModel, *, steps: int = 100, queries: int = 5000,
                     rescale_schedule: bool = False) -> tuple[tuple[str, Attack], ...]:
    """AutoAttack's standard version (Croce & Hein 2020, Section 4, and their code): APGD-CE
    (100 steps, 1 run), APGD-T (DLR, 9 targets, 100 steps), FAB-T (9 targets, 100 steps),
    Square (5,000 queries, p_init 0.8, schedule not rescaled: ``resc_schedule=False`` as in
    the authors' AutoAttack). FAB-T stops a point at its first adversarial example within eps
    (``stop_at_eps``): robust accuracy needs one, not the smallest, and no point breaks less.

    ``steps`` (APGD-CE, APGD-T, FAB-T) and ``queries`` (Square) change the budget; the
    defaults are the authors'. torchattacks' AutoAttack(version="standard") runs 10 steps and
    rescales Square's schedule (``steps=10, rescale_schedule=True`` matches it): fewer steps
    are cheaper and can only find fewer adversarial examples."""
    common: dict[str, Any] = {"eps": threat.eps, "norm": threat.norm, "bounds": threat.bounds}
    return (
        ("apgd-ce", APGD(loss="ce", steps=steps, **common)),
        ("apgd-t", APGDT(loss="dlr", n_target_classes=9, steps=steps, **common)),
        ("fab-t", FAB(n_target_classes=9, steps=steps, stop_at_eps=True, **common)),
        (SQUARE, Square(queries=queries, p_init=0.8, rescale_schedule=rescale_schedule, **common)),
    )


@dataclass(frozen=True)
class AttackRecord:
    """One attack of the sequence: points it was run on, points it broke, wall seconds."""

    name: str
    attacked: int
    broken: int
    seconds: float


@dataclass(frozen=True)
class RobustAccuracyResult:
    """robust_accuracy's answer.

    x_adv:     (N, *S) per point the worst case found: the first adversarial example for broken
               points, else the attack output with the lowest margin (x if none was lower);
    robust:    (N,) bool, correctly classified at every point tried;
    broken_by: per point "clean" (misclassified without attack), the attack's name, or None;
    attacks:   one AttackRecord per attack, in order; warnings: the checks that fired.
    """

    x_adv: torch.Tensor
    robust: torch.Tensor
    broken_by: tuple[str | None, ...]
    attacks: tuple[AttackRecord, ...]
    threat: ThreatModel
    warnings: tuple[str, ...]

    @property
    def clean_accuracy(self) -> float:
        return sum(b != CLEAN for b in self.broken_by) / len(self.broken_by)

    @property
    def robust_accuracy(self) -> float:
        return float(self.robust.float().mean())

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready summary (no tensors)."""
        return {
            "norm": self.threat.norm, "eps": self.threat.eps, "bounds": list(self.threat.bounds),
            "points": len(self.broken_by), "clean_accuracy": self.clean_accuracy,
            "robust_accuracy": self.robust_accuracy, "broken_by": list(self.broken_by),
            "attacks": [vars(a) for a in self.attacks], "warnings": list(self.warnings),
        }  # fmt: skip


def robust_accuracy(
    model: nn.Module,
    x: torch.Tensor,
    y: torch.Tensor,
    threat: ThreatModel,
    *,
    attacks: Sequence[tuple[str, Attack]] | None = None,
    batch_size: int = 500,
    generator: torch.Generator | None = None,
    run_checks: bool = True,
    progress: Progress | None = None,
) -> RobustAccuracyResult:
    """Robust accuracy of ``model`` on (x (N, *S), y (N,)) under ``threat`` by the AutoAttack
    standard sequence (`standard_attacks`, or ``attacks`` given as (name, attack) pairs whose
    threat model should be ``threat``'s), each attack on the points still robust (Croce & Hein
    2020, Section 4), in chunks of ``batch_size``. A point is broken by the first attack whose
    output the model misclassifies (the attacks' own `finalize` judges it at the returned
    point). With ``run_checks``: randomised outputs, probability outputs, zero gradients
    (before) and Square gains (after) are checked; warnings are logged and returned.
    ``progress`` advances once per attack.
    """
    validate_inputs(x, y, threat.bounds)
    attacks = tuple(attacks) if attacks is not None else standard_attacks(threat)
    for name, attack in attacks:  # a weaker or stronger ball would make the figure meaningless
        if attack.norm != threat.norm or attack.radius != threat.eps or tuple(attack.bounds) != threat.bounds:
            raise ValueError(f"attack {name!r} uses {attack.norm} eps {attack.radius} bounds {attack.bounds}, "
                             f"the threat model is {threat.norm} eps {threat.eps} bounds {threat.bounds}")  # fmt: skip
    net = cpu_attack_copy(inference_view(model), x)  # the CPU's faster convolution kernels
    x = x.detach()
    with torch.no_grad():
        clean_logits = torch.cat([net(x[i : i + batch_size]) for i in range(0, x.shape[0], batch_size)])  # (N, K)
    warnings: list[str] = []
    if run_checks:
        probe = slice(0, min(batch_size, x.shape[0]))
        found = [checks.check_randomized(net, x[probe]), checks.check_probabilities(clean_logits),
                 checks.check_zero_gradients(net, x[probe], y[probe])]  # fmt: skip
        warnings += [w for w in found if w]
    robust = clean_logits.argmax(1) == y  # (N,)
    broken_by: list[str | None] = [None if r else CLEAN for r in robust.tolist()]
    best_margin = margin(clean_logits, y)  # (N,) lowest margin seen, for the worst-case point
    x_adv = x.clone()
    records = []
    with (progress or SilentProgress()).task("robust accuracy", len(attacks)) as bar:
        for name, attack in attacks:
            idx = robust.nonzero().squeeze(1)
            start = time.perf_counter()
            broken = 0
            if idx.numel():
                # in this process, chunk after chunk: callers shard over ranks around this call
                # (advlab evaluate), so the attacks must not shard again
                result = concat_results([attack(net, x[idx[rows]], y[idx[rows]], generator=generator)
                                         for rows in chunk_slices(idx.numel(), batch_size)])
                m = margin(result.logits, y[idx])  # (n,)
                lower = m < best_margin[idx]
                x_adv[idx[lower]], best_margin[idx[lower]] = result.x_adv[lower], m[lower]
                fooled = idx[result.success]
                x_adv[fooled] = result.x_adv[result.success]
                robust[fooled] = False
                for i in fooled.tolist():
                    broken_by[i] = name
                broken = int(fooled.numel())
            records.append(AttackRecord(name, int(idx.numel()), broken, time.perf_counter() - start))
            log.info("%s: broke %d of %d points in %.1f s; robust accuracy %.4f", name, broken, idx.numel(),
                     records[-1].seconds, float(robust.float().mean()))  # fmt: skip
            bar.advance(1, robust=float(robust.float().mean()))
    if run_checks:
        square_broke = sum(r.broken for r in records if r.name == SQUARE)
        gain = checks.check_square_gains(square_broke, x.shape[0]) if len(records) > 1 else None
        warnings += [gain] if gain else []
    for warning in warnings:
        log.warning("robust accuracy: %s", warning)
    return RobustAccuracyResult(x_adv, robust, tuple(broken_by), tuple(records), threat, tuple(warnings))
