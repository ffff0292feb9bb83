"""Dataset types: every advlab dataset yields (image (C, H, W) float in [0, 1], int label)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import torch
from torch.utils.data import Dataset


class ImageDataset(Dataset):
    """Base class: a map-style dataset with `num_classes`, `shape` (C, H, W) and `classes`."""

    name: str
    num_classes: int
    shape: tuple[int, int, int]
    classes: list[str]

    def __len__(self) -> int:  # pragma: no cover - abstract
        raise NotImplementedError

    def __getitem__(self, index: int) -> tuple[torch.Tensor, int]:  # pragma: no cover
        raise NotImplementedError


class TensorImageDataset(ImageDataset):
    """A dataset held in memory as tensors: images (N, C, H, W) float32 in [0, 1], labels (N,)."""

    def __init__(
        self, name: str, images: torch.Tensor, labels: torch.Tensor, classes: Sequence[str]
    ) -> None:
        if images.ndim != 4:
            raise ValueError(f"{name}: images must be (N, C, H, W), got shape {tuple(images.shape)}")
        if labels.shape != (images.shape[0],):
            raise ValueError(
                f"{name}: labels must be ({images.shape[0]},), got {tuple(labels.shape)}"
            )
        self.name = name
        self.images = images.float().contiguous()
        self.labels = labels.long().contiguous()
        self.classes = list(classes)
        self.num_classes = len(self.classes)
        c, h, w = self.images.shape[1:]
        self.shape = (int(c), int(h), int(w))

    def __len__(self) -> int:
        return self.images.shape[0]

    def __getitem__(self, index: int) -> tuple[torch.Tensor, int]:
        return self.images[index], int(self.labels[index])


class TransformedImageDataset(ImageDataset):
    """Wraps a torchvision dataset whose transform already yields (C, H, W) tensors in [0, 1]."""

    def __init__(
        self,
        name: str,
        inner: Any,
        classes: Sequence[str],
        shape: tuple[int, int, int],
        label_of: Any = None,
    ) -> None:
        self.name = name
        self.inner = inner
        self.classes = list(classes)
        self.num_classes = len(self.classes)
        self.shape = shape
        self._label_of = label_of

    def __len__(self) -> int:
        return len(self.inner)

    def __getitem__(self, index: int) -> tuple[torch.Tensor, int]:
        image, label = self.inner[index]
        if self._label_of is not None:
            label = self._label_of(label)
        return image, int(label)


def as_tensors(
    dataset: ImageDataset, limit: int | None = None, seed: int | None = None
) -> tuple[torch.Tensor, torch.Tensor]:
    """Materialise a dataset as (x (N, C, H, W) float32 in [0, 1], y (N,) long).

    `limit` keeps the first `limit` samples, or a seeded random subset when `seed` is given.
    In-memory datasets are sliced without copying per sample.
    """
    n = len(dataset)
    if limit is not None and limit < 0:
        raise ValueError(f"limit must be >= 0, got {limit}")
    count = n if limit is None else min(limit, n)
    if seed is not None and count < n:
        g = torch.Generator().manual_seed(seed)
        index = torch.randperm(n, generator=g)[:count].sort().values
    else:
        index = torch.arange(count)
    if isinstance(dataset, TensorImageDataset):
        return dataset.images[index], dataset.labels[index]
    loader = torch.utils.data.DataLoader(
        torch.utils.data.Subset(dataset, index.tolist()), batch_size=256, num_workers=0
    )
    xs, ys = [], []
    for x, y in loader:
        xs.append(x)
        ys.append(torch.as_tensor(y))
    if not xs:
        c, h, w = dataset.shape
        return torch.empty(0, c, h, w), torch.empty(0, dtype=torch.long)
    return torch.cat(xs).float(), torch.cat(ys).long()


def select_classes(
    x: torch.Tensor, y: torch.Tensor, classes: Sequence[int]
) -> tuple[torch.Tensor, torch.Tensor]:
    """The samples of `classes` only, relabelled by position: classes (3, 7) turn digits 3 and
    7 into labels 0 and 1 (binary problems such as Gopalakrishnan et al.'s 3 vs 7).
    x: (N, ...), y: (N,) -> (M, ...), (M,)."""
    wanted = torch.as_tensor(list(classes), dtype=y.dtype)
    if wanted.numel() < 2 or wanted.unique().numel() != wanted.numel():
        raise ValueError(f"classes must be at least two distinct labels, got {tuple(classes)}")
    match = y[:, None] == wanted[None, :]  # (N, len(classes))
    keep = match.any(1)
    return x[keep], match[keep].int().argmax(1).to(y.dtype)
