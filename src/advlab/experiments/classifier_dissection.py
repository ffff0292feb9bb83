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
from dataclasses import dataclass, field
from pathlib import Path

import torch

from advlab import models
from advlab.data.scene_catalogue import CONCEPTS, SCENE_CLASSES
from advlab.data.scenes import load_scenes
from advlab.dissect import (
    IOU_THRESHOLD,
    QUANTILE_PAPER,
    ConceptLabels,
    LayerDissection,
    MaskLabels,
    Probe,
    SegmentedImages,
    ablated_class_scores,
    dissect,
    peak_activations,
    unit_importance,
)
from advlab.experiments.base import ExperimentConfig
from advlab.models.scene_nets import scene_vgg_layers
from advlab.report import dissection_figures as figs
from advlab.report.classifier_dissection_figures import render_dissection
from advlab.report.dissection_results import (
    ClassRemoval,
    LayerSummary,
    UnitAsClassifier,
    UnitExample,
    UnitRemoval,
    example_units,
    save_arrays,
    unit_examples,
    unit_strips,
)
from advlab.report.rendered import Rendered
from advlab.train import TrainConfig
from advlab.zoo.context import RunContext
from advlab.zoo.scene_models import (
    SCENE_CLASSIFIER_TRAINING,
    scene_size,
    trained_scene_classifier,
    trained_segmenter,
)

NAME = "classifier-dissection"
TITLE = "Single units of a scene classifier that detect objects, parts and stuff (Bau et al. 2020, Figure 1)"
PAPER = "Bau et al. 2020, PNAS (arXiv:2009.05041), Figures 1 and 2"
LABEL_SOURCES = ("masks", "segmenter")
# Paper, Fig. 1: VGG-16 with 13 conv layers; the unit labels use the top 1% quantile and
# IoU > 0.04 (davidbau/dissect --quantile 0.01 --miniou 0.04). Fig. 1f: 1,000 airplane and
# 1,000 non-airplane images. The per-layer counts of Fig. 1e are a plot without printed values.
PAPER_QUANTILE = 0.01
PAPER_IOU_THRESHOLD = 0.04
PAPER_IMAGES_PER_SIDE = 1000


@dataclass(frozen=True)
class Config(ExperimentConfig):
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
    def demo(cls) -> Config:
        """32x32 scenes, a width-8 classifier trained for 4 epochs, 500 scenes."""
        return cls(data="scenes-32", width=8, images=500, ranking_images=500, example_units=6,
                   mask_size=None, removal_counts=(0, 1, 2, 4, 8, 16, 32), random_draws=3,
                   training=dataclasses.replace(SCENE_CLASSIFIER_TRAINING, epochs=4))

    @classmethod
    def paper(cls) -> Config:
        """VGG-16 (torchvision's ImageNet weights; the paper's Places365 weights are not in
        torchvision) on photographs in an ImageFolder tree under $ADVLAB_DATA/places365
        (e.g. the Places365 validation images), labelled by torchvision's DeepLabV3 (the 21
        VOC classes); the airplane unit of Fig. 1f. Unit removal needs the classifier's own
        classes and is skipped."""
        return cls(model="torchvision:vgg16", data="folder:places365@224", images=10_000,
                   mask_size=56, labels="segmenter", segmenter="torchvision:deeplabv3_resnet50",
                   classifier_concept="aeroplane", removal_counts=())


@dataclass
class Result:
    """layers: one summary per dissected layer (Fig. 1e); examples: the units shown (Fig. 1b,
    c); unit_classifier: the jitter-plot data (Fig. 1f); removal: per class curves (Fig. 2;
    None without scene labels); accuracy: test accuracy of the scene classifier (0 without
    labels); paper_quantile / paper_iou_threshold: the paper's settings beside ours."""

    layers: list[LayerSummary] = field(default_factory=list)
    examples: list[UnitExample] = field(default_factory=list)
    unit_classifier: UnitAsClassifier | None = None
    removal: UnitRemoval | None = None
    accuracy: float = 0.0
    images: int = 0
    quantile: float = QUANTILE_PAPER
    iou_threshold: float = IOU_THRESHOLD
    labels: str = "masks"
    model: str = "scene-vgg"
    mask_size: int | None = None
    unit_images: str = ""
    paper_quantile: float = PAPER_QUANTILE
    paper_iou_threshold: float = PAPER_IOU_THRESHOLD


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
            models.create_segmenter(config.segmenter, pretrained=True).to(ctx.device).eval()
    else:  # a pretrained ImageNet classifier on real photographs (Bau et al. 2020: VGG-16)
        from advlab import data as datasets

        if config.labels != "segmenter" or config.segmenter == "scene-unet":
            raise ValueError(f"model {config.model!r} needs labels='segmenter' and a "
                             f"torchvision:<name> segmenter for photographs")
        model = models.create(config.model, pretrained=True).to(ctx.device).eval()
        x = datasets.as_tensors(datasets.load(config.data, "test", root=ctx.data_root),
                                limit=config.images)[0].to(ctx.device)
        y = None
        layers = tuple(name for name, m in model.named_modules() if isinstance(m, torch.nn.Conv2d))
        segmenter = models.create_segmenter(config.segmenter, pretrained=True)
        segmenter = segmenter.to(ctx.device).eval()
    concepts = list(getattr(segmenter, "concepts", CONCEPTS))
    labels = SegmentedImages(lambda images: models.segment(segmenter, images))
    return _Setup(model, layers, x, y, labels, models.segment(segmenter, x).cpu(), concepts)


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
    result.layers = [LayerSummary.of(dissections[name], config.iou_threshold)
                     for name in s.layers]
    last = dissections[s.layers[-1]]
    chosen = example_units(last, config.example_units)
    result.examples = unit_examples(last, chosen, s.concepts)
    strips = unit_strips(s.model, last, chosen, s.x, config.top_images, lambda inputs, _: inputs)
    save_arrays(ctx.out_dir / "unit_images.npz", strips)
    result.unit_images = "unit_images.npz"
    result.unit_classifier = _unit_classifier(config, s, last)
    if s.y is not None:  # scene labels: accuracy and Fig. 2's unit removal
        with torch.no_grad():
            result.accuracy = float((s.model(s.x).argmax(1).cpu() == s.y).float().mean())
        result.removal = _removal(config, ctx, s.model, last)
    return result


def _unit_classifier(config: Config, s: _Setup, last: LayerDissection) -> UnitAsClassifier:
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
    return UnitAsClassifier(layer=last.layer, unit=unit, concept=name,
                            iou=float(last.iou[unit, index]), peaks_with=peaks[present].tolist(),
                            peaks_without=peaks[~present].tolist(),
                            presence_fraction=config.presence_fraction,
                            paper_images_per_side=PAPER_IMAGES_PER_SIDE)


def _removal(config: Config, ctx: RunContext, model: torch.nn.Module,
             last: LayerDissection) -> UnitRemoval | None:
    """Fig. 2: per class, balanced accuracy with its n most important units of the last
    layer removed (ranked on training scenes) against n random units."""
    if not config.removal_counts:
        return None
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
        spread = rand[:, :, c].std(0).tolist() if config.random_draws > 1 else [0.0] * len(counts)
        classes[name] = ClassRemoval(top=top[c, :, c].tolist(),
                                     random=rand[:, :, c].mean(0).tolist(), random_std=spread,
                                     units=ranking[: max(counts), c].tolist())
    return UnitRemoval(layer=last.layer, units=units, counts=counts, classes=classes,
                       ranking_images=int(train.images.shape[0]))


def render(result: Result, out_dir: Path) -> Rendered:
    """Fig. 1d, e (units per concept and layer), 1b, c (example units), 1f (a unit as a
    classifier) and Fig. 2 (removing units per class), with tables
    (`advlab.report.classifier_dissection_figures`)."""
    return render_dissection(result, out_dir)
