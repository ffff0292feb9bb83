from __future__ import annotations

import pytest
import torch

from advlab import models
from advlab.registry import UnknownNameError

# (name, in_channels, image_size): every registry classifier on a shape it is meant for
CASES = [
    ("lenet", 1, 28), ("lenet", 3, 32), ("fc500-150-10", 1, 28), ("lenet-cifar", 3, 32),
    ("nin", 3, 32), ("wong-small", 1, 28), ("wong-small", 3, 32), ("wong-large", 1, 28),
    ("resnet18-cifar", 3, 32), ("torchvision:resnet18", 3, 64), ("sparsity-mlp", 1, 28),
    ("sparsity-cnn", 1, 28), ("linear-svm", 3, 8), ("sparsified", 1, 28),
    ("mlp-shallow", 1, 28), ("mlp-deep", 1, 28), ("cnn-wide", 1, 28), ("cnn-wide", 1, 8),
    ("cnn-bn-dropout", 1, 28), ("cnn-bn-dropout", 1, 8),
    ("scene-vgg", 3, 32), ("scene-vgg", 3, 64),
]  # fmt: skip


def test_every_registered_model_is_covered() -> None:
    covered = {name.split(":")[0] + (":" if ":" in name else "") for name, _, _ in CASES}
    registered = {n.replace("<name>", "") for n in models.names()}
    assert registered <= covered


@pytest.mark.parametrize(("name", "channels", "size"), CASES)
def test_shape_finite_and_gradients_reach_every_parameter(name: str, channels: int, size: int) -> None:
    net = models.create(name, in_channels=channels, num_classes=7, image_size=size)
    x = torch.rand(2, channels, size, size)
    out = net(x)
    assert out.shape == (2, 7) and torch.isfinite(out).all()
    out.square().sum().backward()
    for pname, p in net.named_parameters():
        assert p.grad is not None and torch.isfinite(p.grad).all(), pname
        assert p.grad.abs().sum() > 0, f"{name}: no gradient reaches {pname}"


def test_normalisation_is_inside_the_model() -> None:
    net = models.create("lenet")
    assert isinstance(net[0], models.Normalize)
    assert torch.allclose(net[0](torch.full((1, 1, 2, 2), 0.1307)), torch.zeros(1, 1, 2, 2), atol=1e-6)


def test_unknown_model_lists_valid_names() -> None:
    with pytest.raises(UnknownNameError, match="wong-small"):
        models.create("le-net")


def test_bad_arguments_are_named() -> None:
    with pytest.raises(TypeError, match="lenet"):
        models.create("lenet", depth=3)
    with pytest.raises(ValueError, match="std"):
        models.Normalize((0.5,), (0.0,))
    with pytest.raises(ValueError, match="unknown torchvision model"):
        models.create("torchvision:not-a-net")


def test_a_model_too_deep_for_the_image_size_is_refused_in_one_line() -> None:
    import pytest

    from advlab import models

    with pytest.raises(ValueError, match="model 'lenet' cannot be built for 8x8 images"):
        models.create("lenet", in_channels=1, num_classes=10, image_size=8)
