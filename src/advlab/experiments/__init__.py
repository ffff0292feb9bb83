"""Experiments: one module per lecture figure or table (see `advlab.experiments.base`).

Modules are imported on demand, so `advlab list` stays fast and a broken optional dependency
of one experiment does not stop the others.
"""

from __future__ import annotations

import importlib
from types import ModuleType

from advlab.registry import UnknownNameError

# registry name -> module (in the lecture's order)
EXPERIMENTS: dict[str, str] = {
    "classifier-baselines": "advlab.experiments.classifier_baselines",
    "deepfool-table": "advlab.experiments.deepfool_table",
    "fgsm-figure": "advlab.experiments.fgsm_figure",
    "wong-table": "advlab.experiments.wong_table",
    "gan-algorithm1": "advlab.experiments.gan_algorithm1",
    "gan-architectures": "advlab.experiments.gan_architectures",
    "inception-curves": "advlab.experiments.inception_curves",
    "progressive-gan": "advlab.experiments.progressive_gan",
    "memorisation": "advlab.experiments.memorisation",
}


def names() -> list[str]:
    return list(EXPERIMENTS)


def get(name: str) -> ModuleType:
    """The experiment module registered as `name` (unknown names list the valid ones)."""
    if name not in EXPERIMENTS:
        raise UnknownNameError(f"unknown experiment {name!r}; valid names: {', '.join(EXPERIMENTS)}")
    return importlib.import_module(EXPERIMENTS[name])
