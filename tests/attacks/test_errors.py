"""Bad input gets a clear error (or, for probabilities, a warning)."""

from __future__ import annotations

import re

import pytest
import torch
from torch import nn

from advlab.attacks import ATTACKS, FGSM, PGD, DeepFool, create_attack
from advlab.registry import UnknownNameError

from .test_properties import ATTACK_PARAMS  # test-sized parameters of every registered attack


def _model() -> nn.Module:
    return nn.Sequential(nn.Flatten(), nn.Linear(4, 3)).eval()


@pytest.mark.parametrize("eps", [0, -0.1, float("nan"), float("inf"), "0.1", True])
def test_bad_eps(eps: object) -> None:
    with pytest.raises(ValueError, match="eps"):
        FGSM(eps=eps)  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="eps"):
        PGD(eps=eps)  # type: ignore[arg-type]


def test_bad_hyperparameters() -> None:
    with pytest.raises(ValueError, match="norm"):
        PGD(eps=0.1, norm="l1")  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="steps"):
        DeepFool(steps=0)
    with pytest.raises(ValueError, match="candidates"):
        DeepFool(candidates=1)
    with pytest.raises(ValueError, match="bounds"):
        FGSM(eps=0.1, bounds=(1.0, 0.0))
    with pytest.raises(ValueError, match="step_size"):
        PGD(eps=0.1, step_size=-1.0)


def test_an_unknown_attack_lists_every_registered_one() -> None:
    with pytest.raises(UnknownNameError) as error:
        create_attack("deepfol")
    assert all(name in str(error.value) for name in ATTACKS.names())
    with pytest.raises(ValueError, match="eps"):
        create_attack("pgd")  # eps is required


@pytest.mark.parametrize("name", ATTACKS.names())
def test_an_unknown_parameter_lists_the_attacks_valid_ones(name: str) -> None:
    valid = ", ".join(ATTACKS.get(name).param_names())
    assert valid
    with pytest.raises(ValueError, match=f"unknown parameter.*epsilon.*valid: {re.escape(valid)}$"):
        create_attack(name, epsilon=0.1)


@pytest.mark.parametrize("name", ATTACKS.names())
def test_bad_inputs(name: str) -> None:
    attack = create_attack(name, **ATTACK_PARAMS[name])
    x, y = torch.rand(2, 1, 2, 2), torch.tensor([0, 1])
    with pytest.raises(ValueError, match="shape"):
        attack(_model(), x.flatten(), y)
    with pytest.raises(ValueError, match=r"y must have shape \(N,\)"):
        attack(_model(), x, torch.tensor([0, 1, 2]))
    with pytest.raises(ValueError, match="integer"):
        attack(_model(), x, y.float())
    with pytest.raises(ValueError, match="outside bounds"):
        attack(_model(), x * 255, y)
    with pytest.raises(ValueError, match="NaN"):
        attack(_model(), torch.full_like(x, float("nan")), y)


@pytest.mark.parametrize("name", ATTACKS.names())
def test_labels_out_of_range_are_named(name: str) -> None:
    attack = create_attack(name, **ATTACK_PARAMS[name])
    x = torch.rand(2, 1, 2, 2)
    with pytest.raises(ValueError, match=r"labels must be in \[0, 2\]"):
        attack(_model(), x, torch.tensor([0, 7]))


def test_probabilities_warn() -> None:
    model = nn.Sequential(nn.Flatten(), nn.Linear(4, 3), nn.Softmax(dim=1)).eval()
    x, y = torch.rand(2, 1, 2, 2), torch.tensor([0, 1])
    with pytest.warns(UserWarning, match="probabilities"):
        FGSM(eps=0.1)(model, x, y)
    with pytest.warns(UserWarning, match="probabilities"):
        DeepFool(steps=2)(model, x, y)


def test_attacks_cannot_override_the_final_call() -> None:
    from dataclasses import dataclass

    from advlab.attacks import Attack

    with pytest.raises(TypeError, match="_run"):

        @dataclass(frozen=True)
        class Sneaky(Attack):  # would skip the threat-model step
            bounds: tuple[float, float] = (0.0, 1.0)

            def __call__(self, model, x, y, *, generator=None):  # type: ignore[override]
                return x
