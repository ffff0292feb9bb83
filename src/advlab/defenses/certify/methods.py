"""One interface to every bounding method: `certified_bounds(model, x, ball, method, spec)`.

    interval     interval bound propagation (interval.py)
    wong         the dual network of Wong & Kolter 2018 (dual.py; options: projections, generator)
    fast-lin     Fast-Lin (Weng et al. 2018) by CROWN's backward pass; equal to wong (crown.py)
    crown        CROWN with adaptive lower slopes (Zhang et al. 2018) (crown.py)
    alpha-crown  alpha-CROWN (Xu et al. 2021), optimised slopes (alpha_crown.py; options: steps, lr)

Every method takes the same plan (plan.py), which refuses an unsupported layer before any work,
naming it and the supported layers; every method processes its work in blocks under
`dual.CHUNK_ELEMENTS` elements per tensor (dual.py's mechanism).
"""

from __future__ import annotations

from collections.abc import Callable
from functools import partial
from typing import Any

from torch import Tensor, nn

from advlab.defenses.certify.alpha_crown import alpha_crown_bounds
from advlab.defenses.certify.ball import LinfBall
from advlab.defenses.certify.crown import crown_bounds
from advlab.defenses.certify.dual import dual_bounds
from advlab.defenses.certify.interval import interval_bounds
from advlab.defenses.certify.plan import Plan, build_plan
from advlab.defenses.certify.result import CertifiedBounds
from advlab.registry import UnknownNameError

BoundMethod = Callable[..., CertifiedBounds]
"""``method(plan, x, ball, spec, **options) -> CertifiedBounds``."""

METHODS: dict[str, BoundMethod] = {
    "interval": interval_bounds,
    "wong": dual_bounds,
    "fast-lin": partial(crown_bounds, slope="fast-lin"),
    "crown": crown_bounds,
    "alpha-crown": alpha_crown_bounds,
}


def bound_method(name: str) -> BoundMethod:
    """The bounding function registered as `name`; `UnknownNameError` lists the valid names."""
    if name not in METHODS:
        raise UnknownNameError(f"unknown certification method {name!r}; valid names: {', '.join(METHODS)}")
    return METHODS[name]


def certified_bounds(model: nn.Module | Plan, x: Tensor, ball: LinfBall, method: str = "wong",
                     spec: Tensor | None = None, **options: Any) -> CertifiedBounds:  # fmt: skip
    """Bounds of ``c^T f(x + delta)`` over the l_inf `ball` by `method` (module docstring):
    interval arithmetic, the Wong-Kolter dual bound J(c) (Wong & Kolter 2018, eq. 7), Fast-Lin,
    CROWN (Zhang et al. 2018, Theorem 3.2) or alpha-CROWN (Xu et al. 2021, Section 3.1).

    model: nn.Sequential of supported layers, or its `Plan`. x: (N, *in_shape). spec: (N, S,
    outputs) specifications c (e.g. `margin_spec(y, K)`) or None for every output. options:
    the method's own keywords. The method name and the layers are checked before any bound is
    computed. Returns `CertifiedBounds` with lower, upper (N, S) or (N, outputs).
    Example: ``certified_bounds(net, x, LinfBall(0.1, 0, 1), "crown", margin_spec(y, 10)).lower``.
    """
    bound = bound_method(method)
    plan = build_plan(model, x)  # raises UnsupportedLayerError naming the layer
    return bound(plan, x, ball, spec, **options)
