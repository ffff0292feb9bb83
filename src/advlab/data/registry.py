"""The dataset registry: `load(name, split)` for every dataset advlab knows.

Each entry is a `DatasetSpec` factory taking the full name (so that prefixed names such as
``lsun:bedroom`` and ``folder:/path/to/images`` carry their argument).
"""

from __future__ import annotations

import os
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

from advlab.errors import DatasetMissingError  # noqa: F401  (re-exported)
from advlab.registry import Registry

if TYPE_CHECKING:
    from advlab.data.base import ImageDataset

SPLITS = ("train", "test")


@dataclass(frozen=True)
class DatasetSpec:
    """What a dataset is and how to load it.

    loader(split, root, download) -> ImageDataset; available(root) -> bool says whether the
    files are here (embedded sets always are). `sizes` maps split -> number of samples.
    where / how_to_get (optional): the folder the files are read from, and what to do when
    they are missing, for sets found outside the root too (fashion-mnist's system folder).
    """

    name: str
    description: str
    num_classes: int
    shape: tuple[int, int, int]
    sizes: dict[str, int]
    embedded: bool
    loader: Callable[[str, Path, bool], ImageDataset] = field(repr=False, compare=False)
    available: Callable[[Path], bool] = field(repr=False, compare=False)
    where: Callable[[Path], str | None] | None = field(default=None, repr=False, compare=False)
    """Where the files are read from for this root (None: not found); shown by `data list`."""
    how_to_get: str = ""
    """How to get the files when they are missing; shown by `advlab data list`."""


DATASETS: Registry[Callable[[str], DatasetSpec]] = Registry("dataset")


def default_root() -> Path:
    """Where torchvision datasets live: $ADVLAB_DATA, else ~/.cache/advlab/data."""
    env = os.environ.get("ADVLAB_DATA")
    return Path(env) if env else Path.home() / ".cache" / "advlab" / "data"


def info(name: str) -> DatasetSpec:
    """The spec of dataset `name` (unknown names list the valid ones)."""
    return DATASETS.get(name)(name)


def load(
    name: str, split: str = "train", root: str | Path | None = None, download: bool = False
) -> ImageDataset:
    """Load dataset `name`'s `split` ("train" or "test") as images in [0, 1] and int labels.

    Embedded sets (mnist-5k, digits) need nothing on disk. torchvision-backed sets read from
    `root` (default: $ADVLAB_DATA or ~/.cache/advlab/data) and download only when `download`
    is true; otherwise a missing set raises `DatasetMissingError` saying what to put where.
    """
    if split not in SPLITS:
        raise ValueError(f"unknown split {split!r}; valid splits: {', '.join(SPLITS)}")
    spec = info(name)
    return spec.loader(split, Path(root) if root is not None else default_root(), download)
