"""Small layers shared by the model zoo."""

from __future__ import annotations

import os
from collections.abc import Sequence

import torch
from torch import nn

MNIST_MEAN, MNIST_STD = (0.1307,), (0.3081,)
CIFAR_MEAN, CIFAR_STD = (0.4914, 0.4822, 0.4465), (0.2470, 0.2435, 0.2616)
IMAGENET_MEAN, IMAGENET_STD = (0.485, 0.456, 0.406), (0.229, 0.224, 0.225)


class Normalize(nn.Module):
    """Per-channel (x - mean) / std, so that models take [0, 1] pixels and attacks and bounds
    work in pixel space. `mean`, `std` are (C, 1, 1) buffers; an affine map, so certified
    bounds pass through it exactly."""

    mean: torch.Tensor
    std: torch.Tensor

    def __init__(self, mean: Sequence[float], std: Sequence[float]) -> None:
        super().__init__()
        if len(mean) != len(std):
            raise ValueError(f"mean has {len(mean)} channels but std has {len(std)}")
        if any(s <= 0 for s in std):
            raise ValueError(f"std must be positive, got {tuple(std)}")
        self.register_buffer("mean", torch.tensor(mean, dtype=torch.float32).view(-1, 1, 1))
        self.register_buffer("std", torch.tensor(std, dtype=torch.float32).view(-1, 1, 1))

    def forward(self, x: torch.Tensor) -> torch.Tensor:  # (N, C, H, W) -> (N, C, H, W)
        return (x - self.mean) / self.std

    def extra_repr(self) -> str:
        return f"mean={self.mean.flatten().tolist()}, std={self.std.flatten().tolist()}"


def use_channels_last(model: nn.Module) -> nn.Module:
    """Store the 4-D weights of a convolutional `model` in channels-last (NHWC) order, in place.

    oneDNN's CPU convolutions run much faster on channels-last weights: on a 2-core x86 CPU,
    LeNet trains about 1.4x faster and DeepFool on it runs about 1.6x faster (`python -m
    benchmarks.bench_train` measures the first), and cuDNN prefers NHWC for mixed precision. Values are unchanged (only
    the memory order of the weights); inputs may stay NCHW, the first convolution converts.
    Models without 2-D convolutions are returned untouched. Returns `model`.
    ``ADVLAB_CHANNELS_LAST=0`` in the environment keeps torch's default layout (to compare
    kernels, or where channels-last is slower).
    """
    if os.environ.get("ADVLAB_CHANNELS_LAST", "1") == "0":
        return model
    if any(isinstance(m, nn.Conv2d | nn.ConvTranspose2d) for m in model.modules()):
        model.to(memory_format=torch.channels_last)
    return model


def default_normalization(in_channels: int) -> tuple[tuple[float, ...], tuple[float, ...]]:
    """Dataset statistics by channel count: MNIST-like for 1 channel, CIFAR-10 for 3."""
    if in_channels == 1:
        return MNIST_MEAN, MNIST_STD
    if in_channels == 3:
        return CIFAR_MEAN, CIFAR_STD
    return (0.5,) * in_channels, (0.5,) * in_channels


def sequential_layers(model: nn.Module) -> list[nn.Module]:
    """The layers of `model` in the order they run, nested `nn.Sequential`s expanded:
    ``Sequential(a, Sequential(b, c))`` -> [a, b, c]; any other module is one layer."""
    if not isinstance(model, nn.Sequential):
        return [model]
    return [layer for child in model for layer in sequential_layers(child)]


class CropBorder(nn.Module):
    """Remove `pad` pixels on every side: padded 32-px digits -> the 28-px images a classifier
    trained on mnist-5k takes."""

    def __init__(self, pad: int) -> None:
        super().__init__()
        self.pad = pad

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x[..., self.pad : x.shape[-2] - self.pad, self.pad : x.shape[-1] - self.pad]
