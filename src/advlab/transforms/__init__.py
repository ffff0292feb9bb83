"""Differentiable, batched image transformations with per-sample parameters, and distributions
over them: the shared part of spatial attacks (Engstrom et al. 2019), expectation over
transformation (Athalye et al. 2018), robust physical perturbations (Eykholt et al. 2018)
and augmentation training.

    >>> from advlab.transforms import rotate_translate, Grid, TransformDistribution
    >>> rotate_translate(x, params)          # x (N, C, H, W); params (N, 3): deg, px, px
    >>> Grid.symmetric((30, 3, 3), (31, 5, 5)).points()          # (775, 3)
    >>> dist = TransformDistribution(rotation=(-20, 20), scale=(0.9, 1.2), noise=(0, 0.05))
    >>> dist.apply(x, dist.uniform.sample(len(x), generator=g), generator=g)

Everything keeps the input's device and dtype, takes randomness from an optional
`torch.Generator`, and loops over no sample. This package imports nothing from attacks.
"""

from advlab.transforms.canvas import crop_center, pad_canvas
from advlab.transforms.distributions import Grid, Uniform
from advlab.transforms.geometric import (
    INTERPOLATIONS,
    PADDINGS,
    Interpolation,
    Padding,
    affine,
    perspective,
    placement_inverse,
    rotate_translate,
    view_inverse,
    warp,
)
from advlab.transforms.photometric import additive_noise, brightness_contrast, gaussian_blur
from advlab.transforms.pipeline import IDENTITY, PARAMETERS, TransformDistribution

__all__ = [
    "IDENTITY",
    "INTERPOLATIONS",
    "PADDINGS",
    "PARAMETERS",
    "Grid",
    "Interpolation",
    "Padding",
    "TransformDistribution",
    "Uniform",
    "additive_noise",
    "affine",
    "brightness_contrast",
    "crop_center",
    "gaussian_blur",
    "pad_canvas",
    "perspective",
    "placement_inverse",
    "rotate_translate",
    "view_inverse",
    "warp",
]
