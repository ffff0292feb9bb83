"""Figures: the one place that chooses matplotlib's backend (`pyplot`) and writes a figure
(`save_figure`), and the labelled image grid shared by commands and experiments.

Every figure of advlab is drawn with the non-interactive Agg backend (no display needed) and
saved as PNG through `save_figure`, which creates the folder and closes the figure.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import torch


def pyplot() -> Any:
    """matplotlib.pyplot with the Agg backend (imported on first use: the CLI starts without
    matplotlib)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def save_figure(fig: Any, path: str | Path, dpi: int = 120, tight: bool = True) -> Path:
    """Write matplotlib figure `fig` to PNG `path` (folders created), close it, return the path.

    tight: save with a tight bounding box so that no axis label, colour bar or legend is cut at
    the edge, after laying the figure out with `tight_layout` unless it already has a layout
    engine of its own (constrained layout, which tight_layout would fight).
    """
    plt = pyplot()
    out = Path(path)
    out.parent.mkdir(parents=True, exist_ok=True)
    if tight and fig.get_layout_engine() is None:
        fig.tight_layout()
    fig.savefig(out, dpi=dpi, bbox_inches="tight" if tight else None)
    plt.close(fig)
    return out


def labelled_grid(
    images: torch.Tensor,
    titles: Sequence[str],
    path: str | Path,
    ncols: int = 8,
    cmap: str = "gray",
    suptitle: str | None = None,
) -> Path:
    """Save images (N, C, H, W) in [0, 1] as a grid with one title per image, to PNG `path`."""
    plt = pyplot()
    if images.ndim != 4:
        raise ValueError(f"images must be (N, C, H, W), got {tuple(images.shape)}")
    n = images.shape[0]
    if len(titles) != n:
        raise ValueError(f"{n} images but {len(titles)} titles")
    ncols = max(1, min(ncols, n))
    nrows = max(1, math.ceil(n / ncols))
    fig, axes = plt.subplots(nrows, ncols, figsize=(1.3 * ncols, 1.45 * nrows), squeeze=False)
    for ax in axes.flat:
        ax.axis("off")
    pixels = images.detach().cpu().clamp(0, 1)
    for i, (ax, title) in enumerate(zip(axes.flat, titles, strict=False)):
        img = pixels[i]
        if img.shape[0] == 1:
            ax.imshow(img[0].numpy(), cmap=cmap, vmin=0, vmax=1)
        else:
            ax.imshow(img.permute(1, 2, 0).numpy())
        ax.set_title(title, fontsize=7)
    if suptitle:
        fig.suptitle(suptitle, fontsize=9)
    return save_figure(fig, path, dpi=110)
