"""Experiments: one module per lecture figure or table (see `advlab.experiments.base`).

Modules are imported on demand, so `advlab list` stays fast and a broken optional dependency
of one experiment does not stop the others.
"""

from __future__ import annotations

import ast
import importlib
import importlib.util
from types import ModuleType

from advlab.registry import UnknownNameError

# registry name -> module (in the lecture's order)
EXPERIMENTS: dict[str, str] = {
    "classifier-baselines": "advlab.experiments.classifier_baselines",
    "deepfool-table": "advlab.experiments.deepfool_table",
    "fgsm-figure": "advlab.experiments.fgsm_figure",
    "universal": "advlab.experiments.universal",
    "transfer-table": "advlab.experiments.transfer_table",
    "decision-regions": "advlab.experiments.decision_regions",
    "spatial-table": "advlab.experiments.spatial_table",
    "spatial-landscape": "advlab.experiments.spatial_landscape",
    "eot-table": "advlab.experiments.eot_table",
    "rp2-table": "advlab.experiments.rp2_table",
    "wong-table": "advlab.experiments.wong_table",
    "certify-methods": "advlab.experiments.certify_methods",
    "sparsity-curves": "advlab.experiments.sparsity_curves",
    "sparsity-table": "advlab.experiments.sparsity_table",
    "gan-algorithm1": "advlab.experiments.gan_algorithm1",
    "gan-architectures": "advlab.experiments.gan_architectures",
    "inception-curves": "advlab.experiments.inception_curves",
    "progressive-gan": "advlab.experiments.progressive_gan",
    "memorisation": "advlab.experiments.memorisation",
    "classifier-dissection": "advlab.experiments.classifier_dissection",
    "gan-dissection": "advlab.experiments.gan_dissection",
    "gan-interventions": "advlab.experiments.gan_interventions",
}


SCALES = ("demo", "quick", "paper")
"""demo: the size `make demo` runs (Config.demo() where an experiment defines it, else
quick()); quick: a 2-core CPU in minutes, offline; paper: the paper's data and models."""


def check_scale(scale: str) -> None:
    """Refuse an unknown scale (the valid ones listed)."""
    if scale not in SCALES:
        raise ValueError(f"unknown scale {scale!r}; valid: {', '.join(SCALES)}")


def check_name_and_scale(name: str, scale: str) -> None:
    """Refuse an unknown experiment or scale without importing anything heavy."""
    if name not in EXPERIMENTS:
        raise UnknownNameError(f"unknown experiment {name!r}; valid names: {', '.join(EXPERIMENTS)}")
    check_scale(scale)


def names() -> list[str]:
    return list(EXPERIMENTS)


def get(name: str) -> ModuleType:
    """The experiment module registered as `name` (unknown names list the valid ones)."""
    if name not in EXPERIMENTS:
        raise UnknownNameError(f"unknown experiment {name!r}; valid names: {', '.join(EXPERIMENTS)}")
    return importlib.import_module(EXPERIMENTS[name])


def describe(name: str) -> tuple[str, str]:
    """(TITLE, PAPER) of experiment `name`, read from its source without importing it (so
    `advlab list` needs no torch)."""
    if name not in EXPERIMENTS:
        raise UnknownNameError(f"unknown experiment {name!r}; valid names: {', '.join(EXPERIMENTS)}")
    spec = importlib.util.find_spec(EXPERIMENTS[name])
    if spec is None or spec.origin is None:
        return ("(module missing)", "")
    with open(spec.origin, encoding="utf-8") as f:
        tree = ast.parse(f.read())
    values: dict[str, str] = {}
    for node in tree.body:
        if isinstance(node, ast.Assign) and len(node.targets) == 1 and isinstance(node.targets[0], ast.Name):
            if node.targets[0].id in ("TITLE", "PAPER") and isinstance(node.value, ast.Constant):
                values[node.targets[0].id] = str(node.value.value)
    return values.get("TITLE", ""), values.get("PAPER", "")
