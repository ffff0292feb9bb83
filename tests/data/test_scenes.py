"""The procedural `scenes`: shapes, exact and deterministic bytes, balanced categories, every
concept present, each category drawn with its characteristic concepts."""

from __future__ import annotations

import hashlib

import numpy as np
import pytest
import torch

from advlab import data
from advlab.data.scenes import (
    CONCEPTS,
    SCENE_CLASSES,
    ScenesDataset,
    concept_index,
    generate_scenes,
    load_scenes,
)

# sha256 of the first 12 training scenes (images, masks, labels): the same on every machine
DIGESTS = {32: "37b5db210a4a687e", 64: "0346a11cbc5d7c9f"}


def _digest(*arrays: np.ndarray) -> str:
    return hashlib.sha256(b"".join(a.tobytes() for a in arrays)).hexdigest()[:16]


@pytest.mark.parametrize("size", [32, 64])
def test_scenes_are_identical_on_every_machine(size: int) -> None:
    images, masks, labels = generate_scenes(12, size, "train", 0)
    assert _digest(images, masks, labels) == DIGESTS[size]


def test_shapes_ranges_and_prefixes() -> None:
    images, masks, labels = generate_scenes(300, 32, "train", 0)
    assert images.shape == (300, 3, 32, 32) and images.dtype == np.uint8
    assert masks.shape == (300, 32, 32) and int(masks.max()) < len(CONCEPTS)
    assert labels.tolist() == [i % len(SCENE_CLASSES) for i in range(300)]  # balanced prefix
    small = generate_scenes(10, 32, "train", 0)
    assert all(np.array_equal(a, b[:10]) for a, b in zip(small, (images, masks, labels), strict=True))
    other_split, other_seed = generate_scenes(10, 32, "test", 0), generate_scenes(10, 32, "train", 1)
    assert not np.array_equal(other_split[1], masks[:10])
    assert not np.array_equal(other_seed[1], masks[:10])
    with pytest.raises(ValueError, match="scene size must be one of"):
        generate_scenes(4, 48)
    with pytest.raises(ValueError, match="unknown split 'val'"):
        generate_scenes(4, 32, "val")


def test_every_concept_appears_and_categories_have_their_concepts() -> None:
    _, masks, labels = generate_scenes(600, 64, "train", 0)
    fractions = np.stack([(masks == c).mean(axis=(1, 2)) for c in range(len(CONCEPTS))], 1)
    assert (fractions.sum(0) > 0).all(), "some concept never appears"
    by_class = {name: fractions[labels == k].mean(0) for k, name in enumerate(SCENE_CLASSES)}
    col = {name: concept_index(name) for name in CONCEPTS}
    assert by_class["street"][col["road"]] > 0.1 and by_class["street"][col["window"]] > 0.03
    assert by_class["lake"][col["water"]] > 0.1
    assert by_class["forest"][col["tree"]] > max(v[col["tree"]] for k, v in by_class.items() if k != "forest")
    for name in ("house", "church", "street"):
        assert by_class[name][col["door"]] > 0.002 and by_class[name][col["building"]] > 0.04
    # the same scenes at half the resolution: the same concepts in nearly the same amounts
    _, small_masks, _ = generate_scenes(600, 32, "train", 0)
    small = np.stack([(small_masks == c).mean() for c in range(len(CONCEPTS))])
    assert np.abs(small - fractions.mean(0)).max() < 0.005


def test_registered_datasets_carry_masks() -> None:
    spec = data.info("scenes-32")
    assert spec.shape == (3, 32, 32) and spec.num_classes == 6 and spec.embedded
    test = data.load("scenes-32", "test")
    assert isinstance(test, ScenesDataset) and len(test) == spec.sizes["test"] == 1000
    assert test.masks.shape == (1000, 32, 32) and test.concepts == list(CONCEPTS)
    image, label = test[7]
    assert image.shape == (3, 32, 32) and 0.0 <= float(image.min()) and float(image.max()) <= 1.0
    assert label == 7 % 6 and torch.equal(test.mask(7), test.masks[7])
    x, y = data.as_tensors(test, limit=5)
    assert x.shape == (5, 3, 32, 32) and y.tolist() == [0, 1, 2, 3, 4]
    subset = load_scenes(64, "train", n=8)
    assert subset.images.shape == (8, 3, 64, 64) and subset.classes == list(SCENE_CLASSES)
    with pytest.raises(ValueError, match="unknown concept 'car'; valid concepts: sky"):
        concept_index("car")
