"""`advlab dissect`: network dissection of a classifier's or a generator's layers."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from advlab.cli.shared import Device, Force, UserError, say, show


def dissect(
    checkpoint: Annotated[Path, typer.Option(help="Classifier or GAN checkpoint folder.")],
    layer: Annotated[list[str], typer.Option(
        help="Layer to dissect (repeat the option; 'all': every conv layer).")],
    data: Annotated[str, typer.Option(
        help="Images with concept masks for a classifier (scenes, scenes-32).")] = "scenes",
    split: str = "test",
    n: Annotated[int, typer.Option(
        "--samples", "--n", min=1, help="Number of images (a GAN: generated samples).")] = 1000,
    segmenter: Annotated[Path | None, typer.Option(
        help="Segmenter checkpoint that labels the images (a GAN's always).")] = None,
    quantile: Annotated[float, typer.Option(
        help="Top fraction of activations that counts as 'on' (the paper: 0.01).")] = 0.01,
    iou_threshold: Annotated[float, typer.Option(
        help="IoU above which a unit is labelled with its concept.")] = 0.04,
    mask_size: Annotated[int | None, typer.Option(
        help="Compare at this resolution (default: the images').")] = None,
    out: Annotated[Path | None, typer.Option(
        help="Folder for dissection.json and figures (default runs/dissect/CHECKPOINT[-k]).")] = None,
    force: Force = False,
    seed: int = 0,
    device: Device = "cpu",
) -> None:
    """Network dissection (Bau et al. 2017, 2019): label each unit of the layers with the concept
    its top activations overlap best (IoU), with figures of the best units."""
    from advlab.commands.common import output_dir
    from advlab.commands.dissect import dissect_command

    if not 0 < quantile < 1:
        raise UserError(f"--quantile must be in (0, 1), got {quantile}")
    folder = output_dir(out, "dissect", checkpoint.resolve().name, force, "dissection.json")
    for table in dissect_command(checkpoint, layer, folder, data, split, n, segmenter, quantile,
                                 iou_threshold, mask_size=mask_size, seed=seed, device=device):
        show(table)
    say(f"results: [bold]{folder}[/]")
