"""torchvision semantic segmentation models as dissection segmenters (plug-ins for
`advlab.dissect`): the registry segmenters ``torchvision:<name>``, e.g.
``torchvision:deeplabv3_resnet50``.

The paper-scale segmenter of Bau et al. 2020 labels real photographs (and GAN samples) with
a broad set of concepts; torchvision's pretrained segmentation models label the 21 Pascal VOC
classes (`VOC_CONCEPTS`; 0 = background). Weights come from torchvision's cache or are
downloaded when a network is there; otherwise the error says which file to put where.

    >>> seg = models.create_segmenter("torchvision:deeplabv3_resnet50", pretrained=True)
    >>> labels = segment(seg, images)     # (N, H, W) indices into seg.concepts
"""

from __future__ import annotations

from torch import Tensor, nn

from advlab.errors import PretrainedWeightsMissing
from advlab.models.layers import IMAGENET_MEAN, IMAGENET_STD, Normalize

VOC_CONCEPTS: tuple[str, ...] = (
    "background",
    "aeroplane",
    "bicycle",
    "bird",
    "boat",
    "bottle",
    "bus",
    "car",
    "cat",
    "chair",
    "cow",
    "diningtable",
    "dog",
    "horse",
    "motorbike",
    "person",
    "pottedplant",
    "sheep",
    "sofa",
    "train",
    "tvmonitor",
)


class TorchvisionSegmenter(nn.Module):
    """A torchvision segmentation network taking [0, 1] images (N, 3, H, W) and returning
    logits (N, K, H, W) over `concepts` (ImageNet normalisation inside)."""

    def __init__(self, net: nn.Module, concepts: tuple[str, ...]) -> None:
        super().__init__()
        self.normalize = Normalize(IMAGENET_MEAN, IMAGENET_STD)
        self.net = net
        self.concepts = list(concepts)

    def forward(self, x: Tensor) -> Tensor:
        return self.net(self.normalize(x))["out"]  # torchvision returns {"out", "aux"}


def torchvision_segmenter(
    full_name: str, pretrained: bool = False, num_classes: int = len(VOC_CONCEPTS), **_: object
) -> TorchvisionSegmenter:
    """``torchvision:<name>`` for any name of torchvision.models.segmentation (deeplabv3_*,
    fcn_*, lraspp_mobilenet_v3_large); pretrained: torchvision's default (VOC-class) weights."""
    import torch.hub
    import torchvision.models as tvm

    arch = full_name.split(":", 1)[1]
    available = tvm.list_models(module=tvm.segmentation)
    if arch not in available:
        raise ValueError(
            f"unknown torchvision segmentation model {arch!r}; valid: {', '.join(available)}"
        )
    if not pretrained:
        net = tvm.get_model(arch, weights=None, weights_backbone=None, num_classes=num_classes)
        return TorchvisionSegmenter(
            net,
            VOC_CONCEPTS
            if num_classes == len(VOC_CONCEPTS)
            else tuple(str(i) for i in range(num_classes)),
        )
    weights = tvm.get_model_weights(arch).DEFAULT
    try:
        net = tvm.get_model(arch, weights=weights)
    except (OSError, RuntimeError) as error:  # URLError is an OSError
        file = weights.url.rsplit("/", 1)[-1]
        raise PretrainedWeightsMissing(
            f"pretrained weights for torchvision:{arch} are not cached and could not be "
            f"downloaded ({error}); put {file} in {torch.hub.get_dir()}/checkpoints/"
        ) from error
    return TorchvisionSegmenter(net, tuple(weights.meta["categories"]))
