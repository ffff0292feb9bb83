"""The scene classifier's layer names, the segmenters (shapes, gradients, checkpoints) and the
torchvision segmenter plug-in."""

from __future__ import annotations

import pytest
import torch

from advlab import models
from advlab.errors import CheckpointError
from advlab.models import create_segmenter, load_segmenter, segment, segmenter_names
from advlab.models.scene_nets import scene_vgg_layers
from advlab.train import TrainConfig, fit


def test_scene_vgg_layers_are_named_like_vgg() -> None:
    net = models.create("scene-vgg", in_channels=3, num_classes=6, image_size=64, width=4)
    names = dict(net.named_children())
    assert all(name in names for name in scene_vgg_layers()) and scene_vgg_layers()[-1] == "conv4_2"
    with torch.no_grad():
        x = torch.rand(2, 3, 64, 64)
        assert net[: list(names).index("conv4_2") + 1](x).shape == (2, 32, 8, 8)
    with pytest.raises(ValueError, match="width >= 1"):
        models.create("scene-vgg", width=0)


def test_scene_unet_shapes_gradients_and_errors() -> None:
    net = create_segmenter("scene-unet", num_classes=5, width=3)
    x = torch.rand(2, 3, 16, 20)
    out = net(x)
    assert out.shape == (2, 5, 16, 20) and torch.isfinite(out).all()
    out.square().sum().backward()
    assert all(p.grad is not None and p.grad.abs().sum() > 0 for p in net.parameters())
    with pytest.raises(ValueError, match="divisible by 4"):
        net(torch.rand(1, 3, 18, 16))
    assert segment(net.eval(), x).shape == (2, 16, 20)
    assert "scene-unet" in segmenter_names() and "torchvision:<name>" in segmenter_names()


def test_segmenter_checkpoint_round_trip(tmp_path) -> None:
    args = {"in_channels": 3, "num_classes": 4, "width": 2}
    torch.manual_seed(0)
    net = create_segmenter("scene-unet", **args)
    x, y = torch.rand(8, 3, 8, 8), torch.randint(0, 4, (8, 8, 8))
    from advlab.zoo.scene_models import pixel_cross_entropy

    fit(net, (x, y), None, TrainConfig(epochs=1, batch_size=8), tmp_path / "seg",
        batch_loss=pixel_cross_entropy, meta={"model": "scene-unet", "model_args": args})
    loaded = load_segmenter(tmp_path / "seg")
    assert torch.allclose(loaded(x), net.eval()(x), atol=1e-5)
    clf_args = {"in_channels": 3, "num_classes": 6, "image_size": 8, "width": 2}
    fit(models.create("scene-vgg", **clf_args), (x, y[:, 0, 0] % 6), None, TrainConfig(epochs=1),
        tmp_path / "clf", meta={"model": "scene-vgg", "model_args": clf_args})
    with pytest.raises(CheckpointError, match="not a segmenter checkpoint"):
        load_segmenter(tmp_path / "clf")


def test_torchvision_segmenter_plug_in() -> None:
    net = create_segmenter("torchvision:lraspp_mobilenet_v3_large").eval()
    assert net.concepts[0] == "background" and len(net.concepts) == 21
    assert segment(net, torch.rand(1, 3, 32, 32)).shape == (1, 32, 32)
    with pytest.raises(ValueError, match="unknown torchvision segmentation model 'vgg16'; valid: deeplab"):
        create_segmenter("torchvision:vgg16")
