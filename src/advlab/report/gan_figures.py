"""Figures the GAN experiments share: a mosaic of sample-grid PNGs (one panel per run, with
titles and optional row and column labels), a row of saved images with titles (the
progressive-growing snapshots per resolution) and side-by-side line plots (a metric against
several x axes)."""

from __future__ import annotations

import math
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from advlab.report.figures import pyplot, save_figure

MosaicCell = tuple[str | None, str]
"""(PNG path relative to the output folder, or None for a failed run; panel title)."""


def sample_mosaic(out_dir: Path, cells: Sequence[MosaicCell], ncols: int,
                  row_labels: Sequence[str] | None = None,
                  col_labels: Sequence[str] | None = None) -> Any:
    """The matplotlib Figure of sample-grid PNGs arranged `ncols` to a row, one titled panel
    each ("no samples" where the PNG is missing); column labels go above the first row's
    titles, row labels left of the first column."""
    import matplotlib.image as mpimg

    plt = pyplot()
    nrows = max(1, math.ceil(len(cells) / ncols))
    fig, axes = plt.subplots(nrows, ncols, figsize=(2.4 * ncols, 2.5 * nrows), squeeze=False)
    for ax in axes.flat:
        ax.axis("off")
    for i, (path, title) in enumerate(cells):
        ax = axes[i // ncols][i % ncols]
        if path is not None and (out_dir / path).is_file():
            ax.imshow(mpimg.imread(out_dir / path), cmap="gray")
        else:
            ax.text(0.5, 0.5, "no samples", ha="center", va="center")
        ax.set_title(title, fontsize=7)
    for j, label in enumerate(col_labels or ()):
        axes[0][j].set_title(f"{label}\n{axes[0][j].get_title()}", fontsize=8)
    for i, label in enumerate(row_labels or ()):
        axes[i][0].text(-0.08, 0.5, label, transform=axes[i][0].transAxes, rotation=90,
                        ha="right", va="center", fontsize=8)
    return fig


def save_sample_mosaic(out_dir: Path, cells: Sequence[MosaicCell], ncols: int, filename: str,
                       row_labels: Sequence[str] | None = None,
                       col_labels: Sequence[str] | None = None) -> str:
    """Write `sample_mosaic` to out_dir / filename; returns the file name."""
    fig = sample_mosaic(out_dir, cells, ncols, row_labels, col_labels)
    save_figure(fig, out_dir / filename, dpi=110)
    return filename


def image_row(out_dir: Path, images: Sequence[tuple[str, str]], suptitle: str) -> Any:
    """The matplotlib Figure of saved PNGs (paths relative to out_dir) side by side, each
    with its title, shown pixel for pixel (nearest interpolation)."""
    import matplotlib.image as mpimg

    plt = pyplot()
    fig, axes = plt.subplots(1, max(1, len(images)), figsize=(2.6 * max(1, len(images)), 2.9),
                             squeeze=False)
    for ax, (path, title) in zip(axes[0], images, strict=False):
        ax.imshow(mpimg.imread(out_dir / path), cmap="gray", interpolation="nearest")
        ax.set_title(title, fontsize=9)
        ax.axis("off")
    fig.suptitle(suptitle, fontsize=9)
    return fig


def resolution_row(out_dir: Path, snapshots: dict[str, str], images_seen: dict[str, int]) -> Any:
    """`image_row` of progressive-growing snapshots ({resolution: PNG path}), smallest
    resolution first, each titled with its resolution and the real images seen by then."""
    panels = []
    for res in sorted(snapshots, key=int):
        seen = images_seen.get(res)
        title = f"{res}x{res}" + (f"\nafter {seen:,} images" if seen else "")
        panels.append((snapshots[res], title))
    return image_row(out_dir, panels, "G and D grow: 4x4 -> ... -> final resolution (same latents)")


Series = dict[str, tuple[Sequence[float], Sequence[float]]]
"""line label -> (x values, y values)."""


def curve_panels(panels: Sequence[tuple[str, Series]], ylabel: str, suptitle: str,
                 log_y: bool = False) -> Any:
    """The matplotlib Figure of line plots side by side, one per (x label, series) panel,
    every panel with the same lines (labelled once, in the first panel's legend) and y label
    (the SWD of each row against time, compute and images in progressive-gan)."""
    plt = pyplot()
    fig, axes = plt.subplots(1, max(1, len(panels)), figsize=(4.2 * max(1, len(panels)), 3.4),
                             squeeze=False)
    for i, (ax, (xlabel, series)) in enumerate(zip(axes[0], panels, strict=False)):
        for label, (xs, ys) in series.items():
            ax.plot(xs, ys, marker=".", label=label)
        ax.set_xlabel(xlabel)
        ax.set_ylabel(ylabel)
        if log_y:
            ax.set_yscale("log")
        if i == 0 and series:
            ax.legend(fontsize=7)
    fig.suptitle(suptitle, fontsize=9)
    fig.tight_layout()
    return fig
