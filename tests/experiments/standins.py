"""Stand-ins for what the paper-scale configurations read from outside: tiny datasets in
place of the torchvision ones (same names, shapes and class counts), a tiny ImageFolder tree
in place of ImageNet / Places, torchvision architectures with random weights in place of their
pretrained checkpoints, and a random-weight Inception file in place of torch-fidelity's.

Everything the experiment code does with them (building models by name, reading the folder
through torchvision's ImageFolder and the ImageNet evaluation transform, the pretrained
branches) runs unchanged; only the bytes that would come from the network are replaced.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import torch

from advlab.data.base import TensorImageDataset
from advlab.data.registry import DATASETS, DatasetSpec
from advlab.gan.features import INCEPTION_WEIGHTS_ENV

PER_CLASS = 4
"""Images per class and split in a stand-in dataset (gtsrb: 43 classes -> 172 per split)."""

STANDIN_NAMES = ("mnist", "fashion-mnist", "cifar10", "svhn", "gtsrb", "celeba")
"""Datasets the paper configs read through torchvision (each must stay registered)."""
LSUN_SHAPE = (3, 64, 64)
FOLDER_CLASSES = ("n01440764", "n01443537", "n01484850")  # three ImageNet synsets
FOLDER_TREES = ("imagenet/train", "imagenet/val", "places365")


def tiny_images(
    name: str, shape: tuple[int, int, int], classes: list[str], split: str
) -> TensorImageDataset:
    """PER_CLASS images of every class, each a fixed per-class pattern plus noise (so that a
    classifier can learn them in an epoch or two), seeded by name and split."""
    seed = sum(map(ord, f"{name}/{split}"))
    generator = torch.Generator().manual_seed(seed)
    templates = torch.rand((len(classes), *shape), generator=torch.Generator().manual_seed(7))
    labels = torch.arange(len(classes)).repeat(PER_CLASS)  # (K * PER_CLASS,)
    noise = 0.15 * torch.randn((labels.numel(), *shape), generator=generator)
    images = (0.2 + 0.6 * templates[labels] + noise).clamp(0, 1)  # (N, C, H, W) in [0, 1]
    return TensorImageDataset(name, images, labels, classes)


def _standin_spec(shape: tuple[int, int, int], classes: list[str]) -> Callable[[str], DatasetSpec]:
    def spec(full_name: str) -> DatasetSpec:
        size = len(classes) * PER_CLASS
        return DatasetSpec(
            name=full_name, description=f"stand-in for {full_name}", num_classes=len(classes),
            shape=shape, sizes={"train": size, "test": size}, embedded=True,
            loader=lambda split, root, download: tiny_images(full_name, shape, classes, split),
            available=lambda root: True,
        )

    return spec


def patch_datasets(monkeypatch: pytest.MonkeyPatch) -> None:
    """Route every registered dataset that is not embedded (mnist, fashion-mnist, cifar10,
    svhn, gtsrb, celeba, any added later) and lsun:<category> to a tiny in-memory stand-in of
    the same shape and classes."""
    entries: dict[str, Any] = DATASETS._entries
    for name in STANDIN_NAMES:
        assert name in entries, f"the registry no longer has {name!r}"
    for name, factory in list(entries.items()):
        spec = factory(name)
        if not spec.embedded:  # same shape and class count, classes named by index
            classes = [str(i) for i in range(spec.num_classes)]
            monkeypatch.setitem(entries, name, _standin_spec(spec.shape, classes))
    prefixes: dict[str, Any] = DATASETS._prefixes
    assert "lsun:" in prefixes
    monkeypatch.setitem(
        prefixes, "lsun:", lambda full: _standin_spec(LSUN_SHAPE, [full.split(":", 1)[1]])(full)
    )


def write_image_folders(root: Path) -> Path:
    """ImageFolder trees under root (FOLDER_TREES), three classes of two 72x90 RGB PNGs each
    (not square, so the resize and centre crop run). Returns root."""
    from PIL import Image

    generator = torch.Generator().manual_seed(0)
    for tree in FOLDER_TREES:
        for cls in FOLDER_CLASSES:
            folder = root / tree / cls
            folder.mkdir(parents=True, exist_ok=True)
            for index in range(2):
                pixels = torch.randint(0, 256, (72, 90, 3), generator=generator, dtype=torch.uint8)
                Image.fromarray(pixels.numpy()).save(folder / f"{index}.png")
    return root


_FOLDER = re.compile(r"folder:([^@,]+)@(\d+)")


def folder_standin(text: str, root: Path, size: int) -> str:
    """Every ``folder:<tree>@<side>`` in text pointed at the same tree under root, at side
    `size` (the ImageNet rows of a paper config on the stand-in folders)."""
    return _FOLDER.sub(lambda m: f"folder:{root / m.group(1)}@{size}", text)


STANDIN_CLASS_BIAS = 10.0
STANDIN_HEAD_SCALE = 1e-6
"""A stand-in ImageNet classifier's last linear layer: weights scaled by STANDIN_HEAD_SCALE
(random deep networks have logits of any size) and STANDIN_CLASS_BIAS on class 0, so that
every stand-in network classifies the first folder class (n01440764, ImageNet class 0)
correctly, as pretrained networks agree on easy images, and filters such as "correct by
every model" keep images; the logits still depend on the input (attacks have gradients)."""


def patch_pretrained_weights(monkeypatch: pytest.MonkeyPatch) -> None:
    """torchvision.models.get_model builds the architecture a weights enum names with random
    weights instead of loading the checkpoint: same classes (`num_classes` from the weights'
    categories), no pretrained backbone; classifiers get the stand-in head (class 0 wins)."""
    import torchvision.models as tvm

    original = tvm.get_model
    segmentation = set(tvm.list_models(module=tvm.segmentation))

    def get_model(name: str, **kwargs: Any) -> torch.nn.Module:
        weights = kwargs.pop("weights", None)
        if weights is not None:
            kwargs.setdefault("num_classes", len(weights.meta["categories"]))
            if name in segmentation:
                kwargs.setdefault("weights_backbone", None)
                kwargs.setdefault("aux_loss", True)
            if name in ("googlenet", "inception_v3"):
                kwargs.setdefault("init_weights", True)
        model = original(name, weights=None, **kwargs)
        if weights is not None and name not in segmentation:
            last = [m for m in model.modules() if isinstance(m, torch.nn.Linear)][-1]
            with torch.no_grad():
                last.weight.mul_(STANDIN_HEAD_SCALE)  # (1000, features)
                last.bias[0] += STANDIN_CLASS_BIAS  # (1000,) logits' offsets
        return model

    monkeypatch.setattr(tvm, "get_model", get_model)


def write_inception_weights(path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A random-weight file with the keys of torch-fidelity's FID Inception-v3, announced
    through $ADVLAB_INCEPTION_WEIGHTS."""
    if not path.is_file():
        import torch_fidelity.feature_extractor_inceptionv3 as fidelity

        with monkeypatch.context() as patch:  # build the network without its download
            patch.setattr(fidelity, "load_state_dict_from_url", lambda *a, **k: {})
            patch.setattr(fidelity.FeatureExtractorInceptionV3, "load_state_dict",
                          lambda self, state, *a, **k: None)
            net = fidelity.FeatureExtractorInceptionV3(
                "inception-v3-compat", ["2048", "logits_unbiased"]
            )
        path.parent.mkdir(parents=True, exist_ok=True)
        torch.save(net.state_dict(), path)
    monkeypatch.setenv(INCEPTION_WEIGHTS_ENV, str(path))
    return path
