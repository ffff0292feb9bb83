"""The registration of the procedural `scenes` (64x64) and `scenes-32` (32x32) datasets, whose
loaders import the generator (`advlab.data.scenes`) only when a split is loaded, so that
``advlab data list`` answers at once."""

from __future__ import annotations

from typing import TYPE_CHECKING

from advlab.data.registry import DATASETS, DatasetSpec
from advlab.data.scene_catalogue import CONCEPTS, SCENE_CLASSES, SIZES

if TYPE_CHECKING:
    from pathlib import Path

    from advlab.data.base import ImageDataset


def _spec(name: str, size: int) -> DatasetSpec:
    def loader(split: str, root: Path, download: bool) -> ImageDataset:
        from advlab.data.scenes import load_scenes

        return load_scenes(size, split)

    return DatasetSpec(
        name=name,
        description=f"procedural outdoor scenes {size}x{size} with exact masks of "
                    f"{len(CONCEPTS)} concepts, {len(SCENE_CLASSES)} categories (offline)",
        num_classes=len(SCENE_CLASSES),
        shape=(3, size, size),
        sizes=dict(SIZES),
        embedded=True,
        loader=loader,
        available=lambda root: True,
    )  # fmt: skip


@DATASETS.register("scenes")
def scenes(name: str) -> DatasetSpec:
    return _spec(name, 64)


@DATASETS.register("scenes-32")
def scenes_32(name: str) -> DatasetSpec:
    return _spec(name, 32)
