"""`advlab data list | show`: the datasets advlab knows and grids of their samples."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from advlab.cli.shared import DataRoot, say, show

data_app = typer.Typer(help="List and look at datasets.", no_args_is_help=True)


@data_app.command("list")
def data_list(data_root: DataRoot = None) -> None:
    """Every dataset advlab knows, its size, and whether it is available here."""
    from advlab.commands.data import dataset_table

    show(dataset_table(data_root))


@data_app.command("show")
def data_show(
    name: str,
    out: Annotated[Path, typer.Option(help="PNG file for the grid.")] = Path("grid.png"),
    split: str = "train",
    n: Annotated[int, typer.Option("--samples", "--n", min=1, help="Number of samples.")] = 32,
    download: Annotated[bool, typer.Option(
        help="Download the dataset if missing (needs a network).")] = False,
    masks: Annotated[bool, typer.Option(
        help="Each image above its concept mask (scenes, scenes-32).")] = False,
    data_root: DataRoot = None,
) -> None:
    """Save a grid of samples of dataset NAME with their labels (--masks: with concept masks)."""
    if masks:
        from advlab.commands.dissect import show_masks

        say(f"saved {show_masks(name, out, split, n)}")
        return
    from advlab.commands.data import show_samples

    say(show_samples(name, out, split, n, download, data_root))
