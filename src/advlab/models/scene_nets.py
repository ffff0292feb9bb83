"""Networks for the procedural `scenes`: a small VGG-style scene classifier (``scene-vgg`` in
`advlab.models.registry`) and a small U-Net segmenter (``scene-unet``, a registry segmenter)
that labels every pixel with a concept, for dissecting generated images.

Both take [0, 1] images and normalise inside. The classifier's convolutions are named like
VGG-16's (Simonyan & Zisserman 2015; Bau et al. 2020 dissect VGG-16's conv1_1 .. conv5_3):
``conv3_2`` is the output of the second 3x3 convolution of block 3 after batch norm and
ReLU, the layer a dissection hooks.
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Sequence

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from advlab.models.classifiers import _normalize


def _conv_unit(c_in: int, c_out: int) -> nn.Sequential:
    """3x3 convolution, batch norm, ReLU: one dissectable layer (N, c_out, H, W)."""
    return nn.Sequential(
        nn.Conv2d(c_in, c_out, 3, padding=1, bias=False), nn.BatchNorm2d(c_out), nn.ReLU()
    )


def scene_vgg_layers(blocks: Sequence[int] = (1, 1, 2, 2)) -> list[str]:
    """The convolution names of `scene_vgg` with `blocks` convolutions per block."""
    return [f"conv{b + 1}_{i + 1}" for b, n in enumerate(blocks) for i in range(n)]


def scene_vgg(
    in_channels: int = 3,
    num_classes: int = 6,
    image_size: int = 64,
    width: int = 16,
    blocks: Sequence[int] = (1, 1, 2, 2),
    mean: Sequence[float] | None = None,
    std: Sequence[float] | None = None,
) -> nn.Sequential:
    """A small VGG for scene classification: blocks of 3x3 conv + BN + ReLU with width,
    2 width, 4 width, 8 width filters, 2x2 max-pooling between blocks, global average
    pooling and one linear layer. Layers are named conv1_1, conv2_1, conv3_1, conv3_2, ...
    (`scene_vgg_layers`); at 64 px the last block is 8x8."""
    if width < 1 or not blocks or min(blocks) < 1:
        raise ValueError(f"scene-vgg needs width >= 1 and blocks >= 1, got {width}, {blocks}")
    layers: OrderedDict[str, nn.Module] = OrderedDict(normalize=_normalize(in_channels, mean, std))
    c_in = in_channels
    for b, count in enumerate(blocks):
        if b > 0:
            layers[f"pool{b}"] = nn.MaxPool2d(2)
        c_out = width * 2**b
        for i in range(count):
            layers[f"conv{b + 1}_{i + 1}"] = _conv_unit(c_in, c_out)
            c_in = c_out
    layers["avgpool"] = nn.AdaptiveAvgPool2d(1)
    layers["flatten"] = nn.Flatten()
    layers["fc"] = nn.Linear(c_in, num_classes)
    return nn.Sequential(layers)


class SceneUNet(nn.Module):
    """A three-level U-Net (Ronneberger et al. 2015) for per-pixel concept labels:
    images (N, C, H, W) in [0, 1] -> logits (N, K, H, W), H and W divisible by 4.

    Encoder: two conv units at full resolution (width filters), at 1/2 (2 width) and at 1/4
    (4 width); decoder: bilinear upsampling, concatenation with the encoder features of the
    same resolution, one conv unit; a 1x1 convolution to the K concepts."""

    def __init__(
        self,
        in_channels: int = 3,
        num_classes: int = 12,
        width: int = 16,
        mean: Sequence[float] | None = None,
        std: Sequence[float] | None = None,
    ) -> None:
        super().__init__()
        w = width
        self.normalize = _normalize(in_channels, mean, std)
        self.enc1 = nn.Sequential(_conv_unit(in_channels, w), _conv_unit(w, w))
        self.enc2 = nn.Sequential(_conv_unit(w, 2 * w), _conv_unit(2 * w, 2 * w))
        self.enc3 = nn.Sequential(_conv_unit(2 * w, 4 * w), _conv_unit(4 * w, 4 * w))
        self.dec2 = _conv_unit(6 * w, 2 * w)
        self.dec1 = _conv_unit(3 * w, w)
        self.head = nn.Conv2d(w, num_classes, 1)

    def forward(self, x: Tensor) -> Tensor:
        if x.ndim != 4 or x.shape[-1] % 4 or x.shape[-2] % 4:
            raise ValueError(
                f"SceneUNet needs (N, C, H, W) with H, W divisible by 4, got {tuple(x.shape)}"
            )
        e1 = self.enc1(self.normalize(x))  # (N, w, H, W)
        e2 = self.enc2(F.max_pool2d(e1, 2))  # (N, 2w, H/2, W/2)
        e3 = self.enc3(F.max_pool2d(e2, 2))  # (N, 4w, H/4, W/4)
        d2 = self.dec2(torch.cat([F.interpolate(e3, scale_factor=2.0, mode="bilinear"), e2], 1))
        d1 = self.dec1(torch.cat([F.interpolate(d2, scale_factor=2.0, mode="bilinear"), e1], 1))
        return self.head(d1)  # (N, K, H, W)


def scene_unet(
    in_channels: int = 3,
    num_classes: int = 12,
    width: int = 16,
    mean: Sequence[float] | None = None,
    std: Sequence[float] | None = None,
    image_size: int | None = None,
) -> SceneUNet:
    """`SceneUNet` (image_size is accepted for the common model arguments and unused)."""
    return SceneUNet(in_channels, num_classes, width, mean, std)


def segment(net: nn.Module, images: Tensor, batch_size: int = 256) -> Tensor:
    """Per-pixel concept labels (N, H, W) long: the argmax of the segmenter's logits, in
    batches, without gradients (the model must be in eval mode; it is not changed)."""
    with torch.no_grad():
        return torch.cat(
            [
                net(images[i : i + batch_size]).argmax(1)
                for i in range(0, images.shape[0], batch_size)
            ]
        )
