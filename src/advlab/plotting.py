"""Figure helpers shared by commands and experiments (matplotlib, Agg backend, PNG files)."""

from __future__ import annotations

import math
from collections.abc import Sequence
from pathlib import Path

import torch


def labelled_grid(
    images: torch.Tensor,
    titles: Sequence[str],
    path: str | Path,
    ncols: int = 8,
    cmap: str = "gray",
    suptitle: str | None = None,
) -> Path:
    """Save images (N, C, H, W) in [0, 1] as a grid with one title per image, to PNG `path`."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

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
    fig.tight_layout()
    out = Path(path)
    out.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(out, dpi=110)
    plt.close(fig)
    return out
