"""Per-layer choice of convolution kernels for an attack's private model copy (CPU).

An attack runs the same convolutions thousands of times on batches of one size, wants
d loss / d x only (never the weights' gradients), and PyTorch's default CPU kernel is not the
fastest for every layer. Measured on this project's 2-core AMD EPYC, 1 thread, 33-43 MNIST
digits (`benchmarks/bench_evaluate.py` runs the whole suite):

- input gradient: PyTorch runs oneDNN's backward-data kernel whenever oneDNN ran the forward,
  and it is slow when the layer has few input channels: LeNet's 1->20 5x5 layer 4.4 ms against
  0.66 ms with PyTorch's own im2col kernel (``aten._slow_conv2d_backward``), wong-small's
  1->16 4x4 stride-2 layer 1.9 against 0.33 ms; with more input channels oneDNN is faster
  (wong-small's 16->32 layer: 1.15 against 1.55 ms);
- forward: NNPACK's fast-convolution kernel beats oneDNN on LeNet's 20->50 5x5 layer (1.14
  against 1.45 ms, layout changes included) and loses on the others (up to 5x slower).

So each convolution of the copy times the candidates on its first call at each input size
(C, H, W) and batch size rounded to a power of two, and keeps the fastest; an alternative replaces PyTorch's default only when it is
`SWITCH_RATIO` times faster, so that timing noise cannot make two runs pick differently for
layers where the two are close. The kernels compute the same function and round differently:
outputs and gradients agree to float32 rounding, not bit for bit.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any, cast

import torch
import torch.nn.functional as F
from torch import nn
from torch.autograd.function import once_differentiable

SWITCH_RATIO = 1.1
TIMING_CALLS = 5  # interleaved calls per kernel when a layer chooses; the fastest call counts
# What a kernel raises when it refuses: a configuration it does not take (RuntimeError), or an
# operator this PyTorch build lacks (AttributeError from torch.ops, NotImplementedError)
REFUSALS = (RuntimeError, AttributeError, NotImplementedError)

Kernel = Callable[..., torch.Tensor]


def _row_major(weight: torch.Tensor) -> torch.Tensor:
    """The weight (C', C, kh, kw) with row-major strides (a copy when C > 1). A
    one-input-channel weight made channels-last is still contiguous, but its strides send
    PyTorch's native kernels down their channels-last path: 1.95 against 0.84 ms for LeNet's
    first layer's input gradient."""
    return weight.reshape(-1).view(weight.shape)


def default_forward(x: torch.Tensor, weight: torch.Tensor, bias: torch.Tensor | None, conv: nn.Conv2d) -> torch.Tensor:
    """conv(x) (N, C', H', W') by PyTorch's default dispatch (oneDNN on the CPU for float32)."""
    return F.conv2d(x, weight, bias, conv.stride, conv.padding, conv.dilation, conv.groups)


def nnpack_forward(x: torch.Tensor, weight: torch.Tensor, bias: torch.Tensor | None, conv: TunedConv2d) -> torch.Tensor:
    """conv(x) by NNPACK (row-major tensors), returned channels-last like the default's output
    for the copy's channels-last weights, so that the next layer sees the layout it expects."""
    if not torch._nnpack_available():  # the first call also initialises NNPACK, which its kernel needs
        raise RuntimeError("NNPACK is not available in this PyTorch build")
    out = torch.ops.aten._nnpack_spatial_convolution(
        x.contiguous(), conv.row_major(weight), bias, conv.padding, conv.stride
    )
    return out.contiguous(memory_format=torch.channels_last)


def default_input_gradient(grad_out: torch.Tensor, x: torch.Tensor, weight: torch.Tensor, conv: nn.Conv2d) -> torch.Tensor:
    """d loss / d x (N, C, H, W) from grad_out (N, C', H', W') by PyTorch's default backward."""
    return torch.ops.aten.convolution_backward(
        grad_out, x, weight, None, conv.stride, conv.padding, conv.dilation, False, [0, 0], conv.groups,
        [True, False, False],
    )[0]  # fmt: skip


def im2col_input_gradient(grad_out: torch.Tensor, x: torch.Tensor, weight: torch.Tensor, conv: TunedConv2d) -> torch.Tensor:
    """d loss / d x by PyTorch's native CPU kernel: one GEMM W^T grad_out per image, then col2im."""
    return torch.ops.aten._slow_conv2d_backward(
        grad_out, x, conv.row_major(weight), conv.kernel_size, conv.stride, conv.padding, [True, False, False]
    )[0]


FORWARD_KERNELS: dict[str, Kernel] = {"default": default_forward, "nnpack": nnpack_forward}
INPUT_GRADIENT_KERNELS: dict[str, Kernel] = {"default": default_input_gradient, "im2col": im2col_input_gradient}


def fastest_kernel(kernels: dict[str, Kernel], args: tuple[Any, ...]) -> str:
    """The name of the fastest of `kernels` on `args` (fastest of TIMING_CALLS interleaved
    calls each), "default" unless another is SWITCH_RATIO times faster; a kernel that
    refuses the arguments (`REFUSALS`) is out."""
    best: dict[str, float] = {name: float("inf") for name in kernels}
    for _ in range(TIMING_CALLS):
        for name in list(best):
            start = time.perf_counter()
            try:
                kernels[name](*args)
            except REFUSALS:
                if name == "default":
                    raise
                del best[name]
                continue
            best[name] = min(best[name], time.perf_counter() - start)
    name = min(best, key=best.__getitem__)
    return name if SWITCH_RATIO * best[name] < best["default"] else "default"


class _TunedConvolution(torch.autograd.Function):
    """conv2d by the layer's chosen forward kernel; its backward returns the input's gradient
    only, by the layer's chosen input-gradient kernel."""

    @staticmethod
    def forward(ctx: Any, x: torch.Tensor, weight: torch.Tensor, bias: torch.Tensor | None,
                conv: TunedConv2d) -> torch.Tensor:  # fmt: skip
        ctx.save_for_backward(x, weight)
        ctx.conv = conv
        return conv.run("forward", x, weight, bias)

    @staticmethod
    @once_differentiable
    def backward(ctx: Any, grad_out: torch.Tensor) -> tuple[torch.Tensor, None, None, None]:
        x, weight = ctx.saved_tensors
        return ctx.conv.run("input_gradient", grad_out, x, weight), None, None, None


class TunedConv2d(nn.Conv2d):
    """An `nn.Conv2d` (same parameters, same function) whose forward and input gradient run,
    when its weights need no gradient, the fastest kernel for this layer and input size
    (`fastest_kernel`, timed once per batch octave and (C, H, W)); otherwise exactly
    `nn.Conv2d`. Made by `tune_conv_kernels`."""

    kernel_choice: dict[tuple[str, tuple[int, ...]], str]  # (stage, (batch octave, C, H, W)) -> kernel
    _row_major_weight: tuple[tuple[int, int], torch.Tensor] | None  # ((storage, version), weight)

    def row_major(self, weight: torch.Tensor) -> torch.Tensor:
        """`weight` with row-major strides for the native kernels, copied once and reused
        for every call until the weight changes (its storage or version)."""
        key = (weight.data_ptr(), weight._version)
        if self._row_major_weight is None or self._row_major_weight[0] != key:
            self._row_major_weight = (key, _row_major(weight))
        return self._row_major_weight[1]

    def _conv_forward(self, input: torch.Tensor, weight: torch.Tensor, bias: torch.Tensor | None) -> torch.Tensor:
        weights_frozen = not weight.requires_grad and (bias is None or not bias.requires_grad)
        if not weights_frozen or input.ndim != 4:
            return super()._conv_forward(input, weight, bias)
        if torch.is_grad_enabled() and input.requires_grad:
            return cast(torch.Tensor, _TunedConvolution.apply(input, weight, bias, self))
        return self.run("forward", input, weight, bias)

    def run(self, stage: str, *tensors: torch.Tensor | None) -> torch.Tensor:
        """Run `stage` ("forward": x, weight, bias; "input_gradient": grad_out, x, weight) by
        the kernel chosen for this input size, choosing it on the first call."""
        kernels = FORWARD_KERNELS if stage == "forward" else INPUT_GRADIENT_KERNELS
        x = tensors[0] if stage == "forward" else tensors[1]
        shape = cast(torch.Tensor, x).shape
        # the winner depends on the batch size (NNPACK wins LeNet's first layer for one image and
        # loses it for 33), but not much within a power of two: one timing per octave
        key = (stage, (shape[0].bit_length(), *shape[1:]))
        name = self.kernel_choice.get(key)
        if name is None:
            name = self.kernel_choice[key] = fastest_kernel(kernels, (*tensors, self))
        try:
            return kernels[name](*tensors, self)
        except REFUSALS:
            if name == "default":
                raise
            self.kernel_choice[key] = "default"  # refused at another batch size: the default from now on
            return kernels["default"](*tensors, self)


def _tunable(conv: nn.Module) -> bool:
    """Plain 2-D convolutions every candidate takes: zero padding given as numbers, no
    dilation, no groups, float32."""
    return (
        type(conv) is nn.Conv2d
        and conv.padding_mode == "zeros"
        and not isinstance(conv.padding, str)
        and conv.dilation == (1, 1)
        and conv.groups == 1
        and conv.weight.dtype == torch.float32
    )


def tune_conv_kernels(model: nn.Module) -> nn.Module:
    """Make `model`'s plain `nn.Conv2d` layers `TunedConv2d` and stop its parameters from
    requiring gradients, in place: for a private copy that attacks use on the CPU (never the
    caller's model, whose training would lose the weights' gradients). Returns `model`."""
    for module in model.modules():
        if _tunable(module):
            module.__class__ = TunedConv2d
            cast(TunedConv2d, module).kernel_choice = {}
            cast(TunedConv2d, module)._row_major_weight = None
    model.requires_grad_(False)
    return model
