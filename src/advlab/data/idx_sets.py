"""Datasets stored as IDX files: Fashion-MNIST, read in place from the first folder that has it.

Lookup order for ``fashion-mnist``:

1. the data root (``--data-root`` / ``$ADVLAB_DATA``, else ~/.cache/advlab/data) in
   torchvision's layout, ``<root>/FashionMNIST/raw/{train,t10k}-{images-idx3,labels-idx1}-ubyte``
   (plain or ``.gz``);
2. the system folder of the Debian package dataset-fashion-mnist,
   ``/usr/share/datasets/fashion-mnist`` (``apt-get install dataset-fashion-mnist``);
3. a download into the root by torchvision, only when the user allows it (``--download``).

The files are parsed with numpy (`advlab.data.idx`), never copied; a truncated or corrupt
file is refused with its path.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING

from advlab.data.registry import DATASETS, DatasetMissingError, DatasetSpec

if TYPE_CHECKING:
    from advlab.data.base import ImageDataset

FASHION_CLASSES = [
    "T-shirt/top", "Trouser", "Pullover", "Dress", "Coat",
    "Sandal", "Shirt", "Sneaker", "Bag", "Ankle boot",
]  # fmt: skip
FASHION_SYSTEM_DIRS: tuple[Path, ...] = (Path("/usr/share/datasets/fashion-mnist"),)
"""Folders system packages install Fashion-MNIST into (Debian: dataset-fashion-mnist)."""
FASHION_APT = "apt-get install dataset-fashion-mnist"
SPLIT_PREFIX = {"train": "train", "test": "t10k"}  # the IDX files' name prefix per split
IDX_NAMES = "{train,t10k}-{images-idx3,labels-idx1}-ubyte[.gz]"


def idx_file(folder: Path, stem: str) -> Path | None:
    """`folder/stem` or `folder/stem.gz`, whichever exists (plain first), else None."""
    for candidate in (folder / stem, folder / f"{stem}.gz"):
        if candidate.is_file():
            return candidate
    return None


def has_idx_pair_files(folder: Path) -> bool:
    """Whether `folder` holds the four IDX files of a train/test image-label set."""
    return all(
        idx_file(folder, f"{prefix}-{kind}-ubyte") is not None
        for prefix in SPLIT_PREFIX.values()
        for kind in ("images-idx3", "labels-idx1")
    )


def load_idx_pair(
    name: str, folder: Path, split: str, classes: list[str], shape: tuple[int, int, int]
) -> ImageDataset:
    """The `split` of an MNIST-style IDX set in `folder` as a TensorImageDataset:
    images (N, 1, H, W) float32 in [0, 1], labels (N,) int64 in 0..len(classes)-1."""
    import torch

    from advlab.data.base import TensorImageDataset
    from advlab.data.idx import IdxFormatError, read_idx

    prefix = SPLIT_PREFIX[split]
    image_path, label_path = (idx_file(folder, f"{prefix}-{kind}-ubyte") for kind in ("images-idx3", "labels-idx1"))
    if image_path is None or label_path is None:
        raise DatasetMissingError(f"dataset {name!r}: {prefix}-*-ubyte[.gz] files missing in {folder}")
    images, labels = read_idx(image_path), read_idx(label_path)  # (N, H, W) uint8, (N,) uint8
    if images.ndim != 3 or images.shape[1:] != shape[1:] or images.dtype.itemsize != 1:
        raise IdxFormatError(f"{image_path}: expected (N, {shape[1]}, {shape[2]}) uint8 images, "
                             f"got {images.shape} {images.dtype}")  # fmt: skip
    if labels.shape != (images.shape[0],):
        raise IdxFormatError(f"{label_path}: expected {images.shape[0]} labels (one per image in "
                             f"{image_path}), got shape {labels.shape}")  # fmt: skip
    if labels.size and int(labels.max()) >= len(classes):
        raise IdxFormatError(f"{label_path}: label {int(labels.max())} outside 0..{len(classes) - 1}")
    x = torch.from_numpy(images.astype("float32")).div_(255.0).unsqueeze(1)  # (N, 1, H, W)
    y = torch.from_numpy(labels.astype("int64"))  # (N,)
    return TensorImageDataset(name, x, y, classes)


def _idx_set(
    name: str,
    description: str,
    classes: list[str],
    shape: tuple[int, int, int],
    sizes: dict[str, int],
    root_folder: Callable[[Path], Path],
    system_dirs: Callable[[], tuple[Path, ...]],
    download: Callable[[Path], object],
    apt: str,
) -> DatasetSpec:
    """A DatasetSpec that reads IDX files from the root layout, then the system folders, then
    downloads into the root when allowed."""

    def found(root: Path) -> Path | None:
        for folder in (root_folder(root), *system_dirs()):
            if has_idx_pair_files(folder):
                return folder
        return None

    def how_to_get(root: Path) -> str:
        return (f"`{apt}`, or put {IDX_NAMES} in {root_folder(root)} (--data-root / $ADVLAB_DATA "
                f"choose the root), or pass --download")  # fmt: skip

    def load(split: str, root: Path, allow_download: bool) -> ImageDataset:
        folder = found(root)
        if folder is None and allow_download:
            try:
                download(root)
            except (RuntimeError, OSError) as error:
                raise DatasetMissingError(f"dataset {name!r}: download into {root} failed "
                                          f"({error}); get it with {how_to_get(root)}") from error  # fmt: skip
            folder = found(root)
        if folder is None:
            looked = ", ".join(str(d) for d in (root_folder(root), *system_dirs()))
            raise DatasetMissingError(
                f"dataset {name!r} is not installed (looked in {looked}). Get it with "
                f"{how_to_get(root)} (e.g. `advlab data show {name} --download`)."
            )
        return load_idx_pair(name, folder, split, classes, shape)

    return DatasetSpec(
        name=name, description=description, num_classes=len(classes), shape=shape, sizes=sizes,
        embedded=False, loader=load, available=lambda root: found(root) is not None,
        where=lambda root: None if (f := found(root)) is None else str(f),
        how_to_get=f"`{apt}`, or --data-root / --download",
    )  # fmt: skip


def _download_fashion(root: Path) -> object:
    """torchvision's Fashion-MNIST download into <root>/FashionMNIST/raw (needs a network)."""
    from torchvision import datasets

    return datasets.FashionMNIST(str(root), train=False, download=True)


@DATASETS.register("fashion-mnist")
def fashion_mnist(name: str) -> DatasetSpec:
    """Fashion-MNIST (Xiao et al. 2017): 60,000 + 10,000 28x28 grey clothing images, 10 classes."""
    return _idx_set(
        name, "Fashion-MNIST (Xiao et al.)", FASHION_CLASSES, (1, 28, 28),
        {"train": 60000, "test": 10000},
        root_folder=lambda root: root / "FashionMNIST" / "raw",
        system_dirs=lambda: FASHION_SYSTEM_DIRS,  # read at call time: tests patch it
        download=_download_fashion, apt=FASHION_APT,
    )  # fmt: skip
