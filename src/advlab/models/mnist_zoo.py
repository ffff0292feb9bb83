"""Small MNIST-sized classifiers of different families, for the transfer experiments.

Universal perturbations (Moosavi-Dezfooli et al. 2017, Table 2) and ensemble transfer attacks
(Liu et al. 2017, Table 4) are about perturbations that carry from one architecture to another,
so the quick-scale experiments need several architectures that differ in kind, not only in
seed: fully connected networks of two depths, a wider convolutional network than LeNet, and a
convolutional network with BatchNorm and Dropout. `advlab.models.registry` lists them beside
the lecture's classifiers, so `advlab.models.create` and checkpoints rebuild them by name.

Each builder takes (in_channels, num_classes, image_size) and returns an `nn.Sequential` taking
[0, 1] images, with the dataset normalisation as its first layer.
"""

from __future__ import annotations

from collections.abc import Sequence

from torch import nn

from advlab.models.classifiers import _flat_features, _normalize


def _mlp(in_features: int, hidden: Sequence[int], num_classes: int) -> list[nn.Module]:
    """Linear + ReLU for every hidden width, then the linear output layer."""
    layers: list[nn.Module] = []
    width = in_features
    for units in hidden:
        layers += [nn.Linear(width, units), nn.ReLU()]
        width = units
    return [*layers, nn.Linear(width, num_classes)]


def mlp_shallow(
    in_channels: int = 1,
    num_classes: int = 10,
    image_size: int = 28,
    mean: Sequence[float] | None = None,
    std: Sequence[float] | None = None,
) -> nn.Sequential:
    """One hidden layer of 800 ReLU units (the 2-layer MLP of Simard et al. 2003)."""
    return nn.Sequential(
        _normalize(in_channels, mean, std),
        nn.Flatten(),
        *_mlp(in_channels * image_size * image_size, (800,), num_classes),
    )


def mlp_deep(
    in_channels: int = 1,
    num_classes: int = 10,
    image_size: int = 28,
    mean: Sequence[float] | None = None,
    std: Sequence[float] | None = None,
) -> nn.Sequential:
    """Four hidden layers of 256 ReLU units each."""
    return nn.Sequential(
        _normalize(in_channels, mean, std),
        nn.Flatten(),
        *_mlp(in_channels * image_size * image_size, (256, 256, 256, 256), num_classes),
    )


def cnn_wide(
    in_channels: int = 1,
    num_classes: int = 10,
    image_size: int = 28,
    mean: Sequence[float] | None = None,
    std: Sequence[float] | None = None,
) -> nn.Sequential:
    """A VGG-style network wider than LeNet's 20/50 channels: conv 32@3x3 pad 1, ReLU,
    max-pool 2, conv 64@3x3 pad 1, ReLU, max-pool 2, fc 256, ReLU, fc `num_classes`."""
    features = nn.Sequential(
        nn.Conv2d(in_channels, 32, 3, padding=1),
        nn.ReLU(),
        nn.MaxPool2d(2),
        nn.Conv2d(32, 64, 3, padding=1),
        nn.ReLU(),
        nn.MaxPool2d(2),
        nn.Flatten(),
    )
    n = _flat_features(features, in_channels, image_size)
    return nn.Sequential(
        _normalize(in_channels, mean, std),
        *features,
        nn.Linear(n, 256),
        nn.ReLU(),
        nn.Linear(256, num_classes),
    )


def cnn_bn_dropout(
    in_channels: int = 1,
    num_classes: int = 10,
    image_size: int = 28,
    mean: Sequence[float] | None = None,
    std: Sequence[float] | None = None,
    dropout: float = 0.3,
) -> nn.Sequential:
    """A convolutional network with BatchNorm after every convolution and the hidden fully
    connected layer, and Dropout before the classifier layers: conv 16@5x5, BN, ReLU,
    max-pool 2, conv 32@5x5, BN, ReLU, max-pool 2, dropout, fc 128, BN, ReLU, dropout,
    fc `num_classes`."""
    features = nn.Sequential(
        nn.Conv2d(in_channels, 16, 5, padding=2),
        nn.BatchNorm2d(16),
        nn.ReLU(),
        nn.MaxPool2d(2),
        nn.Conv2d(16, 32, 5, padding=2),
        nn.BatchNorm2d(32),
        nn.ReLU(),
        nn.MaxPool2d(2),
        nn.Flatten(),
    )
    n = _flat_features(features.eval(), in_channels, image_size)
    return nn.Sequential(
        _normalize(in_channels, mean, std),
        *features.train(),
        nn.Dropout(dropout),
        nn.Linear(n, 128),
        nn.BatchNorm1d(128),
        nn.ReLU(),
        nn.Dropout(dropout),
        nn.Linear(128, num_classes),
    )
