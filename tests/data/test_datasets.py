from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch

from advlab import data
from advlab.data.embedded import stratified_split
from advlab.registry import UnknownNameError


def test_mnist5k_split_is_fixed_stratified_and_disjoint() -> None:
    train, test = data.load("mnist-5k", "train"), data.load("mnist-5k", "test")
    xtr, ytr = data.as_tensors(train)
    xte, yte = data.as_tensors(test)
    assert xtr.shape == (4000, 1, 28, 28) and xte.shape == (1000, 1, 28, 28)
    assert torch.bincount(ytr).tolist() == [400] * 10
    assert torch.bincount(yte).tolist() == [100] * 10
    assert 0.0 <= float(xtr.min()) and float(xtr.max()) <= 1.0 and float(xtr.max()) > 0.99
    assert train.num_classes == 10 and train.shape == (1, 28, 28) and train.classes[3] == "3"
    # no test image appears in the training set
    train_keys = {bytes(img.numpy().tobytes()) for img in (xtr * 255).round().to(torch.uint8)}
    assert not any(bytes(img.numpy().tobytes()) in train_keys for img in (xte * 255).round().to(torch.uint8))
    # the first samples cycle through the classes, so small subsets are balanced
    assert yte[:10].tolist() == list(range(10))


def test_split_rule_is_deterministic_and_exact() -> None:
    labels = np.array([0] * 7 + [1] * 3 + [2] * 10)
    tr, te = stratified_split(labels)
    assert sorted(np.concatenate([tr, te]).tolist()) == list(range(20))
    assert np.bincount(labels[te], minlength=3).tolist() == [1, 0, 2]
    tr2, te2 = stratified_split(labels)
    assert tr.tolist() == tr2.tolist() and te.tolist() == te2.tolist()


def test_digits_embedded() -> None:
    ds = data.load("digits", "test")
    x, y = data.as_tensors(ds)
    assert x.shape[1:] == (1, 8, 8) and len(x) == len(y) == 355
    assert float(x.max()) <= 1.0


def test_unknown_name_and_split_list_choices() -> None:
    with pytest.raises(UnknownNameError, match="mnist-5k"):
        data.load("mnist5k")
    with pytest.raises(ValueError, match="train, test"):
        data.load("mnist-5k", "val")


def test_missing_torchvision_dataset_says_where(tmp_path: Path) -> None:
    with pytest.raises(data.DatasetMissingError) as info:
        data.load("mnist", "train", root=tmp_path)
    message = str(info.value)
    assert str(tmp_path / "MNIST" / "raw") in message and "--download" in message
    assert not data.info("cifar10").available(tmp_path)


def test_image_folder(tmp_path: Path) -> None:
    from PIL import Image

    for cls in ("cats", "dogs"):
        (tmp_path / cls).mkdir()
        for i in range(3):
            Image.fromarray(np.full((70, 90, 3), 40 * i, dtype=np.uint8)).save(tmp_path / cls / f"{i}.png")
    ds = data.load(f"folder:{tmp_path}", "train")
    x, y = data.as_tensors(ds)
    assert x.shape == (6, 3, 64, 64) and ds.classes == ["cats", "dogs"] and y.tolist() == [0, 0, 0, 1, 1, 1]
    # an explicit crop size (ImageNet classifiers want 224): folder:<path>@<size>
    x, _ = data.as_tensors(data.load(f"folder:{tmp_path}@32", "test"))
    assert x.shape == (6, 3, 32, 32) and data.info(f"folder:{tmp_path}@32").shape == (3, 32, 32)
    with pytest.raises(ValueError, match="size must be >= 8"):
        data.load(f"folder:{tmp_path}@4", "test")


def test_as_tensors_limit_and_seed() -> None:
    ds = data.load("digits", "train")
    x, _ = data.as_tensors(ds, limit=5)
    assert torch.equal(x, ds.images[:5])
    a, _ = data.as_tensors(ds, limit=50, seed=1)
    b, _ = data.as_tensors(ds, limit=50, seed=1)
    assert torch.equal(a, b) and not torch.equal(a, ds.images[:50])
    with pytest.raises(ValueError, match="limit"):
        data.as_tensors(ds, limit=-1)
