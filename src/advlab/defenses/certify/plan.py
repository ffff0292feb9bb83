"""The bound plan: an ``nn.Sequential`` classifier translated into dual-network layers
(layers.py, one class per operator), with every layer's per-sample shapes.

The bound algorithms (interval.py, dual.py, projected.py) take a `Plan`; the output size K of a
classifier is ``plan.outputs``, so nothing needs an extra forward pass of the model.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import torch
from torch import Tensor, nn

from advlab.defenses.certify.layers import (
    BoundLayer,
    ChannelAffineLayer,
    ConvLayer,
    LinearLayer,
    ReLULayer,
    ReshapeLayer,
    Shape,
    UnsupportedLayerError,
)


@dataclass(frozen=True)
class Plan:
    """A model as dual-network layers in forward order, with per-sample shapes."""

    layers: list[BoundLayer]
    in_shape: Shape
    out_shape: Shape

    @property
    def outputs(self) -> int:
        """Number of outputs per sample (K for a classifier)."""
        return math.prod(self.out_shape)

    @property
    def widest(self) -> int:
        """Elements per sample of the largest activation (input, hidden or output)."""
        sizes = [math.prod(self.in_shape), self.outputs]
        return max(sizes + [math.prod(layer.out_shape) for layer in self.layers])


SUPPORTED = (
    "Linear, Conv2d (zero padding), ReLU, Flatten, BatchNorm1d/2d (eval), AvgPool2d, "
    "Normalize (mean/std buffers), Identity, Dropout (eval), nested nn.Sequential"
)
EVAL_HINT = (
    "certify an eval-mode model (model.eval(), or advlab.attacks.base.inference_view(model) "
    "to leave the caller's module untouched); robust training of networks with BatchNorm or "
    "Dropout is not supported, since train-mode batch statistics make each sample's bound "
    "depend on the rest of the batch"
)


def _flatten_modules(model: nn.Module, prefix: str = "") -> list[tuple[str, nn.Module]]:
    """Leaves of (possibly nested) ``nn.Sequential`` models with dotted index names."""
    if isinstance(model, nn.Sequential):
        out: list[tuple[str, nn.Module]] = []
        for key, child in model.named_children():
            out.extend(_flatten_modules(child, f"{prefix}{key}."))
        return out
    return [(prefix.rstrip(".") or "0", model)]


def _pair(v: Any) -> tuple[int, int]:
    return (v, v) if isinstance(v, int) else (int(v[0]), int(v[1]))


def _unsupported(name: str, module: nn.Module, why: str = "") -> UnsupportedLayerError:
    reason = f" ({why})" if why else ""
    return UnsupportedLayerError(
        f"layer {name} ({type(module).__name__}) is not supported by the dual network{reason}; "
        f"supported: {SUPPORTED}"
    )


def _conv_padding(name: str, m: nn.Conv2d) -> tuple[int, int]:
    if m.padding_mode != "zeros":
        raise _unsupported(name, m, f"padding_mode={m.padding_mode!r}, only 'zeros'")
    if not isinstance(m.padding, str):
        return _pair(m.padding)
    total = [d * (k - 1) for d, k in zip(m.dilation, m.kernel_size, strict=True)]  # 'valid'/'same'
    if m.padding == "same" and any(t % 2 for t in total):
        raise _unsupported(name, m, "asymmetric 'same' padding")
    return (0, 0) if m.padding == "valid" else (total[0] // 2, total[1] // 2)


def _convert(name: str, m: nn.Module, in_shape: Shape, out_shape: Shape, like: Tensor) -> BoundLayer:
    """One module -> one dual layer, or raise naming the layer."""
    if isinstance(m, nn.ReLU):
        return ReLULayer(in_shape)
    if isinstance(m, nn.Linear):
        return LinearLayer(m.weight, m.bias)
    if isinstance(m, nn.Conv2d):
        padding = _conv_padding(name, m)
        return ConvLayer(m.weight, m.bias, in_shape, out_shape, _pair(m.stride), padding,
                         _pair(m.dilation), m.groups)  # fmt: skip
    if isinstance(m, nn.AvgPool2d):
        k, s, p = _pair(m.kernel_size), _pair(m.stride or m.kernel_size), _pair(m.padding)
        if m.ceil_mode or (any(p) and not m.count_include_pad and m.divisor_override is None):
            raise _unsupported(name, m, "ceil_mode or padding not counted in the average")
        c = in_shape[0]
        divisor = m.divisor_override or k[0] * k[1]
        weight = torch.full((c, 1, *k), 1.0 / divisor, dtype=like.dtype, device=like.device)
        return ConvLayer(weight, None, in_shape, out_shape, s, p, (1, 1), c)
    if isinstance(m, (nn.BatchNorm1d, nn.BatchNorm2d)):
        running_mean, running_var = m.running_mean, m.running_var
        if running_mean is None or running_var is None:  # refused before (_refuse_train_mode)
            raise _unsupported(name, m, f"BatchNorm needs running statistics: {EVAL_HINT}")
        scale = torch.rsqrt(running_var + m.eps)
        if m.weight is not None:
            scale = scale * m.weight
        shift = -running_mean * scale + (m.bias if m.bias is not None else 0.0)
        return ChannelAffineLayer(scale, shift, in_shape)
    mean_buffer, std_buffer = getattr(m, "mean", None), getattr(m, "std", None)
    if isinstance(mean_buffer, Tensor) and isinstance(std_buffer, Tensor):
        # advlab.models.layers.Normalize or any module with per-channel mean/std buffers.
        mean, std = mean_buffer.reshape(-1), std_buffer.reshape(-1)
        if mean.numel() not in (1, in_shape[0]):
            raise _unsupported(name, m, f"mean of {mean.numel()} values for {in_shape[0]} channels")
        mean, std = mean.expand(in_shape[0]), std.expand(in_shape[0])
        return ChannelAffineLayer(1.0 / std, -mean / std, in_shape)
    if isinstance(m, nn.Flatten):
        return ReshapeLayer(in_shape, out_shape)
    if isinstance(m, (nn.Identity, nn.Dropout)):  # Dropout: eval mode (checked before)
        return ReshapeLayer(in_shape, out_shape)
    raise _unsupported(name, m)


def _refuse_train_mode(name: str, m: nn.Module) -> None:
    """BatchNorm and Dropout are affine maps only in eval mode; checked before the shape pass,
    which would otherwise update a train-mode BatchNorm's running statistics."""
    if isinstance(m, nn.modules.batchnorm._BatchNorm):
        if m.training or m.running_mean is None or m.running_var is None:
            raise _unsupported(name, m, f"BatchNorm must be in eval mode with running statistics: {EVAL_HINT}")
    if isinstance(m, nn.Dropout) and m.training and m.p > 0:
        raise _unsupported(name, m, f"Dropout must be in eval mode: {EVAL_HINT}")


def build_plan(model: nn.Module | Plan, sample: Tensor) -> Plan:
    """Translate an ``nn.Sequential`` `model` into dual-network layers (a `Plan` is returned as is
    when its input shape matches).

    sample: (N, *in_shape) any input batch (only its shape/device/dtype are used; one zero row
    is run through the modules to learn every layer's shape). Raises `UnsupportedLayerError`
    naming the first unsupported layer and its index.
    """
    if isinstance(model, Plan):
        if tuple(sample.shape[1:]) != model.in_shape:
            raise ValueError(f"x has per-sample shape {tuple(sample.shape[1:])}, the plan expects {model.in_shape}")
        return model
    if not isinstance(model, nn.Sequential):
        raise UnsupportedLayerError(
            f"certification needs an nn.Sequential model, got {type(model).__name__}; "
            f"supported layers: {SUPPORTED}"
        )
    layers: list[BoundLayer] = []
    with torch.no_grad():
        z = torch.zeros_like(sample[:1])
        for name, module in _flatten_modules(model):
            in_shape = tuple(z.shape[1:])
            _refuse_train_mode(name, module)
            try:
                z_next = module(z)
            except Exception as exc:  # a layer that cannot even run on this shape
                raise _unsupported(name, module, f"fails on input {in_shape}: {exc}") from exc
            layer = _convert(name, module, in_shape, tuple(z_next.shape[1:]), z)
            layer.name = f"{name} ({type(module).__name__})"
            layers.append(layer)
            z = z_next
    return Plan(layers, tuple(sample.shape[1:]), tuple(z.shape[1:]))
