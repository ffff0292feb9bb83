"""Universal perturbations (Moosavi-Dezfooli et al. 2017, Algorithm 1): the xi-ball and the
bounds, fooling rates against clean predictions, and the sequential algorithm against a
plain one-point-at-a-time reference."""

from __future__ import annotations

import copy

import pytest
import torch
from torch import nn

from advlab.attacks import DeepFool
from advlab.attacks.universal import (
    UniversalPerturbation,
    fooling_rate,
    perturb,
    predict,
    random_perturbation,
)


@pytest.mark.parametrize("norm", ["linf", "l2"])
@pytest.mark.parametrize("variant", ["sequential", "batched"])
def test_stays_in_the_xi_ball_and_the_bounds(norm: str, variant: str, trained_mlp: nn.Module, digits) -> None:
    xi = 0.15 if norm == "linf" else 1.5
    x = digits[0][:60]
    result = UniversalPerturbation(xi=xi, norm=norm, max_passes=2, variant=variant, batch_size=8,  # type: ignore[arg-type]
                                   inner=DeepFool(steps=20)).fit(trained_mlp, x, torch.Generator().manual_seed(0))  # fmt: skip
    v = result.perturbation
    assert v.shape == x.shape[1:]
    size = float(v.abs().max()) if norm == "linf" else float(v.norm())
    assert 0.5 * xi < size <= xi * (1 + 1e-6)  # it moved, and stayed inside the ball
    perturbed = perturb(x, v)
    assert float(perturbed.min()) >= 0.0 and float(perturbed.max()) <= 1.0
    assert result.accepted >= 1 and result.inner_attacks >= result.accepted
    assert len(result.fooling_rate) == result.passes <= 2
    # the reported rate is the fooling rate of the returned perturbation on X
    # the same computation: fit calls fooling_rate on this x and v with the same chunks
    assert result.fooling_rate[-1] == fooling_rate(trained_mlp, x, v)


def test_other_bounds_are_respected(trained_mlp: nn.Module, digits) -> None:
    x = digits[0][:30] * 2.0 - 1.0  # images in [-1, 1]
    model = nn.Sequential(_Rescale(), trained_mlp)
    uap = UniversalPerturbation(xi=0.3, max_passes=1, bounds=(-1.0, 1.0), inner=DeepFool(steps=10))
    assert uap.inner.bounds == (-1.0, 1.0)  # the inner attack works in the same box
    v = uap.fit(model, x).perturbation
    perturbed = perturb(x, v, (-1.0, 1.0))
    assert float(v.abs().max()) <= 0.3 + 1e-7 and float(perturbed.abs().max()) <= 1.0


class _Rescale(nn.Module):
    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return (x + 1.0) / 2.0


def test_fooling_rate_is_against_clean_predictions_not_labels(trained_mlp: nn.Module, digits) -> None:
    x, y = digits
    with torch.no_grad():
        predicted = trained_mlp(x).argmax(1)
    errors = float((predicted != y).float().mean())
    assert errors > 0.01  # the model misclassifies some digits: labels and predictions differ
    zero = torch.zeros_like(x[0])
    assert fooling_rate(trained_mlp, x, zero) == 0.0  # no perturbation fools nothing (x + 0 is x: the same forward twice)
    result = UniversalPerturbation(xi=0.3, max_passes=1, inner=DeepFool(steps=20)).fit(trained_mlp, x[:100])
    v = result.perturbation
    changed = predict(trained_mlp, perturb(x, v)) != predicted
    wrong = predict(trained_mlp, perturb(x, v)) != y
    assert fooling_rate(trained_mlp, x, v) == pytest.approx(float(changed.float().mean()))
    assert float(changed.float().mean()) != pytest.approx(float(wrong.float().mean()))
    # fitted on x[:100], predicted above on all of x (other chunk shapes): two computations,
    # so a prediction may only differ where the top two logits tie within rounding
    with torch.no_grad():
        top2 = trained_mlp(x[:100]).topk(2, dim=1).values
    differ = result.clean_predictions != predicted[:100]
    assert bool(((top2[:, 0] - top2[:, 1])[differ] < 1e-4).all())


def _reference_pass(model: nn.Module, x: torch.Tensor, v: torch.Tensor, uap: UniversalPerturbation) -> torch.Tensor:
    """Algorithm 1's inner loop written plainly: one point at a time, one forward each."""
    clean = predict(model, x)
    for i in range(x.shape[0]):
        start = perturb(x[i : i + 1], v)
        if int(predict(model, start)[0]) != int(clean[i]):
            continue  # v already fools x_i
        adversarial = uap.inner(model, start, clean[i : i + 1])
        if bool(adversarial.success[0]):  # DeepFool converged: the label changed
            v = uap.project(v + (adversarial.x_adv[0] - start[0]))
    return v


def test_sequential_pass_equals_the_plain_algorithm(trained_mlp: nn.Module, digits) -> None:
    x = digits[0][:40]
    uap = UniversalPerturbation(xi=0.2, max_passes=1, shuffle=False, delta=0.0, inner=DeepFool(steps=30))
    fast = uap.fit(trained_mlp, x).perturbation
    plain = _reference_pass(trained_mlp, x, torch.zeros_like(x[0]), uap)
    torch.testing.assert_close(fast, plain, atol=1e-5, rtol=1e-5)


def test_batched_with_batch_size_one_is_sequential(trained_mlp: nn.Module, digits) -> None:
    x = digits[0][:25]
    common = {"xi": 0.2, "max_passes": 1, "delta": 0.0, "inner": DeepFool(steps=30)}
    sequential = UniversalPerturbation(**common).fit(trained_mlp, x, torch.Generator().manual_seed(3))  # type: ignore[arg-type]
    batched = UniversalPerturbation(**common, variant="batched", batch_size=1).fit(  # type: ignore[arg-type]
        trained_mlp, x, torch.Generator().manual_seed(3))  # fmt: skip
    torch.testing.assert_close(sequential.perturbation, batched.perturbation, atol=1e-5, rtol=1e-5)


def test_unconverged_inner_attacks_are_rejected(trained_mlp: nn.Module, digits) -> None:
    """One DeepFool step with no overshoot lands on (not beyond) the linearised boundary of a
    nonlinear model: it rarely crosses, and then v must not move."""
    x = digits[0][:30]
    uap = UniversalPerturbation(xi=0.5, max_passes=1, inner=DeepFool(steps=1, overshoot=0.0))
    result = uap.fit(trained_mlp, x)
    assert result.accepted < result.inner_attacks
    if result.accepted == 0:
        assert torch.equal(result.perturbation, torch.zeros_like(x[0]))  # never updated: exactly zero


def test_stops_at_the_target_fooling_rate(trained_mlp: nn.Module, digits) -> None:
    x = digits[0][:60]
    result = UniversalPerturbation(xi=2.0, norm="l2", delta=0.6, max_passes=10).fit(trained_mlp, x)
    assert result.reached_target and result.fooling_rate[-1] >= 0.4
    assert all(rate < 0.4 for rate in result.fooling_rate[:-1])


def test_model_untouched_and_randomness_from_the_generator(digits) -> None:
    torch.manual_seed(0)
    model = nn.Sequential(nn.Flatten(), nn.Linear(64, 16), nn.BatchNorm1d(16), nn.ReLU(), nn.Dropout(0.5),
                          nn.Linear(16, 10))  # fmt: skip
    model(digits[0][:64])
    model.train()
    before = copy.deepcopy(model.state_dict())
    uap = UniversalPerturbation(xi=0.3, max_passes=2, inner=DeepFool(steps=10))
    a = uap.fit(model, digits[0][:30], torch.Generator().manual_seed(1))
    b = uap.fit(model, digits[0][:30], torch.Generator().manual_seed(1))
    assert model.training and all(torch.equal(v, before[k]) for k, v in model.state_dict().items())
    assert all(p.grad is None for p in model.parameters())
    assert torch.equal(a.perturbation, b.perturbation)  # the same computation repeated: bit for bit


def test_random_perturbation_has_the_norm() -> None:
    g = torch.Generator().manual_seed(0)
    linf = random_perturbation((1, 8, 8), "linf", 0.2, g)
    l2 = random_perturbation((1, 8, 8), "l2", 3.0, g)
    assert torch.allclose(linf.abs(), torch.full_like(linf, 0.2))
    assert float(l2.norm()) == pytest.approx(3.0, rel=1e-5)


def test_bad_settings_are_named(trained_mlp: nn.Module, digits) -> None:
    with pytest.raises(ValueError, match="xi"):
        UniversalPerturbation(xi=0.0)
    with pytest.raises(ValueError, match="delta"):
        UniversalPerturbation(xi=0.1, delta=1.0)
    with pytest.raises(ValueError, match="variant must be one of sequential, batched"):
        UniversalPerturbation(xi=0.1, variant="parallel")  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="norm"):
        UniversalPerturbation(xi=0.1, norm="l1")  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="outside bounds"):
        UniversalPerturbation(xi=0.1).fit(trained_mlp, digits[0][:4] + 2)
    with pytest.raises(ValueError, match="per-sample shape"):
        fooling_rate(trained_mlp, digits[0][:4], torch.zeros(1, 4, 4))
