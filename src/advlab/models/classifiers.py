"""The lecture's classifiers (listed by name in `advlab.models.registry`).

Each builder takes (in_channels, num_classes, image_size) and returns an `nn.Sequential`
taking [0, 1] images; normalisation is the first layer where the paper used it. Fully
connected sizes are derived from a dry run, so models adapt to the dataset's image size.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import nn

from advlab.models.layers import Normalize, default_normalization


def _flat_features(features: nn.Module, in_channels: int, image_size: int) -> int:
    with torch.no_grad():
        return int(features(torch.zeros(1, in_channels, image_size, image_size)).numel())


def _normalize(
    in_channels: int, mean: Sequence[float] | None, std: Sequence[float] | None
) -> Normalize:
    dm, ds = default_normalization(in_channels)
    return Normalize(mean or dm, std or ds)


def lenet(
    in_channels: int = 1,
    num_classes: int = 10,
    image_size: int = 28,
    mean: Sequence[float] | None = None,
    std: Sequence[float] | None = None,
) -> nn.Sequential:
    """Caffe's LeNet as used by DeepFool (Moosavi-Dezfooli et al. 2016, Table 1):
    conv 20@5x5, max-pool 2, conv 50@5x5, max-pool 2, fc 500, ReLU, fc `num_classes`."""
    features = nn.Sequential(
        nn.Conv2d(in_channels, 20, 5),
        nn.MaxPool2d(2),
        nn.Conv2d(20, 50, 5),
        nn.MaxPool2d(2),
        nn.Flatten(),
    )
    n = _flat_features(features, in_channels, image_size)
    return nn.Sequential(
        _normalize(in_channels, mean, std),
        *features,
        nn.Linear(n, 500),
        nn.ReLU(),
        nn.Linear(500, num_classes),
    )


def fc500_150_10(
    in_channels: int = 1,
    num_classes: int = 10,
    image_size: int = 28,
    mean: Sequence[float] | None = None,
    std: Sequence[float] | None = None,
) -> nn.Sequential:
    """Fully connected 500-150-10 network of DeepFool's Table 1 (ReLU hidden units)."""
    return nn.Sequential(
        _normalize(in_channels, mean, std),
        nn.Flatten(),
        nn.Linear(in_channels * image_size * image_size, 500),
        nn.ReLU(),
        nn.Linear(500, 150),
        nn.ReLU(),
        nn.Linear(150, num_classes),
    )


def lenet_cifar(
    in_channels: int = 3,
    num_classes: int = 10,
    image_size: int = 32,
    mean: Sequence[float] | None = None,
    std: Sequence[float] | None = None,
) -> nn.Sequential:
    """LeNet-style CIFAR-10 network of DeepFool's Table 1 (Caffe's cifar10 'quick' layout):
    conv 32@5x5 pad 2, max-pool, ReLU, conv 32@5x5 pad 2, ReLU, avg-pool, conv 64@5x5 pad 2,
    ReLU, avg-pool, fc 64, fc `num_classes`."""
    features = nn.Sequential(
        nn.Conv2d(in_channels, 32, 5, padding=2),
        nn.MaxPool2d(3, 2, ceil_mode=True),
        nn.ReLU(),
        nn.Conv2d(32, 32, 5, padding=2),
        nn.ReLU(),
        nn.AvgPool2d(3, 2, ceil_mode=True),
        nn.Conv2d(32, 64, 5, padding=2),
        nn.ReLU(),
        nn.AvgPool2d(3, 2, ceil_mode=True),
        nn.Flatten(),
    )
    n = _flat_features(features, in_channels, image_size)
    return nn.Sequential(
        _normalize(in_channels, mean, std),
        *features,
        nn.Linear(n, 64),
        nn.ReLU(),
        nn.Linear(64, num_classes),
    )


def _mlpconv(cin: int, widths: tuple[int, int, int], kernel: int, padding: int) -> list[nn.Module]:
    a, b, c = widths
    return [
        nn.Conv2d(cin, a, kernel, padding=padding),
        nn.ReLU(),
        nn.Conv2d(a, b, 1),
        nn.ReLU(),
        nn.Conv2d(b, c, 1),
        nn.ReLU(),
    ]


def nin(
    in_channels: int = 3,
    num_classes: int = 10,
    image_size: int = 32,
    mean: Sequence[float] | None = None,
    std: Sequence[float] | None = None,
    dropout: float = 0.5,
) -> nn.Sequential:
    """Network in Network for CIFAR-10 (Lin et al. 2014), as in DeepFool's Table 1: three
    mlpconv blocks (192-160-96 5x5, 192-192-192 5x5, 192-192-classes 3x3) with pooling and
    dropout, then global average pooling over the class maps."""
    return nn.Sequential(
        _normalize(in_channels, mean, std),
        *_mlpconv(in_channels, (192, 160, 96), 5, 2),
        nn.MaxPool2d(3, 2, ceil_mode=True),
        nn.Dropout(dropout),
        *_mlpconv(96, (192, 192, 192), 5, 2),
        nn.AvgPool2d(3, 2, ceil_mode=True),
        nn.Dropout(dropout),
        nn.Conv2d(192, 192, 3, padding=1),
        nn.ReLU(),
        nn.Conv2d(192, 192, 1),
        nn.ReLU(),
        nn.Conv2d(192, num_classes, 1),
        nn.AdaptiveAvgPool2d(1),
        nn.Flatten(),
    )


def wong_small(in_channels: int = 1, num_classes: int = 10, image_size: int = 28) -> nn.Sequential:
    """Wong & Kolter (2018) small conv net: conv 16@4x4 s2 p1, ReLU, conv 32@4x4 s2 p1, ReLU,
    fc 100, ReLU, fc `num_classes`. No normalisation layer (inputs are [0, 1] pixels)."""
    features = nn.Sequential(
        nn.Conv2d(in_channels, 16, 4, stride=2, padding=1),
        nn.ReLU(),
        nn.Conv2d(16, 32, 4, stride=2, padding=1),
        nn.ReLU(),
        nn.Flatten(),
    )
    n = _flat_features(features, in_channels, image_size)
    return nn.Sequential(*features, nn.Linear(n, 100), nn.ReLU(), nn.Linear(100, num_classes))


def wong_large(in_channels: int = 1, num_classes: int = 10, image_size: int = 28) -> nn.Sequential:
    """Wong et al. (2018, 'Scaling provable adversarial defenses') large conv net: conv 32@3x3,
    conv 32@4x4 s2, conv 64@3x3, conv 64@4x4 s2, fc 512, fc 512, fc `num_classes`."""
    features = nn.Sequential(
        nn.Conv2d(in_channels, 32, 3, padding=1),
        nn.ReLU(),
        nn.Conv2d(32, 32, 4, stride=2, padding=1),
        nn.ReLU(),
        nn.Conv2d(32, 64, 3, padding=1),
        nn.ReLU(),
        nn.Conv2d(64, 64, 4, stride=2, padding=1),
        nn.ReLU(),
        nn.Flatten(),
    )
    n = _flat_features(features, in_channels, image_size)
    return nn.Sequential(
        *features,
        nn.Linear(n, 512),
        nn.ReLU(),
        nn.Linear(512, 512),
        nn.ReLU(),
        nn.Linear(512, num_classes),
    )


def resnet18_cifar(
    in_channels: int = 3,
    num_classes: int = 10,
    image_size: int = 32,
    mean: Sequence[float] | None = None,
    std: Sequence[float] | None = None,
) -> nn.Sequential:
    """ResNet-18 (He et al. 2016) with the usual CIFAR stem: 3x3 stride-1 first conv, no
    max-pool."""
    from torchvision.models import resnet18

    net = resnet18(num_classes=num_classes)
    net.conv1 = nn.Conv2d(in_channels, 64, 3, stride=1, padding=1, bias=False)
    net.maxpool = nn.Identity()
    return nn.Sequential(_normalize(in_channels, mean, std), net)
