"""The worst-case suite as the lecture's experiments use it: `advlab.evaluate.robust_accuracy`
(Croce & Hein 2020, "Reliable evaluation of adversarial robustness with an ensemble of diverse
parameter-free attacks", Section 4: APGD-CE, APGD-T, FAB-T, Square) at an l_inf radius, on a
subset of test images, with the attacks defined for the model's number of classes, and the
radius each dataset has in the lecture.

Shapes: x (N, C, H, W) in [0, 1], y (N,).
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import nn

from advlab.attacks import Attack, inference_view
from advlab.evaluate import RobustAccuracyResult, ThreatModel, robust_accuracy, standard_attacks
from advlab.progress import Progress

TARGETED_DLR_CLASSES = 4
"""APGD-T's targeted DLR loss (Croce & Hein 2020, eq. 7) divides by z_pi1 - (z_pi3 + z_pi4) / 2,
so it needs 4 classes (AutoAttack's check_n_classes refuses it below that)."""

LECTURE_EPS: dict[str, float] = {
    "mnist": 0.1, "mnist-5k": 0.1, "digits": 0.1, "fashion-mnist": 0.1, "svhn": 0.01,
    "cifar10": 8 / 255, "imagenet": 0.007,
}  # fmt: skip
"""l_inf radius of the suite per dataset. MNIST-like digits (mnist, its embedded stand-ins, and
Fashion-MNIST) and SVHN: the radii of Wong & Kolter 2018, Table 1, the lecture's provable-defence
table (0.1 and 0.01), so the column sits beside the certified bounds of wong-table. ImageNet:
0.007, the radius of the lecture's FGSM figure (Goodfellow et al. 2015, Figure 1, GoogLeNet).
CIFAR-10 is not attacked at a fixed radius in the lecture: 8/255, AutoAttack's standard one."""

SUITE_DESCRIPTION = ("APGD-CE, APGD-T (9 targets), FAB-T (9 targets), 100 steps each, and "
                     "Square (5,000 queries), each on the points the previous ones left; "
                     "APGD-T left out below 4 classes (its DLR loss needs them)")  # fmt: skip


def lecture_eps(dataset: str) -> float:
    """The suite's l_inf radius for `dataset` (LECTURE_EPS; an ImageFolder "folder:..." is an
    ImageNet validation tree). Unknown datasets: a ValueError asking for an explicit radius."""
    key = "imagenet" if dataset.startswith("folder:") else dataset
    if key not in LECTURE_EPS:
        raise ValueError(f"no lecture radius for dataset {dataset!r} (known: "
                         f"{', '.join(LECTURE_EPS)}); set the suite's eps explicitly (--suite-eps)")
    return LECTURE_EPS[key]


def suite_attacks(threat: ThreatModel, num_classes: int) -> tuple[tuple[str, Attack], ...]:
    """The standard sequence, without APGD-T for fewer than TARGETED_DLR_CLASSES classes (with
    two classes its only target is the other class, which APGD-CE already attacks)."""
    attacks = standard_attacks(threat)
    if num_classes < TARGETED_DLR_CLASSES:
        attacks = tuple((name, attack) for name, attack in attacks if name != "apgd-t")
    return attacks


def run_suite(model: nn.Module, x: torch.Tensor, y: torch.Tensor, eps: float, *, seed: int,
              batch_size: int = 500, progress: Progress | None = None) -> RobustAccuracyResult:
    """`robust_accuracy` of `model` on (x (N, C, H, W), y (N,)) in the l_inf ball of radius
    `eps` clipped to [0, 1], with `suite_attacks` for the model's number of classes and the
    randomness of a generator seeded with `seed` (so the caller's global RNG is untouched)."""
    with torch.no_grad():
        num_classes = int(inference_view(model)(x[:1]).shape[1])
    threat = ThreatModel("linf", eps)
    generator = torch.Generator(device=x.device).manual_seed(seed)
    return robust_accuracy(model, x, y, threat, attacks=suite_attacks(threat, num_classes),
                           batch_size=batch_size, generator=generator, progress=progress)


@dataclass
class SuiteSummary:
    """One suite run as a result row carries it: eps, images attacked (the first `n` of the
    row's), robust accuracy (%) and the checks that fired (Croce et al. 2020, Section 5)."""

    eps: float
    n: int
    robust_accuracy: float
    warnings: list[str]

    @classmethod
    def of(cls, result: RobustAccuracyResult) -> SuiteSummary:
        return cls(eps=result.threat.eps, n=len(result.broken_by),
                   robust_accuracy=100 * result.robust_accuracy, warnings=list(result.warnings))


def checks_sentence(fired: list[tuple[str, list[str]]]) -> str:
    """A caption's sentence on the suite's checks (Croce & Hein 2020, Section 5; Athalye et al.
    2018): `fired` holds (where, the warnings of that run) per suite run."""
    hits = [f"{where}: {warning}" for where, warnings in fired for warning in warnings]
    if not fired:
        return ""
    if not hits:
        return ("The suite's gradient-masking checks (randomness, probability outputs, zero "
                "gradients, Square gains) fired on no run. ")
    return "The suite's checks that fired: " + "; ".join(hits) + ". "
