"""CROWN's backward pass for the units of a convolutional layer in "patches" form (as auto_LiRPA's
``conv_mode="patches"``, Xu et al. 2020, "Automatic Perturbation Analysis for Scalable Certified
Robustness and Beyond", Appendix A): the same bounds as `crown.lower_pass` from the unit
vectors, computed on the receptive field of each unit only.

When every layer between the input and a unit is a convolution (or AvgPool), a per-channel
affine map or a ReLU, the dual vector ``Lambda`` of a unit at position (h, w) is zero outside a
window of each earlier activation: at a level with cumulative stride S, padding P and window K
(per spatial dimension) it is nonzero only on rows ``h S - P .. h S - P + K - 1`` (same for
columns). So ``Lambda`` is kept as (M, L, U, C*Kh*Kw): L output positions (1 while Lambda is the
same for every position, i.e. before the first ReLU), U unit vectors per output position (the
channels of the block, both signs), and every per-sample quantity the pass needs (ReLU slopes
and intercepts, biases, the input box) is unfolded into the same windows with zero padding,
which drops exactly the terms that the full pass gets from zero padding. Through a
convolution, a window of the output maps to a window of the input by the transposed
convolution *without* padding (`_transpose`).

The result equals `crown.lower_pass` of the unit vectors (tests/defenses/certify/test_crown.py
compares them); on wong-small at batch 20 the pass over the 1568 units of the second
convolution touches 16x16 and 10x10 windows instead of 16x14x14 and 28x28 maps.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import Tensor

from advlab.defenses.certify.layers import BoundLayer, ChannelAffineLayer, ConvLayer, ReLULayer

Window = tuple[tuple[int, int], tuple[int, int], tuple[int, int]]
"""(stride, padding, size) of the window per spatial dimension at one level."""

MATRIX_ELEMENTS = 2**21
"""Largest (C_out Ko_h Ko_w) x (C_in Ki_h Ki_w) matrix used for a transposed convolution of
windows; larger ones use ``conv_transpose2d``. On CPU a matrix product is ~30x faster here:
conv_transpose2d of 16 channels to 1 (the first layer) runs at well under 1 GFLOP/s."""


def windows(layers: list[BoundLayer]) -> list[Window] | None:
    """Window of every level (level i = input of layers[i], level len = output) for the units at
    the output of `layers`, or None if the layers are not all convolutions, per-channel affine
    maps and ReLUs on (C, H, W) activations."""
    top: Window = ((1, 1), (0, 0), (1, 1))
    levels = [top]
    for layer in reversed(layers):
        if len(layer.out_shape) != 3 or len(layer.in_shape) != 3:
            return None
        (s_h, s_w), (p_h, p_w), (k_h, k_w) = levels[0]
        if isinstance(layer, ConvLayer):
            st, pad, dil, ker = layer.stride, layer.padding, layer.dilation, layer.weight.shape[2:]
            levels.insert(0, (
                (s_h * st[0], s_w * st[1]),
                (p_h * st[0] + pad[0], p_w * st[1] + pad[1]),
                ((k_h - 1) * st[0] + dil[0] * (ker[0] - 1) + 1, (k_w - 1) * st[1] + dil[1] * (ker[1] - 1) + 1),
            ))  # fmt: skip
        elif isinstance(layer, (ChannelAffineLayer, ReLULayer)):
            levels.insert(0, levels[0])
        else:
            return None
    return levels


def worthwhile(layers: list[BoundLayer], levels: list[Window] | None) -> bool:
    """True if the windows are smaller than the activations at every level (else the full pass
    is as cheap), and the layers contain a ReLU (without one the bound is closed-form)."""
    if levels is None or not any(isinstance(layer, ReLULayer) for layer in layers):
        return False
    shapes = [layer.in_shape for layer in layers]
    return all(k[0] * k[1] < shape[1] * shape[2] for (_, _, k), shape in zip(levels, shapes, strict=False))


def unfold(v: Tensor, window: Window, out_hw: tuple[int, int]) -> Tensor:
    """v (B, C, H, W) -> (B, L, C*Kh*Kw): the window of every output position (L = out_h*out_w),
    zero outside the activation."""
    (s_h, s_w), (p_h, p_w), (k_h, k_w) = window
    h, w = v.shape[-2:]
    extra_h = max(0, (out_hw[0] - 1) * s_h - p_h + k_h - h)
    extra_w = max(0, (out_hw[1] - 1) * s_w - p_w + k_w - w)
    v = F.pad(v, (p_w, extra_w, p_h, extra_h))
    cols = F.unfold(v, (k_h, k_w), stride=(s_h, s_w))  # (B, C*Kh*Kw, Lh*Lw)
    l_h, l_w = (v.shape[-2] - k_h) // s_h + 1, (v.shape[-1] - k_w) // s_w + 1
    if (l_h, l_w) != out_hw:
        cols = cols.view(cols.shape[0], cols.shape[1], l_h, l_w)[:, :, : out_hw[0], : out_hw[1]]
    # contiguous: a strided view here would make every broadcast result with Lambda strided too
    return cols.reshape(cols.shape[0], cols.shape[1], -1).transpose(1, 2).contiguous()  # (B, L, F)


def dot(lam: Tensor, u: Tensor) -> Tensor:
    """``sum_f lam[m, l, k, f] u[n, l, f]`` for lam (M, L', U, F), L' in {1, L}, u (N', L, F)
    -> (max(M, N'), L, U)."""
    if lam.shape[0] == 1 and lam.shape[1] == 1:
        return torch.matmul(u, lam[0, 0].T)  # (N', L, F) @ (F, U) -> (N', L, U)
    return torch.matmul(lam, u.unsqueeze(-1)).squeeze(-1)  # (M, L', U, F) @ (N', L, F, 1)


def _transpose(layer: ConvLayer, lam: Tensor, w_out: Window, w_in: Window) -> Tensor:
    """``W^T Lambda`` on windows: (M, L', U, C_out*Ko_h*Ko_w) -> (M, L', U, C_in*Ki_h*Ki_w)."""
    c_out, c_in = layer.out_shape[0], layer.in_shape[0]
    k_out, k_in = w_out[2], w_in[2]
    f_out, f_in = c_out * k_out[0] * k_out[1], c_in * k_in[0] * k_in[1]

    def apply(v: Tensor) -> Tensor:  # (B, C_out, Ko_h, Ko_w) -> (B, C_in, Ki_h, Ki_w)
        return F.conv_transpose2d(v, layer.weight, None, layer.stride, 0, 0, layer.groups, layer.dilation)

    if f_out * f_in <= MATRIX_ELEMENTS:
        eye = torch.eye(f_out, dtype=lam.dtype, device=lam.device).view(f_out, c_out, *k_out)
        matrix = apply(eye).reshape(f_out, f_in)
        return (lam.reshape(-1, f_out) @ matrix).view(*lam.shape[:3], f_in)  # one product, no batching
    lead = lam.shape[:3]
    return apply(lam.reshape(-1, c_out, *k_out)).reshape(*lead, f_in)


def lower_pass(layers: list[BoundLayer], alphas: list[Tensor | None], levels: list[Window],
               lam: Tensor, centre: Tensor, radius: Tensor) -> Tensor:  # fmt: skip
    """`crown.lower_pass` on windows: lam (1, 1, U, C_top) the same unit vectors at every output
    position of `layers` (whose output has L positions); alphas: (N, *shape) per ReLU.
    Returns (N, L, U) (or (1, L, U) if nothing depends on the sample)."""
    out_hw = (int(layers[-1].out_shape[1]), int(layers[-1].out_shape[2]))  # (H, W) of the last layer
    bias = lam.new_zeros(())
    for i in range(len(layers) - 1, -1, -1):
        layer, alpha, here = layers[i], alphas[i], levels[i + 1]
        if isinstance(layer, ReLULayer):
            if alpha is None:
                raise ValueError(f"{layer.name or 'ReLU'} has no lower slope alpha")
            slope_up, slope_low, t = (unfold(v, here, out_hw) for v in (layer.d, alpha, layer.t))  # (N, L, F)
            bias = bias - dot(lam.clamp_max(0), t)  # [Lambda]_-^T (-d l)
            slope_up, slope_low = slope_up.unsqueeze(2), slope_low.unsqueeze(2)  # (N, L, 1, F)
            lam = torch.where(lam > 0, slope_low, slope_up) * lam  # [L]_+ alpha + [L]_- d, exactly
            continue
        if layer.offset_centre is not None:
            offset = layer.offset_centre.expand(1, *layer.out_shape)
            bias = bias + dot(lam, unfold(offset, here, out_hw))  # Lambda^T b
        if isinstance(layer, ConvLayer):
            lam = _transpose(layer, lam, here, levels[i])
        else:  # per-channel scale: (..., C, Kh, Kw) * (C, 1, 1)
            c, (k_h, k_w) = layer.in_shape[0], here[2]
            lam = layer.transpose(lam.unflatten(-1, (c, k_h, k_w))).flatten(-3)
    x_c, x_r = unfold(centre, levels[0], out_hw), unfold(radius, levels[0], out_hw)
    return bias + dot(lam, x_c) - dot(lam.abs(), x_r)


def unit_bounds(layers: list[BoundLayer], alphas: list[Tensor | None], levels: list[Window],
                centre: Tensor, radius: Tensor, chunk: int) -> tuple[Tensor, Tensor]:  # fmt: skip
    """l, u (N, C, H, W) of every unit at the output of `layers` by `lower_pass` of ``+-e``,
    in blocks of output channels so that the largest tensor has at most `chunk` elements."""
    n = centre.shape[0]
    channels, out_h, out_w = layers[-1].out_shape
    widest = max(math.prod((c, *k)) for c, k in zip(
        [layer.in_shape[0] for layer in layers] + [channels], [lv[2] for lv in levels], strict=True))  # fmt: skip
    per_pass = max(1, chunk // max(1, n * out_h * out_w * widest * 2))
    lows, ups = [], []
    for start in range(0, channels, per_pass):
        count = min(per_pass, channels - start)
        eye = centre.new_zeros(count, channels)
        eye.diagonal(offset=start).fill_(1.0)
        lam = torch.cat([eye, -eye]).view(1, 1, 2 * count, channels)
        both = lower_pass(layers, alphas, levels, lam, centre, radius).expand(n, -1, -1)  # (N, L, 2 count)
        lows.append(both[:, :, :count].transpose(1, 2))
        ups.append(-both[:, :, count:].transpose(1, 2))
    shape = (n, channels, out_h, out_w)
    return torch.cat(lows, 1).reshape(shape), torch.cat(ups, 1).reshape(shape)
