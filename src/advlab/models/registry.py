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


def names() -> list[str]:
    """Every classifier name, torchvision ones shown as ``torchvision:<name>``."""
    return CLASSIFIERS.names()


def describe(name: str) -> str:
    """The first paragraph of the builder's docstring (for `advlab list --models`)."""
    doc = (CLASSIFIERS.get(name).__doc__ or "").strip()
    return " ".join(doc.split("\n\n")[0].split())
