"""Square Attack (Andriushchenko, Croce, Flammarion & Hein 2020, "Square Attack: a query-efficient
black-box adversarial attack via random search", ECCV, arXiv 1912.00049): score-based random
search over square-shaped updates at the boundary of the lp ball (Algorithm 1; linf updates
Algorithm 2, l2 updates Algorithm 3), minimising the margin loss.

Needs image batches x (N, C, H, W); never asks the model for gradients (it only reads scores).
"""

from __future__ import annotations

import functools
import math
from collections.abc import Callable
from dataclasses import dataclass

import torch
from torch import nn

from advlab.attacks.base import Attack, Proposal, model_logits, registered
from advlab.attacks.threat import (
    flat_norm,
    linf_box,
    project,
    validate_bounds,
    validate_eps,
    validate_norm,
    validate_positive_int,
)
from advlab.types import Bounds, Norm

# Iterations (of a 10,000-query budget) after which the square's area p halves (Section 3.1
# and the authors' code, `p_selection`).
HALVING_ITERATIONS = (10, 50, 200, 500, 1000, 2000, 4000, 6000, 8000)


def square_fraction(iteration: int, queries: int, p_init: float, rescale: bool = True) -> float:
    """p(i): the fraction of pixels the square covers at iteration i. p_init, halved after
    each of HALVING_ITERATIONS; with ``rescale`` the schedule is stretched from 10,000 queries
    to ``queries`` (the authors' ``rescale_schedule``)."""
    i = int(iteration / queries * 10_000) if rescale else iteration
    return p_init / 2 ** sum(i > t for t in HALVING_ITERATIONS)


def margin(logits: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
    """Margin loss z_y - max_{j != y} z_j, (N,); <= 0 means misclassified (Section 3, eq. 2)."""
    z_y = logits.gather(1, labels[:, None]).squeeze(1)
    others = logits.scatter(1, labels[:, None], float("-inf")).amax(1)
    return z_y - others


def window_mask(corner: torch.Tensor, size: int, h: int, w: int) -> torch.Tensor:
    """(n, 1, h, w) bool: per sample, the size x size square whose top-left corner is
    corner (n,), numbered row-major over the (h - size + 1) x (w - size + 1) positions.

    Small images look every mask up in a table of all windows (one gather per query: Square
    draws a window per sample and query); larger ones, whose table would pass
    WINDOW_TABLE_LIMIT, combine a row and a column mask. Both give the same masks."""
    n_w = w - size + 1
    if (h - size + 1) * n_w * h * w <= WINDOW_TABLE_LIMIT:
        return _all_windows(size, h, w, corner.device)[corner][:, None]
    in_rows = _line_windows(size, h, corner.device)[corner // n_w]  # (n, h)
    in_cols = _line_windows(size, w, corner.device)[corner % n_w]  # (n, w)
    return (in_rows[:, :, None] & in_cols[:, None, :])[:, None]


WINDOW_TABLE_LIMIT = 1 << 22  # booleans: 28 x 28 needs at most 0.6 M, 32 x 32 at most 1 M


@functools.cache
def _line_windows(size: int, length: int, device: torch.device) -> torch.Tensor:
    """(length - size + 1, length) bool: row c marks positions c .. c + size - 1 (cached)."""
    positions = torch.arange(length, device=device)
    corners = torch.arange(length - size + 1, device=device)[:, None]
    return (positions >= corners) & (positions < corners + size)


@functools.cache
def _all_windows(size: int, h: int, w: int, device: torch.device) -> torch.Tensor:
    """(positions, h, w) bool: every size x size window of an h x w image, row-major by corner
    (cached)."""
    rows, cols = _line_windows(size, h, device), _line_windows(size, w, device)  # (n_h, h), (n_w, w)
    return (rows[:, None, :, None] & cols[None, :, None, :]).reshape(-1, h, w)


def _rectangle_bumps(rows: int, cols: int, device: torch.device) -> torch.Tensor:
    """(rows, cols) nested rectangles with weights 1 / (k + 1)^2 around the centre, unit l2 norm
    (the authors' ``eta_rectangles``; the building block of the l2 update, Section 3.3)."""
    delta = torch.zeros(rows, cols, device=device)
    centre_r, centre_c = rows // 2, cols // 2
    for k in range(max(rows // 2 + 1, cols // 2 + 1)):
        r0, c0 = centre_r - k, centre_c - k
        delta[max(r0, 0) : min(r0 + 2 * k + 1, rows), max(c0, 0) : min(c0 + 2 * k + 1, cols)] += 1.0 / (k + 1) ** 2
    return delta / delta.square().sum().sqrt().clamp_min(1e-12)


def l2_square_pattern(size: int, device: torch.device) -> torch.Tensor:
    """(size, size): upper half positive bumps, lower half negative, unit l2 norm (the
    authors' ``eta``; the random transpose is drawn per sample by the caller)."""
    delta = torch.zeros(size, size, device=device)
    half = size // 2
    if half > 0:
        delta[:half] = _rectangle_bumps(half, size, device)
    delta[half:] = -_rectangle_bumps(size - half, size, device)
    return delta / delta.square().sum().sqrt().clamp_min(1e-12)


def _place(pattern: torch.Tensor, corner: torch.Tensor, transpose: torch.Tensor, h: int, w: int) -> torch.Tensor:
    """(n, 1, h, w): the (s, s) pattern (or its transpose, per sample) put at each sample's
    corner (n,) (numbered as in `window_mask`), zero outside the square."""
    s = pattern.shape[0]
    corner_h, corner_w = corner // (w - s + 1), corner % (w - s + 1)  # (n,), (n,)
    rows = (torch.arange(h, device=pattern.device) - corner_h[:, None]).clamp(0, s - 1)  # (n, h)
    cols = (torch.arange(w, device=pattern.device) - corner_w[:, None]).clamp(0, s - 1)  # (n, w)
    placed = pattern[rows[:, :, None], cols[:, None, :]]  # (n, h, w)
    placed_t = pattern.t()[rows[:, :, None], cols[:, None, :]]
    placed = torch.where(transpose[:, None, None], placed_t, placed)
    return (placed * window_mask(corner, s, h, w)[:, 0])[:, None]


@registered("square")
@dataclass(frozen=True)
class Square(Attack):
    """Square Attack, untargeted, margin loss (Andriushchenko et al. 2020, Algorithm 1).

    linf: start from vertical stripes x + eps * (+-1 per column and channel); each iteration
    sets a random square of side round(sqrt(p(i) D / C)) in each channel to x +- eps (Algorithm
    2). l2: start from a grid of +-bump patterns normalised to ||delta|| = eps; each iteration
    moves mass from a second random square into a new +-bump square (Algorithm 3), keeping
    ||delta|| = eps. An update is kept when it lowers the margin; a sample stops when
    misclassified. p(i): `square_fraction`. ``queries``: model evaluations per sample, the
    initial point included (the clean check is not counted). Runs under ``torch.no_grad``.
    Call: ``Square(eps=0.1, queries=5000)(model, x (N, C, H, W), y (N,), generator=g)``.
    """

    eps: float
    norm: Norm = "linf"
    queries: int = 5000
    p_init: float = 0.8
    rescale_schedule: bool = True
    bounds: Bounds = (0.0, 1.0)

    def __post_init__(self) -> None:
        validate_eps(self.eps)
        validate_norm(self.norm)
        validate_positive_int(self.queries, "queries")
        if not 0.0 < self.p_init <= 1.0:
            raise ValueError(f"p_init must be in (0, 1], got {self.p_init!r}")
        object.__setattr__(self, "bounds", validate_bounds(self.bounds))

    def _run(self, model: nn.Module, x: torch.Tensor, y: torch.Tensor, generator: torch.Generator | None) -> Proposal:
        if x.ndim != 4 or min(x.shape[2:]) < 2:
            raise ValueError(f"Square needs image batches (N, C, H, W) with H, W >= 2, got {tuple(x.shape)}")
        with torch.no_grad():
            clean = model_logits(model, x, y)
            active = margin(clean, y) > 0  # (N,) only correctly classified points are attacked
            x_best = x.clone()
            used = torch.zeros(x.shape[0], dtype=torch.long, device=x.device)
            idx = active.nonzero().squeeze(1)
            if idx.numel():
                search = self._search_linf if self.norm == "linf" else self._search_l2
                x_best[idx], used[idx] = search(model, x[idx], y[idx], generator)
        return Proposal(x_best, steps=used)

    def _signs(self, shape: tuple[int, ...], x: torch.Tensor, generator: torch.Generator | None) -> torch.Tensor:
        return 2 * torch.randint(0, 2, shape, generator=generator, device=x.device).to(x.dtype) - 1

    def _corners(self, n: int, size: int, h: int, w: int, x: torch.Tensor,
                 generator: torch.Generator | None) -> torch.Tensor:  # fmt: skip
        """Top-left corners (n,) uniform over all positions of a size x size square, numbered
        row-major (`window_mask`)."""
        return torch.randint(0, (h - size + 1) * (w - size + 1), (n,), generator=generator, device=x.device)

    def _random_search(
        self, model: nn.Module, y: torch.Tensor, x_best: torch.Tensor, per_point: tuple[torch.Tensor, ...],
        propose: Callable[[int, tuple[torch.Tensor, ...], torch.Tensor], torch.Tensor],
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """Algorithm 1's loop: keep a proposal when it lowers the margin; stop samples that are
        misclassified. x_best (n, C, H, W); per_point: tensors (n, ...) the proposals need
        (the clean images, or the ball's faces); propose(i, those rows (m, ...), x_best (m, ...))
        -> (m, C, H, W).

        The working points are kept as a compact batch, rebuilt only when one of them becomes
        misclassified: one forward of the active points per query and no gathers or scatters
        of images in between."""
        best_margin = margin(model(x_best), y)  # (n,)
        used = torch.ones(y.shape[0], dtype=torch.long, device=y.device)
        rows = (best_margin > 0).nonzero().squeeze(1)  # (m,) working points
        work = tuple(t[rows] for t in per_point)
        y_w, best_w, margin_w = y[rows], x_best[rows], best_margin[rows]
        since = 0  # queries since the working batch was last written back
        for i in range(self.queries - 1):
            if rows.numel() == 0:
                break
            x_new = propose(i, work, best_w)  # (m, C, H, W) inside the ball and bounds
            new_margin = margin(model(x_new), y_w)  # (m,)
            better = new_margin < margin_w
            best_w = torch.where(better.view(-1, 1, 1, 1), x_new, best_w)
            margin_w = torch.where(better, new_margin, margin_w)
            since += 1
            fooled = margin_w <= 0  # (m,)
            if bool(fooled.any()) or i == self.queries - 2:  # write back, drop the fooled ones
                x_best[rows], best_margin[rows], used[rows] = best_w, margin_w, used[rows] + since
                keep, since = ~fooled, 0
                rows, y_w, best_w, margin_w = rows[keep], y_w[keep], best_w[keep], margin_w[keep]
                work = tuple(t[keep] for t in work)
        return x_best, used

    def _search_linf(self, model: nn.Module, x: torch.Tensor, y: torch.Tensor,
                     generator: torch.Generator | None) -> tuple[torch.Tensor, torch.Tensor]:  # fmt: skip
        n, c, h, w = x.shape
        lower, upper = linf_box(x, self.eps, self.bounds)  # (n, C, H, W) the ball's faces, in bounds
        stripes = self._signs((n, c, 1, w), x, generator)  # vertical stripes (Section 3.2)
        x_best = torch.clamp(x + self.eps * stripes, lower, upper)

        def propose(i: int, faces: tuple[torch.Tensor, ...], best_sub: torch.Tensor) -> torch.Tensor:
            low, high = faces  # (m, C, H, W)
            p = square_fraction(i, self.queries, self.p_init, self.rescale_schedule)
            size = min(max(int(round(math.sqrt(p * c * h * w / c))), 1), h - 1, w - 1)
            m = best_sub.shape[0]
            mask = window_mask(self._corners(m, size, h, w, best_sub, generator), size, h, w)  # (m, 1, H, W)
            up = torch.randint(0, 2, (m, c, 1, 1), generator=generator, device=x.device).bool()  # sign per channel
            return torch.where(mask, torch.where(up, high, low), best_sub)  # x +- eps in the square, clipped

        return self._random_search(model, y, x_best, (lower, upper), propose)

    def _search_l2(self, model: nn.Module, x: torch.Tensor, y: torch.Tensor,
                   generator: torch.Generator | None) -> tuple[torch.Tensor, torch.Tensor]:  # fmt: skip
        n, c, h, w = x.shape
        x_best = project(x, x + self._l2_init(x, generator), "l2", self.eps, self.bounds)

        def propose(i: int, clean: tuple[torch.Tensor, ...], best_sub: torch.Tensor) -> torch.Tensor:
            (x_sub,) = clean  # (m, C, H, W)
            m, eps = x_sub.shape[0], self.eps
            p = square_fraction(i, self.queries, self.p_init, self.rescale_schedule)
            size = max(int(round(math.sqrt(p * c * h * w / c))), 3)
            size = min(size + (size % 2 == 0), h, w)  # odd, as the authors', and inside the image
            delta = best_sub - x_sub  # (m, C, H, W)
            corner = self._corners(m, size, h, w, x_sub, generator)
            mask_new = window_mask(corner, size, h, w)  # (m, 1, H, W) the square that gets mass
            mask_old = window_mask(self._corners(m, size, h, w, x_sub, generator), size, h, w)  # gives it
            norm_image = flat_norm(delta, "l2").view(-1, 1, 1, 1)  # (m, 1, 1, 1)
            norm_new_window = (delta * mask_new).square().sum((2, 3), keepdim=True).sqrt()  # (m, C, 1, 1)
            norm_windows = flat_norm(delta * (mask_new | mask_old), "l2").view(-1, 1, 1, 1)
            transpose = torch.rand(m, generator=generator, device=x.device) > 0.5
            bump = _place(l2_square_pattern(size, x.device), corner, transpose, h, w)  # (m, 1, H, W)
            update = bump * self._signs((m, c, 1, 1), x_sub, generator)
            update = update + delta * mask_new / (norm_new_window + 1e-12)  # keep the old direction
            budget = ((eps**2 - norm_image.square()).clamp_min(0) / c + norm_windows.square()).sqrt()
            update = update / (update.square().sum((2, 3), keepdim=True).sqrt() + 1e-12) * budget
            delta = torch.where(mask_new, update, delta * ~mask_old)
            scale = eps / flat_norm(delta, "l2").clamp_min(1e-12)  # back onto the sphere ||delta|| = eps
            return project(x_sub, x_sub + delta * scale.view(-1, 1, 1, 1), "l2", eps, self.bounds)

        return self._random_search(model, y, x_best, (x,), propose)

    def _l2_init(self, x: torch.Tensor, generator: torch.Generator | None) -> torch.Tensor:
        """(n, C, H, W): a grid of size-h//5 bump patterns with random sign per sample and channel,
        scaled to ||delta|| = eps (the authors' l2 initialisation, Section 3.3)."""
        n, c, h, w = x.shape
        size = max(h // 5, 1)
        start = (h - size * 5) // 2
        delta = torch.zeros_like(x)
        for top in range(start, h - size + 1, size):
            for left in range(start, w - size + 1, size):
                pattern = l2_square_pattern(size, x.device)
                if bool(torch.rand((), generator=generator, device=x.device) > 0.5):
                    pattern = pattern.t()
                signs = self._signs((n, c, 1, 1), x, generator)
                delta[:, :, top : top + size, left : left + size] += pattern * signs
        return delta * (self.eps / flat_norm(delta, "l2").clamp_min(1e-12)).view(-1, 1, 1, 1)
