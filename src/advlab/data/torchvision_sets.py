"""torchvision-backed datasets: real data for paper-scale runs, read from a local root.

Nothing is downloaded unless the user passes `download=True` (`--download` on the command
line). When files are missing the error names the folder and files torchvision expects.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from advlab.data.registry import DATASETS, DatasetMissingError, DatasetSpec

if TYPE_CHECKING:
    from advlab.data.base import ImageDataset


def _tvd() -> Any:
    """torchvision.datasets, imported on first use (listing datasets needs no torch)."""
    from torchvision import datasets

    return datasets


def _T() -> Any:
    """torchvision.transforms, imported on first use."""
    from torchvision import transforms

    return transforms

CIFAR10_CLASSES = [
    "airplane", "automobile", "bird", "cat", "deer", "dog", "frog", "horse", "ship", "truck",
]  # fmt: skip
CELEBA_LABEL_ATTRIBUTE = 20  # "Male" in CelebA's 40 attributes: a binary label for the images


@dataclass(frozen=True)
class _Source:
    """How torchvision stores one dataset under `root`, and how to build it."""

    description: str
    num_classes: int
    shape: tuple[int, int, int]
    sizes: dict[str, int]
    expected: str  # human description of the files that must be under root
    marker: Callable[[Path], Path]  # a path whose existence means "the files are here"
    build: Callable[[Path, str, bool], Any]  # (root, split, download) -> torchvision dataset
    classes: list[str]
    label_of: Callable[[Any], int] | None = None


def _to_tensor(size: int | None = None) -> Any:
    T = _T()
    ops: list[Any] = []
    if size is not None:
        ops += [T.Resize(size), T.CenterCrop(size)]
    ops.append(T.ToTensor())  # uint8 HWC -> float CHW in [0, 1]
    return T.Compose(ops)


def _digits_classes() -> list[str]:
    return [str(i) for i in range(10)]


_SOURCES: dict[str, _Source] = {
    "mnist": _Source(
        "MNIST handwritten digits (LeCun et al.)", 10, (1, 28, 28), {"train": 60000, "test": 10000},
        "<root>/MNIST/raw/{train,t10k}-{images-idx3,labels-idx1}-ubyte",
        lambda r: r / "MNIST" / "raw" / "t10k-images-idx3-ubyte",
        lambda r, s, d: _tvd().MNIST(str(r), train=s == "train", download=d, transform=_to_tensor()),
        _digits_classes(),
    ),
    "cifar10": _Source(
        "CIFAR-10 (Krizhevsky)", 10, (3, 32, 32), {"train": 50000, "test": 10000},
        "<root>/cifar-10-batches-py/{data_batch_1..5,test_batch,batches.meta}",
        lambda r: r / "cifar-10-batches-py" / "test_batch",
        lambda r, s, d: _tvd().CIFAR10(str(r), train=s == "train", download=d, transform=_to_tensor()),
        CIFAR10_CLASSES,
    ),
    "svhn": _Source(
        "Street View House Numbers (Netzer et al.)", 10, (3, 32, 32),
        {"train": 73257, "test": 26032},
        "<root>/{train,test}_32x32.mat",
        lambda r: r / "test_32x32.mat",
        lambda r, s, d: _tvd().SVHN(str(r), split=s, download=d, transform=_to_tensor()),
        _digits_classes(),
    ),
    "gtsrb": _Source(
        "German Traffic Sign Recognition Benchmark, resized to 32x32", 43, (3, 32, 32),
        {"train": 26640, "test": 12630},
        "<root>/gtsrb/GTSRB/{Training,Final_Test}/... (torchvision GTSRB layout)",
        lambda r: r / "gtsrb" / "GTSRB",
        lambda r, s, d: _tvd().GTSRB(
            str(r), split=s, download=d, transform=_T().Compose([_T().Resize((32, 32)), _T().ToTensor()])
        ),
        [str(i) for i in range(43)],
    ),
    "celeba": _Source(
        "CelebA faces, centre-cropped to 64x64; label = 'Male' attribute", 2, (3, 64, 64),
        {"train": 162770, "test": 19962},
        "<root>/celeba/{img_align_celeba/,list_attr_celeba.txt,list_eval_partition.txt,...}",
        lambda r: r / "celeba" / "img_align_celeba",
        lambda r, s, d: _tvd().CelebA(
            str(r), split=s, target_type="attr", download=d,
            transform=_T().Compose([_T().CenterCrop(178), _T().Resize(64), _T().ToTensor()]),
        ),
        ["female", "male"],
        label_of=lambda attr: int(attr[CELEBA_LABEL_ATTRIBUTE]),
    ),
}


def _missing(name: str, source_expected: str, root: Path, cause: Exception | None) -> DatasetMissingError:
    hint = source_expected.replace("<root>", str(root))
    why = f" ({cause})" if cause else ""
    return DatasetMissingError(
        f"dataset {name!r} is not under {root}{why}. Put its files at {hint}, "
        f"or download it with `advlab data show {name} --download` / "
        f"load(..., download=True) on a machine with a network; "
        f"set --data-root or $ADVLAB_DATA to use another folder."
    )


def _loader(name: str, source: _Source) -> Callable[[str, Path, bool], ImageDataset]:
    def load(split: str, root: Path, download: bool) -> ImageDataset:
        from advlab.data.base import TransformedImageDataset

        if not download and not source.marker(root).exists():
            raise _missing(name, source.expected, root, None)
        try:
            inner = source.build(root, split, download)
        except (RuntimeError, OSError) as error:
            raise _missing(name, source.expected, root, error) from error
        return TransformedImageDataset(name, inner, source.classes, source.shape, source.label_of)

    return load


def _register_source(name: str, source: _Source) -> None:
    def spec(full_name: str) -> DatasetSpec:
        return DatasetSpec(
            name=full_name, description=source.description, num_classes=source.num_classes,
            shape=source.shape, sizes=source.sizes, embedded=False,
            loader=_loader(full_name, source), available=lambda r: source.marker(r).exists(),
        )

    DATASETS.add(name, spec)


for _name, _source in _SOURCES.items():
    _register_source(_name, _source)


@DATASETS.register("lsun:", prefix=True)
def lsun(full_name: str) -> DatasetSpec:
    """LSUN scenes, e.g. ``lsun:bedroom`` (64x64 centre crops; needs the lmdb package)."""
    category = full_name.split(":", 1)[1]
    source = _Source(
        f"LSUN {category} scenes, 64x64", 1, (3, 64, 64), {"train": -1, "test": -1},
        f"<root>/lsun/{category}_{{train,val}}_lmdb/ (LSUN's lmdb export; pip install lmdb)",
        lambda r: r / "lsun" / f"{category}_train_lmdb",
        lambda r, s, d: _tvd().LSUN(
            str(r / "lsun"), classes=[f"{category}_{'train' if s == 'train' else 'val'}"],
            transform=_to_tensor(64),
        ),
        [category],
        label_of=lambda _: 0,
    )
    return DatasetSpec(
        name=full_name, description=source.description, num_classes=1, shape=source.shape,
        sizes=source.sizes, embedded=False, loader=_loader(full_name, source),
        available=lambda r: source.marker(r).exists(),
    )


FOLDER_SIZE = 64  # default side of `folder:` images


def parse_folder_name(full_name: str) -> tuple[Path, int]:
    """ "folder:<path>[@<size>]" -> (path, size): the tree and the side of its square crops
    (64 unless a size is given, e.g. "folder:imagenet/val@224" for ImageNet classifiers)."""
    spec = full_name.split(":", 1)[1]
    path, sep, size = spec.rpartition("@")
    if not sep or not size.isdigit():
        return Path(spec).expanduser(), FOLDER_SIZE
    if int(size) < 8:
        raise ValueError(f"{full_name!r}: image size must be >= 8, got {size}")
    return Path(path).expanduser(), int(size)


@DATASETS.register("folder:", prefix=True)
def image_folder(full_name: str) -> DatasetSpec:
    """Any ImageFolder tree ``folder:<path>[@<size>]`` (one sub-folder per class), as square
    centre crops of side `size` (default 64): the shorter side is resized to size * 256 / 224
    first, the ImageNet evaluation transform (256 -> 224 at size 224, as torchvision's
    classifiers were evaluated).

    The same tree serves both splits: a `train`/`test` sub-folder is used when present.
    """
    path, size = parse_folder_name(full_name)

    def split_dir(split: str) -> Path:
        return path / split if (path / split).is_dir() else path

    def load(split: str, root: Path, download: bool) -> ImageDataset:
        from advlab.data.base import TransformedImageDataset

        T = _T()
        transform = T.Compose([T.Resize(round(size * 256 / 224)), T.CenterCrop(size), T.ToTensor()])
        folder = split_dir(split)
        if not folder.is_dir():
            raise DatasetMissingError(
                f"image folder {folder} does not exist; expected <path>/<class>/<image files>"
            )
        try:
            inner = _tvd().ImageFolder(str(folder), transform=transform)
        except FileNotFoundError as error:  # no class folders, or class folders without images
            raise DatasetMissingError(
                f"image folder {folder} holds no images ({error}); expected "
                "<path>/<class>/<image files>"
            ) from None
        return TransformedImageDataset(full_name, inner, inner.classes, (3, size, size))

    return DatasetSpec(
        name=full_name, description=f"ImageFolder at {path}, {size}x{size}", num_classes=-1,
        shape=(3, size, size), sizes={"train": -1, "test": -1}, embedded=False, loader=load,
        available=lambda r: path.is_dir(),
    )
