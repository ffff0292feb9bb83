"""ImageNet classifiers from torchvision by name: ``torchvision:googlenet``, ``torchvision:vgg16``.

Pretrained weights come from torchvision's cache (``$TORCH_HOME/hub/checkpoints``) or are
downloaded when a network is there; otherwise the error says which file to put where.
"""

from __future__ import annotations

from torch import nn

from advlab.errors import PretrainedWeightsMissing
from advlab.models.layers import IMAGENET_MEAN, IMAGENET_STD, Normalize


def torchvision_classifier(
    full_name: str,
    in_channels: int = 3,
    num_classes: int = 1000,
    image_size: int = 224,
    pretrained: bool = False,
) -> nn.Sequential:
    """A torchvision model wrapped with ImageNet normalisation, taking [0, 1] images.

    With `pretrained`, loads torchvision's default weights (num_classes must be 1000)."""
    import torch.hub
    import torchvision.models as tvm

    arch = full_name.split(":", 1)[1]
    if arch not in tvm.list_models():
        raise ValueError(
            f"unknown torchvision model {arch!r}; examples: googlenet, vgg16, resnet50, alexnet "
            f"(all: torchvision.models.list_models())"
        )
    if in_channels != 3:
        raise ValueError(f"torchvision:{arch} takes 3-channel images, got in_channels={in_channels}")
    kwargs: dict = {}
    if pretrained:
        if num_classes != 1000:
            raise ValueError("pretrained ImageNet weights have 1000 classes")
        weights = tvm.get_model_weights(arch).DEFAULT
        if arch in ("googlenet", "inception_v3"):
            kwargs["aux_logits"] = True  # the pretrained checkpoints carry the auxiliary heads
        try:
            model = tvm.get_model(arch, weights=weights, **kwargs)
        except (OSError, RuntimeError) as error:  # URLError is an OSError
            file = weights.url.rsplit("/", 1)[-1]
            raise PretrainedWeightsMissing(
                f"pretrained weights for torchvision:{arch} are not cached and could not be "
                f"downloaded ({error}); put {file} in {torch.hub.get_dir()}/checkpoints/"
            ) from error
        if hasattr(model, "aux_logits"):
            model.aux_logits = False  # forward returns a plain tensor
            model.aux1 = model.aux2 = None
    else:
        if arch in ("googlenet", "inception_v3"):
            kwargs.update(aux_logits=False, init_weights=True)
        model = tvm.get_model(arch, weights=None, num_classes=num_classes, **kwargs)
    return nn.Sequential(Normalize(IMAGENET_MEAN, IMAGENET_STD), model)
