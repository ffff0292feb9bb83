"""`run_universal` and `run_ensemble_attack`: the work behind `advlab attack universal` and
`advlab attack ensemble` (files, JSON fields, tables)."""

from __future__ import annotations

import json

import pytest
import torch
from torch import nn

from advlab.attacks import FGSM, PGD
from advlab.attacks.deepfool import DeepFool
from advlab.attacks.ensemble import AttackOnEnsemble, EnsembleAttack
from advlab.attacks.universal import UniversalPerturbation
from advlab.commands.attack_protocols import EnsembleProtocol, UniversalProtocol, parse_protocol
from advlab.commands.ensemble import run_ensemble_attack
from advlab.commands.universal import run_universal
from advlab.models.checkpoint import load_state


def _png(path) -> bool:
    data = path.read_bytes()
    return data[:8] == b"\x89PNG\r\n\x1a\n" and len(data) > 3000


def test_run_universal_writes_result_perturbation_and_figure(trained_mlp: nn.Module, digits, tmp_path) -> None:
    x = digits[0]
    uap = UniversalPerturbation(xi=0.3, max_passes=2, inner=DeepFool(steps=20))
    table, summary = run_universal(uap, trained_mlp, x[:60], x[60:160], tmp_path,
                                   [str(i) for i in range(10)])
    assert json.loads((tmp_path / "result.json").read_text()) == summary
    tensors, meta = load_state(tmp_path / "perturbation.safetensors")
    v = tensors["perturbation"]
    assert v.shape == (1, 8, 8) and float(v.abs().max()) <= 0.3 + 1e-7 and meta["xi"] == 0.3
    assert 0 < summary["fooling_rate_heldout"] <= 1 and summary["passes"] <= 2
    assert summary["fooling_rate_random_noise"] < summary["fooling_rate_heldout"]
    assert _png(tmp_path / "universal.png")
    assert len(table.rows) == 1 and len(table.rows[0]) == len(table.columns)


ENSEMBLE_ATTACKS = {
    "optimization": EnsembleAttack(steps=20, lam=0.05, lr=0.05),
    "fgsm": AttackOnEnsemble(FGSM(eps=0.3)),
    "pgd": AttackOnEnsemble(PGD(eps=0.3, steps=20)),
}


@pytest.mark.parametrize("method", list(ENSEMBLE_ATTACKS))
def test_run_ensemble_attack_evaluates_members_and_held_out(method: str, trained_mlp: nn.Module, digits, tmp_path) -> None:
    torch.manual_seed(3)
    other = nn.Sequential(nn.Flatten(), nn.Linear(64, 10)).eval()
    attack = ENSEMBLE_ATTACKS[method]
    x, y = digits[0][:30], digits[1][:30]
    table, summary = run_ensemble_attack(attack, [trained_mlp, trained_mlp], ["a", "b"], x, y, tmp_path,
                                         [str(i) for i in range(10)], held_out=[other], held_out_names=["c"])  # fmt: skip
    assert json.loads((tmp_path / "result.json").read_text()) == summary
    assert [m["role"] for m in summary["models"]] == ["ensemble", "ensemble", "held out"]
    member = summary["models"][0]
    assert member["accuracy_adversarial"] < member["accuracy_clean"]
    assert summary["rmsd_pixel_values"] > 0 and _png(tmp_path / "examples.png")
    assert [row[0] for row in table.rows] == ["a", "b", "c"]


def test_protocols_hold_the_library_attacks_parsed_in_the_one_grammar() -> None:
    universal = parse_protocol("universal", ["--xi", "0.2", "--variant", "batched",
                                             "--attack-inner-steps", "7", "--n-fit", "40"])
    assert universal == UniversalProtocol(
        UniversalPerturbation(xi=0.2, variant="batched", inner=DeepFool(steps=7)), n_fit=40)
    ensemble = parse_protocol("ensemble", ["--checkpoints", "a,b", "--lam", "10", "--targeted"])
    assert ensemble == EnsembleProtocol(("a", "b"), (), EnsembleAttack(lam=10.0, targeted=True))
    pgd = parse_protocol("ensemble", ["--checkpoints", "a", "--attack", "on-ensemble",
                                      "--attack-attack", "pgd", "--attack-attack-eps", "0.1"])
    assert pgd.attack == AttackOnEnsemble(PGD(eps=0.1))
    with pytest.raises(ValueError, match="needs --checkpoints"):
        parse_protocol("ensemble", [])
    with pytest.raises(KeyError, match="cw"):
        parse_protocol("ensemble", ["--checkpoints", "a", "--attack", "cw"])
