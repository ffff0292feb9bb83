"""Spatial attacks against brute force and closed forms; spatial training losses."""

from __future__ import annotations

import dataclasses

import pytest
import torch
import torch.nn.functional as F
from torch import nn

from advlab.attacks import Proposal, SpatialGrid, SpatialPGD, SpatialRandom
from advlab.attacks.spatial import WorstTransforms
from advlab.defenses.spatial import SpatialTrainingLoss
from advlab.train import TrainConfig, fit
from advlab.transforms import rotate_translate


def test_worst_transform_rule_prefers_misclassified_then_loss() -> None:
    worst = WorstTransforms.empty(3, 1, torch.zeros(1))
    params = torch.arange(4.0).view(1, 4, 1).expand(3, 4, 1)
    loss = torch.tensor([[1.0, 5.0, 2.0, 2.0], [1.0, 5.0, 2.0, 3.0], [0.5, 0.2, 0.9, 0.9]])
    success = torch.tensor([[False, False, True, True], [False, False, False, False], [False, True, False, False]])
    worst.update(params, loss, success)
    # sample 0: successful candidates 2, 3 tie at loss 2 -> the first; sample 1: highest loss;
    # sample 2: the only successful one despite its lower loss
    assert worst.params.squeeze(1).tolist() == [2.0, 1.0, 1.0]
    assert worst.success.tolist() == [True, False, True]
    # a later unsuccessful candidate with a higher loss never replaces a success
    worst.update(params[:, :1] + 10, torch.full((3, 1), 99.0), torch.zeros(3, 1, dtype=torch.bool))
    assert worst.params.squeeze(1).tolist() == [2.0, 10.0, 1.0]


def _brute_force_grid(attack: SpatialGrid, model: nn.Module, x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    """The grid rule, one grid point at a time (the reference implementation's loop)."""
    best_params = torch.zeros(x.shape[0], 3)
    best_loss = torch.full((x.shape[0],), -float("inf"))
    fooled = torch.zeros(x.shape[0], dtype=torch.bool)
    for point in attack.grid.points():
        params = point.expand(x.shape[0], 3)
        with torch.no_grad():
            logits = model(rotate_translate(x, params))
        loss = F.cross_entropy(logits, y, reduction="none")
        wrong = logits.argmax(1) != y
        update = (wrong & ~fooled) | ((wrong == fooled) & (loss > best_loss))
        best_params[update], best_loss[update] = params[update], loss[update]
        fooled |= wrong
    return best_params


def _assert_same_choices(model: nn.Module, x: torch.Tensor, y: torch.Tensor, got: torch.Tensor,
                         expected: torch.Tensor) -> None:
    """Two computations of the grid rule (other batch shapes: other matmul rounding) pick
    the same grid point per sample, except where two candidates tie within rounding: equal
    losses and the same outcome, or a candidate within rounding of the decision boundary."""
    differ = (got != expected).any(1)  # (N,) grid points are exact values: compare exactly
    assert int(differ.sum()) <= max(1, x.shape[0] // 10), f"{int(differ.sum())} samples changed their choice"
    if not bool(differ.any()):
        return
    with torch.no_grad():
        outcome = []
        for params in (got[differ], expected[differ]):
            logits = model(rotate_translate(x[differ], params))
            others = logits.scatter(1, y[differ, None], -torch.inf).amax(1)
            margin = logits.gather(1, y[differ, None]).squeeze(1) - others
            outcome.append((F.cross_entropy(logits, y[differ], reduction="none"), margin))
    (loss_a, margin_a), (loss_b, margin_b) = outcome
    tie = ((loss_a - loss_b).abs() <= 1e-4 * (1 + loss_b.abs())) & ((margin_a < 0) == (margin_b < 0))
    at_boundary = (margin_a.abs() < 1e-4) | (margin_b.abs() < 1e-4)
    assert bool((tie | at_boundary).all()), (got[differ], expected[differ], loss_a, loss_b)


def test_grid_equals_brute_force_and_chunking_does_not_matter(trained_mlp: nn.Module, digits) -> None:
    x, y = digits[0][:30], digits[1][:30]
    attack = SpatialGrid(max_rotation=20, max_translation=1, rotations=5, translations=3)
    result = attack(trained_mlp, x, y)
    # the attack scores all 15 transformations in one (450, ...) batch, brute force 30 at a
    # time: two computations, the same choices up to ties within rounding
    _assert_same_choices(trained_mlp, x, y, result.params, _brute_force_grid(attack, trained_mlp, x, y))
    small = dataclasses.replace(attack, batch_size=7)(trained_mlp, x, y)  # one transformation per call
    _assert_same_choices(trained_mlp, x, y, small.params, result.params)
    torch.testing.assert_close(small.x_adv, rotate_translate(x, small.params))
    assert int(result.steps[0]) == 45
    torch.testing.assert_close(result.x_adv, rotate_translate(x, result.params))


def test_first_adversarial_mode_has_the_grid_accuracy_at_lower_cost(trained_mlp: nn.Module, digits) -> None:
    x, y = digits[0][:40], digits[1][:40]
    exhaustive = SpatialGrid(max_rotation=20, max_translation=1, rotations=7, translations=3)
    first = dataclasses.replace(exhaustive, exhaustive=False, batch_size=40)  # one grid point per call at first
    full, quick = exhaustive(trained_mlp, x, y), first(trained_mlp, x, y)
    # the same images survive the grid; two computations (one point per call at first vs all
    # 21 points in one batch): an image whose only adversarial point sits within rounding of
    # the boundary may go either way, so allow one such image of 40
    assert int((full.success != quick.success).sum()) <= 1
    assert bool((quick.steps[~quick.success] == 63).all())  # the survivors saw every point
    assert int(quick.steps.sum()) < int(full.steps.sum()) and bool((full.steps == 63).all())
    assert bool((quick.logits.argmax(1) != y)[quick.success].all())


def _ramp_model() -> nn.Module:
    """Logit of class 0 = -<x, column index>, class 1 = 0: moving content right (dx > 0)
    raises the cross-entropy of class 0 monotonically, so the worst shift is dx = +max."""
    model = nn.Sequential(nn.Flatten(), nn.Linear(64, 2, bias=False))
    with torch.no_grad():
        model[1].weight.zero_()
        model[1].weight[0] = -torch.arange(8.0).repeat(8) / 8
    return model.eval()


def test_first_order_and_grid_find_the_worst_shift_of_a_monotone_loss() -> None:
    x = torch.zeros(4, 1, 8, 8)
    x[:, :, 3:5, 2:4] = 1.0  # a blob left of centre: room to move right
    y = torch.zeros(4, dtype=torch.long)
    model = _ramp_model()
    box = {"max_rotation": 0.0, "max_translation": 2.0}
    pgd = SpatialPGD(steps=20, random_start=True, **box)(model, x, y, generator=torch.Generator().manual_seed(0))
    grid = SpatialGrid(rotations=1, translations=5, **box)(model, x, y)
    torch.testing.assert_close(grid.params[:, 1], torch.full((4,), 2.0))
    torch.testing.assert_close(pgd.params[:, 1], torch.full((4,), 2.0))
    assert bool((pgd.params[:, 0] == 0).all())  # no rotation allowed, none taken


def test_random_draws_stay_in_the_box_and_come_from_the_generator(trained_mlp: nn.Module, digits) -> None:
    x, y = digits[0][:20], digits[1][:20]
    attack = SpatialRandom(tries=5, max_rotation=10, max_translation=1.5)
    a = attack(trained_mlp, x, y, generator=torch.Generator().manual_seed(1))
    b = attack(trained_mlp, x, y, generator=torch.Generator().manual_seed(1))
    assert torch.equal(a.params, b.params)  # the same computation repeated: bit for bit
    assert bool((a.params[:, 0].abs() <= 10).all() and (a.params[:, 1:].abs() <= 1.5).all())
    # worst of 10 is never better for the model than worst of 1 drawn from the same stream
    one = SpatialRandom(tries=1)(trained_mlp, x, y, generator=torch.Generator().manual_seed(2))
    ten = SpatialRandom(tries=10)(trained_mlp, x, y, generator=torch.Generator().manual_seed(2))
    assert ten.success_rate >= one.success_rate


def test_enforce_clamps_parameters_and_re_renders_from_x() -> None:
    attack = SpatialGrid(max_rotation=10, max_translation=1)
    x = torch.rand(2, 1, 6, 6)
    proposal = Proposal(torch.rand(2, 1, 6, 6), steps=1, params=torch.tensor([[45.0, 3.0, -0.5], [-5.0, -9.0, 0.0]]))
    enforced = attack.enforce(x, proposal)
    assert enforced.params is not None
    torch.testing.assert_close(enforced.params, torch.tensor([[10.0, 1.0, -0.5], [-5.0, -1.0, 0.0]]))
    torch.testing.assert_close(enforced.x_adv, rotate_translate(x, enforced.params))
    with pytest.raises(RuntimeError, match="must propose its transformation parameters"):
        attack.enforce(x, Proposal(x, steps=1))


def test_bad_spatial_settings_are_named() -> None:
    with pytest.raises(ValueError, match="max_rotation must be a number in"):
        SpatialGrid(max_rotation=-1)
    with pytest.raises(ValueError, match="rotations must be an integer >= 1"):
        SpatialGrid(rotations=0)
    with pytest.raises(ValueError, match="tries must be an integer >= 1"):
        SpatialRandom(tries=0)
    with pytest.raises(ValueError, match="padding must be one of"):
        SpatialPGD(padding="wrap")  # type: ignore[arg-type]


def test_spatial_training_losses(digits, tmp_path) -> None:
    x, y = digits[0][:64], digits[1][:64]
    torch.manual_seed(0)
    model = nn.Sequential(nn.Flatten(), nn.Linear(64, 10))
    plain = SpatialTrainingLoss(tries=0)(model, x, y, 0.0)
    torch.testing.assert_close(plain.loss, F.cross_entropy(model(x), y))
    torch.manual_seed(1)
    augmented = SpatialTrainingLoss(tries=1, max_rotation=10, max_translation=1)(model, x, y, 0.0)
    torch.manual_seed(1)
    worst = SpatialTrainingLoss(tries=10, max_rotation=10, max_translation=1)(model, x, y, 0.0)
    assert worst.loss.item() > augmented.loss.item()  # the worst of 10 costs more than a random one
    assert "fooled" in worst.metrics and worst.logits.shape == (64, 10)
    canvas = SpatialTrainingLoss(tries=0, canvas=2)
    wide = nn.Sequential(nn.Flatten(), nn.Linear(144, 10))
    assert canvas(wide, x, y, 0.0).logits.shape == (64, 10)  # the model sees 12x12 canvases
    assert canvas.describe() == "spatial(tries=0,rotation=30.0,translation=3.0,canvas=2)"
    summary = fit(model, (x, y), None, TrainConfig(epochs=1, batch_size=32), tmp_path, batch_loss=SpatialTrainingLoss(tries=2))
    assert summary.steps == 2
    with pytest.raises(ValueError, match="tries must be an integer >= 0"):
        SpatialTrainingLoss(tries=-1)
