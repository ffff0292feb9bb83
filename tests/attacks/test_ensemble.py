"""Ensemble attacks (Liu et al. 2017): the registry properties of single-model attacks on model
lists, and closed forms of the ensemble objective with linear classifiers."""

from __future__ import annotations

import copy

import pytest
import torch
from torch import nn

from advlab.attacks import FGSM, PGD, DeepFool
from advlab.attacks.ensemble import (
    ENSEMBLE_ATTACKS,
    AttackOnEnsemble,
    EnsembleAttack,
    ProbabilityEnsemble,
    create_ensemble_attack,
    ensemble_objective,
    normalised_weights,
    rmsd,
)

# Test-sized hyperparameters for every registered ensemble attack (coverage checked below).
ENSEMBLE_PARAMS: dict[str, dict] = {
    "ensemble": {"lam": 0.05, "steps": 30, "lr": 0.05},
    "on-ensemble": {"attack": PGD(eps=0.3, steps=10)},
}
NAMES = ENSEMBLE_ATTACKS.names()


def test_every_registered_ensemble_attack_has_test_params() -> None:
    assert sorted(ENSEMBLE_PARAMS) == sorted(NAMES)


def _linear(seed: int, features: int = 12, classes: int = 5) -> nn.Module:
    torch.manual_seed(seed)
    return nn.Sequential(nn.Flatten(), nn.Linear(features, classes)).eval()


def _bn_dropout_model() -> nn.Module:
    torch.manual_seed(1)
    return nn.Sequential(
        nn.Conv2d(1, 4, 3, padding=1), nn.BatchNorm2d(4), nn.ReLU(), nn.Dropout(0.5),
        nn.Flatten(), nn.Linear(4 * 8 * 8, 10),
    )  # fmt: skip


@pytest.fixture(scope="module")
def second_mlp(digits) -> nn.Module:
    """Another small MLP (different width and seed) trained on the digits test split's complement."""
    from advlab import data as datasets

    x, y = datasets.as_tensors(datasets.load("digits", "train"))
    torch.manual_seed(5)
    model = nn.Sequential(nn.Flatten(), nn.Linear(64, 48), nn.ReLU(), nn.Linear(48, 10))
    optimiser = torch.optim.Adam(model.parameters(), lr=0.02)
    for _ in range(150):
        optimiser.zero_grad()
        nn.functional.cross_entropy(model(x), y).backward()
        optimiser.step()
    model.zero_grad(set_to_none=True)
    return model.eval()


# --------------------------------------------------------------------------- closed forms


def test_objective_and_gradient_match_the_closed_form_for_linear_models() -> None:
    """Two softmax-linear models f_i(x) = W_i x + b_i: P = sum a_i softmax(f_i), and
    d/dx -log(1 - P_y) = (1 / (1 - P_y)) sum_i a_i p_iy (W_iy - sum_k p_ik W_ik)."""
    models = [_linear(0), _linear(1)]
    weights = normalised_weights((1.0, 3.0), 2)  # a = (0.25, 0.75)
    ensemble = ProbabilityEnsemble(models, weights)
    x = torch.randn(4, 1, 3, 4)
    y = torch.tensor([0, 1, 2, 4])
    flat = x.flatten(1)
    w = [m[1].weight.detach() for m in models]  # (K, D) each
    b = [m[1].bias.detach() for m in models]
    p = [torch.softmax(flat @ wi.T + bi, 1) for wi, bi in zip(w, b, strict=True)]  # (N, K) each
    p_y = sum(a * pi.gather(1, y[:, None]).squeeze(1) for a, pi in zip(weights, p, strict=True))
    expected_loss = -torch.log(1 - p_y)
    dp_dx = sum(
        a * pi.gather(1, y[:, None]) * (wi[y] - pi @ wi) for a, pi, wi in zip(weights, p, w, strict=True)
    )  # (N, D) d P_y / dx
    expected_grad = dp_dx / (1 - p_y)[:, None]
    x_req = x.clone().requires_grad_(True)
    loss = ensemble_objective(ensemble(x_req), y, targeted=False)
    (grad,) = torch.autograd.grad(loss.sum(), x_req)
    torch.testing.assert_close(loss, expected_loss, rtol=1e-5, atol=1e-6)
    torch.testing.assert_close(grad.flatten(1), expected_grad, rtol=1e-4, atol=1e-6)
    targeted = ensemble_objective(ensemble(x), y, targeted=True)
    torch.testing.assert_close(targeted, -torch.log(p_y), rtol=1e-5, atol=1e-6)


def test_attack_objective_adds_lam_times_rmsd() -> None:
    models = [_linear(0), _linear(1)]
    ensemble = ProbabilityEnsemble(models, normalised_weights(None, 2))
    x, x_adv = torch.rand(3, 1, 3, 4), torch.rand(3, 1, 3, 4)
    y = torch.tensor([0, 1, 2])
    attack = EnsembleAttack(lam=0.7)
    expected = ensemble_objective(ensemble(x_adv), y, False) + 0.7 * rmsd(x, x_adv)
    torch.testing.assert_close(attack.objective(ensemble, x, x_adv, y), expected)


def test_ensemble_of_copies_equals_the_single_model(trained_mlp: nn.Module, digits) -> None:
    """Averaging the probabilities of identical models changes nothing: the same iterates."""
    x, y = digits[0][:10], digits[1][:10]
    attack = EnsembleAttack(lam=0.05, steps=10, lr=0.05)
    one = attack([trained_mlp], x, y)
    three = attack([trained_mlp, copy.deepcopy(trained_mlp), trained_mlp], x, y)
    torch.testing.assert_close(one.x_adv, three.x_adv, atol=1e-4, rtol=1e-4)  # Adam amplifies rounding
    # FGSM on a one-model ensemble ascends -log softmax(f)_y: the gradient of FGSM's loss
    # (two different computations: a coordinate whose gradient is within rounding of zero may
    # take the other sign on other CPU kernels, so compare up to a few such pixels)
    single = FGSM(eps=0.1)(trained_mlp, x, y)
    wrapped = AttackOnEnsemble(FGSM(eps=0.1))([trained_mlp], x, y)
    moved = (single.x_adv - wrapped.x_adv).abs() > 1e-6  # (N, C, H, W)
    assert moved.float().mean() < 0.01, f"{int(moved.sum())} of {moved.numel()} pixels differ"
    assert (single.success == wrapped.success).float().mean() >= 0.9


def test_weights_select_a_member() -> None:
    """With all weight on model 0 the ensemble is model 0: its log-probabilities exactly."""
    models = [_linear(0), _linear(1)]
    ensemble = ProbabilityEnsemble(models, normalised_weights((1.0, 0.0), 2))
    x = torch.randn(6, 1, 3, 4)
    torch.testing.assert_close(ensemble(x), models[0](x).log_softmax(1))


# --------------------------------------------------------------------------- properties


@pytest.mark.parametrize("name", NAMES)
@pytest.mark.parametrize(("low", "width"), [(0.0, 1.0), (-1.5, 0.4), (2.0, 3.0)])
def test_inside_threat_model_and_bounds(name: str, low: float, width: float) -> None:
    params = dict(ENSEMBLE_PARAMS[name])
    if name == "on-ensemble":
        params["attack"] = PGD(eps=0.2 * width, steps=5, bounds=(low, low + width))
    else:
        params["bounds"] = (low, low + width)
    attack = create_ensemble_attack(name, **params)
    g = torch.Generator().manual_seed(0)
    x = low + width * torch.rand(6, 1, 3, 4, generator=g)
    y = torch.randint(0, 5, (6,), generator=g)
    result = attack([_linear(0), _linear(1), _linear(2)], x, y, generator=g)
    assert bool((result.x_adv >= low).all()) and bool((result.x_adv <= low + width).all())
    if name == "on-ensemble":
        assert bool(((result.x_adv - x).abs().flatten(1).amax(1) <= 0.2 * width * (1 + 1e-6)).all())
    assert result.member_logits.shape == (3, 6, 5) and result.member_success.shape == (3, 6)
    assert result.success.shape == (6,) and result.steps.shape == (6,)


@pytest.mark.parametrize("name", NAMES)
def test_lowers_accuracy_of_every_member(name: str, trained_mlp: nn.Module, second_mlp: nn.Module, digits) -> None:
    x, y = digits[0][:100], digits[1][:100]
    models = [trained_mlp, second_mlp]
    result = create_ensemble_attack(name, **ENSEMBLE_PARAMS[name])(models, x, y)
    for model, logits, success in zip(models, result.member_logits, result.member_success, strict=True):
        with torch.no_grad():
            clean = (model(x).argmax(1) == y).float().mean()
            torch.testing.assert_close(logits, model(result.x_adv))
        assert clean > 0.85
        assert (logits.argmax(1) == y).float().mean() < clean - 0.3
        assert torch.equal(success, logits.argmax(1) != y)  # derived from these same logits: exact
    assert torch.equal(result.fooled_all, result.member_success.all(0))  # boolean reduction: exact


@pytest.mark.parametrize("name", NAMES)
@pytest.mark.parametrize("training", [False, True])
def test_models_untouched(name: str, training: bool, trained_mlp: nn.Module, digits) -> None:
    model = _bn_dropout_model()
    model(digits[0][:64])  # non-trivial running statistics
    model.train(training)
    before = {k: v.clone() for k, v in model.state_dict().items()}
    result = create_ensemble_attack(name, **ENSEMBLE_PARAMS[name])(
        [model, trained_mlp], digits[0][:20], digits[1][:20], generator=torch.Generator().manual_seed(0)
    )
    assert all(m.training is training for m in model.modules())
    assert all(torch.equal(v, before[k]) for k, v in model.state_dict().items())  # untouched tensors
    assert all(p.grad is None for p in model.parameters())
    assert all(p.grad is None for p in trained_mlp.parameters())
    with torch.no_grad():
        torch.testing.assert_close(result.member_logits[0], copy.deepcopy(model).eval()(result.x_adv))


@pytest.mark.parametrize("name", NAMES)
def test_same_result_alone_and_in_batch(name: str, trained_mlp: nn.Module, second_mlp: nn.Module, digits) -> None:
    params = dict(ENSEMBLE_PARAMS[name])
    if name == "on-ensemble":
        params["attack"] = PGD(eps=0.3, steps=10, random_start=False)
    attack = create_ensemble_attack(name, **params)
    x, y = digits[0][:12], digits[1][:12]
    batch = attack([trained_mlp, second_mlp], x, y)
    for i in (0, 5, 11):
        alone = attack([trained_mlp, second_mlp], x[i : i + 1], y[i : i + 1])
        torch.testing.assert_close(alone.x_adv[0], batch.x_adv[i], atol=1e-4, rtol=1e-4)
        # two computations (1-row vs 12-row matmuls): the flag may only differ for an
        # iterate left within rounding of the ensemble's decision boundary
        if bool(alone.success[0]) != bool(batch.success[i]):
            assert _label_margin(batch.logits[i], y[i]) < 1e-3, i


def test_targeted_reaches_targets(trained_mlp: nn.Module, second_mlp: nn.Module, digits) -> None:
    x, y = digits[0][:40], digits[1][:40]
    target = (y + 1) % 10
    result = EnsembleAttack(lam=0.05, steps=60, lr=0.05, targeted=True)([trained_mlp, second_mlp], x, target)
    assert torch.equal(result.success, result.logits.argmax(1) == target)  # from these same logits
    assert float(result.member_success.float().mean()) > 0.7


def test_deepfool_on_a_one_model_ensemble_is_deepfool(trained_mlp: nn.Module, digits) -> None:
    """log P of one model is its log-softmax, whose differences are the logit differences
    DeepFool linearises: the same minimal perturbations, no eps-ball."""
    x, y = digits[0][:20], digits[1][:20]
    attack = AttackOnEnsemble(DeepFool())
    wrapped = attack([trained_mlp], x, y)
    single = DeepFool()(trained_mlp, x, y)
    assert attack.radius is None
    torch.testing.assert_close(wrapped.x_adv, single.x_adv, atol=1e-4, rtol=1e-4)
    # two computations (log-softmax differences vs logit differences): a flag may only
    # differ for a sample left within rounding of the boundary
    for i in torch.nonzero(wrapped.success != single.success).flatten().tolist():
        assert _label_margin(single.logits[i], y[i]) < 1e-3, i


def _label_margin(logits: torch.Tensor, label: torch.Tensor) -> float:
    """|logit of the label - the best other logit| for one sample's (K,) logits: how far
    the sample sits from flipping its success flag."""
    others = logits.clone()
    others[int(label)] = -torch.inf
    return abs(float(logits[int(label)] - others.max()))


def test_bad_input_is_named(trained_mlp: nn.Module, digits) -> None:
    x, y = digits[0][:4], digits[1][:4]
    with pytest.raises(ValueError, match="2 entries but 3 models"):
        EnsembleAttack(weights=(1.0, 1.0))([trained_mlp] * 3, x, y)
    with pytest.raises(ValueError, match=">= 0"):
        EnsembleAttack(weights=(1.0, -1.0))([trained_mlp] * 2, x, y)
    with pytest.raises(ValueError, match="at least one model"):
        EnsembleAttack()([], x, y)
    with pytest.raises(ValueError, match="list of nn.Module"):
        EnsembleAttack()(trained_mlp, x, y)  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="lam"):
        EnsembleAttack(lam=-1.0)
    with pytest.raises(ValueError, match="valid: .*lam"):
        create_ensemble_attack("ensemble", eps=0.1)
    with pytest.raises(ValueError, match="single-model Attack"):
        AttackOnEnsemble(attack="pgd")  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="outside bounds"):
        EnsembleAttack()([trained_mlp], x + 2.0, y)


def test_untargeted_objective_keeps_its_gradient_on_confident_models() -> None:
    """P(y) = 1 - 1e-12 rounds to 1 in float32; -log(1 - P(y)) must still be finite with a
    gradient that lowers P(y)."""
    logits = torch.tensor([[30.0, 2.0, 0.0]], requires_grad=True)  # softmax(y = 0) ~ 1 - 7e-13
    loss = ensemble_objective(logits.log_softmax(1), torch.tensor([0]), targeted=False)
    (grad,) = torch.autograd.grad(loss.sum(), logits)
    expected = -torch.logsumexp(torch.tensor([2.0, 0.0]), 0) + torch.logsumexp(torch.tensor([30.0, 2.0, 0.0]), 0)
    torch.testing.assert_close(loss[0], expected)
    assert torch.isfinite(grad).all() and float(grad[0, 0]) > 0.99  # descending it lowers logit y
