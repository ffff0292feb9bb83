"""APGD and APGD-T (Croce & Hein 2020): closed forms on affine classifiers, the checkpoint
schedule of Algorithm 1, the DLR losses' invariances, targets taken in rank order."""

from __future__ import annotations

import pytest
import torch
from torch import nn

from advlab.attacks import APGD, APGDT
from advlab.attacks.apgd import checkpoint_lengths, dlr_loss, targeted_dlr_loss

pytestmark = pytest.mark.usefixtures("single_thread")


def _affine_binary(seed: int, dim: int = 20) -> tuple[nn.Module, torch.Tensor, torch.Tensor, torch.Tensor]:
    """A 2-class affine model, points x (64, dim) in [0.3, 0.7],
    labels = clean predictions, and v = w_y - w_other per point (64, dim)."""
    g = torch.Generator().manual_seed(seed)
    model = nn.Linear(dim, 2).double()
    with torch.no_grad():
        model.weight.copy_(torch.randn(2, dim, generator=g, dtype=torch.float64))
        model.bias.zero_()
    x = 0.3 + 0.4 * torch.rand(64, dim, generator=g, dtype=torch.float64)
    with torch.no_grad():
        y = model(x).argmax(1)
    v = model.weight[y] - model.weight[1 - y]  # (64, dim)
    return model, x, y, v.detach()


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_linf_reaches_optimal_vertex_and_breaks_exactly_the_reachable_points(seed: int) -> None:
    model, x, y, v = _affine_binary(seed)
    margin = ((v * x).sum(1)).detach()  # (N,) z_y - z_other (bias 0), > 0
    eps = float((margin / v.abs().sum(1)).median())  # about half the points can be broken
    reach = eps * v.abs().sum(1)  # linf: the margin can drop by eps ||v||_1 at most
    clear = (margin - reach).abs() > 1e-6 * reach  # leave out points on the threshold
    result = APGD(eps=eps, steps=20, random_start=False, bounds=(-1.0, 2.0))(model, x, y)  # no clipping
    # booleans, and only on points whose margin is clear of eps*||v||_1 by far more than rounding
    assert torch.equal(result.success[clear], (margin < reach)[clear])
    vertex = x - eps * v.sign()  # the minimiser of the margin over the ball (bounds far away)
    robust = ~result.success
    assert robust.any() and result.success.any()  # both cases are exercised
    torch.testing.assert_close(result.x_adv[robust], vertex[robust], atol=1e-9, rtol=0)


def test_l2_never_beats_the_closed_form() -> None:
    model, x, y, v = _affine_binary(3)
    eps = 0.3
    margin = (v * x).sum(1)
    reach = eps * v.norm(dim=1)  # l2: the margin can drop by eps ||v||_2 at most
    result = APGD(eps=eps, norm="l2", steps=50)(model, x, y, generator=torch.Generator().manual_seed(0))
    assert not bool((result.success & (margin > reach * 1.0001)).any())  # nothing unreachable is broken
    assert bool(result.success[margin < 0.9 * reach].all())  # everything clearly reachable is


def test_checkpoints_follow_the_paper() -> None:
    """p_0 = 0, p_1 = 0.22, p_{j+1} = p_j + max(p_j - p_{j-1} - 0.03, 0.06) (Algorithm 1)."""
    p = [0.0, 0.22]
    while p[-1] + max(p[-1] - p[-2] - 0.03, 0.06) <= 1.0:
        p.append(p[-1] + max(p[-1] - p[-2] - 0.03, 0.06))
    first, decrease, minimum = checkpoint_lengths(100)
    window, at, ours = first, 0, []
    while at + window <= 100:
        at += window
        ours.append(at)
        window = max(window - decrease, minimum)
    assert ours == [round(100 * q) for q in p[1:]]


class _InteriorMaximum(nn.Module):
    """2 classes on (N, 1) inputs: z0 = 0, z1 = -10 (x - 0.5)^2 - 0.1, so CE(z, 0) peaks at
    x = 0.5 and the point is never misclassified."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        z1 = -10 * (x[:, 0] - 0.5) ** 2 - 0.1
        return torch.stack([torch.zeros_like(z1), z1], 1)


def test_step_halving_converges_to_an_interior_maximum() -> None:
    """With a fixed step 2 eps sign steps jump between the ball's faces; the checkpoints halve
    the step and restart from the best point, so the best point converges to x = 0.5."""
    x = torch.tensor([[0.42], [0.45], [0.55], [0.58]], dtype=torch.float64)
    y = torch.zeros(4, dtype=torch.long)
    result = APGD(eps=0.1, steps=100, random_start=False)(_InteriorMaximum(), x, y)
    assert not result.success.any()
    assert bool(((result.x_adv - 0.5).abs() < 5e-3).all()), result.x_adv.flatten()


def test_dlr_is_invariant_to_shift_and_scale() -> None:
    g = torch.Generator().manual_seed(0)
    z = torch.randn(32, 10, generator=g)
    y = torch.randint(0, 10, (32,), generator=g)
    t = (y + 1 + torch.randint(0, 9, (32,), generator=g)) % 10
    torch.testing.assert_close(dlr_loss(3.0 * z + 7.0, y), dlr_loss(z, y), atol=1e-5, rtol=1e-4)
    torch.testing.assert_close(targeted_dlr_loss(3.0 * z - 2.0, y, t), targeted_dlr_loss(z, y, t), atol=1e-5, rtol=1e-4)
    # sign: DLR < 0 exactly when y is the top class; targeted DLR < 0 exactly when z_y > z_t
    # signs of the loss against orderings of the same logits z: exact by construction
    assert torch.equal(dlr_loss(z, y) < 0, z.argmax(1) == y)
    assert torch.equal(targeted_dlr_loss(z, y, t) < 0, z.gather(1, y[:, None]).squeeze(1) > z.gather(1, t[:, None]).squeeze(1))
    with pytest.raises(ValueError, match="at least 4 classes"):
        targeted_dlr_loss(z[:, :3], y % 3, t % 3)


class _RankedTargets(nn.Module):
    """4 classes: z0 = 1 (true), z1 = 0.9 (runner-up, constant: unreachable), z2 = sum(x) - 4.5
    (third, reachable: + eps * 10 at most), z3 = -5."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        n = x.shape[0]
        const = torch.tensor([1.0, 0.9, 0.0, -5.0]).expand(n, 4)
        z2 = x.flatten(1).sum(1) - 4.5
        return const + torch.stack([torch.zeros(n), torch.zeros(n), z2, torch.zeros(n)], 1)


def test_apgd_t_attacks_the_ranked_targets_in_order() -> None:
    g = torch.Generator().manual_seed(0)
    x = 0.5 + 0.01 * (2 * torch.rand(8, 10, generator=g) - 1)  # z2 about 0.5: third
    y = torch.zeros(8, dtype=torch.long)
    model = _RankedTargets()
    one = APGDT(eps=0.1, steps=10, n_target_classes=1, random_start=False)(model, x, y)
    two = APGDT(eps=0.1, steps=10, n_target_classes=2, random_start=False)(model, x, y)
    assert not one.success.any()  # the runner-up cannot be reached
    assert two.success.all() and bool((two.logits.argmax(1) == 2).all())  # the third class can


def test_targeted_apgd_hits_the_targets(trained_mlp: nn.Module, digits) -> None:
    x, y = digits[0][:40], digits[1][:40]
    target = (y + 3) % 10
    for loss in ("ce", "dlr"):
        result = APGD(eps=0.3, steps=30, loss=loss, targeted=True)(trained_mlp, x, target, generator=torch.Generator().manual_seed(0))
        assert torch.equal(result.success, result.logits.argmax(1) == target)
        assert result.success_rate > 0.8, loss


def test_apgd_is_at_least_as_strong_as_pgd(trained_mlp: nn.Module, digits) -> None:
    from advlab.attacks import PGD

    x, y = digits[0][:100], digits[1][:100]
    pgd = PGD(eps=0.08, steps=50)(trained_mlp, x, y, generator=torch.Generator().manual_seed(0))
    apgd = APGD(eps=0.08, steps=50)(trained_mlp, x, y, generator=torch.Generator().manual_seed(0))
    assert apgd.success.float().mean() >= pgd.success.float().mean() - 0.03
    assert bool((apgd.norm <= 0.08 + 1e-6).all())


def test_rejects_bad_parameters() -> None:
    with pytest.raises(ValueError):
        APGD(eps=0.1, loss="hinge")  # type: ignore[arg-type]
    with pytest.raises(ValueError):
        APGD(eps=0.1, rho=1.5)
    with pytest.raises(ValueError):
        APGDT(eps=0.1, n_target_classes=0)
