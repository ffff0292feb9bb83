"""Layers of the dual network of Wong & Kolter (ICML 2018, "Provable defenses against adversarial
examples via the convex outer adversarial polytope", arXiv:1711.00851), one class per layer type.

Notation of the paper (Section 3, Algorithm 1 of the lecture's "provable defense" slides):
a network alternates affine maps ``z_hat_{i+1} = W_i z_i + b_i`` and ReLUs ``z_{i+1} =
max(z_hat_{i+1}, 0)``. The dual network runs *backwards*: ``nu_k = -c`` and, for every affine map,
``nu_hat_i = W_i^T nu_{i+1}`` (eq. 8) with the offset ``gamma_i = b_i`` entering the objective as
``-nu_{i+1}^T b_i``; every ReLU with pre-activation bounds ``l <= z_hat <= u`` is relaxed to the
triangle of Figure 2 and its dual is ``nu_i = D_i nu_hat_i`` with

    D_i = 0 on I-  (u <= 0),   1 on I+  (l >= 0),   u / (u - l) on I  (l < 0 < u)      (eq. 10)

plus the term ``sum_{j in I} l_j [nu_ij]_+`` in the objective J (eq. 7).

Every affine layer class has the same methods so that the bound algorithms (interval.py, dual.py,
projected.py) never look at layer types:

- ``affine(z)``      ``W z + b``            (B, *in_shape) -> (B, *out_shape)
- ``linear(z)``      ``W z``                (B, *in_shape) -> (B, *out_shape)
- ``linear_abs(r)``  ``|W| r``              (B, *in_shape) -> (B, *out_shape)  (interval radius)
- ``transpose(nu)``  ``W^T nu`` (nu_hat)    (B, *out_shape) -> (B, *in_shape)
- ``bias_dot(nu)``   ``nu^T b`` (gamma)     (B, *out_shape) -> (B,)

``B`` is any flattened batch (samples times specifications). The ReLU relaxation is
`ReLURelaxation`, built from bounds l, u once they are known. `build_layers` turns an
``nn.Sequential`` into these objects and names any unsupported layer with its index.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import torch
import torch.nn.functional as F
from torch import Tensor, nn

Shape = tuple[int, ...]


class UnsupportedLayerError(ValueError):
    """A layer the dual network cannot represent; the message names the layer and its index."""


class AffineLayer:
    """Base of every affine layer ``z_hat = W z + b`` of the dual network (Wong & Kolter 2018, eq. 8).

    Subclasses implement the five methods in the module docstring for per-sample shapes
    `in_shape` -> `out_shape`.
    """

    name: str = ""
    in_shape: Shape = ()
    out_shape: Shape = ()

    def affine(self, z: Tensor) -> Tensor:
        raise NotImplementedError

    def linear(self, z: Tensor) -> Tensor:
        raise NotImplementedError

    def linear_abs(self, r: Tensor) -> Tensor:
        raise NotImplementedError

    def transpose(self, nu: Tensor) -> Tensor:
        raise NotImplementedError

    def bias_dot(self, nu: Tensor) -> Tensor | None:
        """``nu^T b`` per row of `nu` (B,); None when the layer has no offset."""
        return None

    @property
    def mixes(self) -> bool:
        """True if outputs combine several inputs (not elementwise); used to decide when
        interval arithmetic through a block of affine layers is exact."""
        return True


class LinearLayer(AffineLayer):
    """``nn.Linear``: ``z_hat = W z + b``, W (out, in); ``nu_hat = W^T nu`` is ``nu @ W``."""

    def __init__(self, weight: Tensor, bias: Tensor | None) -> None:
        self.weight, self.bias = weight, bias  # (out, in), (out,)
        self.in_shape, self.out_shape = (weight.shape[1],), (weight.shape[0],)

    def affine(self, z: Tensor) -> Tensor:
        return F.linear(z, self.weight, self.bias)

    def linear(self, z: Tensor) -> Tensor:
        return F.linear(z, self.weight)

    def linear_abs(self, r: Tensor) -> Tensor:
        return F.linear(r, self.weight.abs())

    def transpose(self, nu: Tensor) -> Tensor:
        return nu @ self.weight  # (B, out) @ (out, in) -> (B, in)

    def bias_dot(self, nu: Tensor) -> Tensor | None:
        return None if self.bias is None else nu @ self.bias  # (B,)


class ConvLayer(AffineLayer):
    """``nn.Conv2d`` (any kernel, stride, padding, dilation, groups; zero padding) and
    ``nn.AvgPool2d`` (a depthwise convolution with weights 1/(kh*kw)).

    The dual ``nu_hat = W^T nu`` is a transposed convolution; its ``output_padding`` restores
    the input size that a strided convolution rounds down, e.g. 28x28 -> 14x14 with 3x3 stride 2
    padding 1 needs output_padding 1 on the way back.
    """

    def __init__(
        self,
        weight: Tensor,
        bias: Tensor | None,
        in_shape: Shape,
        out_shape: Shape,
        stride: tuple[int, int],
        padding: tuple[int, int],
        dilation: tuple[int, int],
        groups: int,
    ) -> None:
        self.weight, self.bias = weight, bias  # (C_out, C_in/groups, kh, kw), (C_out,)
        self.in_shape, self.out_shape = in_shape, out_shape
        self.stride, self.padding, self.dilation, self.groups = stride, padding, dilation, groups
        kernel = weight.shape[2:]
        # Size a transposed conv would give without output_padding; the rest is the rounding.
        self.output_padding = tuple(
            in_shape[1 + d]
            - ((out_shape[1 + d] - 1) * stride[d] - 2 * padding[d] + dilation[d] * (kernel[d] - 1) + 1)
            for d in range(2)
        )

    def _conv(self, z: Tensor, weight: Tensor, bias: Tensor | None) -> Tensor:
        return F.conv2d(z, weight, bias, self.stride, self.padding, self.dilation, self.groups)

    def affine(self, z: Tensor) -> Tensor:
        return self._conv(z, self.weight, self.bias)

    def linear(self, z: Tensor) -> Tensor:
        return self._conv(z, self.weight, None)

    def linear_abs(self, r: Tensor) -> Tensor:
        return self._conv(r, self.weight.abs(), None)

    def transpose(self, nu: Tensor) -> Tensor:
        return F.conv_transpose2d(
            nu, self.weight, None, self.stride, self.padding, self.output_padding,
            self.groups, self.dilation,
        )  # (B, C_out, H', W') -> (B, C_in, H, W)

    def bias_dot(self, nu: Tensor) -> Tensor | None:
        if self.bias is None:
            return None
        return nu.sum(dim=(2, 3)) @ self.bias  # (B, C_out) @ (C_out,) -> (B,)


class ChannelAffineLayer(AffineLayer):
    """Per-channel ``z_hat = scale * z + shift``: eval-mode BatchNorm1d/2d folded into an affine
    map, and ``Normalize`` ((z - mean) / std). `scale`, `shift` are (C,); channel is dim 1."""

    def __init__(self, scale: Tensor, shift: Tensor, shape: Shape) -> None:
        view = (-1,) + (1,) * (len(shape) - 1)  # broadcast (C,) over (C, H, W) or (C,)
        self.scale, self.shift = scale.reshape(view), shift.reshape(view)
        self.in_shape = self.out_shape = shape

    def affine(self, z: Tensor) -> Tensor:
        return z * self.scale + self.shift

    def linear(self, z: Tensor) -> Tensor:
        return z * self.scale

    def linear_abs(self, r: Tensor) -> Tensor:
        return r * self.scale.abs()

    def transpose(self, nu: Tensor) -> Tensor:
        return nu * self.scale

    def bias_dot(self, nu: Tensor) -> Tensor | None:
        return (nu * self.shift).flatten(1).sum(1)

    @property
    def mixes(self) -> bool:
        return False


class ReshapeLayer(AffineLayer):
    """``nn.Flatten`` (and Identity/Dropout in eval, a reshape to the same shape)."""

    def __init__(self, in_shape: Shape, out_shape: Shape) -> None:
        self.in_shape, self.out_shape = in_shape, out_shape

    def affine(self, z: Tensor) -> Tensor:
        return z.reshape(z.shape[0], *self.out_shape)

    def linear(self, z: Tensor) -> Tensor:  # a reshape has no offset: linear part = affine map
        return self.affine(z)

    def linear_abs(self, r: Tensor) -> Tensor:  # |reshape| = reshape
        return self.affine(r)

    def transpose(self, nu: Tensor) -> Tensor:
        return nu.reshape(nu.shape[0], *self.in_shape)

    @property
    def mixes(self) -> bool:
        return False


class ReLURelaxation:
    """The convex (triangle) relaxation of a ReLU over ``[l, u]`` (Wong & Kolter 2018, Figure 2,
    eq. 10), with the sets ``I-`` (u <= 0), ``I+`` (l >= 0) and ``I`` (l < 0 < u).

    l, u: (N, *shape) pre-activation bounds. Attributes: ``d`` (N, *shape) the diagonal of D_i
    (0 on I-, 1 on I+, u/(u-l) on I), and ``t`` (N, *shape) = ``d * l`` on I and 0 elsewhere, so
    that the ReLU term of the objective, ``sum_{j in I} l_j [nu_j]_+`` with ``nu = D nu_hat``,
    is ``sum_j t_j [nu_hat_j]_+`` (d > 0 on I).
    """

    def __init__(self, lower: Tensor, upper: Tensor, name: str = "") -> None:
        self.name = name
        self.l, self.u = l, u = lower, upper  # noqa: E741 (the paper's symbols)
        self.i_minus, self.i_plus = u <= 0, l >= 0
        self.i_mixed = ~(self.i_minus | self.i_plus)  # I
        # u - l is replaced by 1 off I so that neither the value nor its gradient is NaN.
        width = torch.where(self.i_mixed, u - l, torch.ones_like(u))
        slope = torch.where(self.i_mixed, u / width, self.i_plus.to(u.dtype))
        self.d = slope  # (N, *shape)
        self.t = torch.where(self.i_mixed, slope * l, torch.zeros_like(l))  # (N, *shape), <= 0

    def apply(self, nu_hat: Tensor) -> Tensor:
        """``nu = D nu_hat`` for nu_hat (N, K, *shape) or (1, K, *shape) -> (N, K, *shape)."""
        return self.d.unsqueeze(1) * nu_hat


@dataclass(frozen=True)
class Plan:
    """A model as dual-network layers: a list of `AffineLayer` and the string "relu"."""

    layers: list[Any]
    in_shape: Shape
    out_shape: Shape


SUPPORTED = (
    "Linear, Conv2d (zero padding), ReLU, Flatten, BatchNorm1d/2d (eval), AvgPool2d, "
    "Normalize (mean/std buffers), Identity, Dropout (eval), nested nn.Sequential"
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


def _convert(name: str, m: nn.Module, in_shape: Shape, out_shape: Shape, like: Tensor) -> Any:
    """One module -> one dual layer ("relu" for a ReLU), or raise naming the layer."""
    if isinstance(m, nn.ReLU):
        return "relu"
    if isinstance(m, nn.Linear):
        return LinearLayer(m.weight, m.bias)
    if isinstance(m, nn.Conv2d):
        if m.padding_mode != "zeros":
            raise _unsupported(name, m, f"padding_mode={m.padding_mode!r}, only 'zeros'")
        if isinstance(m.padding, str):  # 'valid' or 'same'
            total = [d * (k - 1) for d, k in zip(m.dilation, m.kernel_size, strict=True)]
            if m.padding == "same" and any(t % 2 for t in total):
                raise _unsupported(name, m, "asymmetric 'same' padding")
            padding = (0, 0) if m.padding == "valid" else (total[0] // 2, total[1] // 2)
        else:
            padding = _pair(m.padding)
        return ConvLayer(m.weight, m.bias, in_shape, out_shape, _pair(m.stride), padding,
                         _pair(m.dilation), m.groups)
    if isinstance(m, nn.AvgPool2d):
        k, s, p = _pair(m.kernel_size), _pair(m.stride or m.kernel_size), _pair(m.padding)
        if m.ceil_mode or (any(p) and not m.count_include_pad and m.divisor_override is None):
            raise _unsupported(name, m, "ceil_mode or padding not counted in the average")
        c = in_shape[0]
        divisor = m.divisor_override or k[0] * k[1]
        weight = torch.full((c, 1, *k), 1.0 / divisor, dtype=like.dtype, device=like.device)
        return ConvLayer(weight, None, in_shape, out_shape, s, p, (1, 1), c)
    if isinstance(m, (nn.BatchNorm1d, nn.BatchNorm2d)):
        if m.training or m.running_mean is None or m.running_var is None:
            raise _unsupported(name, m, "BatchNorm must be in eval mode with running statistics")
        scale = torch.rsqrt(m.running_var + m.eps)
        if m.weight is not None:
            scale = scale * m.weight
        shift = -m.running_mean * scale + (m.bias if m.bias is not None else 0.0)
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
    if isinstance(m, nn.Identity) or (isinstance(m, nn.Dropout) and (not m.training or m.p == 0)):
        return ReshapeLayer(in_shape, out_shape)
    if isinstance(m, nn.Dropout):
        raise _unsupported(name, m, "Dropout must be in eval mode")
    raise _unsupported(name, m)


def build_layers(model: nn.Module, sample: Tensor) -> Plan:
    """Translate an ``nn.Sequential`` `model` into dual-network layers.

    sample: (N, *in_shape) any input batch (only its shape/device/dtype are used; one row is run
    through the model to learn every layer's shape). Raises `UnsupportedLayerError` naming the
    first unsupported layer and its index.
    """
    modules = _flatten_modules(model)
    if not isinstance(model, nn.Sequential):
        raise UnsupportedLayerError(
            f"certification needs an nn.Sequential model, got {type(model).__name__}; "
            f"supported layers: {SUPPORTED}"
        )
    layers: list[Any] = []
    with torch.no_grad():
        z = torch.zeros_like(sample[:1])
        for name, module in modules:
            in_shape = tuple(z.shape[1:])
            try:
                z_next = module(z)
            except Exception as exc:  # a layer that cannot even run on this shape
                raise _unsupported(name, module, f"fails on input {in_shape}: {exc}") from exc
            layer = _convert(name, module, in_shape, tuple(z_next.shape[1:]), z)
            if layer != "relu":
                layer.name = f"{name} ({type(module).__name__})"
            layers.append(layer)
            z = z_next
    return Plan(layers, tuple(sample.shape[1:]), tuple(z.shape[1:]))
