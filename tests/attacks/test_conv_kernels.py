"""The attack copy's convolutions: same forward, same input gradient (to rounding) whichever
backward kernel a layer picks, and only the layers the im2col kernel takes are changed."""

from __future__ import annotations

import copy
import time

import pytest
import torch
import torch.nn.functional as F
from torch import nn

from advlab.attacks import conv_kernels
from advlab.attacks.base import cpu_attack_copy
from advlab.attacks.conv_kernels import TunedConv2d, tune_conv_kernels


def _net() -> nn.Sequential:
    torch.manual_seed(0)
    return nn.Sequential(
        nn.Conv2d(1, 8, 4, stride=2, padding=1),  # one input channel: the slow oneDNN case
        nn.ReLU(),
        nn.Conv2d(8, 6, 3, padding=1),
        nn.MaxPool2d(2),
        nn.Conv2d(6, 6, 3, padding=1, groups=2),  # not taken by the im2col kernel
        nn.Conv2d(6, 4, 3, padding=2, dilation=2),  # not taken either
        nn.Flatten(),
        nn.Linear(4 * 7 * 7, 10),
    ).eval()


def _input_gradient(model: nn.Module, x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    x = x.clone().requires_grad_(True)
    (grad,) = torch.autograd.grad(F.cross_entropy(model(x), y), x)
    return grad


def _alternative(kernels: dict, args: tuple) -> str:
    return next(name for name in kernels if name != "default")


@pytest.mark.parametrize("choose", [_alternative, lambda kernels, args: "default", None],
                         ids=["alternatives everywhere", "defaults everywhere", "timed"])  # fmt: skip
def test_every_kernel_gives_the_same_function(monkeypatch: pytest.MonkeyPatch, choose) -> None:
    if choose is not None:
        monkeypatch.setattr(conv_kernels, "fastest_kernel", choose)
    net = _net()
    x, y = torch.rand(5, 1, 28, 28, generator=torch.Generator().manual_seed(1)), torch.arange(5)
    tuned = cpu_attack_copy(net, x)
    with torch.no_grad():
        torch.testing.assert_close(tuned(x), net(x), rtol=1e-4, atol=1e-5)
    reference = _input_gradient(net, x, y)
    torch.testing.assert_close(_input_gradient(tuned, x, y), reference, rtol=1e-4, atol=1e-6)
    torch.testing.assert_close(_input_gradient(tuned, x[:2], y[:2]), reference[:2] * 5 / 2, rtol=1e-4, atol=1e-6)
    choices = [m.kernel_choice for m in tuned.modules() if isinstance(m, TunedConv2d)]
    # one choice per layer, stage, input size and batch octave (5 images: 3, 2 images: 2)
    assert [sorted(c) for c in choices] == [
        [("forward", (2, 1, 28, 28)), ("forward", (3, 1, 28, 28)), ("input_gradient", (2, 1, 28, 28)),
         ("input_gradient", (3, 1, 28, 28))],
        [("forward", (2, 8, 14, 14)), ("forward", (3, 8, 14, 14)), ("input_gradient", (2, 8, 14, 14)),
         ("input_gradient", (3, 8, 14, 14))],
    ]  # fmt: skip
    if choose is _alternative:
        assert {name for c in choices for name in c.values()} == {"nnpack", "im2col"}


def test_the_fastest_kernel_must_win_by_the_switch_ratio(monkeypatch: pytest.MonkeyPatch) -> None:
    def taking(seconds: float):
        def kernel() -> torch.Tensor:
            time.sleep(seconds)
            return torch.zeros(())
        return kernel

    def refusing() -> torch.Tensor:
        raise RuntimeError("not for this layer")

    monkeypatch.setattr(conv_kernels, "TIMING_CALLS", 2)
    slow, fast = taking(0.004), taking(0.001)
    assert conv_kernels.fastest_kernel({"default": slow, "other": fast}, ()) == "other"
    assert conv_kernels.fastest_kernel({"default": fast, "other": slow}, ()) == "default"
    assert conv_kernels.fastest_kernel({"default": slow, "other": refusing}, ()) == "default"
    monkeypatch.setattr(conv_kernels, "SWITCH_RATIO", 100.0)  # 4x faster is not enough here
    assert conv_kernels.fastest_kernel({"default": slow, "other": fast}, ()) == "default"


def test_only_plain_convolutions_change_and_the_callers_model_keeps_its_gradients() -> None:
    net = _net()
    tuned = tune_conv_kernels(copy.deepcopy(net))
    kinds = [type(m) for m in tuned if isinstance(m, nn.Conv2d)]
    assert kinds == [TunedConv2d, TunedConv2d, nn.Conv2d, nn.Conv2d]
    assert not any(p.requires_grad for p in tuned.parameters())
    assert all(p.requires_grad for p in net.parameters())
    tuned_from_copy = cpu_attack_copy(net, torch.rand(2, 1, 28, 28))
    assert tuned_from_copy is not net and all(p.requires_grad for p in net.parameters())


def test_a_layer_whose_weights_need_gradients_runs_the_usual_backward() -> None:
    """Weights that require gradients again (training through the copy) get them: the
    input-only path is taken only when nothing but the input needs a gradient."""
    conv = nn.Conv2d(1, 3, 3)
    tuned = tune_conv_kernels(copy.deepcopy(conv)).requires_grad_(True)
    x = torch.rand(2, 1, 8, 8, requires_grad=True)
    tuned(x).square().sum().backward()
    conv(x.detach()).square().sum().backward()
    assert tuned.weight.grad is not None and conv.weight.grad is not None
    torch.testing.assert_close(tuned.weight.grad, conv.weight.grad)
    assert tuned.kernel_choice == {}  # the usual backward ran, nothing was timed


def test_padding_by_name_and_reflection_are_left_alone() -> None:
    net = nn.Sequential(nn.Conv2d(1, 2, 3, padding="same"), nn.Conv2d(2, 2, 3, padding=1, padding_mode="reflect"))
    assert [type(m) for m in tune_conv_kernels(net)] == [nn.Conv2d, nn.Conv2d]


@pytest.mark.parametrize("refusal", [RuntimeError, AttributeError], ids=["refused batch", "operator missing"])
def test_a_chosen_kernel_that_refuses_hands_over_to_the_default(monkeypatch: pytest.MonkeyPatch,
                                                                 refusal: type[Exception]) -> None:  # fmt: skip
    def refusing(*args: object) -> torch.Tensor:
        raise refusal("not here")

    monkeypatch.setattr(conv_kernels, "fastest_kernel", _alternative)
    monkeypatch.setitem(conv_kernels.FORWARD_KERNELS, "nnpack", refusing)
    conv = nn.Conv2d(1, 3, 3).eval()
    tuned = tune_conv_kernels(copy.deepcopy(conv))
    x = torch.rand(4, 1, 8, 8)
    with torch.no_grad():
        torch.testing.assert_close(tuned(x), conv(x))
    assert tuned.kernel_choice == {("forward", (3, 1, 8, 8)): "default"}
