"""Bau et al. 2020 (PNAS, arXiv:2009.05041), Figure 3; GAN Dissection (Bau et al. 2019,
arXiv:1811.10597): the emergence of object- and part-specific units in a GAN generator.

advlab's DCGAN is trained on the procedural `scenes` at 32x32 (the paper dissects a
Progressive GAN trained on LSUN kitchens; advlab's progressive generator plugs in through
`--gan.arch` once it is registered). A segmenter (``scene-unet``, trained on the exact masks
of real training scenes; its pixel accuracy and per-concept IoU on held-out scenes are
reported) labels the concepts of generated images. Every hidden layer of the generator is
dissected on generated images: each unit's top-1% region, upsampled to the image, is matched
to each concept by IoU; units with IoU > 0.04 are counted per concept, per category (object,
part, stuff) and per layer (Fig. 3c, d), and example units are shown on their
top-activating samples (Fig. 3b, e). A window unit is tested as a classifier: its peak
activation on generated images with windows covering more than 5% of the image, as the
segmenter sees them, against images without (Fig. 3f), with counterexamples (Fig. 3g).
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch

from advlab.data.scene_catalogue import CONCEPTS
from advlab.data.scenes import concept_index, load_scenes
from advlab.dissect import (
    IOU_THRESHOLD,
    QUANTILE_PAPER,
    LayerDissection,
    Probe,
    SegmentedImages,
    dissect,
    peak_activations,
)
from advlab.experiments.base import ExperimentConfig
from advlab.gan.config import GANTrainConfig
from advlab.gan.sampling import generate, to_unit_range
from advlab.report import dissection_figures as figs
from advlab.report.dissection_results import (
    LayerSummary,
    UnitAsClassifier,
    UnitExample,
    example_units,
    save_arrays,
    to_uint8,
    unit_examples,
    unit_strips,
)
from advlab.report.figures import labelled_grid
from advlab.report.rendered import Figure, Rendered
from advlab.report.tables import Cell, Table
from advlab.train import TrainConfig
from advlab.zoo.context import RunContext
from advlab.zoo.scene_models import (
    SCENE_GAN,
    SEGMENTER_TRAINING,
    GeneratorSummary,
    SceneGenerator,
    SegmenterQuality,
    generator_layers,
    scene_generator,
    scene_size,
)

NAME = "gan-dissection"
TITLE = "Object- and part-specific units in a GAN generator (Bau et al. 2020, Figure 3)"
PAPER = "Bau et al. 2020, PNAS (arXiv:2009.05041), Figure 3; Bau et al. 2019 (GAN Dissection)"
# Paper, Fig. 3: a Progressive GAN with 15 conv layers; object units peak at layer5; unit 314
# tested on 800 generated images with windows larger than 5% of the image area (segmenter)
# and 800 without.
PAPER_QUANTILE = 0.01
PAPER_PRESENCE_FRACTION = 0.05
PAPER_IMAGES_PER_SIDE = 800


@dataclass(frozen=True)
class Config(ExperimentConfig):
    """gan: the generator's training run (shared with gan-interventions); segmenter_width /
    segmenter_images / segmenter_training: the segmenter; quality_images: held-out scenes it
    is measured on (and compared with generated ones); samples: generated images
    dissected; classifier_concept / presence_fraction: the unit tested as a classifier and
    the area above which an image "has" the concept (paper: windows, 5%); classifier_samples
    / per_side: fresh samples drawn for that test and how many with and without the concept
    are kept (paper: 800 and 800); counterexamples: images with the concept on which the
    unit stays low."""

    gan: GANTrainConfig = SCENE_GAN
    segmenter_width: int = 16
    segmenter_images: int = 5000
    segmenter_training: TrainConfig = SEGMENTER_TRAINING
    quality_images: int = 1000
    samples: int = 1000
    quantile: float = QUANTILE_PAPER
    iou_threshold: float = IOU_THRESHOLD
    example_units: int = 8
    top_images: int = 5
    classifier_concept: str = "window"
    presence_fraction: float = 0.05
    classifier_samples: int = 5000
    per_side: int = 800
    counterexamples: int = 6
    grid: int = 16
    seed: int = 0

    @classmethod
    def paper(cls) -> Config:
        return cls(gan=SCENE_GAN.replace(width=128, iters=50_000), samples=10_000,
                   segmenter_width=32,
                   segmenter_training=dataclasses.replace(SEGMENTER_TRAINING, epochs=20))


@dataclass
class ConceptShare:
    """The fraction of pixels of a concept in generated images (as the segmenter sees them),
    in real scenes (exact masks) and in real scenes as the segmenter sees them."""

    concept: str
    generated: float
    real: float
    real_segmented: float


@dataclass
class GeneratedUnitAsClassifier(UnitAsClassifier):
    """Fig. 3f, g: the unit tested on the first images with and without the concept among
    `samples` fresh samples (`images_with` had it); the peaks of the counterexamples shown."""

    samples: int
    images_with: int
    counterexample_peaks: list[float]


@dataclass
class Result:
    """segmenter: its quality on held-out real scenes; gan: the generator dissected;
    concepts: pixel shares per concept; layers: per-layer summaries (Fig. 3c); examples:
    units shown (Fig. 3b, e); unit_classifier: Fig. 3f, g; paper_*: the paper's settings."""

    segmenter: SegmenterQuality | None = None
    gan: GeneratorSummary | None = None
    concepts: list[ConceptShare] = field(default_factory=list)
    layers: list[LayerSummary] = field(default_factory=list)
    examples: list[UnitExample] = field(default_factory=list)
    unit_classifier: GeneratedUnitAsClassifier | None = None
    samples: int = 0
    quantile: float = QUANTILE_PAPER
    iou_threshold: float = IOU_THRESHOLD
    arrays: str = ""
    paper_quantile: float = PAPER_QUANTILE
    paper_presence_fraction: float = PAPER_PRESENCE_FRACTION


def run(config: Config, ctx: RunContext) -> Result:
    """Train or load the segmenter and the GAN, dissect every hidden layer of the generator
    on generated images, and test a unit as a classifier."""
    setup = scene_generator(ctx, config.gan, config.segmenter_width, config.segmenter_images,
                            config.segmenter_training, config.quality_images)
    G = setup.generator
    z = setup.latents(config.samples, config.seed, ctx.device)
    layers = tuple(generator_layers(G))
    labels = SegmentedImages(setup.segment, of="outputs", to_images=to_unit_range)
    with ctx.reporter.task("dissection passes", None) as task:
        dissections = dissect(Probe(G, layers, z), labels, CONCEPTS, config.quantile,
                              top_k=config.top_images, progress=lambda _: task.advance())
    images = generate(G, z)  # (N, 3, S, S) in [0, 1]
    seen = setup.segment(images).cpu()  # (N, S, S)
    real = load_scenes(scene_size(config.gan.data), "test", n=config.quality_images)
    real_seen = setup.segment(real.images.to(ctx.device)).cpu()
    result = Result(segmenter=setup.quality, samples=config.samples, quantile=config.quantile,
                    iou_threshold=config.iou_threshold, gan=GeneratorSummary.of(setup.config))
    result.concepts = [ConceptShare(c, generated=float((seen == i).float().mean()),
                                    real=float((real.masks == i).float().mean()),
                                    real_segmented=float((real_seen == i).float().mean()))
                       for i, c in enumerate(CONCEPTS)]
    result.layers = [LayerSummary.of(dissections[name], config.iou_threshold)
                     for name in layers]
    arrays: dict[str, np.ndarray] = {"grid_images": to_uint8(images[: config.grid]),
                                     "grid_labels": seen[: config.grid].numpy().astype(np.int8)}
    for layer in layers:
        chosen = example_units(dissections[layer], config.example_units)
        result.examples += unit_examples(dissections[layer], chosen, list(CONCEPTS))
        strips = unit_strips(G, dissections[layer], chosen, z, config.top_images,
                             lambda _, out: to_unit_range(out))
        arrays.update({f"{layer}/{k}": v for k, v in strips.items()})
    result.unit_classifier = _unit_classifier(config, setup, dissections, ctx, arrays)
    save_arrays(ctx.out_dir / "gan_dissection.npz", arrays)
    result.arrays = "gan_dissection.npz"
    return result


def _unit_classifier(config: Config, setup: SceneGenerator,
                     dissections: dict[str, LayerDissection], ctx: RunContext,
                     arrays: dict[str, np.ndarray]) -> GeneratedUnitAsClassifier:
    """The unit with the highest IoU with the concept (over all layers) as a classifier of
    generated images with more than presence_fraction of it against images without: the
    first `per_side` of each among `classifier_samples` fresh samples, as the paper's 800
    and 800 (Fig. 3f); counterexamples: images with the concept on which the unit peaks
    below its mean on images without (Fig. 3g)."""
    G, c = setup.generator, concept_index(config.classifier_concept)
    layer = max(dissections, key=lambda name: float(dissections[name].iou[:, c].max()))
    unit = int(dissections[layer].ranked_units(config.classifier_concept)[0])
    z = setup.latents(config.classifier_samples, config.seed + 1, ctx.device)
    peaks = peak_activations(Probe(G, (layer,), z), layer, unit)  # (N,)
    images = generate(G, z)  # (N, 3, S, S)
    share = (setup.segment(images).cpu() == c).flatten(1).float().mean(1)  # (N,)
    present = share > config.presence_fraction
    with_index = torch.nonzero(present).flatten()[: config.per_side]
    without_index = torch.nonzero(~present).flatten()[: config.per_side]
    without = peaks[without_index]
    low = with_index[peaks[with_index] < (without.mean() if without.numel() else peaks.max())]
    low = low[peaks[low].argsort()][: config.counterexamples]
    arrays["counterexamples"] = to_uint8(images[low])
    return GeneratedUnitAsClassifier(
        layer=layer, unit=unit, concept=config.classifier_concept,
        iou=float(dissections[layer].iou[unit, c]), peaks_with=peaks[with_index].tolist(),
        peaks_without=without.tolist(), presence_fraction=config.presence_fraction,
        paper_images_per_side=PAPER_IMAGES_PER_SIDE, samples=config.classifier_samples,
        images_with=int(present.sum()), counterexample_peaks=peaks[low].tolist())


def render(result: Result, out_dir: Path) -> Rendered:
    """Fig. 3b-g: samples with their segmentation, units per layer and per concept, example
    units, the window unit as a classifier and its counterexamples, with tables."""
    figures: list[Figure] = []
    arrays = np.load(out_dir / result.arrays, allow_pickle=False) if result.arrays else None
    gan = result.gan
    if arrays is not None:
        grid = torch.from_numpy(arrays["grid_images"].astype(np.float32) / 255)
        figs.images_with_masks(grid, torch.from_numpy(arrays["grid_labels"].astype(np.int64)),
                               [""] * grid.shape[0], out_dir / "samples_segmented.png",
                               "Generated scenes and the segmenter's concepts")
        run = f"{gan.arch} {gan.loss}, {gan.iters} iterations" if gan else "generator"
        figures.append(Figure("samples_segmented.png",
                              f"{grid.shape[0]} generated scenes ({run}) and the concepts the "
                              "segmenter labels in them"))
    threshold = result.iou_threshold
    figs.layer_counts([layer.label for layer in result.layers],
                      [layer.counts for layer in result.layers], out_dir / "units_per_layer.png",
                      f"Generator units labelled with a concept (IoU > {threshold:g})")
    figures.append(Figure("units_per_layer.png",
                          f"Units per generator layer whose best concept has IoU > {threshold:g} "
                          f"with the segmenter's labels of {result.samples} generated scenes, by "
                          "category (Fig. 3c)"))
    richest = max(result.layers,
                  key=lambda layer: layer.categories["object"] + layer.categories["part"])
    figs.concept_bars(richest.counts, out_dir / "layer_concepts.png",
                      f"{richest.layer}: {richest.detectors} of {richest.units} units labelled")
    figures.append(Figure("layer_concepts.png",
                          f"Concepts of the units of {richest.layer}, the layer with the most "
                          "object and part units (Fig. 3d)"))
    if arrays is not None:
        rows = [(f"{e.layer} u{e.unit}\n{e.concept}\nIoU {e.iou:.2f}",
                 arrays[f"{e.layer}/unit{e.unit}"].astype(np.float32) / 255)
                for e in result.examples if e.layer == richest.layer]
        if rows:
            figs.unit_rows(rows, out_dir / "example_units.png",
                           f"{richest.layer}: top-activating samples, region above the "
                           f"top-{100 * result.quantile:g}% threshold")
            figures.append(Figure("example_units.png",
                                  f"Example units of {richest.layer} on their top-activating "
                                  "generated scenes; outside the unit's thresholded region the "
                                  "image is dimmed (Fig. 3b, e)"))
    if result.unit_classifier is not None:
        figures += _unit_classifier_figures(result.unit_classifier, arrays, out_dir)
    if arrays is not None:
        arrays.close()
    tables = [_layer_table(result), _concepts_table(result)]
    if result.segmenter is not None:
        tables.insert(0, _segmenter_table(result.segmenter))
    return Rendered(tables, figures)


def _unit_classifier_figures(uc: GeneratedUnitAsClassifier, arrays: np.lib.npyio.NpzFile | None,
                             out_dir: Path) -> list[Figure]:
    """Fig. 3f (jitter plot with densities) and 3g (counterexamples, when saved)."""
    with_c, without = np.array(uc.peaks_with), np.array(uc.peaks_without)
    share = 100 * uc.presence_fraction
    figs.jitter_kde(with_c, without, (f"with {uc.concept}s > {share:g}% of the image",
                                      f"with {uc.concept}s <= {share:g}%"),
                    f"{uc.layer} unit {uc.unit} peak activation", out_dir / "unit_classifier.png",
                    f"{uc.concept} unit {uc.unit} of {uc.layer} (IoU {uc.iou:.2f}) as a "
                    "classifier")
    figures = [Figure("unit_classifier.png",
                      f"Peak activation of {uc.layer} unit {uc.unit} on {len(with_c)} generated "
                      f"scenes with {uc.concept}s larger than {share:g}% of the image (segmenter) "
                      f"and {len(without)} without, the first of each among {uc.samples} samples "
                      f"({uc.images_with} had such {uc.concept}s) (Fig. 3f; paper: "
                      f"{uc.paper_images_per_side} and {uc.paper_images_per_side})")]
    if arrays is not None and arrays["counterexamples"].shape[0]:
        counter = torch.from_numpy(arrays["counterexamples"].astype(np.float32) / 255)
        labelled_grid(counter, [f"peak {v:.2f}" for v in uc.counterexample_peaks],
                      out_dir / "counterexamples.png", ncols=counter.shape[0],
                      suptitle=f"{uc.concept}s drawn while unit {uc.unit} stays low")
        figures.append(Figure("counterexamples.png",
                              f"Counterexamples (Fig. 3g): generated scenes with {uc.concept}s on "
                              f"which unit {uc.unit} peaks below its mean on scenes without"))
    return figures


def _segmenter_table(quality: SegmenterQuality) -> Table:
    rows: list[list[Cell]] = [["pixel accuracy", round(quality.pixel_accuracy, 4)],
                              ["mean IoU", round(quality.mean_iou, 4)]]
    rows += [[f"IoU {c}", None if v is None else round(v, 4)] for c, v in quality.iou.items()]
    return Table("The segmenter on held-out real scenes", ["measure", "value"], rows,
                 caption=f"scene-unet trained on the exact masks of training scenes, measured on "
                 f"{quality.images} held-out scenes against their exact masks (IoU summed over "
                 "all pixels).")


def _layer_table(result: Result) -> Table:
    rows: list[list[Cell]] = []
    for layer in result.layers:
        top = sorted(((v, c) for c, v in layer.counts.items() if v), reverse=True)[:4]
        rows.append([layer.layer, "x".join(map(str, layer.shape)), layer.units,
                     layer.detectors, layer.categories["object"], layer.categories["part"],
                     layer.categories["stuff"], round(layer.mean_best_iou, 4),
                     ", ".join(f"{c} {v}" for v, c in top)])
    return Table("Generator units per concept category and layer (Fig. 3c, d)",
                 ["layer", "shape", "units", "labelled", "object", "part", "stuff",
                  "mean best IoU", "most frequent"], rows,
                 caption=f"IoU > {result.iou_threshold:g} with the segmenter's labels of "
                 f"{result.samples} generated scenes, top {100 * result.quantile:g}% thresholds "
                 f"(paper: {100 * result.paper_quantile:g}%). Paper (Progressive GAN, 15 layers, "
                 "kitchens): object units peak at layer5; its counts are plotted without printed "
                 "values, so no paper numbers are shown.")


def _concepts_table(result: Result) -> Table:
    rows: list[list[Cell]] = [[c.concept, round(100 * c.generated, 2), round(100 * c.real, 2),
                               round(100 * c.real_segmented, 2)] for c in result.concepts]
    return Table("Concepts in generated and real scenes (% of pixels)",
                 ["concept", "generated (segmenter)", "real (exact masks)", "real (segmenter)"],
                 rows, caption="How much of each concept the generator draws, as the segmenter "
                 "sees it, against held-out real scenes: a check that the GAN learned the scene "
                 "statistics.")
