"""Figures of the dissection experiments and of `advlab dissect` / `advlab data show scenes`,
in the layouts of Bau et al. 2020 (Figures 1, 3 and 4): concept masks with a legend, unit
visualisations (top images with the region above the unit's threshold), units per concept
and per layer, a unit as a classifier (jitter plot with kernel density estimates), removal
curves and insertion effects by context. PNG files written through
`advlab.report.figures.save_figure`.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F

from advlab.data.scene_catalogue import CONCEPT_CATEGORY, CONCEPTS
from advlab.report.figures import pyplot, save_figure

# one colour per concept (segmentation maps, legends, bars)
CONCEPT_COLOURS: dict[str, tuple[float, float, float]] = {
    "sky": (0.53, 0.75, 0.98), "cloud": (0.93, 0.93, 0.93), "mountain": (0.55, 0.45, 0.65),
    "water": (0.1, 0.25, 0.75), "grass": (0.45, 0.8, 0.3), "ground": (0.6, 0.42, 0.22),
    "road": (0.35, 0.35, 0.35), "building": (0.95, 0.65, 0.35), "roof": (0.85, 0.12, 0.12),
    "window": (0.1, 0.9, 0.95), "door": (0.95, 0.1, 0.85), "tree": (0.05, 0.4, 0.1),
}  # fmt: skip
CATEGORY_COLOURS = {"object": "#4B4CBF", "part": "#F0883B", "stuff": "#6BAF5A"}
CATEGORIES = ("object", "part", "stuff")
STUFF = {"background", "sky", "grass", "ground", "road", "water", "mountain", "wall", "floor"}


def concept_category(name: str) -> str:
    """object / part / stuff of a concept: the scenes' own categories, else "stuff" for
    background-like names and "object" for the rest (e.g. the VOC classes of a torchvision
    segmenter)."""
    return CONCEPT_CATEGORY.get(name, "stuff" if name in STUFF else "object")


def colourise(labels: np.ndarray, concepts: Sequence[str] = CONCEPTS) -> np.ndarray:
    """Concept labels (..., H, W) -> RGB (..., H, W, 3) with CONCEPT_COLOURS (-1: black)."""
    table = np.array([CONCEPT_COLOURS.get(c, (0.5, 0.5, 0.5)) for c in concepts] + [(0, 0, 0)])
    return table[np.where(labels < 0, len(concepts), labels)]


def _hwc(image: torch.Tensor | np.ndarray) -> np.ndarray:
    array = image.detach().cpu().numpy() if isinstance(image, torch.Tensor) else image
    return np.clip(array.transpose(1, 2, 0), 0, 1)


def _legend(fig, concepts: Sequence[str], present: set[int] | None = None) -> None:  # type: ignore[no-untyped-def]
    from matplotlib.patches import Patch

    handles = [Patch(color=CONCEPT_COLOURS.get(c, (0.5, 0.5, 0.5)), label=c)
               for i, c in enumerate(concepts) if present is None or i in present]
    fig.legend(handles=handles, loc="lower center", ncol=min(len(handles), 7), fontsize=8,
               frameon=False)


def images_with_masks(images: torch.Tensor, labels: torch.Tensor, titles: Sequence[str],
                      path: Path, suptitle: str = "", ncols: int = 8,
                      concepts: Sequence[str] = CONCEPTS) -> Path:
    """Each image (N, 3, H, W) above its concept map (N, H, W), with a concept legend."""
    plt = pyplot()
    n = images.shape[0]
    ncols = max(1, min(ncols, n))
    groups = math.ceil(n / ncols)
    fig, axes = plt.subplots(2 * groups, ncols, figsize=(1.45 * ncols, 2.9 * groups + 0.6),
                             squeeze=False)
    for ax in axes.flat:
        ax.axis("off")
    coloured = colourise(labels.cpu().numpy(), concepts)
    for i in range(n):
        top, bottom = axes[2 * (i // ncols)][i % ncols], axes[2 * (i // ncols) + 1][i % ncols]
        top.imshow(_hwc(images[i]), interpolation="nearest")
        top.set_title(titles[i], fontsize=7)
        bottom.imshow(coloured[i], interpolation="nearest")
    _legend(fig, concepts, set(np.unique(labels.cpu().numpy()).tolist()))
    if suptitle:
        fig.suptitle(suptitle, fontsize=9)
    fig.tight_layout(rect=(0, 0.06, 1, 0.97 if suptitle else 1))  # room for the legend
    return save_figure(fig, path, dpi=110, tight=False)


def highlight(images: torch.Tensor, activations: torch.Tensor, threshold: float) -> np.ndarray:
    """The region of each image where the unit's upsampled activation exceeds `threshold`
    (Bau et al. 2020, Fig. 1b, 3b): images (k, 3, H, W), activations (k, h, w) -> RGB
    (k, H, W, 3) with the rest dimmed and the region's edge drawn in yellow."""
    up = F.interpolate(activations[:, None].float(), size=images.shape[-2:], mode="bilinear",
                       align_corners=False)[:, 0]
    inside = (up > threshold).cpu().numpy()  # (k, H, W)
    rgb = np.clip(images.detach().cpu().numpy().transpose(0, 2, 3, 1), 0, 1)
    out = rgb * np.where(inside, 1.0, 0.3)[..., None]
    edge = inside & ~(np.roll(inside, 1, 1) & np.roll(inside, -1, 1) & np.roll(inside, 1, 2)
                      & np.roll(inside, -1, 2))
    out[edge] = (1.0, 0.9, 0.1)
    return out


def unit_rows(rows: Sequence[tuple[str, np.ndarray]], path: Path, suptitle: str = "") -> Path:
    """One row per unit: its title and its highlighted top images (k, H, W, 3)."""
    plt = pyplot()
    k = max(r[1].shape[0] for r in rows)
    fig, axes = plt.subplots(len(rows), k, figsize=(1.3 * k + 1.6, 1.35 * len(rows) + 0.4),
                             squeeze=False)
    for i, (title, strip) in enumerate(rows):
        for j in range(k):
            ax = axes[i][j]
            ax.set_xticks([])
            ax.set_yticks([])
            if j < strip.shape[0]:
                ax.imshow(strip[j], interpolation="nearest")
            else:
                ax.axis("off")
        axes[i][0].set_ylabel(title, rotation=0, ha="right", va="center", fontsize=8)
    if suptitle:
        fig.suptitle(suptitle, fontsize=9)
    return save_figure(fig, path, dpi=110)


def layer_counts(layers: Sequence[str], counts: Sequence[dict[str, int]], path: Path,
                 title: str) -> Path:
    """Units labelled with a concept per layer, split into object / part / stuff concepts
    (Bau et al. 2020, Fig. 1e, 3c): counts[i] maps concept -> units of layers[i]."""
    plt = pyplot()
    fig, ax = plt.subplots(figsize=(1.1 * len(layers) + 2.5, 3.4))
    bottom = np.zeros(len(layers))
    for category in CATEGORIES:
        heights = np.array([sum(v for c, v in layer.items() if concept_category(c) == category)
                            for layer in counts], float)
        ax.bar(layers, heights, bottom=bottom, color=CATEGORY_COLOURS[category], label=category)
        bottom += heights
    ax.set_ylabel("units (IoU > threshold)")
    ax.set_title(title, fontsize=9)
    ax.legend(fontsize=8)
    ax.tick_params(axis="x", labelsize=8, rotation=30)
    return save_figure(fig, path, dpi=120)


def concept_bars(counts: dict[str, int], path: Path, title: str) -> Path:
    """Number of units per concept in one layer, grouped by category, most frequent first
    (Bau et al. 2020, Fig. 1d, 3d)."""
    plt = pyplot()
    order = sorted((c for c, v in counts.items() if v > 0),
                   key=lambda c: (CATEGORIES.index(concept_category(c)), -counts[c]))
    fig, ax = plt.subplots(figsize=(0.45 * max(len(order), 4) + 1.5, 3.0))
    ax.bar(order, [counts[c] for c in order],
           color=[CATEGORY_COLOURS[concept_category(c)] for c in order])
    ax.set_ylabel("units")
    ax.set_title(title, fontsize=9)
    ax.tick_params(axis="x", labelsize=8, rotation=45)
    return save_figure(fig, path, dpi=120)


def jitter_kde(with_concept: np.ndarray, without: np.ndarray, labels: tuple[str, str],
               xlabel: str, path: Path, title: str = "") -> Path:
    """A unit as a classifier (Bau et al. 2020, Fig. 1f, 3f): kernel density estimates of
    its peak activation on images with and without the concept, mean lines, and a jitter plot
    (each image a dot at a random height)."""
    from advlab.dissect.scores import gaussian_kde

    plt = pyplot()
    fig, (top, bottom) = plt.subplots(2, 1, figsize=(6.4, 3.4), sharex=True,
                                      gridspec_kw={"height_ratios": [1.2, 1]})
    values = np.concatenate([with_concept, without])
    grid = np.linspace(values.min() - 0.1 * np.ptp(values), values.max() + 0.1 * np.ptp(values), 300)
    rng = np.random.default_rng(0)
    for data, label, colour in ((without, labels[1], "#F0883B"), (with_concept, labels[0], "#4B4CBF")):
        if data.size >= 2 and np.ptp(data) > 0:
            density = gaussian_kde(torch.from_numpy(data), torch.from_numpy(grid)).numpy()
            top.plot(grid, density, color=colour, lw=2, label=f"{label}, mean {data.mean():.2f}")
        top.axvline(data.mean() if data.size else 0, color=colour, lw=1, ls="--")
        bottom.scatter(data, rng.random(data.size), s=6, alpha=0.45, color=colour)
    top.set_ylabel("density")
    top.set_yticks([])
    top.legend(fontsize=7)
    bottom.set_yticks([])
    bottom.set_ylabel("jitter")
    bottom.set_xlabel(xlabel)
    if title:
        top.set_title(title, fontsize=9)
    return save_figure(fig, path, dpi=120)
