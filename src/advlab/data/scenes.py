"""`scenes`: procedural outdoor scenes with exact per-pixel concept masks, from a seed.

Six scene categories (the labels): house, church, street, forest, field, lake. Twelve
concepts, each pixel labelled with exactly one: sky, cloud, mountain, water, grass, ground,
road, building, roof, window, door, tree (`CONCEPTS`; categories object / part / stuff in
`CONCEPT_CATEGORY`). Layouts are drawn per image (`advlab.data.scene_layout`), looks per
image (`advlab.data.scene_render`); the masks are exact because the images are painted from
them. Registered as `scenes` (64x64) and `scenes-32` (32x32, the same scenes at half the
resolution), 5,000 training and 1,000 test scenes, labels cycling through the categories so
that any prefix is balanced.

    >>> from advlab.data.scenes import load_scenes
    >>> ds = load_scenes(64, "train", n=100)     # ScenesDataset
    >>> ds.images.shape, ds.masks.shape          # (100, 3, 64, 64) float, (100, 64, 64) uint8

Determinism: scenes come in chunks of 256, chunk k drawn from numpy's PCG64 seeded by
(seed, split, k); the geometry uses only exactly-rounded float32 arithmetic, so every
machine generates the same bytes (tests pin a digest). Generation is batched and cached in
memory per (size, split, seed, count).
"""

from __future__ import annotations

import functools

import numpy as np
import torch

from advlab.data.base import TensorImageDataset
from advlab.data.scene_catalogue import CONCEPT_CATEGORY, CONCEPTS, SCENE_CLASSES, SIZES
from advlab.data.scene_layout import draw_layout, paint_labels
from advlab.data.scene_render import render

__all__ = ["CONCEPTS", "CONCEPT_CATEGORY", "SCENE_CLASSES", "ScenesDataset", "generate_scenes",
           "load_scenes"]

CHUNK = 256
SPLIT_IDS = {"train": 0, "test": 1}
SCENE_SIZES = (32, 64)


class ScenesDataset(TensorImageDataset):
    """Scenes as a TensorImageDataset (images (N, 3, S, S) in [0, 1], labels (N,) scene
    categories) plus `masks` (N, S, S) uint8 concept indices into `concepts`.

    `__getitem__` yields (image, label) like every advlab dataset; `mask(i)` and `masks`
    give the per-pixel concepts."""

    def __init__(self, name: str, images: torch.Tensor, labels: torch.Tensor,
                 masks: torch.Tensor) -> None:
        super().__init__(name, images, labels, SCENE_CLASSES)
        if masks.shape != (images.shape[0], *images.shape[2:]):
            raise ValueError(f"{name}: masks must be (N, H, W) = "
                             f"{(images.shape[0], *images.shape[2:])}, got {tuple(masks.shape)}")
        self.masks = masks
        self.concepts = list(CONCEPTS)
        self.concept_categories = [CONCEPT_CATEGORY[c] for c in CONCEPTS]

    def mask(self, index: int) -> torch.Tensor:
        """The (S, S) concept labels of scene `index`."""
        return self.masks[index]


def _chunk(size: int, split: str, seed: int, k: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Scenes k*CHUNK .. (k+1)*CHUNK - 1 of a split: images (CHUNK, 3, S, S) uint8, masks
    (CHUNK, S, S) uint8, labels (CHUNK,) int64."""
    sequence = np.random.SeedSequence([seed, SPLIT_IDS[split], k])
    layout_rng, look_rng = (np.random.Generator(np.random.PCG64(s)) for s in sequence.spawn(2))
    classes = (np.arange(k * CHUNK, (k + 1) * CHUNK) % len(SCENE_CLASSES)).astype(np.int64)
    layout = draw_layout(classes, layout_rng)
    canvas = paint_labels(layout, size)
    images = render(canvas.material, layout["horizon"], look_rng)
    return images, canvas.labels, classes


@functools.lru_cache(maxsize=8)
def generate_scenes(n: int, size: int = 64, split: str = "train",
                    seed: int = 0) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The first n scenes of `split` at `size` px: images (n, 3, S, S) uint8, masks (n, S, S)
    uint8 (indices into CONCEPTS), labels (n,) int64 (indices into SCENE_CLASSES).

    The scene with a given index is the same whatever n is (chunks of 256 are generated
    whole), and the same at 32 and 64 px up to the resolution. Cached in memory."""
    if size not in SCENE_SIZES:
        raise ValueError(f"scene size must be one of {SCENE_SIZES}, got {size}")
    if split not in SPLIT_IDS:
        raise ValueError(f"unknown split {split!r}; valid splits: {', '.join(SPLIT_IDS)}")
    if n < 0:
        raise ValueError(f"n must be >= 0, got {n}")
    chunks = [_chunk(size, split, seed, k) for k in range(-(-n // CHUNK))]
    if not chunks:
        return (np.zeros((0, 3, size, size), np.uint8), np.zeros((0, size, size), np.uint8),
                np.zeros(0, np.int64))
    images, masks, labels = (np.concatenate(parts)[:n] for parts in zip(*chunks, strict=True))
    for array in (images, masks, labels):
        array.setflags(write=False)  # shared by the cache: nobody may change them
    return images, masks, labels


def load_scenes(size: int = 64, split: str = "train", n: int | None = None,
                seed: int = 0) -> ScenesDataset:
    """The scenes of `split` at `size` px as a ScenesDataset (n defaults to the split's
    registered size: 5,000 train, 1,000 test)."""
    count = SIZES[split] if n is None and split in SIZES else n
    images, masks, labels = generate_scenes(int(count or 0), size, split, seed)
    name = "scenes" if size == 64 else f"scenes-{size}"
    return ScenesDataset(name, torch.from_numpy(images.astype(np.float32) / 255.0),
                         torch.from_numpy(labels.copy()), torch.from_numpy(masks.copy()))


def concept_index(name: str) -> int:
    """The index of concept `name` in CONCEPTS (unknown names list the valid ones)."""
    if name not in CONCEPTS:
        raise ValueError(f"unknown concept {name!r}; valid concepts: {', '.join(CONCEPTS)}")
    return CONCEPTS.index(name)
