"""Bau et al. 2020 (PNAS, arXiv:2009.05041), Figure 1 (and Figure 2's unit removal): the
emergence of single-unit object detectors in a scene classifier.

A VGG-style classifier (``scene-vgg``) is trained on the procedural `scenes` (house, church,
street, forest, field, lake); no concept labels are used in training. Every convolutional
layer is dissected on held-out scenes against their exact concept masks (or a segmenter's
labels): each unit's top-1% region (upsampled bilinearly) is matched to each concept by IoU,
the unit is labelled with its best concept when IoU > 0.04, and units are counted per concept
and per layer (Fig. 1d, e). Example units are shown with their top-activating scenes and
thresholded regions (Fig. 1b, c); one object unit is tested as a classifier, its peak
activation on scenes with and without its concept (Fig. 1f, jitter plot and kernel density
estimates); and, as in Fig. 2, removing each class's most important units of the last layer
(ranked by single-unit removal on training scenes) is compared with removing random units.

Quick scale: 64x64 scenes, 1,000 held-out scenes, exact masks. Demo: 32x32, 500 scenes.
Paper scale: torchvision's pretrained VGG-16 on photographs (an ImageFolder tree) labelled by
a pretrained torchvision segmenter (DeepLabV3, the 21 VOC classes); both need weights and
images on disk (not downloadable here), and unit removal is skipped there because it needs
the classifier's own classes.
"""

from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch

from advlab.data.scene_catalogue import CONCEPTS, SCENE_CLASSES
from advlab.data.scenes import load_scenes
from advlab.dissect import (
    IOU_THRESHOLD,
    QUANTILE_PAPER,
    ConceptLabels,
    MaskLabels,
    Probe,
    SegmentedImages,
    ablated_class_scores,
    dissect,
    peak_activations,
    unit_importance,
)
from advlab.experiments import dissect_figures as figs
from advlab.experiments.base import Figure, Rendered, RunContext
from advlab.experiments.dissect_results import (
    example_units,
    layer_label,
    layer_summary,
    save_arrays,
    unit_strips,
)
from advlab.experiments.scene_models import (
    SCENE_CLASSIFIER_TRAINING,
    scene_size,
    trained_scene_classifier,
    trained_segmenter,
)
from advlab.models.scene_nets import scene_vgg_layers, segment
from advlab.tables import Table
from advlab.train import TrainConfig

NAME = "classifier-dissection"
TITLE = "Single units of a scene classifier that detect objects, parts and stuff (Bau et al. 2020, Figure 1)"
PAPER = "Bau et al. 2020, PNAS (arXiv:2009.05041), Figures 1 and 2"
LABEL_SOURCES = ("masks", "segmenter")
# Paper, Fig. 1: VGG-16 with 13 conv layers; the unit labels use the top 1% quantile and
# IoU > 0.04 (davidbau/dissect --quantile 0.01 --miniou 0.04). Fig. 1f: 1,000 airplane and
# 1,000 non-airplane images. The per-layer counts of Fig. 1e are a plot without printed values.
PAPER_SETTINGS = {"quantile": 0.01, "iou_threshold": 0.04, "jitter_images_per_side": 1000}


@dataclass(frozen=True)
class Config:
    """data: `scenes` (64 px) or `scenes-32`; width: the classifier's first-block filters;
    images: held-out scenes dissected; mask_size: resolution of the comparison (None: the
    images'; the authors use a quarter of it, 56 for 224-px inputs); labels: "masks" (exact) or "segmenter" (``scene-unet``
    trained on training masks); example_units / top_images: units shown and scenes per unit;
    classifier_concept: concept of the unit tested as a classifier ("auto": the last layer's
    best object unit); presence_fraction: a scene "has" the concept when it covers more than
    this fraction of the pixels; removal_counts: numbers of units removed (Fig. 2);
    ranking_images: training scenes used to rank units per class; random_draws: random unit
    sets per count for the control."""

    model: str = "scene-vgg"
    data: str = "scenes"
    width: int = 16
    training: TrainConfig = SCENE_CLASSIFIER_TRAINING
    images: int = 1000
    labels: str = "masks"
    segmenter: str = "scene-unet"
    quantile: float = QUANTILE_PAPER
    iou_threshold: float = IOU_THRESHOLD
    mask_size: int | None = 32
    example_units: int = 8
    top_images: int = 5
    classifier_concept: str = "auto"
    presence_fraction: float = 0.05
    removal_counts: tuple[int, ...] = (0, 1, 2, 4, 8, 16, 20, 32, 64)
    ranking_images: int = 1000
    random_draws: int = 5
    seed: int = 0

    @classmethod
    def quick(cls) -> Config:
        return cls()

    @classmethod
    def demo(cls) -> Config:
        return cls(data="scenes-32", width=8, images=500, ranking_images=500, example_units=6,
                   mask_size=None,
                   removal_counts=(0, 1, 2, 4, 8, 16, 32), random_draws=3,
                   training=dataclasses.replace(SCENE_CLASSIFIER_TRAINING, epochs=4))

    @classmethod
    def paper(cls) -> Config:
        """VGG-16 (torchvision's ImageNet weights; the paper's Places365 weights are not in
        torchvision) on photographs in an ImageFolder tree under $ADVLAB_DATA/places365
        (e.g. the Places365 validation images), labelled by torchvision's DeepLabV3 (the 21
        VOC classes); the airplane unit of Fig. 1f. Unit removal needs the classifier's own
        classes and is skipped."""
        return cls(model="torchvision:vgg16", data="folder:places365@224", images=10_000, mask_size=56,
                   labels="segmenter", segmenter="torchvision:deeplabv3_resnet50",
                   classifier_concept="aeroplane", removal_counts=())


@dataclass
class Result:
    """layers: per layer {"layer", "shape", "units", "counts" (concept -> units), "categories"
    (object/part/stuff -> units), "detectors", "mean_best_iou"}; examples: shown units;
    unit_classifier: the jitter-plot data; removal: per class curves; accuracy: test accuracy;
    segmenter: its quality when used."""

    layers: list[dict[str, Any]] = field(default_factory=list)
    examples: list[dict[str, Any]] = field(default_factory=list)
    unit_classifier: dict[str, Any] = field(default_factory=dict)
    removal: dict[str, Any] = field(default_factory=dict)
    accuracy: float = 0.0
    images: int = 0
    quantile: float = QUANTILE_PAPER
    iou_threshold: float = IOU_THRESHOLD
    labels: str = "masks"
    model: str = "scene-vgg"
    mask_size: int | None = None
    unit_images: str = ""


@dataclass
class _Setup:
    """The classifier, its layers, the dissected images (and labels, for scenes), the
    concept-label source, per-pixel concepts of the images, and the concept names."""

    model: torch.nn.Module
    layers: tuple[str, ...]
    x: torch.Tensor
    y: torch.Tensor | None
    labels: ConceptLabels
    truth: torch.Tensor
    concepts: list[str]


def _setup(config: Config, ctx: RunContext) -> _Setup:
    """Scenes: the cached scene-vgg and held-out scenes with exact masks (or scene-unet's
    labels). Otherwise (paper scale): a pretrained torchvision classifier, images of
    `config.data`, and a pretrained torchvision segmenter's labels."""
    from advlab.models.scene_nets import create_segmenter

    if config.labels not in LABEL_SOURCES:
        raise ValueError(f"unknown labels {config.labels!r}; valid: {', '.join(LABEL_SOURCES)}")
    if config.model == "scene-vgg":
        model = trained_scene_classifier(ctx, config.data, config.width, config.training).eval()
        test = load_scenes(scene_size(config.data), "test", n=config.images)
        x, y = test.images.to(ctx.device), test.labels
        layers = tuple(scene_vgg_layers())
        if config.labels == "masks":
            return _Setup(model, layers, x, y, MaskLabels(test.masks), test.masks.long(), list(CONCEPTS))
        segmenter = trained_segmenter(ctx, config.data) if config.segmenter == "scene-unet" else \
            create_segmenter(config.segmenter, pretrained=True).to(ctx.device).eval()
    else:  # a pretrained ImageNet classifier on real photographs (Bau et al. 2020: VGG-16)
        from advlab import data as datasets
        from advlab import models

        if config.labels != "segmenter" or config.segmenter == "scene-unet":
            raise ValueError(f"model {config.model!r} needs labels='segmenter' and a "
                             f"torchvision:<name> segmenter for photographs")
        model = models.create(config.model, pretrained=True).to(ctx.device).eval()
        x = datasets.as_tensors(datasets.load(config.data, "test", root=ctx.data_root),
                                limit=config.images)[0].to(ctx.device)
        y = None
        layers = tuple(name for name, m in model.named_modules() if isinstance(m, torch.nn.Conv2d))
        segmenter = create_segmenter(config.segmenter, pretrained=True).to(ctx.device).eval()
    concepts = list(getattr(segmenter, "concepts", CONCEPTS))
    labels = SegmentedImages(lambda images: segment(segmenter, images))
    return _Setup(model, layers, x, y, labels, segment(segmenter, x).cpu(), concepts)


def run(config: Config, ctx: RunContext) -> Result:
    """Train (or load) the classifier, dissect every conv layer, pick examples, test a unit
    as a classifier and remove units per class."""
    s = _setup(config, ctx)
    with ctx.reporter.task("dissection passes", None) as task:
        dissections = dissect(Probe(s.model, s.layers, s.x), s.labels, s.concepts, config.quantile,
                              top_k=config.top_images, mask_size=config.mask_size,
                              progress=lambda _: task.advance())
    result = Result(images=int(s.x.shape[0]), quantile=config.quantile,
                    iou_threshold=config.iou_threshold, labels=config.labels, model=config.model,
                    mask_size=config.mask_size)
    result.layers = [layer_summary(dissections[name], config.iou_threshold) for name in s.layers]
    last = dissections[s.layers[-1]]
    chosen = example_units(last, config.example_units)
    best, concept = last.best()
    result.examples = [{"layer": last.layer, "unit": u, "concept": s.concepts[int(concept[u])],
                        "iou": float(best[u])} for u in chosen]
    strips = unit_strips(s.model, last, chosen, s.x, config.top_images, lambda inputs, _: inputs)
    save_arrays(ctx.out_dir / "unit_images.npz", strips)
    result.unit_images = "unit_images.npz"
    result.unit_classifier = _unit_classifier(config, s, last)
    if s.y is not None:  # scene labels: accuracy and Fig. 2's unit removal
        with torch.no_grad():
            result.accuracy = float((s.model(s.x).argmax(1).cpu() == s.y).float().mean())
        result.removal = _removal(config, ctx, s.model, last)
    return result


def _unit_classifier(config: Config, s: _Setup, last: Any) -> dict[str, Any]:
    """Peak activations of one unit on images with and without its concept (Fig. 1f)."""
    best, concept = last.best()
    if config.classifier_concept == "auto":
        objects = [u for u in range(last.units)
                   if figs.concept_category(s.concepts[int(concept[u])]) == "object"]
        unit = max(objects, key=lambda u: float(best[u])) if objects else int(best.argmax())
        name = s.concepts[int(concept[unit])]
    else:
        name = config.classifier_concept
        unit = int(last.ranked_units(name)[0])
    index = s.concepts.index(name)
    peaks = peak_activations(Probe(s.model, (last.layer,), s.x), last.layer, unit)
    present = (s.truth == index).flatten(1).float().mean(1) > config.presence_fraction
    return {"layer": last.layer, "unit": unit, "concept": name, "iou": float(last.iou[unit, index]),
            "with": peaks[present].tolist(), "without": peaks[~present].tolist(),
            "presence_fraction": config.presence_fraction}


def _removal(config: Config, ctx: RunContext, model: torch.nn.Module, last: Any) -> dict[str, Any]:
    """Fig. 2: per class, balanced accuracy with its n most important units of the last
    layer removed (ranked on training scenes) against n random units."""
    if not config.removal_counts:
        return {}
    size = scene_size(config.data)
    train = load_scenes(size, "train", n=config.ranking_images)
    test = load_scenes(size, "test", n=config.images)
    k = len(SCENE_CLASSES)
    units = last.units
    counts = [n for n in config.removal_counts if n <= units]
    ranking = unit_importance(model, last.layer, units, train.images.to(ctx.device),
                              train.labels, k)  # (U, K): most important first
    sets = [ranking[:n, c] for c in range(k) for n in counts]
    top = ablated_class_scores(model, last.layer, sets, test.images.to(ctx.device),
                               test.labels, k).balanced  # (K * len(counts), K)
    g = torch.Generator().manual_seed(config.seed)
    random_sets = [torch.randperm(units, generator=g)[:n] for _ in range(config.random_draws)
                   for n in counts]
    rand = ablated_class_scores(model, last.layer, random_sets, test.images.to(ctx.device),
                                test.labels, k).balanced  # (R * len(counts), K)
    top = top.view(k, len(counts), k)
    rand = rand.view(config.random_draws, len(counts), k)
    classes = {}
    for c, name in enumerate(SCENE_CLASSES):
        classes[name] = {"top": top[c, :, c].tolist(), "random": rand[:, :, c].mean(0).tolist(),
                         "random_std": rand[:, :, c].std(0).tolist() if config.random_draws > 1
                         else [0.0] * len(counts),
                         "units": ranking[: max(counts), c].tolist()}
    return {"layer": last.layer, "units": units, "counts": counts, "classes": classes,
            "ranking_images": int(train.images.shape[0])}


def render(result: Result, out_dir: Path) -> Rendered:
    """Fig. 1d, e (units per concept and layer), 1b, c (example units), 1f (a unit as a
    classifier) and Fig. 2 (removing units per class), with tables."""
    figures: list[Figure] = []
    threshold = result.iou_threshold
    labels = [layer_label(layer) for layer in result.layers]
    figs.layer_counts(labels, [layer["counts"] for layer in result.layers],
                      out_dir / "units_per_layer.png", f"Units labelled with a concept (IoU > {threshold:g})")
    figures.append(Figure("units_per_layer.png",
                          f"Units per layer of the scene classifier whose best concept has IoU > {threshold:g} "
                          f"(top {100 * result.quantile:g}% quantile, {result.images} held-out scenes"
                          f"{f' compared at {result.mask_size}x{result.mask_size}' if result.mask_size else ''}, "
                          f"{'exact masks' if result.labels == 'masks' else 'segmenter labels'}), "
                          "by concept category (Fig. 1e)"))
    last = result.layers[-1]
    figs.concept_bars(last["counts"], out_dir / "last_layer_concepts.png",
                      f"{last['layer']}: {last['detectors']} of {last['units']} units labelled")
    figures.append(Figure("last_layer_concepts.png",
                          f"Concepts of the units of the last convolutional layer {last['layer']} (Fig. 1d)"))
    if result.unit_images and (out_dir / result.unit_images).is_file():
        with np.load(out_dir / result.unit_images, allow_pickle=False) as strips:
            rows = [(f"unit {e['unit']}\n{e['concept']}\nIoU {e['iou']:.2f}",
                     strips[f"unit{e['unit']}"].astype(np.float32) / 255) for e in result.examples]
        figs.unit_rows(rows, out_dir / "example_units.png",
                       f"{last['layer']}: top-activating held-out scenes, region above the top-"
                       f"{100 * result.quantile:g}% threshold")
        figures.append(Figure("example_units.png",
                              "Example units of the last layer with their top-activating scenes; "
                              "outside the unit's thresholded region the scene is dimmed (Fig. 1b, c)"))
    uc = result.unit_classifier
    if uc:
        with_c, without = np.array(uc["with"]), np.array(uc["without"])
        figs.jitter_kde(with_c, without, (f"scenes with {uc['concept']} (> {100 * uc['presence_fraction']:g}% of pixels)",
                                          "scenes without"),
                        f"unit {uc['unit']} peak activation", out_dir / "unit_classifier.png",
                        f"{uc['layer']} unit {uc['unit']} ({uc['concept']}, IoU {uc['iou']:.2f}) as a classifier")
        figures.append(Figure("unit_classifier.png",
                              f"Peak activation of {uc['layer']} unit {uc['unit']} on {len(with_c)} held-out scenes "
                              f"with {uc['concept']} and {len(without)} without; kernel density estimates "
                              "above, jitter plot below (Fig. 1f)"))
    tables = [_layer_table(result), _examples_table(result)]
    if result.removal:
        figures.append(_removal_figure(result, out_dir))
        tables.append(_removal_table(result))
    return Rendered(tables, figures)


def _layer_table(result: Result) -> Table:
    rows = []
    for layer in result.layers:
        top = sorted(((v, c) for c, v in layer["counts"].items() if v), reverse=True)[:4]
        rows.append([layer["layer"], "x".join(map(str, layer["shape"])), layer["units"],
                     layer["detectors"], layer["categories"]["object"], layer["categories"]["part"],
                     layer["categories"]["stuff"], layer["unique_concepts"],
                     round(layer["mean_best_iou"], 4), ", ".join(f"{c} {v}" for v, c in top)])
    return Table("Units per concept category and layer (Fig. 1e)",
                 ["layer", "shape", "units", "labelled", "object", "part", "stuff",
                  "concepts", "mean best IoU", "most frequent"], rows,
                 caption=f"A unit is labelled with its best concept when IoU > {result.iou_threshold:g} "
                 f"(paper code: --miniou {PAPER_SETTINGS['iou_threshold']}); thresholds are each unit's "
                 f"top {100 * result.quantile:g}% quantile (paper: 1%). Scene classifier test accuracy "
                 f"{100 * result.accuracy:.1f}% on {result.images} held-out scenes. The paper's Fig. 1e "
                 "(VGG-16 on Places365) is a plot without printed values, so no paper numbers are shown.")


def _examples_table(result: Result) -> Table:
    rows = [[e["layer"], e["unit"], e["concept"], figs.concept_category(e["concept"]), round(e["iou"], 4)]
            for e in result.examples]
    uc = result.unit_classifier
    if uc:
        with_c, without = np.array(uc["with"]), np.array(uc["without"])
        rows.append([uc["layer"], uc["unit"], f"{uc['concept']} (as a classifier)",
                     f"mean peak {with_c.mean() if with_c.size else math.nan:.3g} with vs "
                     f"{without.mean() if without.size else math.nan:.3g} without",
                     round(uc["iou"], 4)])
    return Table("Example units of the last layer", ["layer", "unit", "concept", "category", "IoU"],
                 rows, caption="Units with the highest IoU (at most two per concept); the last row is "
                 "the unit tested as a classifier (Fig. 1f).")


def _removal_figure(result: Result, out_dir: Path) -> Figure:
    plt = figs._plt()
    removal = result.removal
    classes = list(removal["classes"])
    ncols = 3
    nrows = math.ceil(len(classes) / ncols)
    fig, axes = plt.subplots(nrows, ncols, figsize=(3.2 * ncols, 2.4 * nrows), squeeze=False)
    for ax in axes.flat:
        ax.axis("off")
    for i, name in enumerate(classes):
        ax = axes[i // ncols][i % ncols]
        ax.axis("on")
        data = removal["classes"][name]
        ax.plot(removal["counts"], data["top"], marker="o", ms=3, color="#C0392B",
                label="most important units")
        ax.errorbar(removal["counts"], data["random"], yerr=data["random_std"], marker="s", ms=3,
                    color="#7F8C8D", label="random units", capsize=2)
        ax.set_title(name, fontsize=9)
        ax.set_ylim(0.4, 1.02)
        ax.set_xlabel(f"units removed from {removal['layer']}", fontsize=7)
        ax.set_ylabel("balanced accuracy", fontsize=7)
        ax.tick_params(labelsize=7)
    axes[0][0].legend(fontsize=7)
    figs.save(fig, out_dir / "unit_removal.png")
    return Figure("unit_removal.png",
                  f"Balanced (class vs rest) accuracy of each class on held-out scenes when its most "
                  f"important units of {removal['layer']} ({removal['units']} units; ranked by removing "
                  f"each unit alone on {removal['ranking_images']} training scenes) are removed, against "
                  "as many random units (mean and std over draws) (Fig. 2)")


def _removal_table(result: Result) -> Table:
    removal = result.removal
    counts = removal["counts"]
    rows = []
    for name, data in removal["classes"].items():
        rows.append([name, *[round(v, 4) for v in data["top"]], *[round(v, 4) for v in data["random"][1:]]])
    return Table("Removing a class's most important units vs random units (Fig. 2)",
                 ["class", *[f"top {n}" for n in counts], *[f"random {n}" for n in counts[1:]]], rows,
                 caption="Balanced accuracy (class vs rest; 0.5 = chance). The paper (VGG-16, conv5_3 "
                 "with 512 units): removing as few as 20 units can destroy the network's ability to "
                 "detect a class, while removing random units hardly matters; it reports the effect "
                 "per class in plots, so no paper numbers are shown.")
