"""Distributions over transformation parameters: independent uniform ranges, and grids.

`Uniform(low, high).sample(n, generator=g)` draws (n, P) parameters on the caller's device
and dtype from an optional `torch.Generator` (reproducible); `Grid(axes).points()` enumerates
the Cartesian product of per-parameter values, (G, P), the last axis varying fastest; e.g.
Engstrom et al. (2019)'s 31 rotations x 5 x 5 translations:
``Grid.symmetric((30, 3, 3), (31, 5, 5))``, 775 points.
"""

from __future__ import annotations

import itertools
import math
from dataclasses import dataclass

import torch


def _finite(values: tuple[float, ...], name: str) -> tuple[float, ...]:
    try:
        out = tuple(float(v) for v in values)
    except (TypeError, ValueError):
        raise ValueError(f"{name} must be a tuple of numbers, got {values!r}") from None
    if not all(math.isfinite(v) for v in out):
        raise ValueError(f"{name} must be finite, got {values!r}")
    return out


@dataclass(frozen=True)
class Uniform:
    """Independent uniform distributions U[low_p, high_p] for each of P parameters."""

    low: tuple[float, ...]
    high: tuple[float, ...]

    def __post_init__(self) -> None:
        low, high = _finite(self.low, "low"), _finite(self.high, "high")
        if len(low) != len(high) or not low:
            raise ValueError(f"low and high must have the same length >= 1, got {len(low)} and {len(high)}")
        bad = [i for i, (a, b) in enumerate(zip(low, high, strict=True)) if a > b]
        if bad:
            raise ValueError(f"uniform ranges need low <= high; parameter(s) {bad} have low > high")
        object.__setattr__(self, "low", low)
        object.__setattr__(self, "high", high)

    @property
    def size(self) -> int:
        """P, the number of parameters."""
        return len(self.low)

    def sample(
        self,
        n: int,
        *,
        generator: torch.Generator | None = None,
        device: torch.device | str | None = None,
        dtype: torch.dtype = torch.float32,
    ) -> torch.Tensor:
        """(n, P) draws. The generator must live on ``device`` (torch's rule)."""
        low = torch.tensor(self.low, device=device, dtype=dtype)
        high = torch.tensor(self.high, device=device, dtype=dtype)
        u = torch.rand((n, self.size), generator=generator, device=device, dtype=dtype)
        return low + (high - low) * u

    def contains(self, params: torch.Tensor, tolerance: float = 1e-5) -> torch.Tensor:
        """(N,) bool: each row of params (N, P) lies in the box (up to ``tolerance``)."""
        low = params.new_tensor(self.low) - tolerance
        high = params.new_tensor(self.high) + tolerance
        return ((params >= low) & (params <= high)).all(-1)

    def clamp(self, params: torch.Tensor) -> torch.Tensor:
        """params (..., P) projected onto the box (the ranges' threat model)."""
        return torch.max(torch.min(params, params.new_tensor(self.high)), params.new_tensor(self.low))


@dataclass(frozen=True)
class Grid:
    """The Cartesian product of per-parameter values: axes[p] lists parameter p's values."""

    axes: tuple[tuple[float, ...], ...]

    def __post_init__(self) -> None:
        if not self.axes or any(len(a) == 0 for a in self.axes):
            raise ValueError(f"a grid needs >= 1 axis, each with >= 1 value, got {self.axes!r}")
        object.__setattr__(self, "axes", tuple(_finite(tuple(a), f"grid axis {i}") for i, a in enumerate(self.axes)))

    @classmethod
    def symmetric(cls, limits: tuple[float, ...], counts: tuple[int, ...]) -> Grid:
        """counts[p] evenly spaced values in [-limits[p], limits[p]] (one value: 0)."""
        if len(limits) != len(counts):
            raise ValueError(f"limits and counts must have the same length, got {len(limits)} and {len(counts)}")
        axes = []
        for limit, count in zip(limits, counts, strict=True):
            if isinstance(count, bool) or not isinstance(count, int) or count < 1:
                raise ValueError(f"grid counts must be integers >= 1, got {counts!r}")
            if limit < 0:
                raise ValueError(f"grid limits must be >= 0, got {limits!r}")
            axes.append(tuple(torch.linspace(-limit, limit, count, dtype=torch.float64).tolist()) if count > 1 else (0.0,))
        return cls(tuple(axes))

    @property
    def size(self) -> int:
        """G, the number of grid points."""
        return math.prod(len(a) for a in self.axes)

    def points(self, *, device: torch.device | str | None = None, dtype: torch.dtype = torch.float32) -> torch.Tensor:
        """All G points (G, P), in itertools.product order (last parameter fastest)."""
        return torch.tensor(list(itertools.product(*self.axes)), device=device, dtype=dtype)
