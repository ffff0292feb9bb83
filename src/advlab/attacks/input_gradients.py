"""Faster input gradients through the convolutions of an attack's private model copy (CPU).

Gradient attacks (APGD, FAB, PGD, ...) need d loss / d x only, never the weights' gradients.
PyTorch's CPU backward of a convolution runs oneDNN's backward-data kernel whenever oneDNN ran
the forward, and that kernel is slow when the layer has few input channels: measured on this
project's 2-core AMD EPYC, 1 thread, 43 MNIST digits, LeNet's 1->20 5x5 layer took 4.4 ms
against 0.66 ms with PyTorch's own im2col kernel (``aten._slow_conv2d_backward``), wong-small's
1->16 4x4 stride-2 layer 1.9 ms against 0.33 ms; on layers with more input channels oneDNN
is the faster one (wong-small's 16->32 layer: 1.15 against 1.55 ms). Which kernel wins
depends on the layer and the CPU, so `tune_input_gradients` lets each convolution time both
on its first backward pass at a given input size and keep the faster one.

Both kernels compute the same gradient (the transposed convolution); they round differently,
so gradients agree to float32 rounding, not bit for bit. The forward pass is unchanged.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any, cast

import torch
import torch.nn.functional as F
from torch import nn
from torch.autograd.function import once_differentiable

# The im2col kernel replaces oneDNN's only when it is this many times faster, so that timing
# noise between two runs cannot pick different kernels for layers where the two are close.
SWITCH_RATIO = 1.5
TIMING_CALLS = 3  # calls per kernel when a layer chooses; the fastest call counts

InputGradient = Callable[[torch.Tensor, torch.Tensor, torch.Tensor, nn.Conv2d], torch.Tensor]


def onednn_input_gradient(grad_out: torch.Tensor, x: torch.Tensor, weight: torch.Tensor, conv: nn.Conv2d) -> torch.Tensor:
    """d loss / d x (N, C, H, W) from grad_out (N, C', H', W') by PyTorch's default backward
    (oneDNN on the CPU for float32)."""
    return torch.ops.aten.convolution_backward(
        grad_out, x, weight, None, conv.stride, conv.padding, conv.dilation, False, [0, 0], conv.groups,
        [True, False, False],
    )[0]  # fmt: skip


def im2col_input_gradient(grad_out: torch.Tensor, x: torch.Tensor, weight: torch.Tensor, conv: nn.Conv2d) -> torch.Tensor:
    """d loss / d x by PyTorch's native CPU kernel: one GEMM W^T grad_out per image, then col2im.

    The weight goes in with row-major strides: a one-input-channel weight made channels-last
    is still contiguous, but its strides send the kernel down its channels-last path, 2.3x
    slower (1.95 against 0.84 ms on LeNet's first layer, 35 digits)."""
    row_major = weight.reshape(-1).view(weight.shape)  # (C', C, kh, kw), strides (C*kh*kw, kh*kw, kw, 1)
    return torch.ops.aten._slow_conv2d_backward(
        grad_out, x, row_major, conv.kernel_size, conv.stride, conv.padding, [True, False, False]
    )[0]


KERNELS: dict[str, InputGradient] = {"onednn": onednn_input_gradient, "im2col": im2col_input_gradient}


def _fastest_call(kernel: InputGradient, args: tuple[Any, ...]) -> float:
    best = float("inf")
    for _ in range(TIMING_CALLS):
        start = time.perf_counter()
        kernel(*args)
        best = min(best, time.perf_counter() - start)
    return best


class _ConvInputGradient(torch.autograd.Function):
    """conv2d whose backward returns only the input's gradient, by the layer's chosen kernel."""

    @staticmethod
    def forward(ctx: Any, x: torch.Tensor, weight: torch.Tensor, bias: torch.Tensor | None,
                conv: InputGradientConv2d) -> torch.Tensor:  # fmt: skip
        ctx.save_for_backward(x, weight)
        ctx.conv = conv
        return F.conv2d(x, weight, bias, conv.stride, conv.padding, conv.dilation, conv.groups)

    @staticmethod
    @once_differentiable
    def backward(ctx: Any, grad_out: torch.Tensor) -> tuple[torch.Tensor, None, None, None]:
        x, weight = ctx.saved_tensors
        return ctx.conv.input_gradient(grad_out, x, weight), None, None, None


class InputGradientConv2d(nn.Conv2d):
    """An `nn.Conv2d` (same parameters, same forward) whose backward, when only the input needs
    a gradient, runs the faster of `KERNELS` for this layer, timed once per input size
    (C, H, W). Made by `tune_input_gradients`; any other use falls back to `nn.Conv2d`."""

    kernel_choice: dict[tuple[int, ...], str]

    def _conv_forward(self, input: torch.Tensor, weight: torch.Tensor, bias: torch.Tensor | None) -> torch.Tensor:
        weights_frozen = not weight.requires_grad and (bias is None or not bias.requires_grad)
        if torch.is_grad_enabled() and input.requires_grad and weights_frozen and input.ndim == 4:
            return _ConvInputGradient.apply(input, weight, bias, self)
        return super()._conv_forward(input, weight, bias)

    def input_gradient(self, grad_out: torch.Tensor, x: torch.Tensor, weight: torch.Tensor) -> torch.Tensor:
        """d loss / d x for grad_out (N, C', H', W'); the first call at an input size times both
        kernels on these tensors (the batch size does not change which one wins)."""
        key = tuple(x.shape[1:])
        name = self.kernel_choice.get(key)
        if name is None:
            name = self.kernel_choice[key] = self._faster_kernel(grad_out, x, weight)
        return KERNELS[name](grad_out, x, weight, self)

    def _faster_kernel(self, grad_out: torch.Tensor, x: torch.Tensor, weight: torch.Tensor) -> str:
        args = (grad_out, x, weight, self)
        try:
            im2col = _fastest_call(im2col_input_gradient, args)
        except RuntimeError:  # a configuration the native kernel does not take
            return "onednn"
        return "im2col" if SWITCH_RATIO * im2col < _fastest_call(onednn_input_gradient, args) else "onednn"


def _tunable(conv: nn.Module) -> bool:
    """Plain 2-D convolutions the im2col kernel takes: zero padding given as numbers, no
    dilation, no groups, float32."""
    return (
        type(conv) is nn.Conv2d
        and conv.padding_mode == "zeros"
        and not isinstance(conv.padding, str)
        and conv.dilation == (1, 1)
        and conv.groups == 1
        and conv.weight.dtype == torch.float32
    )


def tune_input_gradients(model: nn.Module) -> nn.Module:
    """Make `model`'s plain `nn.Conv2d` layers `InputGradientConv2d` and stop its parameters
    from requiring gradients, in place; for a private copy that attacks use on the CPU (the
    caller's model must not be passed: its training would lose the weights' gradients).
    Returns `model`."""
    for module in model.modules():
        if _tunable(module):
            module.__class__ = InputGradientConv2d
            cast(InputGradientConv2d, module).kernel_choice = {}
    model.requires_grad_(False)
    return model
