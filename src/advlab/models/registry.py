"""One factory for every classifier: `create(name, in_channels, num_classes, image_size, ...)`."""

from __future__ import annotations

from typing import Any

from torch import nn

from advlab.models import mnist_zoo, scene_nets, sparsifying, sparsity_nets  # noqa: F401  (they register their models)
from advlab.models.classifiers import CLASSIFIERS
from advlab.models.torchvision_models import torchvision_classifier

CLASSIFIERS.add("torchvision:", torchvision_classifier, prefix=True)


def create(name: str, **kwargs: Any) -> nn.Module:
    """Build classifier `name` (see `advlab.models.names()`), taking [0, 1] images.

    Common arguments: in_channels, num_classes, image_size; model-specific ones (mean, std,
    dropout, pretrained) are passed through. Unknown names list the valid ones."""
    builder = CLASSIFIERS.get(name)
    if name.startswith("torchvision:"):
        return builder(name, **kwargs)
    try:
        return builder(**kwargs)
    except TypeError as error:
        raise TypeError(f"model {name!r}: {error}") from error
    except RuntimeError as error:  # a layer that cannot take the image size (5x5 convs on 8x8)
        size = kwargs.get("image_size")
        first = str(error).splitlines()[0]
        images = f" for {size}x{size} images" if size is not None else ""
        raise ValueError(f"model {name!r} cannot be built{images} ({first})") from None


def names() -> list[str]:
    """Every classifier name, torchvision ones shown as ``torchvision:<name>``."""
    return CLASSIFIERS.names()


def describe(name: str) -> str:
    """The first paragraph of the builder's docstring (for `advlab list --models`)."""
    doc = (CLASSIFIERS.get(name).__doc__ or "").strip()
    return " ".join(doc.split("\n\n")[0].split())


def check_fits(model: Any, sample: Any, model_name: str, data_name: str) -> None:
    """Run one sample (1, C, H, W) through `model`; a shape error becomes a ValueError that
    names the model and the data."""
    import torch

    try:
        with torch.no_grad():
            model(sample)
    except RuntimeError as error:
        shape = "x".join(map(str, sample.shape[1:]))
        first = str(error).splitlines()[0]
        raise ValueError(f"{model_name} does not take {data_name} of shape {shape} ({first})") from None
