"""Tables and figures of the `classifier-dissection` experiment (Bau et al. 2020, Figures 1
and 2): units per concept category and layer, example units, a unit as a classifier, and
the removal of each class's most important units."""

from __future__ import annotations

import math
from pathlib import Path
from typing import Protocol

import numpy as np

from advlab.report import dissection_figures as figs
from advlab.report.dissection_results import (
    LayerSummary,
    UnitAsClassifier,
    UnitExample,
    UnitRemoval,
)
from advlab.report.figures import pyplot, save_figure
from advlab.report.rendered import Figure, Rendered
from advlab.report.tables import Cell, Table


class ClassifierDissection(Protocol):
    """What the renderer reads of `advlab.experiments.classifier_dissection.Result` (the
    report layer sits below the experiments, so it names the fields instead of the class)."""

    layers: list[LayerSummary]
    examples: list[UnitExample]
    unit_classifier: UnitAsClassifier | None
    removal: UnitRemoval | None
    accuracy: float
    images: int
    quantile: float
    iou_threshold: float
    labels: str
    mask_size: int | None
    unit_images: str
    paper_quantile: float
    paper_iou_threshold: float


def render_dissection(result: ClassifierDissection, out_dir: Path) -> Rendered:
    """Fig. 1d, e (units per concept and layer), 1b, c (example units), 1f (a unit as a
    classifier) and Fig. 2 (removing units per class), with tables."""
    figures: list[Figure] = []
    threshold = result.iou_threshold
    labels = [layer.label for layer in result.layers]
    figs.layer_counts(labels, [layer.counts for layer in result.layers],
                      out_dir / "units_per_layer.png", f"Units labelled with a concept (IoU > {threshold:g})")
    figures.append(Figure("units_per_layer.png",
                          f"Units per layer of the scene classifier whose best concept has IoU > {threshold:g} "
                          f"(top {100 * result.quantile:g}% quantile, {result.images} held-out scenes"
                          f"{f' compared at {result.mask_size}x{result.mask_size}' if result.mask_size else ''}, "
                          f"{'exact masks' if result.labels == 'masks' else 'segmenter labels'}), "
                          "by concept category (Fig. 1e)"))
    last = result.layers[-1]
    figs.concept_bars(last.counts, out_dir / "last_layer_concepts.png",
                      f"{last.layer}: {last.detectors} of {last.units} units labelled")
    figures.append(Figure("last_layer_concepts.png",
                          f"Concepts of the units of the last convolutional layer {last.layer} "
                          "(Fig. 1d)"))
    if result.unit_images and (out_dir / result.unit_images).is_file():
        with np.load(out_dir / result.unit_images, allow_pickle=False) as strips:
            rows = [(f"unit {e.unit}\n{e.concept}\nIoU {e.iou:.2f}",
                     strips[f"unit{e.unit}"].astype(np.float32) / 255) for e in result.examples]
        figs.unit_rows(rows, out_dir / "example_units.png",
                       f"{last.layer}: top-activating held-out scenes, region above the top-"
                       f"{100 * result.quantile:g}% threshold")
        figures.append(Figure("example_units.png",
                              "Example units of the last layer with their top-activating scenes; "
                              "outside the unit's thresholded region the scene is dimmed (Fig. 1b, c)"))
    uc = result.unit_classifier
    if uc is not None:
        with_c, without = np.array(uc.peaks_with), np.array(uc.peaks_without)
        share = 100 * uc.presence_fraction
        figs.jitter_kde(with_c, without,
                        (f"scenes with {uc.concept} (> {share:g}% of pixels)", "scenes without"),
                        f"unit {uc.unit} peak activation", out_dir / "unit_classifier.png",
                        f"{uc.layer} unit {uc.unit} ({uc.concept}, IoU {uc.iou:.2f}) "
                        "as a classifier")
        figures.append(Figure("unit_classifier.png",
                              f"Peak activation of {uc.layer} unit {uc.unit} on {len(with_c)} "
                              f"held-out scenes with {uc.concept} and {len(without)} without; "
                              "kernel density estimates above, jitter plot below (Fig. 1f; "
                              f"paper: {uc.paper_images_per_side} of each)"))
    tables = [_layer_table(result), _examples_table(result)]
    if result.removal is not None:
        figures.append(_removal_figure(result.removal, out_dir))
        tables.append(_removal_table(result.removal))
    return Rendered(tables, figures)


def _layer_table(result: ClassifierDissection) -> Table:
    rows: list[list[Cell]] = []
    for layer in result.layers:
        top = sorted(((v, c) for c, v in layer.counts.items() if v), reverse=True)[:4]
        rows.append([layer.layer, "x".join(map(str, layer.shape)), layer.units,
                     layer.detectors, layer.categories["object"], layer.categories["part"],
                     layer.categories["stuff"], layer.unique_concepts,
                     round(layer.mean_best_iou, 4), ", ".join(f"{c} {v}" for v, c in top)])
    return Table("Units per concept category and layer (Fig. 1e)",
                 ["layer", "shape", "units", "labelled", "object", "part", "stuff",
                  "concepts", "mean best IoU", "most frequent"], rows,
                 caption=f"A unit is labelled with its best concept when IoU > "
                 f"{result.iou_threshold:g} (paper code: --miniou {result.paper_iou_threshold}); "
                 f"thresholds are each unit's top {100 * result.quantile:g}% quantile (paper: "
                 f"{100 * result.paper_quantile:g}%). Scene classifier test accuracy "
                 f"{100 * result.accuracy:.1f}% on {result.images} held-out scenes. The paper's Fig. 1e "
                 "(VGG-16 on Places365) is a plot without printed values, so no paper numbers are shown.")


def _examples_table(result: ClassifierDissection) -> Table:
    rows: list[list[Cell]] = [[e.layer, e.unit, e.concept, figs.concept_category(e.concept), round(e.iou, 4)]
            for e in result.examples]
    uc = result.unit_classifier
    if uc is not None:
        with_c, without = np.array(uc.peaks_with), np.array(uc.peaks_without)
        rows.append([uc.layer, uc.unit, f"{uc.concept} (as a classifier)",
                     f"mean peak {with_c.mean() if with_c.size else math.nan:.3g} with vs "
                     f"{without.mean() if without.size else math.nan:.3g} without",
                     round(uc.iou, 4)])
    return Table("Example units of the last layer", ["layer", "unit", "concept", "category", "IoU"],
                 rows, caption="Units with the highest IoU (at most two per concept); the last row is "
                 "the unit tested as a classifier (Fig. 1f).")


def _removal_figure(removal: UnitRemoval, out_dir: Path) -> Figure:
    plt = pyplot()
    classes = list(removal.classes)
    ncols = 3
    nrows = math.ceil(len(classes) / ncols)
    fig, axes = plt.subplots(nrows, ncols, figsize=(3.2 * ncols, 2.4 * nrows), squeeze=False)
    for ax in axes.flat:
        ax.axis("off")
    for i, name in enumerate(classes):
        ax = axes[i // ncols][i % ncols]
        ax.axis("on")
        data = removal.classes[name]
        ax.plot(removal.counts, data.top, marker="o", ms=3, color="#C0392B",
                label="most important units")
        ax.errorbar(removal.counts, data.random, yerr=data.random_std, marker="s", ms=3,
                    color="#7F8C8D", label="random units", capsize=2)
        ax.set_title(name, fontsize=9)
        ax.set_ylim(0.4, 1.02)
        ax.set_xlabel(f"units removed from {removal.layer}", fontsize=7)
        ax.set_ylabel("balanced accuracy", fontsize=7)
        ax.tick_params(labelsize=7)
    axes[0][0].legend(fontsize=7)
    save_figure(fig, out_dir / "unit_removal.png")
    return Figure("unit_removal.png",
                  f"Balanced (class vs rest) accuracy of each class on held-out scenes when its "
                  f"most important units of {removal.layer} ({removal.units} units; ranked by "
                  f"removing each unit alone on {removal.ranking_images} training scenes) are "
                  "removed, against as many random units (mean and std over draws) (Fig. 2)")


def _removal_table(removal: UnitRemoval) -> Table:
    counts = removal.counts
    rows: list[list[Cell]] = []
    for name, data in removal.classes.items():
        rows.append([name, *[round(v, 4) for v in data.top],
                     *[round(v, 4) for v in data.random[1:]]])
    return Table("Removing a class's most important units vs random units (Fig. 2)",
                 ["class", *[f"top {n}" for n in counts], *[f"random {n}" for n in counts[1:]]],
                 rows,
                 caption="Balanced accuracy (class vs rest; 0.5 = chance). The paper (VGG-16, conv5_3 "
                 "with 512 units): removing as few as 20 units can destroy the network's ability to "
                 "detect a class, while removing random units hardly matters; it reports the effect "
                 "per class in plots, so no paper numbers are shown.")
