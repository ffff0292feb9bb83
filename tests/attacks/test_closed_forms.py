"""Attacks against hand-computed cases: FGSM on a linear model, DeepFool on an affine classifier."""

from __future__ import annotations

import math

import pytest
import torch
from torch import nn

from advlab.attacks import FGSM, LBFGS, DeepFool, minimal_fgsm_eps, relative_perturbation, rho_adv


def _identity_classifier() -> nn.Module:
    """f(x) = x for x (N, 1, 1, 2): logit k is pixel k."""
    layer = nn.Linear(2, 2, bias=False)
    with torch.no_grad():
        layer.weight.copy_(torch.eye(2))
    return nn.Sequential(nn.Flatten(), layer).eval()


def test_fgsm_hand_computed() -> None:
    # CE gradient w.r.t. the logits is p - e_y; with p0 > p1 and y = 0 its sign is (-1, +1)
    x = torch.tensor([[[[0.7, 0.2]]]])
    y = torch.tensor([0])
    result = FGSM(eps=0.3)(_identity_classifier(), x, y)
    torch.testing.assert_close(result.x_adv, torch.tensor([[[[0.4, 0.5]]]]))
    assert bool(result.success[0]) and int(result.logits.argmax(1)) == 1
    torch.testing.assert_close(result.norm, torch.tensor([0.3]))
    # a smaller eps does not cross: no success
    assert not bool(FGSM(eps=0.1)(_identity_classifier(), x, y).success[0])
    # large eps: clipped to the bounds, norm measured after clipping
    clipped = FGSM(eps=0.9)(_identity_classifier(), x, y)
    torch.testing.assert_close(clipped.x_adv, torch.tensor([[[[0.0, 1.0]]]]))
    torch.testing.assert_close(clipped.norm, torch.tensor([0.8]))
    # targeted towards class 1 from the same point descends CE(., 1): the same move
    targeted = FGSM(eps=0.3, targeted=True)(_identity_classifier(), x, torch.tensor([1]))
    torch.testing.assert_close(targeted.x_adv, torch.tensor([[[[0.4, 0.5]]]]))
    assert bool(targeted.success[0])


def test_fgsm_predicted_labels() -> None:
    # the model predicts 0; with y = 1 (a wrong label) plain FGSM moves towards class 0
    x = torch.tensor([[[[0.7, 0.2]]]])
    plain = FGSM(eps=0.3)(_identity_classifier(), x, torch.tensor([1]))
    torch.testing.assert_close(plain.x_adv, torch.tensor([[[[1.0, 0.0]]]]))
    predicted = FGSM(eps=0.3, use_predicted_labels=True)(_identity_classifier(), x, torch.tensor([1]))
    torch.testing.assert_close(predicted.x_adv, torch.tensor([[[[0.4, 0.5]]]]))
    # it attacked the prediction 0 and now predicts 1, which is the y passed: no success
    assert int(predicted.logits.argmax(1)) == 1
    assert not bool(predicted.success[0])


def test_success_follows_y_for_a_misclassified_input() -> None:
    """Predicted 0, labelled 1: DeepFool (which stops on leaving its first prediction k0)
    pushes it into class 1, the label; every attack reports that as a failure."""
    x = torch.tensor([[[[0.7, 0.2]]]])
    y = torch.tensor([1])
    result = DeepFool(overshoot=0.02)(_identity_classifier(), x, y)
    assert int(result.logits.argmax(1)) == 1  # left k0 = 0 ...
    assert not bool(result.success[0])  # ... into the true class: not adversarial
    assert bool(DeepFool()(_identity_classifier(), x, torch.tensor([0])).success[0])


def _affine(seed: int, d: int = 20, k: int = 4) -> tuple[nn.Module, torch.Tensor, torch.Tensor]:
    g = torch.Generator().manual_seed(seed)
    w = torch.randn(k, d, generator=g, dtype=torch.float64)
    b = torch.randn(k, generator=g, dtype=torch.float64)
    layer = nn.Linear(d, k).double()
    with torch.no_grad():
        layer.weight.copy_(w)
        layer.bias.copy_(b)
    return nn.Sequential(nn.Flatten(), layer).eval(), w, b


@pytest.mark.parametrize("norm", ["l2", "linf"])
@pytest.mark.parametrize("seed", [0, 1, 2])
def test_deepfool_affine_reaches_analytic_minimum_in_one_step(norm: str, seed: int) -> None:
    model, w, b = _affine(seed)
    g = torch.Generator().manual_seed(100 + seed)
    x = torch.rand(8, 1, 4, 5, generator=g, dtype=torch.float64)  # (N, 1, 4, 5), D = 20
    f = x.flatten(1) @ w.T + b  # (N, K)
    k0 = f.argmax(1)
    # analytic: min_k |f_k - f_k0| / ||w_k - w_k0||_q, q = 2 (l2) or 1 (linf)
    w_diff = w[None, :, :] - w[k0][:, None, :]  # (N, K, D)
    f_diff = (f - f.gather(1, k0[:, None])).abs()  # (N, K)
    q_norm = w_diff.norm(dim=2) if norm == "l2" else w_diff.abs().sum(2)
    dist = torch.where(f_diff > 0, f_diff / q_norm.clamp_min(1e-30), torch.full_like(f_diff, math.inf))
    expected, expected_class = dist.min(1)
    attack = DeepFool(overshoot=0.0, norm=norm, bounds=(-100.0, 100.0))  # no clipping
    result = attack(model, x, k0)  # success is judged against the labels passed: k0 here
    assert bool((result.steps == 1).all())
    assert bool(result.success.all())
    # the step is the analytic distance plus the authors' 1e-4 slack
    torch.testing.assert_close(result.norm, expected + 1e-4, rtol=1e-7, atol=1e-9)  # 1e-8 norm floors
    # integer result, robust to rounding: float64 throughout and the 1e-4 slack puts the step
    # 1e-4 past the nearest boundary, ~1e12 float64 ulps, so no kernel can change the class
    assert torch.equal(result.logits.argmax(1), expected_class)


def test_deepfool_overshoot_scales_total_perturbation() -> None:
    model, _, _ = _affine(0)
    x = torch.rand(4, 20, dtype=torch.float64)
    base = DeepFool(overshoot=0.0, bounds=(-100.0, 100.0))(model, x, torch.zeros(4, dtype=torch.long))
    over = DeepFool(overshoot=0.5, bounds=(-100.0, 100.0))(model, x, torch.zeros(4, dtype=torch.long))
    torch.testing.assert_close(over.norm, 1.5 * base.norm)


def test_minimal_fgsm_eps(trained_mlp: nn.Module, digits) -> None:
    x, y = digits[0][:200], digits[1][:200]
    eps = minimal_fgsm_eps(trained_mlp, x, y, fraction=0.9)
    assert 0 < eps < 1
    # chunks of 37 run other matmul shapes than the whole batch (two computations): a
    # gradient within rounding of zero may take the other sign and move one sample's
    # threshold slightly, so the chunked bisection agrees up to that, not bit for bit (a
    # chunking bug that mixes up directions or labels moves eps far more than 1e-3)
    chunked = minimal_fgsm_eps(trained_mlp, x, y, fraction=0.9, batch_size=37)
    assert chunked == pytest.approx(eps, abs=1e-3)

    def fooled(e: float) -> int:
        return int((FGSM(eps=e)(trained_mlp, x, y).logits.argmax(1) != y).sum())

    assert fooled(eps) >= 180  # 90% of 200
    assert fooled(eps - 1e-3) < 180  # the bisection found (up to its precision) the smallest


def test_rho_adv_hand_computed() -> None:
    x = torch.tensor([[3.0, 4.0], [1.0, 0.0]])  # ||x||_2 = 5, 1; ||x||_inf = 4, 1
    x_adv = torch.tensor([[3.0, 5.0], [1.0, 0.5]])  # ||r||_2 = 1, 0.5
    assert rho_adv(x, x_adv) == pytest.approx((1 / 5 + 0.5 / 1) / 2)
    assert rho_adv(x, x_adv, "linf") == pytest.approx((1 / 4 + 0.5 / 1) / 2)
    torch.testing.assert_close(relative_perturbation(x, x_adv), torch.tensor([0.2, 0.5]))
    with pytest.raises(ValueError, match="norm"):
        rho_adv(x, x_adv, "l1")  # type: ignore[arg-type]


def _box_distance(x: torch.Tensor, w: torch.Tensor, b: torch.Tensor, bounds: tuple[float, float]) -> torch.Tensor:
    """Smallest ||r||_2 that leaves the predicted class of f(x) = W x + b inside the box.

    For each class k != k0, min ||r|| s.t. a.r >= m, lower <= r <= upper (a = w_k - w_k0,
    m = f_k0 - f_k) is solved by r = clip(lam * a) with the smallest lam >= 0 reaching the
    margin (a.r is non-decreasing in lam): bisection. Leaving the region {f_k0 >= f_k for all
    k} means crossing one of these half-spaces, so the answer is the minimum over k. (N,).
    """
    f = x @ w.T + b  # (N, K)
    k0 = f.argmax(1)
    a = w[None] - w[k0][:, None]  # (N, K, D)
    m = f.gather(1, k0[:, None]) - f  # (N, K), 0 at k0
    lower = (bounds[0] - x)[:, None].expand_as(a)
    upper = (bounds[1] - x)[:, None].expand_as(a)

    def reached(lam: torch.Tensor) -> torch.Tensor:
        return (torch.clamp(lam[..., None] * a, lower, upper) * a).sum(2) >= m

    feasible = reached(torch.full_like(m, 1e9)) & (m > 0)
    lam_low, lam_high = torch.zeros_like(m), torch.full_like(m, 1e9)
    for _ in range(200):
        mid = 0.5 * (lam_low + lam_high)
        ok = reached(mid)
        lam_high, lam_low = torch.where(ok, mid, lam_high), torch.where(ok, lam_low, mid)
    dist = torch.clamp(lam_high[..., None] * a, lower, upper).norm(dim=2)  # (N, K)
    return torch.where(feasible, dist, torch.full_like(dist, math.inf)).min(1).values


@pytest.mark.parametrize("seed,scale", [(0, 1.0), (1, 5.0), (2, 5.0)])
def test_lbfgs_affine_with_pixels_at_the_bounds_is_near_minimal(seed: int, scale: float) -> None:
    # Szegedy's box-constrained minimisation must use the pixels that sit exactly on a bound
    # (most of MNIST's); minimising through clip(x + r) froze them (zero clamp gradient) and
    # failed on up to a quarter of these samples and landed up to 2x above the minimum.
    model, w, b = _affine(seed)
    with torch.no_grad():
        model[1].weight.mul_(scale)
        model[1].bias.mul_(scale)
    g = torch.Generator().manual_seed(100 + seed)
    x = torch.rand(16, 20, generator=g, dtype=torch.float64)
    x = torch.where(x < 0.3, 0.0, torch.where(x > 0.7, 1.0, x))  # ~60% of pixels at 0 or 1
    minimal = _box_distance(x, scale * w, scale * b, (0.0, 1.0))  # (N,)
    assert bool(torch.isfinite(minimal).all())
    k0 = model(x).argmax(1)
    result = LBFGS()(model, x, k0)
    assert bool(result.success.all())
    ratio = result.norm / minimal
    assert float(ratio.min()) >= 1 - 1e-9  # nothing beats the closed form
    assert float(ratio.mean()) <= 1.1 and float(ratio.max()) <= 1.35


def _binary_affine(d: int = 12, seed: int = 0) -> tuple[nn.Module, torch.Tensor]:
    """logits (0, w.x): the cross-entropy to class 0 grows along +w everywhere."""
    g = torch.Generator().manual_seed(seed)
    w = torch.randn(d, generator=g, dtype=torch.float64)
    layer = nn.Linear(d, 2, bias=False).double()
    with torch.no_grad():
        layer.weight.copy_(torch.stack([torch.zeros(d, dtype=torch.float64), w]))
    return nn.Sequential(nn.Flatten(), layer).eval(), w


@pytest.mark.parametrize("norm", ["linf", "l2"])
def test_pgd_on_affine_reaches_the_closed_form_maximiser(norm: str) -> None:
    from advlab.attacks import PGD

    model, w = _binary_affine()
    x = torch.rand(5, 1, 3, 4, generator=torch.Generator().manual_seed(1), dtype=torch.float64)
    y = torch.zeros(5, dtype=torch.long)
    eps = 0.3
    attack = PGD(eps=eps, steps=20, norm=norm, random_start=False, bounds=(-10.0, 10.0))
    result = attack(model, x, y)
    direction = w.sign() if norm == "linf" else w / w.norm()
    expected = x + eps * direction.view(1, 1, 3, 4)
    # l2 projections land L2_PROJECTION_MARGIN inside the sphere
    tol = 1e-12 if norm == "linf" else 2e-5 * eps
    torch.testing.assert_close(result.x_adv, expected, atol=tol, rtol=0)


def test_pgd_restarts_keep_the_better_run_per_sample(trained_mlp: nn.Module, digits) -> None:
    """restarts=3 equals, per sample, the best of three single runs drawing the same random
    starts (success first, then the higher loss)."""
    from advlab.attacks import PGD

    x, y = digits[0][:60], digits[1][:60]
    params = {"eps": 0.08, "steps": 3, "random_start": True}
    joint = PGD(restarts=3, **params)(trained_mlp, x, y, generator=torch.Generator().manual_seed(5))
    g = torch.Generator().manual_seed(5)
    runs = [PGD(restarts=1, **params)(trained_mlp, x, y, generator=g) for _ in range(3)]
    losses = torch.stack([nn.functional.cross_entropy(r.logits, y, reduction="none") for r in runs])
    success = torch.stack([r.success for r in runs])  # (3, N)
    # lexicographic best: any success beats failure, then the higher loss (first on ties)
    score = success.double() * 1e6 + losses
    best = score.argmax(0)  # (N,)
    expected = torch.stack([r.x_adv for r in runs])[best, torch.arange(60)]
    # the same computation: restarts run one after another on the same (60, ...) batch with
    # the same generator stream, so restart r of `joint` is bit for bit run r
    torch.testing.assert_close(joint.x_adv, expected)
    assert bool((joint.success == success.any(0)).all())
    assert 0 < int(success.any(0).sum()) < 60
    assert bool((best != 0).any())  # later restarts win somewhere: the choice is exercised
