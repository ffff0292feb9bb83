"""JSON-able summaries of dissections and the saved visualisation arrays that the dissection
experiments and `advlab dissect` share (Bau et al. 2020, Fig. 1b-e and 3b-d)."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import Tensor, nn

from advlab.attacks.base import inference_view
from advlab.dissect import LayerDissection, record
from advlab.experiments.dissect_figures import CATEGORIES, concept_category, highlight


def layer_summary(dissection: LayerDissection, iou_threshold: float) -> dict[str, Any]:
    """The per-layer numbers of Fig. 1e / 3c: units labelled per concept (IoU above the
    threshold) and per category (object / part / stuff), and the mean best IoU."""
    counts = dissection.concept_counts(iou_threshold)
    categories = {c: sum(v for k, v in counts.items() if concept_category(k) == c)
                  for c in CATEGORIES}
    best, _ = dissection.best()
    return {"layer": dissection.layer, "shape": list(dissection.shape), "units": dissection.units,
            "counts": counts, "categories": categories, "detectors": sum(counts.values()),
            "unique_concepts": sum(v > 0 for v in counts.values()),
            "mean_best_iou": float(best.mean())}


def layer_label(summary: dict[str, Any]) -> str:
    """A layer's name, resolution and unit count for figure axes: "net.5\n8x8, 64 units"."""
    return f"{summary['layer']}\n{'x'.join(map(str, summary['shape'][1:]))}, {summary['units']} units"


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
