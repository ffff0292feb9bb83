"""Datasets by name: embedded (offline) sets and torchvision-backed ones.

    >>> from advlab import data
    >>> train = data.load("mnist-5k", "train")
    >>> x, y = data.as_tensors(train)          # (4000, 1, 28, 28) in [0, 1], (4000,)
"""

from advlab.data import embedded as _embedded  # noqa: F401  (registers the embedded sets)
from advlab.data import scenes as _scenes  # noqa: F401  (registers the procedural scenes)
from advlab.data import torchvision_sets as _torchvision_sets  # noqa: F401
from advlab.data.base import ImageDataset, TensorImageDataset, as_tensors
from advlab.data.registry import DATASETS, DatasetMissingError, DatasetSpec, info, load

__all__ = [
    "DATASETS",
    "DatasetMissingError",
    "DatasetSpec",
    "ImageDataset",
    "TensorImageDataset",
    "as_tensors",
    "info",
    "load",
]
