"""Square Attack (Andriushchenko et al. 2020): never asks for gradients, stays in the ball and the
bounds, linf points are vertices, the p(i) schedule, and it lowers accuracy."""

from __future__ import annotations

import pytest
import torch
from torch import nn

from advlab.attacks import Square, square
from advlab.attacks.square import l2_square_pattern, square_fraction, window_mask

pytestmark = pytest.mark.usefixtures("single_thread")


class _NoGradients(nn.Module):
    """Fails the test if the model is ever called with gradients enabled."""

    def __init__(self, inner: nn.Module) -> None:
        super().__init__()
        self.inner = inner
        self.calls = 0

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        assert not torch.is_grad_enabled(), "Square asked for gradients"
        assert not x.requires_grad
        self.calls += 1
        return self.inner(x)


@pytest.mark.parametrize("norm,eps", [("linf", 0.1), ("l2", 0.5)])
def test_black_box_inside_ball_and_bounds(norm: str, eps: float, trained_mlp: nn.Module, digits) -> None:
    model = _NoGradients(trained_mlp).eval()
    x, y = digits[0][:40], digits[1][:40]
    result = Square(eps=eps, norm=norm, queries=150, bounds=(0.0, 1.0))(model, x, y, generator=torch.Generator().manual_seed(0))  # type: ignore[arg-type]
    assert model.calls > 0
    assert bool((result.norm <= eps * (1 + 1e-5)).all())
    assert bool((result.x_adv >= 0).all()) and bool((result.x_adv <= 1).all())
    assert int(result.steps.max()) <= 150
    with torch.no_grad():
        clean_acc = (trained_mlp(x).argmax(1) == y).float().mean()
    assert (result.logits.argmax(1) == y).float().mean() < clean_acc - 0.2


def test_linf_points_are_vertices(trained_mlp: nn.Module, digits) -> None:
    """Every coordinate moves by exactly +-eps unless the bounds cut it (Algorithm 2)."""
    x, y = digits[0][:20], digits[1][:20]
    eps = 0.1
    result = Square(eps=eps, queries=50)(trained_mlp, x, y, generator=torch.Generator().manual_seed(1))
    delta = result.x_adv - x
    attacked = result.steps > 0  # clean-misclassified points are returned unchanged
    at_vertex = (delta.abs() - eps).abs() < 1e-6
    at_bound = (result.x_adv == 0) | (result.x_adv == 1)
    assert bool((at_vertex | at_bound)[attacked].all())


def test_schedule_halves_at_the_papers_iterations() -> None:
    assert square_fraction(0, 10_000, 0.8) == 0.8
    assert square_fraction(10, 10_000, 0.8) == 0.8
    assert square_fraction(11, 10_000, 0.8) == 0.4
    assert square_fraction(201, 10_000, 0.8) == pytest.approx(0.1)
    assert square_fraction(9000, 10_000, 0.8) == pytest.approx(0.8 / 512)
    # rescaled to a 5,000-query budget: iteration 6 is iteration 12 of 10,000
    assert square_fraction(6, 5000, 0.8, rescale=True) == 0.4
    assert square_fraction(6, 5000, 0.8, rescale=False) == 0.8


def test_l2_pattern_is_unit_and_antisymmetric() -> None:
    for size in (3, 5, 8):
        pattern = l2_square_pattern(size, torch.device("cpu"))
        assert pattern.norm() == pytest.approx(1.0, abs=1e-5)
        assert bool((pattern[: size // 2] >= 0).all()) and bool((pattern[size // 2 :] <= 0).all())


def test_needs_images() -> None:
    model = nn.Linear(6, 3)
    with pytest.raises(ValueError, match="image batches"):
        Square(eps=0.1, queries=5)(model, torch.rand(4, 6), torch.zeros(4, dtype=torch.long))


@pytest.mark.parametrize("size, h, w", [(3, 28, 28), (5, 7, 9), (1, 4, 6)])
def test_window_masks_from_the_table_and_from_rows_and_columns_agree(monkeypatch: pytest.MonkeyPatch, size: int,
                                                                     h: int, w: int) -> None:  # fmt: skip
    corners = torch.arange((h - size + 1) * (w - size + 1))  # every position, row-major
    from_table = window_mask(corners, size, h, w)
    monkeypatch.setattr(square, "WINDOW_TABLE_LIMIT", 0)  # as for images too large for a table
    from_lines = window_mask(corners, size, h, w)
    assert torch.equal(from_table, from_lines)  # boolean masks from integer comparisons: exact on any CPU
    n_w = w - size + 1
    for corner in (0, int(corners[-1]), int(corners[len(corners) // 2])):
        expected = torch.zeros(h, w, dtype=torch.bool)
        top, left = divmod(corner, n_w)
        expected[top : top + size, left : left + size] = True
        assert torch.equal(from_table[corner, 0], expected)
