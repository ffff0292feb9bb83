"""GAN objectives at fixed scores against values computed by hand from the papers' formulas,
and properties every objective of the OBJECTIVES registry must have."""

from __future__ import annotations

import math

import pytest
import torch

from advlab.gan.learning_rule import LearningRule
from advlab.gan.losses import (
    OBJECTIVES,
    Objective,
    lsgan_objective,
    minimax_d_loss,
    minimax_g_loss,
    nonsaturating_g_loss,
)
from advlab.registry import UnknownNameError

REAL = [0.0, 2.0]  # logits / scores on real data
FAKE = [0.0, -1.0]  # logits / scores on generated data


def sigmoid(s: float) -> float:
    return 1.0 / (1.0 + math.exp(-s))


def mean(values: list[float]) -> float:
    return sum(values) / len(values)


def t(values: list[float]) -> torch.Tensor:
    return torch.tensor(values, dtype=torch.float64)


def test_minimax_d_loss_is_negated_goodfellow_objective() -> None:
    # -( mean log D(x) + mean log(1 - D(G(z))) ), D = sigmoid(logit): Goodfellow Algorithm 1
    expected = -(mean([math.log(sigmoid(s)) for s in REAL])
                 + mean([math.log(1 - sigmoid(s)) for s in FAKE]))
    got = OBJECTIVES["minimax"].d_loss(t(REAL), t(FAKE))
    assert got.shape == ()
    assert got.item() == pytest.approx(expected, abs=1e-12)
    assert got.item() == pytest.approx(0.9132420, abs=1e-6)  # ln2/2+ln(1+e^-2)/2+ln2/2+ln(1+e^-1)/2


def test_generator_losses_at_fixed_logits() -> None:
    minimax = mean([math.log(1 - sigmoid(s)) for s in FAKE])  # descended as is
    nonsat = -mean([math.log(sigmoid(s)) for s in FAKE])
    assert OBJECTIVES["minimax"].g_loss(t(FAKE)).item() == pytest.approx(minimax, abs=1e-12)
    assert OBJECTIVES["nonsaturating"].g_loss(t(FAKE)).item() == pytest.approx(nonsat, abs=1e-12)
    # both probabilistic objectives share Goodfellow's discriminator loss
    assert OBJECTIVES["nonsaturating"].d_loss is minimax_d_loss


def test_logit_forms_are_stable_and_saturate_as_the_paper_says() -> None:
    # D confidently rejects the fakes (logit -50): log(1 - D) saturates, -log D does not.
    fake = torch.tensor([-50.0, -60.0], requires_grad=True)
    g_minimax = minimax_g_loss(fake)
    (grad_minimax,) = torch.autograd.grad(g_minimax, fake)
    g_nonsat = nonsaturating_g_loss(fake)
    (grad_nonsat,) = torch.autograd.grad(g_nonsat, fake)
    assert torch.isfinite(g_minimax) and torch.isfinite(g_nonsat)
    assert grad_minimax.abs().max() < 1e-20  # vanishing gradient (Goodfellow Section 3)
    assert torch.allclose(grad_nonsat, torch.full((2,), -0.5))  # d/ds softplus(-s)/2 -> -1/2
    assert g_nonsat.item() == pytest.approx(55.0, rel=1e-6)  # -log sigmoid(s) ~ -s
    # extreme discriminator logits stay finite (naive log(sigmoid) would give inf)
    d = minimax_d_loss(torch.tensor([-200.0]), torch.tensor([200.0]))
    assert d.item() == pytest.approx(400.0)


def test_lsgan_zero_one_coding_default() -> None:
    real, fake = [1.0, 0.5], [0.0, 2.0]
    lsgan = OBJECTIVES["lsgan"]
    # 1/2 E (D(x) - 1)^2 + 1/2 E (D(G(z)) - 0)^2 = 0.5*(0 + 0.25)/2 + 0.5*(0 + 4)/2
    assert lsgan.d_loss(t(real), t(fake)).item() == pytest.approx(1.0625)
    # 1/2 E (D(G(z)) - 1)^2 = 0.5*(1 + 1)/2
    assert lsgan.g_loss(t(fake)).item() == pytest.approx(0.5)


def test_lsgan_pearson_coding() -> None:
    real, fake = [1.0, 0.5], [0.0, 2.0]
    lsgan = lsgan_objective(a=-1.0, b=1.0, c=0.0)
    # 0.5*(0 + 0.25)/2 + 0.5*((0+1)^2 + (2+1)^2)/2 = 0.0625 + 2.5
    assert lsgan.d_loss(t(real), t(fake)).item() == pytest.approx(2.5625)
    assert lsgan.g_loss(t(fake)).item() == pytest.approx(1.0)  # 0.5*(0 + 4)/2


@pytest.mark.parametrize("name", ["wgan", "wgan-gp"])
def test_wasserstein_losses(name: str) -> None:
    real, fake = [1.0, 3.0], [0.5, 1.5]
    objective = OBJECTIVES[name]
    assert objective.d_loss(t(real), t(fake)).item() == pytest.approx(1.0 - 2.0)
    assert objective.g_loss(t(fake)).item() == pytest.approx(-1.0)


ALL = OBJECTIVES.keys()


def _scores(values: list[float]) -> torch.Tensor:
    return torch.tensor(values, dtype=torch.float64, requires_grad=True)


@pytest.mark.parametrize("name", ALL)
def test_each_objective_gives_finite_scalar_losses_with_gradients(name: str) -> None:
    objective = OBJECTIVES[name]
    assert objective.name == name
    real, fake = _scores([-3.0, 0.5, 4.0]), _scores([-2.0, 0.0, 1.5, 30.0])
    d_loss, g_loss = objective.d_loss(real, fake), objective.g_loss(fake)
    assert d_loss.shape == () and g_loss.shape == ()
    assert torch.isfinite(d_loss) and torch.isfinite(g_loss)
    d_real, d_fake = torch.autograd.grad(d_loss, (real, fake))
    (g_fake,) = torch.autograd.grad(g_loss, fake)
    for grad in (d_real, d_fake, g_fake):
        assert torch.isfinite(grad).all() and grad.abs().sum() > 0


@pytest.mark.parametrize("name", ALL)
def test_each_objective_pushes_d_and_g_the_right_way(name: str) -> None:
    """Below every objective's target for real data and above its target for generated data
    (score 0.5 for both: logits for the probabilistic objectives, LSGAN's codes 0 and 1, any
    critic value for WGAN), one descent step on the D loss raises the real scores and lowers
    the fake ones, and one on the G loss raises the fake ones."""
    objective = OBJECTIVES[name]
    real, fake = _scores([0.5, 0.5]), _scores([0.5, 0.5])
    d_real, d_fake = torch.autograd.grad(objective.d_loss(real, fake), (real, fake))
    (g_fake,) = torch.autograd.grad(objective.g_loss(fake), fake)
    assert (d_real < 0).all() and (d_fake > 0).all() and (g_fake < 0).all()


@pytest.mark.parametrize("name", [n for n in ALL if OBJECTIVES[n].d_loss is minimax_d_loss])
def test_goodfellow_discriminator_loss_is_log4_at_the_equilibrium(name: str) -> None:
    # Goodfellow et al. 2014, Theorem 1: at p_g = p_data the optimal D is 1/2 everywhere
    # (logit 0) and the value is -log 4, so the D loss -V is log 4; separating helps D.
    d_loss = OBJECTIVES[name].d_loss
    equilibrium = d_loss(t([0.0, 0.0]), t([0.0, 0.0])).item()
    assert equilibrium == pytest.approx(math.log(4.0), abs=1e-12)
    assert d_loss(t([3.0, 3.0]), t([-3.0, -3.0])).item() < equilibrium


@pytest.mark.parametrize(("a", "b", "c"), [(0.0, 1.0, 1.0), (-1.0, 1.0, 0.0)])
def test_lsgan_losses_vanish_exactly_at_their_codes(a: float, b: float, c: float) -> None:
    # Mao et al. 2017, eq. 2: D's loss is zero (its minimum) at D(x) = b, D(G(z)) = a; G's at c
    objective = lsgan_objective(a=a, b=b, c=c)
    assert objective.d_loss(t([b, b]), t([a, a])).item() == 0.0
    assert objective.g_loss(t([c, c])).item() == 0.0
    assert objective.d_loss(t([b + 0.1, b]), t([a, a])).item() > 0.0
    assert objective.g_loss(t([c - 0.1, c])).item() > 0.0


@pytest.mark.parametrize("name", [n for n in ALL if OBJECTIVES[n].clip_value is not None
                                  or OBJECTIVES[n].uses_gradient_penalty])
def test_wasserstein_critic_loss_is_a_difference_of_means(name: str) -> None:
    # Arjovsky et al. 2017, eq. 3: the critic maximises E f(x) - E f(G(z)); adding a constant
    # to f changes nothing, and equal scores estimate a distance of 0.
    objective = OBJECTIVES[name]
    real, fake = t([1.0, 3.0]), t([0.5, 1.5])
    assert objective.d_loss(real, real).item() == 0.0
    assert objective.d_loss(real + 7.0, fake + 7.0).item() == pytest.approx(
        objective.d_loss(real, fake).item(), abs=1e-12)
    assert objective.g_loss(fake + 7.0).item() == pytest.approx(objective.g_loss(fake).item() - 7.0)


@pytest.mark.parametrize("name", ALL)
def test_each_objectives_optimizer_follows_its_rule(name: str) -> None:
    rule = OBJECTIVES[name].rule
    optimizer = rule.make_optimizer([torch.nn.Parameter(torch.zeros(3))])
    kinds = {"sgd": torch.optim.SGD, "adam": torch.optim.Adam, "rmsprop": torch.optim.RMSprop}
    assert type(optimizer) is kinds[rule.optimizer]
    assert optimizer.defaults["lr"] == rule.lr
    if rule.optimizer == "adam":
        assert optimizer.defaults["betas"] == rule.betas and optimizer.defaults["eps"] == rule.eps
    if rule.optimizer == "sgd":
        assert optimizer.defaults["momentum"] == rule.momentum


def test_a_rule_override_leaves_the_registered_objective_untouched() -> None:
    params = [torch.nn.Parameter(torch.zeros(3))]
    registered = OBJECTIVES["wgan-gp"].rule
    rms = registered.override(optimizer="rmsprop", lr=5e-5)
    assert isinstance(rms.make_optimizer(params), torch.optim.RMSprop) and rms.lr == 5e-5
    assert OBJECTIVES["wgan-gp"].rule == registered and registered.optimizer != "rmsprop"


def test_bad_inputs_raise_clear_errors() -> None:
    with pytest.raises(UnknownNameError, match="wgan-gp"):
        OBJECTIVES["wgan_gp"]
    with pytest.raises(ValueError, match=r"\(N,\)"):
        minimax_d_loss(torch.zeros(4, 1), torch.zeros(4))
    with pytest.raises(ValueError, match="optimizer 'adagrad'; valid: sgd, adam, rmsprop"):
        LearningRule(optimizer="adagrad")  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="n_critic"):
        Objective(name="x", d_loss=minimax_d_loss, g_loss=minimax_g_loss, n_critic=0)


def test_hyperparameters_are_json_serialisable() -> None:
    import json

    params = json.loads(json.dumps(OBJECTIVES["wgan-gp"].hyperparameters()))
    assert params["name"] == "wgan-gp" and params["n_critic"] == 5
    assert params["rule"]["betas"] == [0.0, 0.9]
    assert "d_loss" not in params and "g_loss" not in params
