"""The typed rows of dissection results and the saved visualisation arrays that the
dissection experiments and `advlab dissect` share (Bau et al. 2020, Fig. 1b-f and 3b-f).

The rows live here, in the report layer, because both the experiments (which fill them)
and the renderers (which draw them) read them; nothing here imports an experiment.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import Tensor, nn

from advlab.attacks.base import inference_view
from advlab.dissect import LayerDissection, record
from advlab.report.dissection_figures import CATEGORIES, concept_category, highlight


@dataclass
class LayerSummary:
    """The per-layer numbers of Fig. 1e / 3c: units labelled per concept (IoU above the
    threshold) and per category (object / part / stuff), and the mean best IoU.

    shape: the layer's output (C, H, W); counts: concept -> units whose best concept it is;
    categories: object / part / stuff -> units; detectors: labelled units."""

    layer: str
    shape: list[int]
    units: int
    counts: dict[str, int]
    categories: dict[str, int]
    detectors: int
    unique_concepts: int
    mean_best_iou: float

    @classmethod
    def of(cls, dissection: LayerDissection, iou_threshold: float) -> LayerSummary:
        counts = dissection.concept_counts(iou_threshold)
        categories = {c: sum(v for k, v in counts.items() if concept_category(k) == c)
                      for c in CATEGORIES}
        best, _ = dissection.best()
        return cls(layer=dissection.layer, shape=list(dissection.shape), units=dissection.units,
                   counts=counts, categories=categories, detectors=sum(counts.values()),
                   unique_concepts=sum(v > 0 for v in counts.values()),
                   mean_best_iou=float(best.mean()))

    @property
    def label(self) -> str:
        """Name, resolution and unit count for figure axes: "net.5\n8x8, 64 units"."""
        return f"{self.layer}\n{'x'.join(map(str, self.shape[1:]))}, {self.units} units"


@dataclass
class UnitExample:
    """A unit shown with its top-activating images (Fig. 1b, c; 3b, e): its best concept
    and that concept's IoU."""

    layer: str
    unit: int
    concept: str
    iou: float


@dataclass
class UnitAsClassifier:
    """One unit tested as a classifier (Fig. 1f, 3f): its peak activation on images where
    the concept covers more than `presence_fraction` of the pixels (`peaks_with`) and on
    images without (`peaks_without`). paper_images_per_side: how many images of each kind
    the paper used (None when it does not say)."""

    layer: str
    unit: int
    concept: str
    iou: float
    peaks_with: list[float]
    peaks_without: list[float]
    presence_fraction: float
    paper_images_per_side: int | None


@dataclass
class ClassRemoval:
    """One class of Fig. 2: its balanced accuracy with its n most important units removed
    (`top`, one value per count) and with n random units (`random`: mean over draws,
    `random_std`); `units`: the class's ranking, most important first."""

    top: list[float]
    random: list[float]
    random_std: list[float]
    units: list[int]


@dataclass
class UnitRemoval:
    """Fig. 2: removing each class's most important units of `layer` (`units` units, ranked
    on `ranking_images` training images) against random units, for each count of `counts`."""

    layer: str
    units: int
    counts: list[int]
    classes: dict[str, ClassRemoval]
    ranking_images: int


def layer_summary(dissection: LayerDissection, iou_threshold: float) -> dict[str, Any]:
    """`LayerSummary.of` as a JSON dict (for `advlab dissect`'s summary file)."""
    return dataclasses.asdict(LayerSummary.of(dissection, iou_threshold))


def unit_examples(dissection: LayerDissection, units: list[int],
                  concepts: list[str]) -> list[UnitExample]:
    """The rows of `units` of a layer: each unit's best concept and its IoU."""
    best, concept = dissection.best()
    return [UnitExample(dissection.layer, u, concepts[int(concept[u])], float(best[u]))
            for u in units]


def example_units(dissection: LayerDissection, count: int, per_concept: int = 2) -> list[int]:
    """The units with the highest IoU, at most `per_concept` per concept so that they vary."""
    best, concept = dissection.best()
    chosen: list[int] = []
    seen: dict[int, int] = {}
    for u in best.argsort(descending=True).tolist():
        c = int(concept[u])
        if seen.get(c, 0) < per_concept:
            chosen.append(u)
            seen[c] = seen.get(c, 0) + 1
        if len(chosen) == count:
            break
    return chosen


def unit_strips(model: nn.Module, dissection: LayerDissection, units: list[int], inputs: Tensor,
                k: int, images_of: Callable[[Tensor, Tensor], Tensor]) -> dict[str, np.ndarray]:
    """For each unit, its k top-activating inputs as images (`images_of(inputs, outputs)`:
    the inputs of a classifier, the [0, 1] outputs of a generator) with the region above
    the unit's threshold highlighted (`highlight`): {"unit<u>": (k, H, W, 3) uint8}."""
    net = inference_view(model)
    strips = {}
    for u in units:
        index = dissection.top_indices[u, :k]
        with torch.no_grad(), record(net, dissection.layer) as seen:
            outputs = net(inputs[index])
        images = images_of(inputs[index], outputs).cpu()
        strip = highlight(images, seen[dissection.layer][:, u].cpu(), float(dissection.thresholds[u]))
        strips[f"unit{u}"] = (strip * 255).round().astype(np.uint8)
    return strips


def to_uint8(images: Tensor) -> np.ndarray:
    """[0, 1] images (N, 3, H, W) -> uint8 (N, 3, H, W) for saving beside a result."""
    return (images.detach().clamp(0, 1).cpu().numpy() * 255).round().astype(np.uint8)


def save_arrays(path: Path, arrays: dict[str, np.ndarray]) -> Path:
    """Save named arrays beside a result (numpy .npz, read back with allow_pickle=False)."""
    np.savez_compressed(path, **arrays)  # type: ignore[arg-type]
    return path
