"""fashion-mnist read in place from IDX files: the system folder of the Debian package
dataset-fashion-mnist (skipped where it is not installed), and tiny IDX files written to a
temporary folder so that the parser and the lookup order are tested on every machine."""

from __future__ import annotations

import gzip
from pathlib import Path

import numpy as np
import pytest
import torch

from advlab import data
from advlab.data import idx_sets
from advlab.data.idx import IdxFormatError, parse_idx, read_idx, write_idx

SYSTEM = Path("/usr/share/datasets/fashion-mnist")
CLASSES = ["T-shirt/top", "Trouser", "Pullover", "Dress", "Coat",
           "Sandal", "Shirt", "Sneaker", "Bag", "Ankle boot"]  # fmt: skip


def _write_set(folder: Path, n_train: int = 20, n_test: int = 10, gz: bool = True) -> Path:
    """A tiny Fashion-MNIST-shaped IDX set in `folder`: pixel (i, j) of image k is (k + i) % 256,
    label k % 10. Returns the folder."""
    folder.mkdir(parents=True, exist_ok=True)
    suffix = ".gz" if gz else ""
    for prefix, n in (("train", n_train), ("t10k", n_test)):
        k, i = np.arange(n)[:, None, None], np.arange(28)[None, :, None]
        images = np.broadcast_to((k + i) % 256, (n, 28, 28)).astype(np.uint8)  # (n, 28, 28)
        write_idx(folder / f"{prefix}-images-idx3-ubyte{suffix}", images)
        write_idx(folder / f"{prefix}-labels-idx1-ubyte{suffix}", (np.arange(n) % 10).astype(np.uint8))
    return folder


@pytest.fixture
def no_system(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Path:
    """The system folder pointed at an empty folder: only the root (and download) remain."""
    empty = tmp_path / "no-system"
    monkeypatch.setattr(idx_sets, "FASHION_SYSTEM_DIRS", (empty,))
    return empty


@pytest.mark.skipif(not (SYSTEM / "t10k-images-idx3-ubyte.gz").is_file(),
                    reason=f"{SYSTEM} absent: `apt-get install dataset-fashion-mnist` to run this test")  # fmt: skip
def test_system_fashion_mnist_loads_with_no_flags(tmp_path: Path) -> None:
    """No root, no download flag: the Debian package's 60,000 + 10,000 images."""
    for split, n in (("train", 60_000), ("test", 10_000)):
        ds = data.load("fashion-mnist", split, root=tmp_path / "empty-root")
        x, y = data.as_tensors(ds)  # (n, 1, 28, 28) in [0, 1], (n,)
        assert x.shape == (n, 1, 28, 28) and x.dtype == torch.float32 and y.shape == (n,)
        assert float(x.min()) == 0.0 and float(x.max()) == 1.0
        assert torch.bincount(y, minlength=10).tolist() == [n // 10] * 10
        assert ds.classes == CLASSES and ds.num_classes == 10 and ds.shape == (1, 28, 28)
    spec = data.info("fashion-mnist")
    assert spec.available(tmp_path) and spec.where is not None and spec.where(tmp_path) == str(SYSTEM)


def test_tiny_idx_set_loads_from_the_root(tmp_path: Path, no_system: Path) -> None:
    """torchvision's layout under the root, gzip and plain files, is read in place."""
    for gz in (True, False):
        root = tmp_path / f"root-gz{gz}"
        _write_set(root / "FashionMNIST" / "raw", gz=gz)
        train, test = data.load("fashion-mnist", "train", root=root), data.load("fashion-mnist", "test", root=root)
        x, y = data.as_tensors(train)
        assert x.shape == (20, 1, 28, 28) and len(test) == 10 and train.classes == CLASSES
        assert y.tolist() == [k % 10 for k in range(20)]
        assert torch.allclose(x[3, 0, 5, 0], torch.tensor(8 / 255))  # pixel (k + i) / 255
        assert float(x.max()) <= 1.0 and float(x.min()) >= 0.0


def test_root_comes_before_the_system_folder(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    system = _write_set(tmp_path / "system", n_train=30)
    monkeypatch.setattr(idx_sets, "FASHION_SYSTEM_DIRS", (system,))
    assert len(data.load("fashion-mnist", "train", root=tmp_path / "empty")) == 30  # system folder
    _write_set(tmp_path / "root" / "FashionMNIST" / "raw", n_train=20)
    assert len(data.load("fashion-mnist", "train", root=tmp_path / "root")) == 20  # root first
    assert data.info("fashion-mnist").where(tmp_path / "root") == str(tmp_path / "root" / "FashionMNIST" / "raw")  # type: ignore[misc]


def test_missing_says_where_and_how(tmp_path: Path, no_system: Path) -> None:
    with pytest.raises(data.DatasetMissingError) as info:
        data.load("fashion-mnist", "test", root=tmp_path)
    message = str(info.value)
    assert str(tmp_path / "FashionMNIST" / "raw") in message and str(no_system) in message
    assert "apt-get install dataset-fashion-mnist" in message and "--download" in message
    assert not data.info("fashion-mnist").available(tmp_path)

    from advlab.commands.data import dataset_table

    row = next(r for r in dataset_table(tmp_path).rows if r[0] == "fashion-mnist")
    assert row[-1].startswith("no: ") and "apt-get install dataset-fashion-mnist" in row[-1]


def test_download_only_when_allowed(tmp_path: Path, no_system: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """With download=True the downloader fills the root, then the files are read from there."""
    calls: list[Path] = []

    def fake_download(root: Path) -> None:
        calls.append(root)
        _write_set(root / "FashionMNIST" / "raw")

    monkeypatch.setattr(idx_sets, "_download_fashion", fake_download)
    spec = data.info("fashion-mnist")  # a spec built after the patch uses it
    with pytest.raises(data.DatasetMissingError):
        spec.loader("test", tmp_path, False)
    assert calls == []
    assert len(spec.loader("test", tmp_path, True)) == 10 and calls == [tmp_path]


@pytest.mark.parametrize("damage", ["truncated", "truncated-gz", "bad-magic", "bad-type", "trailing"])
def test_corrupt_idx_is_refused_with_its_path(tmp_path: Path, no_system: Path, damage: str) -> None:
    raw = _write_set(tmp_path / "FashionMNIST" / "raw", gz=damage == "truncated-gz")
    name = "t10k-images-idx3-ubyte" + (".gz" if damage == "truncated-gz" else "")
    path = raw / name
    blob = path.read_bytes()
    if damage.startswith("truncated"):
        blob = blob[: len(blob) // 2]
    elif damage == "bad-magic":
        blob = b"\x12\x34" + blob[2:]
    elif damage == "bad-type":
        blob = blob[:2] + b"\x07" + blob[3:]
    else:
        blob = blob + b"\x00\x00"
    path.write_bytes(blob)
    with pytest.raises(IdxFormatError, match=str(path).replace(".", r"\.")):
        data.load("fashion-mnist", "test", root=tmp_path)
    assert len(data.load("fashion-mnist", "train", root=tmp_path)) == 20  # the other split is fine


def test_mismatched_labels_are_refused(tmp_path: Path, no_system: Path) -> None:
    raw = _write_set(tmp_path / "FashionMNIST" / "raw")
    write_idx(raw / "t10k-labels-idx1-ubyte.gz", np.zeros(7, np.uint8))  # 7 labels for 10 images
    with pytest.raises(IdxFormatError, match="t10k-labels-idx1-ubyte"):
        data.load("fashion-mnist", "test", root=tmp_path)


def test_idx_round_trip_and_dtypes(tmp_path: Path) -> None:
    for dtype in (np.uint8, np.int8, np.int16, np.int32, np.float32, np.float64):
        array = (np.arange(24).reshape(2, 3, 4) - 5).astype(dtype)
        for name in ("a.idx", "a.idx.gz"):
            back = read_idx(write_idx(tmp_path / f"{np.dtype(dtype).name}-{name}", array))
            assert back.dtype == np.dtype(dtype) and np.array_equal(back, array) and not back.flags.writeable
    # the header is big-endian: 0x0C = int32, 1 dimension of 2, values 1 and 256
    assert parse_idx(b"\x00\x00\x0c\x01" + b"\x00\x00\x00\x02" + b"\x00\x00\x00\x01\x00\x00\x01\x00").tolist() == [1, 256]
    with pytest.raises(IdxFormatError, match="x.gz"):
        read_idx(_write_bytes(tmp_path / "x.gz", gzip.compress(b"\x00\x00\x08\x01\x00\x00\x00\x05")[:-6]))


def _write_bytes(path: Path, blob: bytes) -> Path:
    path.write_bytes(blob)
    return path
