"""One interface to every bounding method: `certified_bounds(model, x, ball, method, spec)`.

    interval     interval bound propagation (interval.py)
    wong         the dual network of Wong & Kolter 2018 (dual.py; options: projections, generator)
    fast-lin     Fast-Lin (Weng et al. 2018) by CROWN's backward pass; equal to wong (crown.py)
    crown        CROWN with adaptive lower slopes (Zhang et al. 2018) (crown.py)
    alpha-crown  alpha-CROWN (Xu et al. 2021), optimised slopes (alpha_crown.py; options: steps, lr)

CROWN-IBP (crown_ibp.py) is no entry here: it is a training loss whose intermediate bounds are
interval bounds and whose result mixes CROWN-IBP and IBP by beta (Zhang et al. 2020, eq. 8); its
bounds are `crown_ibp_bounds(model, x, ball, spec, beta)` (spec required, differentiable, lower
of c and upper as minus the lower of -c), and its training loss `CrownIbpBatchLoss`
(``--robust crown-ibp``). With beta = 1 it is CROWN's final pass over interval l, u: one
backward pass of 2S vectors (no intermediate CROWN passes), usually looser than "crown", whose
l, u are CROWN's own (not always: interval bounds can be tighter for single units).

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
