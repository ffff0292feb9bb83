"""The one table of every model advlab builds by name: classifiers and segmenters.

    >>> from advlab import models
    >>> net = models.create("lenet", in_channels=1, num_classes=10, image_size=28)
    >>> models.names()                 # every classifier name
    >>> models.describe("lenet")       # the first paragraph of its factory's docstring

The model modules define plain factories and never import this module; this module imports
them and lists them (the timm-style single factory, without registration by import side
effect). A ``torchvision:<name>`` entry takes any torchvision model by name. Rebuilding a
model from a checkpoint is `advlab.models.loading`.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

import torch
from torch import nn

from advlab.models import classifiers, mnist_zoo, scene_nets, sparsity_nets
from advlab.models.sparsifying import SparsifyingFrontEnd, behind_front_end
from advlab.models.torchvision_models import torchvision_classifier
from advlab.models.torchvision_segmenters import torchvision_segmenter
from advlab.registry import Registry

ModelFactory = Callable[..., nn.Module]
TORCHVISION = "torchvision:"


def sparsified(
    in_channels: int = 1,
    num_classes: int = 10,
    image_size: int = 28,
    classifier: str = "lenet",
    classifier_args: dict[str, Any] | None = None,
    basis: str = "coif1",
    level: int = 1,
    rho: float = 0.035,
) -> nn.Sequential:
    """A registry classifier behind a sparsifying front end (Gopalakrishnan et al. 2018):
    ``Sequential(front_end=SparsifyingFrontEnd(basis, level, rho), classifier=<classifier>)``.

    classifier / classifier_args: the inner model's registry name and extra arguments
    (in_channels, num_classes and image_size are passed on). Train it like any classifier:
    the front end has no parameters, the classifier learns on sparsified images."""
    if classifier == "sparsified":
        raise ValueError("classifier 'sparsified' cannot be nested inside another front end")
    inner = create(
        classifier,
        in_channels=in_channels,
        num_classes=num_classes,
        image_size=image_size,
        **(classifier_args or {}),
    )
    return behind_front_end(inner, SparsifyingFrontEnd(basis, level, rho, image_size))


def _table(
    kind: str, entries: Mapping[str, ModelFactory], prefixes: Mapping[str, ModelFactory]
) -> Registry[ModelFactory]:
    registry: Registry[ModelFactory] = Registry(kind)
    for name, factory in entries.items():
        registry.add(name, factory)
    for prefix, factory in prefixes.items():
        registry.add(prefix, factory, prefix=True)
    return registry


CLASSIFIERS: Registry[ModelFactory] = _table(
    "model",
    {
        # DeepFool (Moosavi-Dezfooli et al. 2016), Table 1
        "lenet": classifiers.lenet,
        "fc500-150-10": classifiers.fc500_150_10,
        "lenet-cifar": classifiers.lenet_cifar,
        "nin": classifiers.nin,
        # Wong & Kolter 2018; Wong et al. 2018
        "wong-small": classifiers.wong_small,
        "wong-large": classifiers.wong_large,
        "resnet18-cifar": classifiers.resnet18_cifar,
        # architectures that differ in kind, for transfer (Liu et al. 2017; universal perturbations)
        "mlp-shallow": mnist_zoo.mlp_shallow,
        "mlp-deep": mnist_zoo.mlp_deep,
        "cnn-wide": mnist_zoo.cnn_wide,
        "cnn-bn-dropout": mnist_zoo.cnn_bn_dropout,
        # Gopalakrishnan et al. 2018 (sparsifying front ends)
        "sparsity-mlp": sparsity_nets.sparsity_mlp,
        "sparsity-cnn": sparsity_nets.sparsity_cnn,
        "linear-svm": sparsity_nets.linear_svm,
        "sparsified": sparsified,
        # Bau et al. 2020 (dissection of a scene classifier)
        "scene-vgg": scene_nets.scene_vgg,
    },
    prefixes={TORCHVISION: torchvision_classifier},
)
"""Classifier name -> factory(in_channels, num_classes, image_size, ...) of [0, 1] images."""

SEGMENTERS: Registry[ModelFactory] = _table(
    "segmenter",
    {
        "scene-unet": scene_nets.scene_unet,
    },
    prefixes={TORCHVISION: torchvision_segmenter},
)
"""Segmenter name -> factory of a model: images (N, C, H, W) -> concept logits (N, K, H, W)."""


def _build(registry: Registry[ModelFactory], name: str, kwargs: dict[str, Any]) -> nn.Module:
    factory = registry.get(name)  # unknown names: UnknownNameError listing the valid ones
    if name.startswith(TORCHVISION):
        return factory(name, **kwargs)
    try:
        return factory(**kwargs)
    except TypeError as error:
        raise TypeError(f"{registry.kind} {name!r}: {error}") from error
    except RuntimeError as error:  # a layer that cannot take the image size (5x5 convs on 8x8)
        size = kwargs.get("image_size")
        first = str(error).splitlines()[0]
        images = f" for {size}x{size} images" if size is not None else ""
        raise ValueError(f"{registry.kind} {name!r} cannot be built{images} ({first})") from None


def create(name: str, **kwargs: Any) -> nn.Module:
    """Build classifier `name` (see `names()`), taking [0, 1] images.

    Common arguments: in_channels, num_classes, image_size; model-specific ones (mean, std,
    dropout, pretrained) are passed through. Unknown names list the valid ones."""
    return _build(CLASSIFIERS, name, kwargs)


def create_segmenter(name: str, **kwargs: Any) -> nn.Module:
    """Build segmenter `name`: ``scene-unet``, or ``torchvision:<segmentation model>``
    (`advlab.models.torchvision_segmenters`); unknown names list the valid ones."""
    return _build(SEGMENTERS, name, kwargs)


def names() -> list[str]:
    """Every classifier name, torchvision ones shown as ``torchvision:<name>``."""
    return CLASSIFIERS.names()


def segmenter_names() -> list[str]:
    """Every segmenter name, torchvision ones shown as ``torchvision:<name>``."""
    return SEGMENTERS.names()


def describe(name: str) -> str:
    """The first paragraph of the factory's docstring (for `advlab list --models`)."""
    doc = (CLASSIFIERS.get(name).__doc__ or "").strip()
    return " ".join(doc.split("\n\n")[0].split())


def check_fits(model: nn.Module, sample: torch.Tensor, model_name: str, data_name: str) -> None:
    """Run one sample (1, C, H, W) through `model`; a shape error becomes a ValueError that
    names the model and the data."""
    try:
        with torch.no_grad():
            model(sample)
    except RuntimeError as error:
        shape = "x".join(map(str, sample.shape[1:]))
        first = str(error).splitlines()[0]
        raise ValueError(
            f"{model_name} does not take {data_name} of shape {shape} ({first})"
        ) from None


__all__ = [
    "CLASSIFIERS",
    "SEGMENTERS",
    "check_fits",
    "create",
    "create_segmenter",
    "describe",
    "names",
    "segmenter_names",
    "sparsified",
]
