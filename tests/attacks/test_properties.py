"""Registry-driven properties every attack must have (DESIGN.md 8)."""

from __future__ import annotations

import copy
import dataclasses
from collections.abc import Callable
from typing import Any

import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st
from torch import nn

from advlab.attacks import ATTACKS, PGD, Attack, create_attack, rho_adv
from advlab.transforms import TransformDistribution, rotate_translate
from advlab.types import AttackResult

# Test-sized hyperparameters for every registered attack (the registry test checks coverage).
ATTACK_PARAMS: dict[str, dict] = {
    "fgsm": {"eps": 0.2},
    "pgd": {"eps": 0.2, "steps": 5, "restarts": 2},
    "deepfool": {"steps": 20},
    "lbfgs": {"search_steps": 3, "max_iter": 5},
    "locally-linear": {"eps": 0.2},
    "spatial-grid": {"rotations": 7, "translations": 3},
    "spatial-random": {"tries": 10},
    "spatial-pgd": {"steps": 10},
    "eot": {"inner": PGD(eps=0.2, steps=5), "draws": 4},
    "rp2": {"steps": 20, "mask_steps": 10, "sticker_size": (0.5, 0.5)},
    "apgd": {"eps": 0.2, "steps": 10},
    "apgd-t": {"eps": 0.2, "steps": 5, "n_target_classes": 3},
    "square": {"eps": 0.2, "queries": 100},
    "fab": {"eps": 0.2, "steps": 10, "n_target_classes": 3},
}

NAMES = ATTACKS.names()


def test_every_registered_attack_has_test_params() -> None:
    assert sorted(ATTACK_PARAMS) == sorted(NAMES)
    assert sorted(THREAT_MODELS) == sorted(NAMES)


def _radius(params: dict[str, Any]) -> float | None:
    """The lp radius the test asked for: eps, or the wrapped attack's eps (EOT)."""
    inner = params.get("inner")
    return params.get("eps", getattr(inner, "eps", None))


def _with_radius(params: dict[str, Any], eps: float) -> dict[str, Any]:
    """params with the lp radius (its own, or the wrapped attack's) set to eps."""
    if "eps" in params:
        return dict(params, eps=eps)
    if isinstance(params.get("inner"), Attack) and hasattr(params["inner"], "eps"):
        return dict(params, inner=dataclasses.replace(params["inner"], eps=eps))
    return params


# --------------------------------------------------------------------------- threat models
# Each attack's own threat model, checked from the outside (not through its `enforce`).


def _inside_ball(attack: Attack, params: dict, x: torch.Tensor, result: AttackResult) -> None:
    """lp attacks: ||x_adv - x|| <= eps in the attack's norm."""
    eps = _radius(params)
    assert eps is not None and attack.radius == eps
    assert bool((result.norm <= eps * (1 + 1e-5) + 1e-6).all())


def _bounds_only(attack: Attack, params: dict, x: torch.Tensor, result: AttackResult) -> None:
    """Minimal-perturbation attacks (DeepFool, L-BFGS): no radius, only the bounds."""
    assert attack.radius is None


def _inside_transformation_box(attack: Attack, params: dict, x: torch.Tensor, result: AttackResult) -> None:
    """Spatial attacks: (angle, dx, dy) within the ranges, and x_adv is x rendered with them."""
    assert result.params is not None and result.params.shape == (x.shape[0], 3)
    limits = torch.tensor([attack.max_rotation, attack.max_translation, attack.max_translation])  # type: ignore[attr-defined]
    assert bool((result.params.abs() <= limits + 1e-6).all())
    rendered = rotate_translate(x, result.params, bounds=attack.bounds)
    torch.testing.assert_close(result.x_adv, rendered, atol=1e-5, rtol=0)


def _inside_mask(attack: Attack, params: dict, x: torch.Tensor, result: AttackResult) -> None:
    """RP2: x_adv equals x outside a 0/1 mask (stickers: at most stickers x sticker area)."""
    n, _, h, w = x.shape
    assert result.params is not None and result.params.shape == (n, h * w)
    mask = result.params.view(n, 1, h, w)
    assert bool(((mask == 0) | (mask == 1)).all())
    assert torch.equal(torch.where(mask > 0, x, result.x_adv), x)  # a selection, no arithmetic: exact
    if attack.mask == "stickers":  # type: ignore[attr-defined]
        sh, sw = max(1, round(attack.sticker_size[0] * h)), max(1, round(attack.sticker_size[1] * w))  # type: ignore[attr-defined]
        assert bool((mask.flatten(1).sum(1) <= attack.stickers * sh * sw).all())  # type: ignore[attr-defined]


THREAT_MODELS: dict[str, Callable[[Attack, dict, torch.Tensor, AttackResult], None]] = {
    "fgsm": _inside_ball, "pgd": _inside_ball, "eot": _inside_ball, "locally-linear": _inside_ball,
    "deepfool": _bounds_only, "lbfgs": _bounds_only,
    "spatial-grid": _inside_transformation_box, "spatial-random": _inside_transformation_box,
    "spatial-pgd": _inside_transformation_box,
    "rp2": _inside_mask,
    "apgd": _inside_ball, "apgd-t": _inside_ball, "square": _inside_ball, "fab": _inside_ball,
}  # fmt: skip


def _random_model(seed: int) -> nn.Module:
    torch.manual_seed(seed)
    return nn.Sequential(nn.Flatten(), nn.Linear(12, 16), nn.ReLU(), nn.Linear(16, 5)).eval()


@pytest.mark.parametrize("name", NAMES)
@settings(max_examples=8, deadline=None)
@given(
    seed=st.integers(0, 10_000),
    low=st.floats(-2.0, 0.5),
    width=st.floats(0.1, 3.0),
    eps_fraction=st.floats(0.01, 1.0),
)
def test_inside_threat_model_and_bounds(name: str, seed: int, low: float, width: float, eps_fraction: float) -> None:
    bounds = (low, low + width)
    params = _with_radius(dict(ATTACK_PARAMS[name], bounds=bounds), eps_fraction * width)
    attack = create_attack(name, **params)
    g = torch.Generator().manual_seed(seed)
    x = low + width * torch.rand(6, 1, 3, 4, generator=g)  # (N, C, H, W) inside the bounds
    y = torch.randint(0, 5, (6,), generator=g)
    result = attack(_random_model(seed), x, y, generator=torch.Generator().manual_seed(seed))
    assert result.x_adv.shape == x.shape
    assert bool((result.x_adv >= bounds[0]).all()) and bool((result.x_adv <= bounds[1]).all())
    delta = (result.x_adv - x).flatten(1)
    measured = delta.abs().amax(1) if attack.norm == "linf" else delta.norm(dim=1)
    torch.testing.assert_close(result.norm, measured)
    THREAT_MODELS[name](attack, params, x, result)
    assert result.success.shape == (6,) and result.success.dtype == torch.bool
    assert result.steps.shape == (6,)


@pytest.mark.parametrize("name", NAMES)
def test_lowers_accuracy_of_trained_model(name: str, trained_mlp: nn.Module, digits) -> None:
    x, y = digits[0][:100], digits[1][:100]
    with torch.no_grad():
        clean = (trained_mlp(x).argmax(1) == y).float().mean()
    result = create_attack(name, **ATTACK_PARAMS[name])(trained_mlp, x, y)
    attacked = (result.logits.argmax(1) == y).float().mean()
    assert clean > 0.85
    assert attacked < clean - 0.3, (name, float(clean), float(attacked))
    # the logits in the result are the model's output at x_adv
    with torch.no_grad():
        torch.testing.assert_close(result.logits, trained_mlp(result.x_adv))


def _bn_dropout_model() -> nn.Module:
    """A conv net with BatchNorm and Dropout: in training mode every forward pass would move
    the running statistics and num_batches_tracked, and dropout would randomise gradients."""
    torch.manual_seed(0)
    return nn.Sequential(
        nn.Conv2d(1, 6, 3, padding=1), nn.BatchNorm2d(6), nn.ReLU(), nn.Dropout(0.5),
        nn.Flatten(), nn.Linear(6 * 8 * 8, 32), nn.BatchNorm1d(32), nn.ReLU(), nn.Dropout(0.3),
        nn.Linear(32, 10),
    )  # fmt: skip


@pytest.mark.parametrize("name", NAMES)
@pytest.mark.parametrize("training", [False, True])
def test_model_untouched(name: str, training: bool, digits) -> None:
    model = _bn_dropout_model()
    model(digits[0][:64])  # non-trivial running statistics (num_batches_tracked = 1)
    model.train(training)
    before = {k: v.clone() for k, v in model.state_dict().items()}
    assert int(before["1.num_batches_tracked"]) == 1
    result = create_attack(name, **ATTACK_PARAMS[name])(
        model, digits[0][:20], digits[1][:20], generator=torch.Generator().manual_seed(0)
    )
    assert model.training is training
    assert all(m.training is training for m in model.modules())
    for k, v in model.state_dict().items():
        assert torch.equal(v, before[k]), k  # untouched tensors, not a recomputation
    assert all(p.grad is None for p in model.parameters())
    # attacked as the eval-mode model: frozen statistics, no dropout
    eval_model = copy.deepcopy(model).eval()
    with torch.no_grad():
        torch.testing.assert_close(result.logits, eval_model(result.x_adv))


# Settings under which attacks that draw random numbers draw none that matter (random draws
# depend on the batch shape by design); None: the attack is random by nature.
DETERMINISTIC: dict[str, dict | None] = {
    "pgd": {"random_start": False},
    "spatial-pgd": {"random_start": False},
    "spatial-random": None,
    "eot": {"inner": PGD(eps=0.2, steps=5, random_start=False), "distribution": TransformDistribution()},
    "rp2": {"conditions": TransformDistribution()},
    "apgd": {"random_start": False},
    "apgd-t": {"random_start": False},
    "square": None,
}


@pytest.mark.parametrize("name", NAMES)
def test_same_result_alone_and_in_batch(name: str, trained_mlp: nn.Module, digits) -> None:
    if name in DETERMINISTIC and DETERMINISTIC[name] is None:
        pytest.skip(f"{name} draws its transformations per batch")
    params = dict(ATTACK_PARAMS[name], **(DETERMINISTIC.get(name) or {}))
    attack = create_attack(name, **params)
    x, y = digits[0][:12], digits[1][:12]
    batch = attack(trained_mlp, x, y)
    for i in (0, 5, 11):
        alone = attack(trained_mlp, x[i : i + 1], y[i : i + 1])
        torch.testing.assert_close(alone.x_adv[0], batch.x_adv[i], atol=1e-4, rtol=1e-4)
        # two computations (1-row vs 12-row matmuls round differently on other CPU kernels):
        # the outcome and the step count may only differ for an iterate left within rounding
        # of the decision boundary
        if bool(alone.success[0]) != bool(batch.success[i]) or int(alone.steps[0]) != int(batch.steps[i]):
            assert _label_margin(batch.logits[i], y[i]) < 1e-3, (i, alone.steps, batch.steps[i])


def _label_margin(logits: torch.Tensor, label: torch.Tensor) -> float:
    """|logit of the label - the best other logit| for one sample's (K,) logits: how far
    the sample sits from flipping its success flag."""
    others = logits.clone()
    others[int(label)] = -torch.inf
    return abs(float(logits[int(label)] - others.max()))


# Attacks that draw random numbers, with parameters under which they do.
RANDOMISED: dict[str, dict] = {
    "pgd": {"eps": 0.2, "steps": 2, "random_start": True},
    "spatial-random": {"tries": 3},
    "spatial-pgd": {"steps": 2, "random_start": True},
    "eot": {"inner": PGD(eps=0.2, steps=2, random_start=False), "draws": 2},
    "rp2": {"mask": "object", "steps": 3, "draws": 2},
    "apgd": {"eps": 0.2, "steps": 2},
    "apgd-t": {"eps": 0.2, "steps": 2, "n_target_classes": 2},
    "square": {"eps": 0.2, "queries": 5},
}


@pytest.mark.parametrize("name", sorted(RANDOMISED))
def test_randomness_comes_from_the_generator(name: str, trained_mlp: nn.Module, digits) -> None:
    attack = create_attack(name, **RANDOMISED[name])
    x, y = digits[0][:10], digits[1][:10]
    a = attack(trained_mlp, x, y, generator=torch.Generator().manual_seed(3))
    b = attack(trained_mlp, x, y, generator=torch.Generator().manual_seed(3))
    c = attack(trained_mlp, x, y, generator=torch.Generator().manual_seed(4))
    assert torch.equal(a.x_adv, b.x_adv)  # the same computation repeated: bit for bit
    assert not torch.equal(a.x_adv, c.x_adv)


def test_pgd_restarts_never_worse(trained_mlp: nn.Module, digits) -> None:
    x, y = digits[0][:100], digits[1][:100]
    one = create_attack("pgd", eps=0.1, steps=5, restarts=1)(trained_mlp, x, y, generator=torch.Generator().manual_seed(0))
    many = create_attack("pgd", eps=0.1, steps=5, restarts=4)(trained_mlp, x, y, generator=torch.Generator().manual_seed(0))
    # restart 0 of both runs is identical, and the best-of keeps any success
    assert bool((many.success | ~one.success).all())


TARGETED: dict[str, dict] = {
    "fgsm": {"eps": 0.5, "targeted": True},
    "pgd": dict(ATTACK_PARAMS["pgd"], eps=0.5, targeted=True),
    "lbfgs": dict(ATTACK_PARAMS["lbfgs"], targeted=True),
    "eot": {"inner": PGD(eps=0.5, steps=10, targeted=True), "draws": 8,
            "distribution": TransformDistribution(rotation=(-10, 10), noise=(0, 0.05))},
    "rp2": dict(ATTACK_PARAMS["rp2"], targeted=True),
    "apgd": dict(ATTACK_PARAMS["apgd"], eps=0.5, targeted=True),
}


@pytest.mark.parametrize("name", sorted(TARGETED))
def test_targeted_reaches_targets(name: str, trained_mlp: nn.Module, digits) -> None:
    x, y = digits[0][:50], digits[1][:50]
    target = (y + 1) % 10
    result = create_attack(name, **TARGETED[name])(trained_mlp, x, target, generator=torch.Generator().manual_seed(0))
    assert torch.equal(result.success, result.logits.argmax(1) == target)  # from these same logits
    assert result.success_rate > 0.5


def test_deepfool_beats_fgsm_in_rho(trained_mlp: nn.Module, digits) -> None:
    """DeepFool's minimal perturbations are smaller than FGSM's at any eps that fools as many."""
    x, y = digits[0][:100], digits[1][:100]
    df = create_attack("deepfool")(trained_mlp, x, y)
    assert df.success_rate == 1.0
    fgsm = create_attack("fgsm", eps=0.3)(trained_mlp, x, y)
    assert rho_adv(x, df.x_adv) < rho_adv(x, fgsm.x_adv)


@pytest.mark.parametrize("name", NAMES)
def test_chunked_equals_whole_batch(name: str, trained_mlp: nn.Module, digits) -> None:
    from advlab.attacks import attack_in_batches

    attack = create_attack(name, **ATTACK_PARAMS[name])
    x, y = digits[0][:13], digits[1][:13]
    whole = attack(trained_mlp, x, y, generator=torch.Generator().manual_seed(0))
    chunked = attack_in_batches(attack, trained_mlp, x, y, batch_size=13,
                                generator=torch.Generator().manual_seed(0))  # fmt: skip
    # one chunk of 13 is the whole batch: the same shapes, kernels and draws, so bit for bit
    assert torch.equal(whole.x_adv, chunked.x_adv) and torch.equal(whole.success, chunked.success)
    if name not in RANDOMISED:  # random draws depend on the chunk shape, by design
        five = attack_in_batches(attack, trained_mlp, x, y, batch_size=5)
        torch.testing.assert_close(five.x_adv, whole.x_adv, atol=1e-4, rtol=1e-4)
        assert five.x_adv.shape == x.shape and five.steps.shape == (13,)
