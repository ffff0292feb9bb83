"""Datasets by name: embedded (offline) sets and torchvision-backed ones.

    >>> from advlab import data
    >>> train = data.load("mnist-5k", "train")
    >>> x, y = data.as_tensors(train)          # (4000, 1, 28, 28) in [0, 1], (4000,)
"""

from typing import Any

from advlab.data import embedded as _embedded  # noqa: F401  (registers the embedded sets)
from advlab.data import idx_sets as _idx_sets  # noqa: F401  (fashion-mnist, read from IDX files)
from advlab.data import scene_sets as _scene_sets  # noqa: F401  (registers the scenes)
from advlab.data import torchvision_sets as _torchvision_sets  # noqa: F401
from advlab.data.registry import DATASETS, DatasetMissingError, DatasetSpec, info, load

_TORCH_NAMES = ("ImageDataset", "TensorImageDataset", "as_tensors", "select_classes")


def __getattr__(name: str) -> Any:
    """The torch-backed names, imported on first use: listing datasets needs no torch."""
    if name in _TORCH_NAMES:
        from advlab.data import base

        return getattr(base, name)
    raise AttributeError(f"module 'advlab.data' has no attribute {name!r}")

__all__ = [
    "DATASETS",
    "DatasetMissingError",
    "DatasetSpec",
    "ImageDataset",
    "TensorImageDataset",
    "as_tensors",
    "info",
    "load",
    "select_classes",
]
