"""GAN objectives at fixed scores against values computed by hand from the papers' formulas."""

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


def test_paper_defaults() -> None:
    assert set(OBJECTIVES.keys()) == {"minimax", "nonsaturating", "lsgan", "wgan", "wgan-gp",
                                      "wgan-gp-drift"}
    minimax = OBJECTIVES["minimax"]
    assert (minimax.rule.optimizer, minimax.rule.momentum, minimax.n_critic) == ("sgd", 0.5, 1)
    dcgan = OBJECTIVES["nonsaturating"].rule
    assert (dcgan.optimizer, dcgan.lr, dcgan.betas[0]) == ("adam", 2e-4, 0.5)
    wgan = OBJECTIVES["wgan"]
    assert (wgan.rule.optimizer, wgan.rule.lr, wgan.clip_value, wgan.n_critic) == (
        "rmsprop", 5e-5, 0.01, 5)
    assert not wgan.uses_gradient_penalty
    gp = OBJECTIVES["wgan-gp"]
    assert (gp.rule.optimizer, gp.rule.lr, gp.rule.betas, gp.n_critic) == ("adam", 1e-4, (0.0, 0.9), 5)
    assert gp.uses_gradient_penalty and gp.gp_weight == 10.0 and gp.clip_value is None
    # Karras et al. 2018, Appendix A.1 / official config.py and loss.py
    pg = OBJECTIVES["wgan-gp-drift"]
    assert (pg.rule.optimizer, pg.rule.lr, pg.rule.betas, pg.rule.eps) == ("adam", 1e-3, (0.0, 0.99), 1e-8)
    assert (pg.gp_weight, pg.drift_weight, pg.n_critic) == (10.0, 0.001, 1)
    for name in OBJECTIVES:
        assert OBJECTIVES[name].name == name


def test_make_optimizer_follows_the_rule() -> None:
    params = [torch.nn.Parameter(torch.zeros(3))]
    opt = OBJECTIVES["wgan-gp"].rule.make_optimizer(params)
    assert isinstance(opt, torch.optim.Adam)
    assert opt.defaults["betas"] == (0.0, 0.9) and opt.defaults["lr"] == 1e-4
    assert opt.defaults["eps"] == 1e-8
    assert isinstance(OBJECTIVES["wgan"].rule.make_optimizer(params), torch.optim.RMSprop)
    sgd = OBJECTIVES["minimax"].rule.make_optimizer(params)
    assert isinstance(sgd, torch.optim.SGD) and sgd.defaults["momentum"] == 0.5
    rms = OBJECTIVES["wgan-gp"].rule.override(optimizer="rmsprop", lr=5e-5)
    assert isinstance(rms.make_optimizer(params), torch.optim.RMSprop)
    assert OBJECTIVES["wgan-gp"].rule.optimizer == "adam"  # the registered default is untouched


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
