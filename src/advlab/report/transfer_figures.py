"""The sweep figure of transfer-table (Liu et al. 2017, Table 4): the held-out model's
accuracy against the RMSD of the adversarial images, along a sweep of the attack's lam."""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Protocol

from advlab.report.figures import pyplot

if TYPE_CHECKING:
    import matplotlib.figure


class SweepRow(Protocol):
    """One point of the sweep: mean RMSD (0-255), held-out rate per model and its mean."""

    rmsd: float
    held_out: list[float]
    mean_held_out: float


def sweep_figure(sweep: Sequence[SweepRow], models: list[str],
                 paper: list[tuple[float, float]], paper_rmsd: float, contrast_rmsd: float,
                 what: str) -> matplotlib.figure.Figure:
    """Held-out rate % against RMSD: the mean over the held-out models (black) and each
    model's, the paper's (RMSD, held-out accuracy %) points (red crosses), its mean RMSD
    (dashed) and the RMSD as large relative to our images' contrast (dotted)."""
    plt = pyplot()
    fig, ax = plt.subplots(figsize=(5.6, 3.8))
    rmsd_values = [p.rmsd for p in sweep]
    for j, name in enumerate(models):
        ax.plot(rmsd_values, [100 * p.held_out[j] for p in sweep], lw=0.8, alpha=0.6,
                marker=".", label=f"held out: {name}")
    ax.plot(rmsd_values, [100 * p.mean_held_out for p in sweep], color="black", lw=2,
            marker="o", label="mean")
    ax.scatter(*zip(*paper, strict=True), marker="x", color="red", zorder=3,
               label="paper (ImageNet)")
    ax.axvline(paper_rmsd, ls="--", color="red", lw=1, label=f"paper's RMSD {paper_rmsd:.1f}")
    ax.axvline(contrast_rmsd, ls=":", color="gray", lw=1,
               label=f"same RMSD / contrast, ours {contrast_rmsd:.1f}")
    ax.set_xlabel("RMSD (0-255 pixel values)")
    ax.set_ylabel(f"held-out {what}")
    ax.set_ylim(-2, 102)
    ax.legend(fontsize=6)
    fig.tight_layout()
    return fig
