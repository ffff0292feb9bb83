"""Figures and table of the memorisation check (Karras et al. 2018, Figure 10): samples above
their nearest training images, and the distance distributions. Shared by the `memorisation`
experiment and `advlab gan memorisation`."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from advlab.report.figures import pyplot, save_figure
from advlab.report.rendered import Figure, Rendered
from advlab.report.tables import Table
from advlab.zoo.memorisation import COPY_NOISE, MemorisationCheck, Summary

DISTANCE_LABELS = {"generated": "generated samples", "heldout": "held-out real images",
                   "copies": f"copies of training images (+noise {COPY_NOISE})"}


def neighbours_figure(result: MemorisationCheck, out_dir: Path) -> Any:
    """The matplotlib Figure of the Figure 10 layout: the image grid of `check_run` (in
    out_dir) with its rows labelled: generated samples, then their nearest training images."""
    import matplotlib.image as mpimg

    k = len(result.neighbours[0]) if result.neighbours else 0
    fig, ax = pyplot().subplots(figsize=(6, 0.8 * (k + 1) + 0.6))
    ax.imshow(mpimg.imread(out_dir / result.figure), cmap="gray", interpolation="nearest")
    ax.set_yticks([(i + 0.5) * ax.get_ylim()[0] / (k + 1) for i in range(k + 1)])
    ax.set_yticklabels(["generated", *[f"nearest {i + 1}" for i in range(k)]], fontsize=7)
    ax.set_xticks([])
    ax.set_title(f"Generated samples (top) and their nearest training images ({result.features} "
                 "features)", fontsize=8)
    return fig


def distances_figure(result: MemorisationCheck) -> Any:
    """The matplotlib Figure of the histograms of nearest-training-image distances."""
    fig, ax = pyplot().subplots(figsize=(5.2, 3.4))
    for key, label in DISTANCE_LABELS.items():
        values = getattr(result.distances, key)
        if values:
            ax.hist(values, bins=40, alpha=0.55, label=label)
    ax.set_xlabel(f"distance to the nearest training image ({result.features} features)")
    ax.set_ylabel("images")
    ax.legend(fontsize=7)
    return fig


def render_memorisation(result: MemorisationCheck, out_dir: Path) -> Rendered:
    """The Figure 10 layout, the distance distributions and a table of what they show."""
    k = len(result.neighbours[0]) if result.neighbours else 0
    save_figure(neighbours_figure(result, out_dir), out_dir / "memorisation_figure10.png", dpi=130)
    save_figure(distances_figure(result), out_dir / "memorisation_distances.png")
    s = result.summary
    rows: list[list[Any]] = [
        [DISTANCE_LABELS["generated"], s.median_generated, s.ratio_generated, s.closer_generated],
        [DISTANCE_LABELS["heldout"], s.median_heldout, 1.0, 0.05],
        [DISTANCE_LABELS["copies"], s.median_copies, s.ratio_copies, s.closer_copies],
    ]
    table = Table(
        "Nearest-training-image distances (Karras et al. 2018, Figure 10 check)",
        ["images", "median distance", "ratio to held-out", "nearer than 5% of held-out"], rows,
        caption=f"{_verdict(s)} A generator that memorises sits closer to its training set than "
        "held-out images of the same distribution (ratio well below 1, a large fraction nearer "
        "than the held-out 5th percentile, like the copies); the held-out row is the "
        f"reference by definition. Run: {result.run_dir}.")
    return Rendered([table], [
        Figure("memorisation_figure10.png", f"Top: generated samples; below: their {k} nearest "
               "training images (the paper's Figure 10 layout)"),
        Figure("memorisation_distances.png", "Distances to the nearest training image"),
    ])


def _verdict(summary: Summary) -> str:
    """One sentence on what the distances show (thresholds: a copying generator has ratio
    near 0 and nearly all samples nearer than the held-out 5th percentile)."""
    ratio, closer = summary.ratio_generated, summary.closer_generated
    facts = (f"generated samples are {ratio:.2f}x as far from the training set as held-out "
             f"images, {100 * closer:.1f}% nearer than the held-out 5th percentile")
    if ratio < 0.5 or closer > 0.5:
        return f"Memorisation: {facts}."
    if ratio < 0.9 or closer > 0.15:
        return f"Some samples sit close to training images: {facts}."
    return f"No sign of memorisation: {facts}."
