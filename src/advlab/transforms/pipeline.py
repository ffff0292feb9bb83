"""A distribution over physical conditions: placement, viewing angle, defocus, lighting, noise.

`TransformDistribution` is the transformation distribution T of expectation over
transformation (Athalye et al. 2018, eq. 1: the 2D case draws scale, rotation, translation,
lightening and noise) and the physical conditions of RP2 (Eykholt et al. 2018, Section 4:
distance, angle, lighting). One row of parameters (P = 10, named in `PARAMETERS`) describes
one condition; ``uniform.sample`` draws them (uniform in each field's range, from an
optional generator) and `apply` renders them:

    geometric  (angle, dx, dy, scale, yaw, pitch) -> ONE grid_sample (placement and view
               composed as one homography, `advlab.transforms.geometric.warp`);
    blur       (blur) Gaussian defocus sigma in pixels (a sign seen from far away);
    lighting   (brightness, contrast);
    noise      (noise) Gaussian camera noise, std in units of the range, drawn from the
               generator passed to `apply`.

Stages whose parameters are all at the identity are skipped (one host check per stage; the
gradient with respect to a skipped stage's parameters is then zero); the result is clamped
into the bounds once, after the last stage.
Params (N, P) give (N, C, H, W); params (N, S, P) give (N, S, C, H, W): S conditions of each
image, the geometric stage rendered from the one copy of each image.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from functools import cached_property
from typing import ClassVar

import torch

from advlab.transforms.distributions import Uniform
from advlab.transforms.geometric import (
    Interpolation,
    Padding,
    placement_inverse,
    validate_sampling,
    view_inverse,
    warp,
)
from advlab.transforms.photometric import additive_noise, brightness_contrast, gaussian_blur
from advlab.types import Bounds

Range = tuple[float, float]

PARAMETERS: tuple[str, ...] = (
    "angle", "dx", "dy", "scale", "yaw", "pitch", "blur", "brightness", "contrast", "noise",
)  # fmt: skip
IDENTITY: tuple[float, ...] = (0.0, 0.0, 0.0, 1.0, 0.0, 0.0, 0.0, 0.0, 1.0, 0.0)
_GEOMETRIC, _VIEW = slice(0, 6), slice(4, 6)
_BLUR, _LIGHT, _NOISE = slice(6, 7), slice(7, 9), slice(9, 10)


@dataclass(frozen=True)
class TransformDistribution:
    """Independent uniform ranges (low, high) for each physical condition.

    rotation: degrees; translation: pixels, drawn independently for x and y; scale: content
    magnification; yaw, pitch: viewing angle in degrees (|.| < 90), camera ``focal``
    half-widths away; blur: Gaussian sigma in pixels; brightness: additive, in units of the
    input range; contrast: multiplicative; noise: Gaussian std in units of the range.
    interpolation, padding: how the geometric stage resamples (padding "zeros" fills with
    the lower bound). The default is the identity (every range a single point).
    """

    rotation: Range = (0.0, 0.0)
    translation: Range = (0.0, 0.0)
    scale: Range = (1.0, 1.0)
    yaw: Range = (0.0, 0.0)
    pitch: Range = (0.0, 0.0)
    blur: Range = (0.0, 0.0)
    brightness: Range = (0.0, 0.0)
    contrast: Range = (1.0, 1.0)
    noise: Range = (0.0, 0.0)
    focal: float = 3.0
    interpolation: Interpolation = "bilinear"
    padding: Padding = "zeros"

    PARAMETERS: ClassVar[tuple[str, ...]] = PARAMETERS

    def __post_init__(self) -> None:
        for name in ("rotation", "translation", "scale", "yaw", "pitch", "blur", "brightness", "contrast", "noise"):
            value = getattr(self, name)
            try:
                low, high = (float(v) for v in value)
            except (TypeError, ValueError):
                raise ValueError(f"{name} must be a range (low, high) of two numbers, got {value!r}") from None
            if not (math.isfinite(low) and math.isfinite(high) and low <= high):
                raise ValueError(f"{name} must be a finite range with low <= high, got {value!r}")
            object.__setattr__(self, name, (low, high))
        if self.scale[0] <= 0:
            raise ValueError(f"scale must be > 0, got {self.scale}")
        for name in ("yaw", "pitch"):
            if max(abs(v) for v in getattr(self, name)) >= 90:
                raise ValueError(f"{name} must lie in (-90, 90) degrees, got {getattr(self, name)}")
        for name in ("blur", "noise", "contrast"):
            if getattr(self, name)[0] < 0:
                raise ValueError(f"{name} must be >= 0, got {getattr(self, name)}")
        if not (isinstance(self.focal, int | float) and self.focal > 0):
            raise ValueError(f"focal must be > 0 (camera distance in half-widths), got {self.focal!r}")
        validate_sampling(self.interpolation, self.padding)

    @cached_property
    def uniform(self) -> Uniform:
        """The ranges as a `Uniform` over the P = 10 parameters (translation used for dx, dy):
        ``dist.uniform.sample(n, generator=g)`` draws (n, P) conditions."""
        ranges = [self.rotation, self.translation, self.translation, self.scale, self.yaw, self.pitch,
                  self.blur, self.brightness, self.contrast, self.noise]  # fmt: skip
        return Uniform(tuple(r[0] for r in ranges), tuple(r[1] for r in ranges))

    @staticmethod
    def conditions(rows: list[dict[str, float]], *, device: torch.device | str | None = None,
                   dtype: torch.dtype = torch.float32) -> torch.Tensor:
        """(len(rows), P) parameters from named values, the others at the identity:
        ``conditions([{"scale": 0.8, "yaw": 30.0}])``. Unknown names list the valid ones."""
        out = torch.tensor([IDENTITY] * len(rows), device=device, dtype=dtype)
        for i, row in enumerate(rows):
            for name, value in row.items():
                if name not in PARAMETERS:
                    raise ValueError(f"unknown condition {name!r}; valid: {', '.join(PARAMETERS)}")
                out[i, PARAMETERS.index(name)] = float(value)
        return out

    def apply(
        self,
        x: torch.Tensor,
        params: torch.Tensor,
        *,
        generator: torch.Generator | None = None,
        bounds: Bounds = (0.0, 1.0),
    ) -> torch.Tensor:
        """Render the conditions params (N, P) -> (N, C, H, W), or (N, S, P) -> (N, S, C, H, W).

        Differentiable in x and params (the noise field is drawn from ``generator``)."""
        if x.ndim != 4 or params.shape[0] != x.shape[0] or params.shape[-1] != len(PARAMETERS) or params.ndim not in (2, 3):
            raise ValueError(
                f"params must be (N, {len(PARAMETERS)}) or (N, S, {len(PARAMETERS)}) for x (N, C, H, W) with "
                f"N = {x.shape[0] if x.ndim else '?'}, got params {tuple(params.shape)} and x {tuple(x.shape)}"
            )
        n, c, h, w = x.shape
        identity = params.new_tensor(IDENTITY)
        flat = params.reshape(-1, len(PARAMETERS))  # (N*S, P)
        moved = flat != identity  # (N*S, P) which parameters leave the identity
        out, rendered = x, bool(moved.any())
        if bool(moved[:, _GEOMETRIC].any()):
            angle, dx, dy, scale = flat[:, :4].unbind(1)
            inverse = placement_inverse(angle, dx, dy, scale, h, w)  # (N*S, 3, 3)
            projective = bool(moved[:, _VIEW].any())
            if projective:
                yaw, pitch = flat[:, 4:6].unbind(1)
                # out = View(Place(in)) -> in = Place^-1 View^-1 out
                inverse = inverse @ view_inverse(yaw, pitch, self.focal, h, w)
            inverse = inverse.view(*params.shape[:-1], 3, 3)
            out = warp(x, inverse, interpolation=self.interpolation, padding=self.padding,
                       bounds=bounds, projective=projective, clamp=False)  # fmt: skip
        if params.ndim == 3 and out.ndim == 4:  # no geometric stage: S copies of each image
            out = out[:, None].expand(n, params.shape[1], c, h, w)
        out = out.reshape(-1, c, h, w)  # (N*S, C, H, W)
        if bool(moved[:, _BLUR].any()):
            out = gaussian_blur(out, flat[:, _BLUR], bounds=bounds, clamp=False)
        if bool(moved[:, _LIGHT].any()):
            out = brightness_contrast(out, flat[:, _LIGHT], bounds=bounds, clamp=False)
        if bool(moved[:, _NOISE].any()):
            noise = torch.randn(out.shape, generator=generator, device=out.device, dtype=out.dtype)
            out = additive_noise(out, flat[:, _NOISE], noise, bounds=bounds, clamp=False)
        if rendered:  # one clamp after the last stage (the sensor saturates once)
            out = out.clamp(bounds[0], bounds[1])
        return out.view(*params.shape[:-1], c, h, w)
