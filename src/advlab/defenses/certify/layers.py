"""Layers of the dual network of Wong & Kolter (ICML 2018, "Provable defenses against adversarial
examples via the convex outer adversarial polytope", arXiv:1711.00851), one class per operator
with the same methods (as auto_LiRPA's bound operators and convex_adversarial's dual layers).

Notation of the paper (Section 3, Algorithm 1 of the lecture's "provable defense" slides):
a network alternates affine maps ``z_hat_{i+1} = W_i z_i + b_i`` and ReLUs ``z_{i+1} =
max(z_hat_{i+1}, 0)``. Once the pre-activation bounds ``l <= z_hat <= u`` of a ReLU are known,
the triangle relaxation of Figure 2 bounds its output between two parallel lines,

    D z_hat  <=  z  <=  D z_hat - D l   on I (l < 0 < u),   D = u / (u - l)              (eq. 10)

(z = 0 on I-, z = z_hat on I+). So every layer of the *relaxed* network is a linear map with an
interval offset, ``z_out = L z_in + o`` with ``o`` in ``[o_c - o_r, o_c + o_r]``:

- an affine layer: ``L = W``, ``o_c = b``, ``o_r = 0`` (no radius);
- a relaxed ReLU: ``L = D``, ``o_c = o_r = -t / 2`` with ``t = D l`` on I (0 elsewhere, t <= 0).

The dual network runs backwards from ``nu_k = -c`` through ``nu_in = L^T nu_out`` (eq. 8:
``nu_hat_i = W_i^T nu_{i+1}``, ``nu_i = D_i nu_hat_i``) and the objective J(c) (eq. 7) collects
``-nu_out^T o_c - |nu_out|^T o_r`` per layer; for a ReLU that is ``sum_{j in I} l_j [nu_j]_+``
(the paper's ReLU term) and for an affine layer ``-nu_{i+1}^T b_i`` (the gamma terms).

Methods, the same on every layer (``...`` is any number of leading batch dimensions: (N,) for
per-sample tensors, (M, K) for M in {1, N} samples times K specifications or unit vectors):

- ``affine(z)``           ``L z + o_c``        (..., *in_shape) -> (..., *out_shape)
- ``linear(v)``           ``L v``              (..., *in_shape) -> (..., *out_shape)
- ``transpose(nu)``       ``L^T nu``           (..., *out_shape) -> (..., *in_shape)
- ``offset_centre``       ``o_c`` or None      broadcastable to (N, *out_shape)
- ``offset_radius``       ``o_r`` or None      (N, *out_shape)
- ``interval(c, r)``      interval arithmetic  (N, *in_shape) x 2 -> (N, *out_shape) x 2
- ``bounded(l, u)``       the layer once its input bounds are known (a ReLU's relaxation;
                          affine layers return themselves); ``needs_bounds`` says which need it.

A ReLU's relaxation depends on the sample, so on a ReLU ``linear`` / ``transpose`` of a
(1, K, ...) tensor give (N, K, ...). The plan (plan.py) turns an ``nn.Sequential`` into these.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor

Shape = tuple[int, ...]


class UnsupportedLayerError(ValueError):
    """A layer the dual network cannot represent; the message names the layer and its index."""


def _leading(v: Tensor, shape: Shape) -> tuple[int, ...]:
    """The batch dimensions of v in front of a per-sample `shape`."""
    return tuple(v.shape[: v.dim() - len(shape)])


class BoundLayer:
    """Base of every layer of the dual network (Wong & Kolter 2018, Section 3): the relaxed map
    ``z_out = L z_in + o``, ``o`` in ``[offset_centre -/+ offset_radius]`` (module docstring).

    Subclasses implement `linear`, `transpose` and the offsets; `affine` and `interval` follow
    for affine maps (interval arithmetic ``(W c + b, |W| r)``), and ReLU overrides them.
    """

    name: str = ""
    in_shape: Shape = ()
    out_shape: Shape = ()
    needs_bounds: bool = False
    """True when the layer can only be relaxed once the bounds of its input are known (ReLU)."""

    def bounded(self, lower: Tensor, upper: Tensor) -> BoundLayer:  # noqa: ARG002 (affine: exact)
        """The layer relaxed over input bounds ``lower <= z_in <= upper`` (N, *in_shape)."""
        return self

    def linear(self, v: Tensor) -> Tensor:
        raise NotImplementedError

    def linear_abs(self, r: Tensor) -> Tensor:
        """``|L| r`` for a radius r (..., *in_shape) (interval arithmetic)."""
        raise NotImplementedError

    def transpose(self, nu: Tensor) -> Tensor:
        raise NotImplementedError

    @property
    def offset_centre(self) -> Tensor | None:
        """``o_c``, broadcastable to (N, *out_shape); None when the layer has no offset."""
        return None

    @property
    def offset_radius(self) -> Tensor | None:
        """``o_r`` (N, *out_shape) >= 0; None when the offset is exact (affine layers)."""
        return None

    def affine(self, z: Tensor) -> Tensor:
        """``L z + o_c`` for z (..., *in_shape)."""
        out, centre = self.linear(z), self.offset_centre
        return out if centre is None else out + centre

    def interval(self, centre: Tensor, radius: Tensor) -> tuple[Tensor, Tensor]:
        """(centre, radius) (N, *out_shape) of the image of the box ``centre -/+ radius``."""
        return self.affine(centre), self.linear_abs(radius)

    @property
    def mixes(self) -> bool:
        """True if outputs combine several inputs (not elementwise); used to decide when
        interval arithmetic through a block of affine layers is exact."""
        return True

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.name or '?'}: {self.in_shape} -> {self.out_shape})"


class LinearLayer(BoundLayer):
    """``nn.Linear``: ``z_hat = W z + b``, W (out, in); ``nu_hat = W^T nu`` is ``nu @ W``."""

    def __init__(self, weight: Tensor, bias: Tensor | None) -> None:
        self.weight, self.bias = weight, bias  # (out, in), (out,)
        self.in_shape, self.out_shape = (weight.shape[1],), (weight.shape[0],)

    def affine(self, z: Tensor) -> Tensor:
        return F.linear(z, self.weight, self.bias)

    def linear(self, v: Tensor) -> Tensor:
        return F.linear(v, self.weight)

    def linear_abs(self, r: Tensor) -> Tensor:
        return F.linear(r, self.weight.abs())

    def transpose(self, nu: Tensor) -> Tensor:
        return nu @ self.weight  # (..., out) @ (out, in) -> (..., in)

    @property
    def offset_centre(self) -> Tensor | None:
        return None if self.bias is None else self.bias.unsqueeze(0)  # (1, out)


NATIVE_TRANSPOSE_CHANNELS = 3
"""On CPU, a transposed convolution back to at most this many channels (an image layer, groups 1)
runs PyTorch's own kernel (``aten.slow_conv_transpose2d``) instead of oneDNN, whose kernel for few output channels is slow: 1320 maps of 16 channels 14x14 -> 1x28x28
(wong-small's first layer) 175 -> 56 ms; 16 -> 3 channels stride 2: 76 -> 50 ms; with 8 or more
channels oneDNN is 2x faster (1 thread, torch 2.14)."""


class ConvLayer(BoundLayer):
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
        lead = _leading(z, self.in_shape)  # conv2d takes one batch dimension
        out = F.conv2d(z.reshape(-1, *self.in_shape), weight, bias, self.stride, self.padding,
                       self.dilation, self.groups)  # fmt: skip
        return out.reshape(*lead, *self.out_shape)

    def affine(self, z: Tensor) -> Tensor:
        return self._conv(z, self.weight, self.bias)

    def linear(self, v: Tensor) -> Tensor:
        return self._conv(v, self.weight, None)

    def linear_abs(self, r: Tensor) -> Tensor:
        return self._conv(r, self.weight.abs(), None)

    def transpose(self, nu: Tensor) -> Tensor:
        lead = _leading(nu, self.out_shape)
        flat = nu.reshape(-1, *self.out_shape)  # (B, C_out, H', W') -> (B, C_in, H, W)
        if nu.device.type == "cpu" and self.groups == 1 and self.in_shape[0] <= NATIVE_TRANSPOSE_CHANNELS:
            out = torch.ops.aten.slow_conv_transpose2d(flat, self.weight, self.weight.shape[2:], None, self.stride,
                                                       self.padding, self.output_padding, self.dilation)  # fmt: skip
        else:
            out = F.conv_transpose2d(flat, self.weight, None, self.stride, self.padding, self.output_padding,
                                     self.groups, self.dilation)  # fmt: skip
        return out.reshape(*lead, *self.in_shape)

    @property
    def offset_centre(self) -> Tensor | None:
        if self.bias is None:
            return None
        return self.bias.view(1, -1, 1, 1).expand(1, *self.out_shape)  # (1, C, H, W), no copy


class ChannelAffineLayer(BoundLayer):
    """Per-channel ``z_hat = scale * z + shift``: eval-mode BatchNorm1d/2d folded into an affine
    map, and ``Normalize`` ((z - mean) / std). `scale`, `shift` are (C,); channel is dim 1."""

    def __init__(self, scale: Tensor, shift: Tensor, shape: Shape) -> None:
        view = (-1,) + (1,) * (len(shape) - 1)  # broadcast (C,) over (C, H, W) or (C,)
        self.scale, self.shift = scale.reshape(view), shift.reshape(view)
        self.in_shape = self.out_shape = shape

    def linear(self, v: Tensor) -> Tensor:
        return v * self.scale

    def linear_abs(self, r: Tensor) -> Tensor:
        return r * self.scale.abs()

    def transpose(self, nu: Tensor) -> Tensor:
        return nu * self.scale

    @property
    def offset_centre(self) -> Tensor | None:
        return self.shift.expand(self.out_shape).unsqueeze(0)  # (1, *shape)

    @property
    def mixes(self) -> bool:
        return False


class ReshapeLayer(BoundLayer):
    """``nn.Flatten`` (and Identity/Dropout in eval, a reshape to the same shape)."""

    def __init__(self, in_shape: Shape, out_shape: Shape) -> None:
        self.in_shape, self.out_shape = in_shape, out_shape

    def linear(self, v: Tensor) -> Tensor:
        return v.reshape(*_leading(v, self.in_shape), *self.out_shape)

    def linear_abs(self, r: Tensor) -> Tensor:  # |reshape| = reshape
        return self.linear(r)

    def transpose(self, nu: Tensor) -> Tensor:
        return nu.reshape(*_leading(nu, self.out_shape), *self.in_shape)

    @property
    def mixes(self) -> bool:
        return False


class ReLULayer(BoundLayer):
    """``nn.ReLU`` and, once bounded, its triangle relaxation over ``[l, u]`` (Wong & Kolter 2018,
    Figure 2, eq. 10), with the sets ``I-`` (u <= 0), ``I+`` (l >= 0) and ``I`` (l < 0 < u).

    In the plan a ReLU has no bounds (``needs_bounds``); `interval` works without them.
    ``bounded(l, u)`` (l, u: (N, *shape) pre-activation bounds) gives the relaxed layer with
    ``d`` (N, *shape) the diagonal of D (0 on I-, 1 on I+, u/(u-l) on I) and ``t`` (N, *shape)
    ``= d * l`` on I, 0 elsewhere (<= 0); its offset is ``[0, -t]``: centre and radius ``-t/2``.
    """

    needs_bounds = True

    def __init__(self, shape: Shape, lower: Tensor | None = None, upper: Tensor | None = None,
                 name: str = "") -> None:  # fmt: skip
        self.in_shape = self.out_shape = shape
        self.name = name
        self.lower, self.upper = lower, upper
        if lower is None or upper is None:
            return
        l, u = lower, upper  # noqa: E741 (the paper's symbols)
        self.i_minus, self.i_plus = u <= 0, l >= 0
        self.i_mixed = ~(self.i_minus | self.i_plus)  # I
        # u - l is replaced by 1 off I so that neither the value nor its gradient is NaN.
        width = torch.where(self.i_mixed, u - l, torch.ones_like(u))
        self.d = torch.where(self.i_mixed, u / width, self.i_plus.to(u.dtype))  # (N, *shape)
        self.t = torch.where(self.i_mixed, self.d * l, torch.zeros_like(l))  # (N, *shape), <= 0
        self.half_gap = -self.t / 2  # (N, *shape) >= 0: centre and radius of the offset [0, -t]

    def bounded(self, lower: Tensor, upper: Tensor) -> ReLULayer:
        return ReLULayer(self.in_shape, lower, upper, self.name)

    def _require_bounds(self) -> None:
        if self.lower is None:
            raise RuntimeError(
                f"{self.name or 'ReLU'} has no input bounds yet: call bounded(lower, upper) first "
                "(the relaxation of Wong & Kolter 2018, eq. 10, needs them)"
            )

    def _diagonal(self, v: Tensor) -> Tensor:
        """d broadcast against v: (N, *shape) or (N, 1, *shape) for v (M, K, *shape)."""
        self._require_bounds()
        return self.d.unsqueeze(1) if v.dim() > self.d.dim() else self.d

    def linear(self, v: Tensor) -> Tensor:
        return self._diagonal(v) * v  # nu_i = D_i nu_hat_i (D is diagonal: L = L^T)

    def linear_abs(self, r: Tensor) -> Tensor:
        return self._diagonal(r) * r  # d >= 0

    def transpose(self, nu: Tensor) -> Tensor:
        return self.linear(nu)

    @property
    def offset_centre(self) -> Tensor | None:
        self._require_bounds()
        return self.half_gap

    @property
    def offset_radius(self) -> Tensor | None:
        self._require_bounds()
        return self.half_gap

    def interval(self, centre: Tensor, radius: Tensor) -> tuple[Tensor, Tensor]:
        """Interval arithmetic ``[relu(c - r), relu(c + r)]`` (exact for a ReLU; no bounds needed)."""
        low, high = (centre - radius).clamp_min(0), (centre + radius).clamp_min(0)
        return (low + high) / 2, (high - low) / 2

    @property
    def mixes(self) -> bool:
        return False
