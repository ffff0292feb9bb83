"""The nearest-neighbour memorisation check against cases whose answer is known."""

from __future__ import annotations

import pytest
import torch

from advlab.gan.memorisation import memorisation_check


def test_copies_sit_at_zero_and_fresh_samples_as_far_as_held_out_data():
    g = torch.Generator().manual_seed(0)
    training = torch.rand(400, 1, 4, 4, generator=g)
    heldout = torch.rand(200, 1, 4, 4, generator=g)  # the same distribution, unseen
    copies = training[:100].clone()
    report = memorisation_check(copies, training, heldout, None, k=3)
    # exact: cdist without the matmul expansion subtracts an image from its own copy
    assert torch.all(report.generated_distances == 0) and report.median_ratio == 0.0
    assert report.closer_than_heldout == 1.0
    assert torch.equal(report.generated.indices[:, 0], torch.arange(100))
    fresh = torch.rand(200, 1, 4, 4, generator=g)  # a generator that generalises perfectly
    honest = memorisation_check(fresh, training, heldout, None, k=3)
    assert honest.median_ratio == pytest.approx(1.0, abs=0.1)
    assert honest.closer_than_heldout < 0.15
    with pytest.raises(ValueError, match="same shape"):
        memorisation_check(fresh, training, torch.rand(5, 1, 8, 8), None)


def test_vgg_features_take_the_five_layers_pooled_and_scaled(monkeypatch):
    """The VGG-16 feature vector on a small stand-in with VGG-16's layer layout (building the
    real, untrained VGG-16 takes half a minute): the ReLUs after conv1_2 ... conv5_2, each
    average-pooled to 4x4 and divided by sqrt(its length)."""
    from torch import nn

    from advlab.gan.features import VGG16_LAYERS, VGGLayerFeatures
    from advlab.models import torchvision_models

    class TinyVGG(nn.Module):
        def __init__(self):
            super().__init__()
            layers, c = [], 3
            convs = {0, 2, 5, 7, 10, 12, 14, 17, 19, 21, 24, 26, 28}  # as in vgg16.features
            for index in range(31):
                if index in (4, 9, 16, 23, 30):
                    layers.append(nn.MaxPool2d(2))
                elif index in convs:
                    layers.append(nn.Conv2d(c, 2, 3, padding=1))
                    c = 2
                else:
                    layers.append(nn.ReLU())
            self.features = nn.Sequential(*layers)
            self.avgpool = nn.AdaptiveAvgPool2d(1)
            self.classifier = nn.Linear(2, 1000)

    monkeypatch.setattr(torchvision_models, "torchvision_classifier",
                        lambda name, pretrained: nn.Sequential(nn.Identity(), TinyVGG()))
    extractor = VGGLayerFeatures(pretrained=False)
    images = torch.rand(3, 1, 64, 64)
    features, logits = extractor(images)
    # maps of 64, 32, 16, 8, 4 px: all pooled to 4x4 of 2 channels = 32 numbers per layer
    assert features.shape == (3, 5 * 32) and logits.shape == (3, 1000)
    x, expected = images.expand(-1, 3, -1, -1), []
    for index, layer in enumerate(extractor.net[1].features):
        x = layer(x)
        if index in VGG16_LAYERS:
            expected.append(nn.functional.adaptive_avg_pool2d(x, 4).flatten(1) / 32**0.5)
    assert torch.allclose(features, torch.cat(expected, dim=1), atol=1e-6)
    # an 8-px image, which VGG-16's five max-pools would reduce to nothing, is first resized
    # up to 32 px (bilinear): its features are those of the resized image
    small = torch.rand(2, 1, 8, 8)
    resized = nn.functional.interpolate(small.expand(-1, 3, -1, -1), size=[32, 32], mode="bilinear",
                                        align_corners=False)  # fmt: skip
    assert torch.allclose(extractor(small)[0], extractor(resized)[0], atol=1e-6)
