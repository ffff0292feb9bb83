"""What `advlab dissect` and `advlab data show scenes` do; the CLI parses options and prints
the tables.

    advlab dissect --checkpoint runs/scene-vgg --layer conv4_2 --layer conv3_2 --data scenes \\
        --n 1000 --out runs/dissect [--quantile 0.01] [--iou-threshold 0.04]
    advlab dissect --checkpoint runs/scene-gan --layer all --segmenter runs/segmenter --n 1000
    advlab data show scenes --n 16 --out scenes.png            # images above their masks

A classifier checkpoint is dissected on `--data` images against their exact masks (scenes)
or, with `--segmenter`, against a segmenter's labels; a GAN checkpoint on `--n` generated
images labelled by `--segmenter`. Files: dissection.json (per layer and unit: threshold,
best concept, IoU, every concept's IoU), units_per_layer.png, <layer>_concepts.png,
<layer>_units.png (top-activating images of the best units).
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import torch
from torch import nn

from advlab.data.scene_catalogue import CONCEPTS
from advlab.devices import resolve_device
from advlab.dissect import (
    IOU_THRESHOLD,
    QUANTILE_PAPER,
    ConceptLabels,
    LayerDissection,
    MaskLabels,
    Probe,
    SegmentedImages,
    dissect,
)
from advlab.models.checkpoint import read_checkpoint
from advlab.report import dissection_figures as figs
from advlab.report.dissection_results import example_units, layer_summary, unit_strips
from advlab.report.tables import Table


def _model_and_inputs(checkpoint: Path, data: str, split: str, n: int, segmenter: Path | None,
                      seed: int, device: torch.device) -> tuple[nn.Module, torch.Tensor, ConceptLabels, str, Any]:
    """(model, inputs, concept labels, kind "classifier" | "generator", images_of)."""
    from advlab import data as datasets
    from advlab import models
    from advlab.gan.sampling import sample_latent, to_unit_range
    from advlab.gan.state import load_generator
    from advlab.models import load_segmenter, segment

    seg = load_segmenter(segmenter, device) if segmenter is not None else None
    labels: ConceptLabels
    if read_checkpoint(checkpoint).meta.get("kind") == "gan":
        G, cfg = load_generator(checkpoint, device)
        if seg is None:
            raise ValueError("a generator's images have no masks: pass --segmenter <checkpoint> "
                             "(a scene-unet, e.g. trained by gan-dissection in the model cache)")
        z = sample_latent(n, cfg.latent_dim, cfg.latent_prior, torch.Generator().manual_seed(seed),
                          device)
        labels = SegmentedImages(lambda images: segment(seg, images), of="outputs",
                                 to_images=to_unit_range)
        return G, z, labels, "generator", lambda _, out: to_unit_range(out)
    model = models.load_checkpoint(checkpoint, device=device)
    dataset = datasets.load(data, split)
    x, _ = datasets.as_tensors(dataset, limit=n)
    from advlab.models.registry import check_fits  # the data against the model, before any work

    check_fits(model, x[:1].to(device), f"checkpoint {checkpoint}", f"{data} images")
    if seg is not None:
        labels = SegmentedImages(lambda images: segment(seg, images))
    elif hasattr(dataset, "masks"):
        labels = MaskLabels(dataset.masks[: x.shape[0]])
    else:
        raise ValueError(f"dataset {data!r} has no concept masks: pass --segmenter <checkpoint>")
    return model, x.to(device), labels, "classifier", lambda inputs, _: inputs


def resolve_layers(model: nn.Module, layers: Sequence[str], kind: str) -> list[str]:
    """The layers to dissect: as given, or for ["all"] every convolution of a classifier
    (scene-vgg: conv1_1 .. conv4_2) or every hidden activation of a generator."""
    if list(layers) != ["all"]:
        if not layers:
            raise ValueError("give at least one --layer NAME (or --layer all)")
        return list(layers)
    from advlab.zoo.scene_models import generator_layers

    if kind == "generator":
        return generator_layers(model)
    named = dict(model.named_modules())
    convs = [name for name in named if name.startswith("conv") and "." not in name]
    return convs or [name for name, m in named.items() if isinstance(m, nn.Conv2d)]


def dissect_command(checkpoint: str | Path, layers: Sequence[str], out_dir: str | Path,
                    data: str = "scenes", split: str = "test", n: int = 1000,
                    segmenter: str | Path | None = None, quantile: float = QUANTILE_PAPER,
                    iou_threshold: float = IOU_THRESHOLD, top_units: int = 6, top_images: int = 5,
                    mask_size: int | None = None, seed: int = 0, device: str = "cpu") -> list[Table]:
    """`advlab dissect`: dissect `layers` of the checkpoint's model; write dissection.json
    and figures into out_dir; return a summary table and one table of units per layer.
    mask_size: compare at this resolution (None: the images')."""
    if n < 1:
        raise ValueError(f"--n must be >= 1, got {n}")
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    dev = resolve_device(device)
    model, inputs, labels, kind, images_of = _model_and_inputs(
        Path(checkpoint), data, split, n, Path(segmenter) if segmenter else None, seed, dev)
    names = resolve_layers(model, layers, kind)
    results = dissect(Probe(model, tuple(names), inputs), labels, CONCEPTS, quantile,
                      top_k=top_images, mask_size=mask_size)
    summaries = [layer_summary(results[name], iou_threshold) for name in names]
    payload = {"checkpoint": str(checkpoint), "kind": kind, "data": data if kind == "classifier" else None,
               "inputs": int(inputs.shape[0]), "quantile": quantile, "iou_threshold": iou_threshold,
               "layers": [{**s, "units_detail": _units(results[s["layer"]])} for s in summaries]}
    (out / "dissection.json").write_text(json.dumps(payload, indent=1))
    figs.layer_counts(names, [s["counts"] for s in summaries], out / "units_per_layer.png",
                      f"Units labelled with a concept (IoU > {iou_threshold:g})")
    tables = [Table(f"Dissection of {Path(checkpoint).name} ({kind}, {inputs.shape[0]} inputs)",
                    ["layer", "shape", "units", "labelled", "object", "part", "stuff", "mean best IoU"],
                    [[s["layer"], "x".join(map(str, s["shape"])), s["units"], s["detectors"],
                      s["categories"]["object"], s["categories"]["part"], s["categories"]["stuff"],
                      round(s["mean_best_iou"], 4)] for s in summaries],
                    caption=f"top {100 * quantile:g}% thresholds, labelled = best IoU > {iou_threshold:g}; "
                    f"files in {out}")]
    for name in names:
        layer = results[name]
        safe = name.replace("/", "_")
        figs.concept_bars(layer.concept_counts(iou_threshold), out / f"{safe}_concepts.png", name)
        chosen = example_units(layer, top_units)
        strips = unit_strips(model, layer, chosen, inputs, top_images, images_of)
        best, concept = layer.best()
        figs.unit_rows([(f"unit {u}\n{CONCEPTS[int(concept[u])]}\nIoU {float(best[u]):.2f}",
                         strips[f"unit{u}"] / 255.0) for u in chosen], out / f"{safe}_units.png", name)
        tables.append(Table(f"{name}: best units", ["unit", "concept", "category", "IoU", "threshold"],
                            [[u, CONCEPTS[int(concept[u])], figs.concept_category(CONCEPTS[int(concept[u])]),
                              round(float(best[u]), 4), round(float(layer.thresholds[u]), 4)]
                             for u in best.argsort(descending=True)[:10].tolist()]))
    return tables


def _units(layer: LayerDissection) -> list[dict[str, Any]]:
    best, concept = layer.best()
    return [{"unit": u, "threshold": float(layer.thresholds[u]), "concept": CONCEPTS[int(concept[u])],
             "iou": float(best[u]), "ious": [round(float(v), 5) for v in layer.iou[u]]}
            for u in range(layer.units)]


def show_masks(name: str, out_png: str | Path, split: str = "train", n: int = 16) -> Path:
    """`advlab data show scenes`: n images of a dataset with concept masks (scenes,
    scenes-32), each above its mask, titled with its category, with a concept legend."""
    from advlab import data as datasets
    from advlab.data.scenes import ScenesDataset

    dataset = datasets.load(name, split)
    if not isinstance(dataset, ScenesDataset):
        raise ValueError(f"dataset {name!r} has no concept masks (datasets with masks: scenes, scenes-32)")
    if n < 1:
        raise ValueError(f"--n must be >= 1, got {n}")
    count = min(n, len(dataset))
    images, masks = dataset.images[:count], dataset.masks[:count].long()
    titles = [dataset.classes[int(k)] for k in dataset.labels[:count]]
    return figs.images_with_masks(images, masks, titles, Path(out_png),
                                  f"{name} ({split}): images and exact concept masks")
