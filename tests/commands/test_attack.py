"""`run_attack`: the work behind `advlab attack NAME` (files, JSON fields, table)."""

from __future__ import annotations

import json

import pytest
from torch import nn

from advlab.commands.attack import run_attack


@pytest.mark.parametrize("name,params", [("deepfool", {}), ("fgsm", {"eps": 0.2})])
def test_run_attack_writes_result_and_grid(name: str, params: dict, trained_mlp: nn.Module, digits, tmp_path) -> None:
    x, y = digits[0][:40], digits[1][:40]
    table, summary = run_attack(name, trained_mlp, x, y, tmp_path, [str(i) for i in range(10)], **params)
    on_disk = json.loads((tmp_path / "result.json").read_text())
    assert on_disk == summary
    for key in ("success_rate", "accuracy_clean", "accuracy_adversarial", "rho_adv", "median_norm",
                "seconds_per_sample", "mean_steps", "params"):
        assert key in summary, key
    assert summary["accuracy_adversarial"] < summary["accuracy_clean"]
    assert summary["params"].get("eps") == params.get("eps")
    png = (tmp_path / "examples.png").read_bytes()
    assert png[:8] == b"\x89PNG\r\n\x1a\n" and len(png) > 5000
    values = dict(table.rows)  # type: ignore[arg-type]
    assert values["success %"] == 100 * summary["success_rate"]


def test_rho_and_median_norm_are_over_successful_samples(trained_mlp: nn.Module, digits, tmp_path) -> None:
    """FGSM at a small eps fails on some samples: rho_adv and the median norm describe the
    successful ones only (minimal attacks return failures unchanged, norm 0), with the
    success rate beside them."""
    from advlab.attacks import FGSM, rho_adv

    x, y = digits[0][:80], digits[1][:80]
    _, summary = run_attack("fgsm", trained_mlp, x, y, tmp_path, [], eps=0.05, batch_size=30)
    result = FGSM(eps=0.05)(trained_mlp, x, y)
    hit = result.success
    assert 0 < int(hit.sum()) < 80  # some fail, so the choice of samples matters
    assert summary["rho_adv"] == rho_adv(x[hit], result.x_adv[hit], "linf")
    assert summary["rho_adv"] != rho_adv(x, result.x_adv, "linf")
    assert summary["median_norm"] == float(result.norm[hit].median())


def test_run_attack_unknown_param(trained_mlp: nn.Module, digits, tmp_path) -> None:
    with pytest.raises(ValueError, match="unknown parameter"):
        run_attack("deepfool", trained_mlp, digits[0][:4], digits[1][:4], tmp_path, [], eps=0.1)


@pytest.mark.parametrize("name", ["spatial-grid", "rp2", "eot"])
def test_run_attack_with_transformation_attacks(name: str, trained_mlp: nn.Module, digits, tmp_path) -> None:
    """Spatial attacks, RP2 and EOT (an inner attack and a distribution as parameters) write
    their results; nested parameters are written as JSON dicts."""
    from advlab.attacks import PGD
    from advlab.transforms import TransformDistribution

    params = {"spatial-grid": {"rotations": 5, "translations": 3},
              "rp2": {"steps": 5, "mask_steps": 3, "draws": 2, "sticker_size": (0.5, 0.5)},
              "eot": {"inner": PGD(eps=0.2, steps=3), "draws": 2,
                      "distribution": TransformDistribution(rotation=(-10, 10))}}[name]  # fmt: skip
    x, y = digits[0][:12], digits[1][:12]
    _, summary = run_attack(name, trained_mlp, x, y, tmp_path, [str(i) for i in range(10)], **params)
    on_disk = json.loads((tmp_path / "result.json").read_text())
    assert on_disk == summary and summary["accuracy_adversarial"] < summary["accuracy_clean"]
    if name == "eot":
        assert on_disk["params"]["inner"]["class"] == "PGD" and on_disk["params"]["inner"]["eps"] == 0.2
        assert on_disk["params"]["distribution"]["rotation"] == [-10.0, 10.0]
    if name == "rp2":
        assert on_disk["params"]["conditions"]["yaw"] == [-50.0, 50.0]
